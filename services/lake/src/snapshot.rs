//! Snapshots of the projections' state, beside the tables: each replaced atomically (a durable
//! write, see `durable.rs`) with key-value metadata, so the projector restarts from its last
//! save instead of refolding every event.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

use crate::durable::durable_write;
use crate::error::{Error, Result};

/// Snapshots of projections live here, outside every table directory.
const SNAPSHOTS: &str = "projections";

/// A stored snapshot: its rows and key-value metadata.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Key-value metadata written with it.
    pub metadata: std::collections::HashMap<String, String>,
}

/// Replaces the snapshot `name` of the lake at `root` atomically, with key-value metadata.
pub(crate) fn write(
    root: &Path,
    name: &str,
    batch: &RecordBatch,
    metadata: Vec<(String, String)>,
) -> Result<u64> {
    let metadata = metadata
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(metadata))
        .build();
    let dir = root.join(SNAPSHOTS);
    durable_write(root, &dir, &format!("{name}.parquet"), batch, properties)
}

/// Reads the snapshot `name`, when there is one: its batches and key-value metadata.
pub(crate) fn read(root: &Path, name: &str) -> Result<Option<Snapshot>> {
    let path = root.join(SNAPSHOTS).join(format!("{name}.parquet"));
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path)(e)),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(&path))?;
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    let batches = builder
        .build()
        .map_err(Error::parquet(&path))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Snapshot { batches, metadata }))
}

/// Removes the snapshot `name`, if any.
pub(crate) fn remove(root: &Path, name: &str) -> Result<()> {
    let path = root.join(SNAPSHOTS).join(format!("{name}.parquet"));
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path)(e)),
        _ => Ok(()),
    }
}
