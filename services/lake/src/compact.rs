//! Compaction: merges a partition's many small files into one, swapping generations (see
//! `layout.rs`). Runs in the background of the ingest worker, beside its writes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch, new_null_array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::durable::{durable_write, part_name};
use crate::encoding::writer_properties;
use crate::error::{Error, Result};
use crate::layout::{
    PartitionGuard, collect_generations, new_generation, partition_links, point, retire, table_dir,
};
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE, events_schema, rejected_schema};

/// Files at least this large are left as they are: rewriting them again and again as a day
/// grows would cost time quadratic in the day's size.
const MERGED_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// When a partition is compacted.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// A partition with at least this many files is compacted.
    pub max_files: usize,
    /// A partition with two or more files and no new file for this long is compacted.
    pub idle: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            max_files: 16,
            idle: Duration::from_secs(60),
        }
    }
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Partitions rewritten.
    pub partitions: usize,
    /// Files merged away.
    pub files_merged: usize,
    /// Bytes of the merged files.
    pub bytes: u64,
    /// Replaced generations deleted after their grace period.
    pub generations_deleted: usize,
}

/// Compacts every partition of the lake at `root` the policy selects, and deletes expired
/// generations. Blocking.
pub(crate) fn compact(
    root: &Path,
    guard: &PartitionGuard,
    policy: &CompactionPolicy,
) -> Result<CompactionStats> {
    let mut stats = CompactionStats::default();
    for table in [EVENTS_TABLE, REJECTED_TABLE] {
        for link in partition_links(&table_dir(root, table))? {
            let files = files_in(&link)?;
            let idle = files
                .iter()
                .filter_map(|f| f.metadata().and_then(|m| m.modified()).ok())
                .max()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= policy.idle);
            if files.len() >= policy.max_files || (files.len() >= 2 && idle) {
                // One bad partition must not stop the others, nor the clean-up below.
                match compact_partition(root, guard, table, &link) {
                    Ok((merged, bytes)) => {
                        stats.partitions += usize::from(merged > 0);
                        stats.files_merged += merged;
                        stats.bytes += bytes;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, partition = %link.display(), "partition not compacted")
                    }
                }
            }
        }
        let _guard = guard.hold();
        stats.generations_deleted += collect_generations(root, table)?;
    }
    Ok(stats)
}

/// Merges one partition's small files into a single sorted file in a new generation
/// (large files, already merged, are carried over as hard links), then swaps.
fn compact_partition(
    root: &Path,
    guard: &PartitionGuard,
    table: &str,
    link: &Path,
) -> Result<(usize, u64)> {
    // No file may land in the partition between reading it and the swap.
    let _guard = guard.hold();
    let (files, large): (Vec<PathBuf>, Vec<PathBuf>) = files_in(link)?
        .into_iter()
        .partition(|f| f.metadata().is_ok_and(|m| m.len() < MERGED_FILE_BYTES));
    if files.len() < 2 {
        return Ok((0, 0));
    }
    let mut batches = Vec::new();
    for path in &files {
        let file = File::open(path).map_err(Error::io(path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(65_536).build())
            .map_err(Error::parquet(path))?;
        for batch in reader {
            batches.push(batch?);
        }
    }
    // Files written before a schema change are read in today's schema.
    let schema = match table {
        EVENTS_TABLE => events_schema(),
        _ => rejected_schema(),
    };
    let batches = batches
        .iter()
        .map(|b| conform(b, &schema))
        .collect::<Result<Vec<_>>>()?;
    let merged = sorted(table, &concat_batches(&schema, &batches)?)?;
    let seqs = merged
        .column_by_name("stream_seq")
        .expect("stored tables have stream_seq");
    let seqs = seqs.as_primitive::<UInt64Type>();
    let lo = seqs.values().iter().copied().min().unwrap_or(0);
    let hi = seqs.values().iter().copied().max().unwrap_or(0);

    let name = link
        .file_name()
        .expect("named")
        .to_string_lossy()
        .into_owned();
    let old_root = std::fs::canonicalize(link)
        .map_err(Error::io(link))?
        .parent()
        .map(Path::to_path_buf);
    let generation = new_generation(root, table, &name)?;
    for file in &large {
        let target = generation.join(file.file_name().expect("named"));
        std::fs::hard_link(file, &target).map_err(Error::io(&target))?;
    }
    let bytes = durable_write(
        root,
        &generation,
        &part_name(lo, hi),
        &merged,
        writer_properties(&merged),
    )?;
    point(root, link, &generation)?;
    if let Some(old_root) = old_root {
        retire(&old_root)?;
    }
    tracing::info!(table, partition = %name, files = files.len(), rows = merged.num_rows(), bytes, "partition compacted");
    Ok((files.len(), bytes))
}

/// The Parquet files of one partition directory.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// `batch` with the columns of `schema`: by name, null where the file has none.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(column) => Arc::clone(column),
            None => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Rows in the order the writer uses: events by type, agency and time; rejections by time.
fn sorted(table: &str, batch: &RecordBatch) -> Result<RecordBatch> {
    let keys: &[&str] = if table == EVENTS_TABLE {
        &["type", "agency_code", "occurred_at"]
    } else {
        &["received_at"]
    };
    let columns: Vec<SortColumn> = keys
        .iter()
        .map(|k| SortColumn {
            values: Arc::clone(batch.column_by_name(k).expect("known column")),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}
