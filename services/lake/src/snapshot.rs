//! Snapshots of the projections' state, beside the tables (`<lake>/projections/`): each
//! replaced atomically (one object put) with key-value metadata, so the projector restarts
//! from its last save instead of refolding every event.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;
use deltalake::logstore::object_store::{self, ObjectStore, ObjectStoreExt as _, PutPayload};

use crate::error::{Error, Result};

/// Snapshots of projections live here, outside every table's folder.
const SNAPSHOTS: &str = "projections";

/// A stored snapshot: its rows and key-value metadata.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The columns.
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Key-value metadata written with it.
    pub metadata: HashMap<String, String>,
}

fn path(name: &str) -> object_store::path::Path {
    format!("{SNAPSHOTS}/{name}.parquet").as_str().into()
}

/// Replaces the snapshot `name` atomically, with key-value metadata; returns its bytes.
pub(crate) async fn write(
    root: &Arc<dyn ObjectStore>,
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
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))
        .map_err(Error::parquet(name))?;
    writer.write(batch).map_err(Error::parquet(name))?;
    writer.close().map_err(Error::parquet(name))?;
    let size = bytes.len() as u64;
    root.put(&path(name), PutPayload::from(bytes)).await?;
    Ok(size)
}

/// Reads the snapshot `name`, when there is one: its batches and key-value metadata.
pub(crate) async fn read(root: &Arc<dyn ObjectStore>, name: &str) -> Result<Option<Snapshot>> {
    let bytes = match root.get(&path(name)).await {
        Ok(found) => found.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Snapshot::decode(name, bytes).map(Some)
}

impl Snapshot {
    /// A snapshot from the bytes of its Parquet file (`name` is for errors).
    pub fn decode(name: &str, bytes: bytes::Bytes) -> Result<Self> {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(Error::parquet(name))?;
        let metadata = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
            .collect();
        let schema = Arc::clone(builder.schema());
        let batches = builder
            .build()
            .map_err(Error::parquet(name))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot {
            schema,
            batches,
            metadata,
        })
    }
}

/// Removes the snapshot `name`, if any.
pub(crate) async fn remove(root: &Arc<dyn ObjectStore>, name: &str) -> Result<()> {
    match root.delete(&path(name)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
