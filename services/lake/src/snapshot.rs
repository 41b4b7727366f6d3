//! Snapshots of the projections' state, beside the tables (`<lake>/projections/`): each
//! replaced atomically (one object put, or a multipart upload completed at once) with
//! key-value metadata, so the projector restarts from its last save instead of refolding every
//! event. Written and read a batch at a time: a snapshot of millions of dossiers is never
//! whole in memory.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::DefaultParquetFileReaderFactory;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::Result as ParquetResult;
use datafusion::parquet::file::metadata::{KeyValue, ParquetMetaData};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use deltalake::logstore::object_store::buffered::BufWriter;
use deltalake::logstore::object_store::{self, ObjectStore, ObjectStoreExt as _};
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// Snapshots of projections live here, outside every table's folder.
const SNAPSHOTS: &str = "projections";

/// Rows of a snapshot's row group, and of a batch read back: what a read or a write holds at
/// a time (a writer's batches of this size are written as they come).
pub const SNAPSHOT_BATCH_ROWS: usize = 65_536;

/// A stored snapshot: its columns and key-value metadata; its rows, as an iterator of batches
/// read from the store as they are taken.
pub struct Snapshot {
    /// The columns.
    pub schema: SchemaRef,
    /// Key-value metadata written with it.
    pub metadata: HashMap<String, String>,
    name: String,
    rows: ParquetRecordBatchStream<Reader>,
    lake: Lake,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("name", &self.name)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl Iterator for Snapshot {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let rows = &mut self.rows;
        let next = self.lake.block_on(async { rows.next().await })?;
        Some(next.map_err(Error::parquet(&self.name)))
    }
}

/// DataFusion's reader of a Parquet object (ranged reads, a row group at a time), which
/// `parquet` can stream from only as a `Box<dyn AsyncFileReader>`, one that is not `Send`.
struct Reader(Box<dyn AsyncFileReader + Send>);

impl AsyncFileReader for Reader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        self.0.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        self.0.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        self.0.get_metadata(options)
    }
}

fn path(name: &str) -> object_store::path::Path {
    format!("{SNAPSHOTS}/{name}.parquet").as_str().into()
}

/// Replaces the snapshot `name` atomically with the rows of `batches` (of `schema`) and
/// key-value metadata, writing them as they come; returns its bytes. Nothing replaces the
/// snapshot when a batch fails.
pub(crate) async fn write(
    root: &Arc<dyn ObjectStore>,
    name: &str,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>> + Send,
    metadata: Vec<(String, String)>,
) -> Result<u64> {
    let metadata = metadata
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(SNAPSHOT_BATCH_ROWS))
        .set_key_value_metadata(Some(metadata))
        .build();
    let path = path(name);
    let out = BufWriter::new(Arc::clone(root), path.clone());
    let mut writer =
        AsyncArrowWriter::try_new(out, schema, Some(properties)).map_err(Error::parquet(name))?;
    for batch in batches {
        let written = match batch {
            Ok(batch) => writer.write(&batch).await.map_err(Error::parquet(name)),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // The upload is abandoned: the snapshot stored before stays.
            let _ = writer.into_inner().abort().await;
            return Err(e);
        }
    }
    writer.close().await.map_err(Error::parquet(name))?;
    Ok(root.head(&path).await?.size)
}

/// Opens the snapshot `name`, when there is one: its schema and metadata are read here, its
/// rows as the returned snapshot is iterated.
pub(crate) async fn read(
    lake: &Lake,
    root: &Arc<dyn ObjectStore>,
    name: &str,
) -> Result<Option<Snapshot>> {
    let path = path(name);
    let size = match root.head(&path).await {
        Ok(found) => found.size,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // DataFusion's reader of Parquet on an object store: ranged reads, a row group at a time.
    let reader = DefaultParquetFileReaderFactory::new(Arc::clone(root)).create_reader(
        0,
        PartitionedFile::new(path.as_ref(), size),
        None,
        &ExecutionPlanMetricsSet::new(),
    )?;
    let builder = ParquetRecordBatchStreamBuilder::new(Reader(reader))
        .await
        .map_err(Error::parquet(name))?;
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    let schema = Arc::clone(builder.schema());
    let rows = builder
        .with_batch_size(SNAPSHOT_BATCH_ROWS)
        .build()
        .map_err(Error::parquet(name))?;
    Ok(Some(Snapshot {
        schema,
        metadata,
        name: name.to_owned(),
        rows,
        lake: lake.clone(),
    }))
}

/// Removes the snapshot `name`, if any.
pub(crate) async fn remove(root: &Arc<dyn ObjectStore>, name: &str) -> Result<()> {
    match root.delete(&path(name)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
