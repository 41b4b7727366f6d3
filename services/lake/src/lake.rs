//! [`Lake`]: the handle on the lake directory that the ingest worker, the projector and the
//! query engine share, and the one home of every operation on it. Each method is a step of the
//! pipeline done by the module named for it: `commit.rs` lays a commit out, `writer.rs` stores
//! it durably, `layout.rs` keeps partitions as generations, `compact.rs` merges small files,
//! `index.rs` rebuilds the deduplication index, `snapshot.rs` keeps the projections' state,
//! `lock.rs` admits one writer.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use datafusion::arrow::record_batch::RecordBatch;

use crate::commit::{Commit, Prepared};
use crate::compact::{self, CompactionPolicy, CompactionStats};
use crate::durable::{STAGING, create_dirs};
use crate::error::{Error, Result};
use crate::index::{DedupIndex, load_index};
use crate::layout::{self, PartitionGuard, parquet_files};
use crate::lock::{WriterLock, lock_for_writing};
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE};
use crate::snapshot::{self, Snapshot};
use crate::writer::{WriteProgress, write_prepared};

/// The Parquet lake under `<data-dir>/lake`. Clones share the partition guard.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    /// Held by writes and by compaction of a partition, so neither sees the other half done.
    guard: PartitionGuard,
}

impl Lake {
    /// Opens (creating when missing) the lake under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let root = data_dir.join("lake");
        for dir in [EVENTS_TABLE, REJECTED_TABLE, STAGING] {
            let path = root.join(dir);
            create_dirs(&path).map_err(Error::io(&path))?;
        }
        Ok(Self {
            root,
            guard: PartitionGuard::default(),
        })
    }

    /// Root directory of the lake.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of one table.
    pub fn table_dir(&self, table: &str) -> PathBuf {
        layout::table_dir(&self.root, table)
    }

    /// Whether the lake's directories are present and readable.
    pub fn is_readable(&self) -> bool {
        [EVENTS_TABLE, REJECTED_TABLE]
            .iter()
            .all(|t| std::fs::read_dir(self.table_dir(t)).is_ok())
    }

    /// Stores a commit durably: [`Commit::prepare`], then [`Lake::write_prepared`].
    pub fn write(
        &self,
        commit: &Commit<'_>,
        ingested_at: DateTime<Utc>,
        progress: &mut WriteProgress,
    ) -> Result<()> {
        self.write_prepared(&commit.prepare(ingested_at)?, progress)
    }

    /// Stores a prepared commit durably, one file per partition it touches, skipping the
    /// partitions `progress` says are already written (retry the same commit with the same
    /// progress). Blocking: call from a blocking thread.
    ///
    /// When this returns `Ok`, every row of the commit is in a file that has been fsynced and
    /// atomically renamed into place, so the messages may be acknowledged.
    pub fn write_prepared(&self, prepared: &Prepared, progress: &mut WriteProgress) -> Result<()> {
        write_prepared(&self.root, &self.guard, prepared, progress)
    }

    /// Every Parquet file of a table, in path order (partition date, then sequence).
    pub fn files(&self, table: &str) -> Result<Vec<PathBuf>> {
        parquet_files(&self.table_dir(table))
    }

    /// Rebuilds the deduplication index from every stored file. Blocking.
    pub fn load_index(&self) -> Result<DedupIndex> {
        load_index(&self.root)
    }

    /// The generation root (`generations/<table>/<id>/`) of every partition of a table, as
    /// it is now: one consistent view of the table for a query.
    pub fn generation_roots(&self, table: &str) -> Result<Vec<PathBuf>> {
        layout::generation_roots(&self.root, table)
    }

    /// Compacts every partition the policy selects, and deletes expired generations. Blocking.
    pub fn compact(&self, policy: &CompactionPolicy) -> Result<CompactionStats> {
        compact::compact(&self.root, &self.guard, policy)
    }

    /// Takes the writer lock, or fails at once when another process holds it: two writers
    /// would race compaction against each other's files.
    pub fn lock_for_writing(&self) -> Result<WriterLock> {
        lock_for_writing(&self.root)
    }

    /// Replaces the snapshot `name` (a projection's state) atomically, with key-value metadata.
    pub fn write_snapshot(
        &self,
        name: &str,
        batch: &RecordBatch,
        metadata: Vec<(String, String)>,
    ) -> Result<u64> {
        snapshot::write(&self.root, name, batch, metadata)
    }

    /// Reads the snapshot `name`, when there is one: its batches and key-value metadata.
    pub fn read_snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        snapshot::read(&self.root, name)
    }

    /// Removes the snapshot `name`, if any.
    pub fn remove_snapshot(&self, name: &str) -> Result<()> {
        snapshot::remove(&self.root, name)
    }
}
