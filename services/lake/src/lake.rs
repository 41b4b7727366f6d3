//! [`Lake`]: the handle on the lake that the ingest worker, the projector and the query engine
//! share, and the one home of every operation on it. Each method is a step done by the module
//! named for it: `commit.rs` lays a commit out, `writer.rs` stores it and commits it to the
//! Delta log, `table.rs` keeps each table's state and its commits' positions, `compact.rs`
//! compacts and vacuums, `index.rs` rebuilds the deduplication index, `snapshot.rs` keeps the
//! projections' state.
//!
//! Most methods block (they run on the lake's own I/O threads and wait): call them from a
//! blocking thread, a test, or a command. [`Lake::refresh`] and [`Lake::table_provider`] are
//! async, for request handlers and query plans.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use deltalake::DeltaTable;
use deltalake::logstore::object_store::{ObjectStore, ObjectStoreExt as _};

use crate::changes::{self, Changes, files_of, version_of};
use crate::commit::{Commit, Prepared};
use crate::compact::{self, CompactionPolicy, CompactionStats};
use crate::error::{Error, Result};
use crate::index::{DedupIndex, update_index};
use crate::location::LakeLocation;
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE, events_schema, rejected_schema};
use crate::snapshot::{self, Snapshot};
use crate::table::{PartitionState, Table, TableStats, Writer};
use crate::travel::AsOf;
use crate::writer::{WriteProgress, append_batch, write_prepared};

/// The lake: the Delta tables `events` and `rejected_events` at one location. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Lake {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    location: LakeLocation,
    events: Table,
    rejected: Table,
    /// The store at the lake's root (projection snapshots live there).
    root: Arc<dyn ObjectStore>,
    /// Settings of the tables' scans: text and bytes as Arrow's view types, which decode and
    /// compare faster than `Utf8` and `Binary` (a third of a monthly dashboard question's
    /// time); SQL results are turned back into the declared types (`sandbox.rs`).
    scans: Arc<datafusion::execution::SessionState>,
    /// The lake's I/O threads; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime may block; a lake may be dropped inside async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A data file of a table, as the Delta log lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataFile {
    /// Path relative to the table's folder.
    pub path: String,
    /// Bytes.
    pub size: u64,
}

/// Threads of the lake's I/O runtime.
const IO_THREADS: usize = 2;

impl Lake {
    /// Opens (creating when missing) the lake's tables at `location`.
    pub fn open(location: &LakeLocation) -> Result<Self> {
        if matches!(location.url().scheme(), "s3" | "s3a") {
            deltalake::aws::register_handlers(None);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(IO_THREADS)
            .thread_name("parwatch-lake")
            .enable_all()
            .build()
            .map_err(Error::io("lake runtime"))?;
        let opened = on_runtime(&runtime, async {
            let events = Table::open(location, EVENTS_TABLE, events_schema()).await?;
            let rejected = Table::open(location, REJECTED_TABLE, rejected_schema()).await?;
            let root = location.builder("")?.build_storage()?.object_store(None);
            Ok::<_, Error>((events, rejected, root))
        });
        let (events, rejected, root) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                // Dropping a runtime blocks, which panics inside async code (a caller's): let
                // it go in the background and report why the lake did not open.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                location: location.clone(),
                events,
                rejected,
                root,
                scans: Arc::new(scan_settings()),
                runtime: Some(runtime),
            }),
        })
    }

    /// Where the lake is.
    pub fn location(&self) -> &LakeLocation {
        &self.inner.location
    }

    pub(crate) fn table(&self, name: &str) -> &Table {
        match name {
            REJECTED_TABLE => &self.inner.rejected,
            _ => &self.inner.events,
        }
    }

    /// Runs a lake operation on the lake's I/O threads and waits for it.
    pub(crate) fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("runtime lives as long as the lake");
        on_runtime(runtime, future)
    }

    /// A table's state as of its last refresh (no I/O).
    pub fn stats(&self, table: &str) -> TableStats {
        self.table(table).stats()
    }

    /// Commits of this process that found another writer's commits ahead of the version they
    /// read and landed after them (concurrent workers: each such commit is read again and
    /// retried by the Delta log's conflict check).
    pub fn commit_conflicts(&self) -> u64 {
        self.inner.events.conflicts() + self.inner.rejected.conflicts()
    }

    /// Loads both tables' commits made since the last refresh.
    pub async fn refresh(&self) -> Result<()> {
        self.inner.events.refresh().await?;
        self.inner.rejected.refresh().await?;
        Ok(())
    }

    /// The latest version of a table, as a DataFusion table (a consistent snapshot: a query
    /// sees each commit and each compaction wholly or not at all); `session`, which will scan
    /// it, is given the lake's object store.
    pub async fn table_provider(
        &self,
        table: &str,
        session: Option<&dyn Session>,
    ) -> Result<Arc<dyn TableProvider>> {
        let table = self.table(table).refresh().await?;
        self.provider(table, session).await
    }

    /// A table as it was at `at`, as a DataFusion table (see [`Lake::table_provider`]).
    pub async fn table_provider_at(
        &self,
        table: &str,
        at: AsOf,
        session: Option<&dyn Session>,
    ) -> Result<Arc<dyn TableProvider>> {
        let table = changes::table_at(self, table, at).await?;
        self.provider(table, session).await
    }

    async fn provider(
        &self,
        table: DeltaTable,
        session: Option<&dyn Session>,
    ) -> Result<Arc<dyn TableProvider>> {
        if let Some(session) = session {
            table.update_datafusion_session(session)?;
        }
        let provider = table
            .table_provider()
            .with_session(Arc::clone(&self.inner.scans))
            .await?;
        Ok(provider)
    }

    /// The latest state of a table, as delta-rs loads it.
    pub fn delta_table(&self, table: &str) -> Result<DeltaTable> {
        self.block_on(self.table(table).refresh())
    }

    /// Stores a commit: [`Commit::prepare`], then [`Lake::write_prepared`].
    pub fn write(
        &self,
        commit: &Commit<'_>,
        ingested_at: DateTime<Utc>,
        progress: &mut WriteProgress,
    ) -> Result<()> {
        self.write_prepared(&commit.prepare(ingested_at)?, progress)
    }

    /// Stores a prepared commit: one file per table, committed to the table's Delta log with
    /// the highest stream sequence it holds, skipping what `progress` says is done (retry the
    /// same commit with the same progress). When this returns `Ok`, every row of the commit is
    /// in the tables, so the messages may be acknowledged.
    pub fn write_prepared(&self, prepared: &Prepared, progress: &mut WriteProgress) -> Result<()> {
        self.block_on(write_prepared(self, prepared, progress))
    }

    /// Appends ready-made rows to `table` (a batch in its schema, such as rows converted from
    /// another store) as one file, in one commit that raises the ingest position to their
    /// highest `stream_seq` and records `progress`, an application id and version (how far
    /// the caller got; read back with [`Lake::app_version`]), so that a re-run skips what is
    /// done.
    pub fn append_batch(
        &self,
        table: &str,
        batch: RecordBatch,
        progress: (&str, u64),
    ) -> Result<()> {
        self.block_on(append_batch(self, table, batch, progress))
    }

    /// Claims a partition of the stream for `writer` in both tables (see [`Writer`]): from
    /// now on, commits of earlier holders of the partition are refused. Returns the
    /// partition's position in the events table (the highest stream sequence stored).
    pub fn claim(&self, writer: Writer) -> Result<Option<u64>> {
        self.block_on(async {
            self.inner.rejected.claim(writer).await?;
            self.inner.events.claim(writer).await
        })
    }

    /// What the tables' logs hold for each of the stream's `partitions` (1: the unpartitioned
    /// stream): position (the highest stream sequence stored, as an event or a rejection),
    /// latest claim, and up to when each is complete.
    pub fn partitions(&self, partitions: u32) -> Result<Vec<PartitionState>> {
        self.block_on(async {
            let mut states = Vec::new();
            for index in 0..partitions {
                let writer = match partitions {
                    1 => Writer::Sole,
                    _ => Writer::Partition { index, epoch: 0 },
                };
                let events = self.inner.events.partition(writer).await?;
                let rejected = self.inner.rejected.partition(writer).await?;
                states.push(PartitionState {
                    position: events.position.max(rejected.position),
                    epoch: events.epoch.max(rejected.epoch),
                    published_until_ms: events.published_until_ms.max(rejected.published_until_ms),
                    ..events
                });
            }
            Ok(states)
        })
    }

    /// The version a table's log holds for the application id `app_id` (see
    /// [`Lake::append_batch`]), if any.
    pub fn app_version(&self, table: &str, app_id: &str) -> Result<Option<u64>> {
        let table = self.delta_table(table)?;
        self.block_on(async {
            let version = table
                .snapshot()?
                .transaction_version(table.log_store().as_ref(), app_id)
                .await?;
            Ok(version.map(|v| v.max(0) as u64))
        })
    }

    /// Every data file of a table's latest version, in path order.
    pub fn files(&self, table: &str) -> Result<Vec<DataFile>> {
        files_of(&self.delta_table(table)?)
    }

    /// The files a reader that has read a table up to version `since` must read to reach its
    /// latest version: those its commits added with new rows (not compaction's rewrites), or
    /// every file when `since` is `None` or older than the log keeps.
    pub fn changes(&self, table: &str, since: Option<u64>) -> Result<Changes> {
        self.block_on(changes::changes(self, table, since))
    }

    /// The version of a table current at `at`, and its files.
    pub fn files_at(&self, table: &str, at: AsOf) -> Result<(u64, Vec<DataFile>)> {
        let table = self.block_on(changes::table_at(self, table, at))?;
        Ok((version_of(&table), files_of(&table)?))
    }

    /// Reads `columns` of a table's data file, only the `rows` selected when given (the page
    /// index then lets the reader skip the pages of other rows).
    pub fn read_file(
        &self,
        table: &str,
        path: &str,
        columns: &[&str],
        rows: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>> {
        self.file_batches(table, path, columns, rows)?.collect()
    }

    /// [`Lake::read_file`] a batch at a time: the file is fetched and its footer read here
    /// (the errors of a missing or unreadable file), its rows decoded as the batches are
    /// taken, so only one decoded batch is held at a time.
    pub fn file_batches(
        &self,
        table: &str,
        path: &str,
        columns: &[&str],
        rows: Option<RowSelection>,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
        let store = self.table(table).current().object_store();
        let bytes = self.block_on(async { store.get(&path.into()).await?.bytes().await })?;
        let index = match rows {
            Some(_) => PageIndexPolicy::Optional,
            None => PageIndexPolicy::Skip,
        };
        let options = ArrowReaderOptions::new().with_page_index_policy(index);
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
            .map_err(Error::parquet(path))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        let mut builder = builder.with_projection(mask).with_batch_size(65_536);
        if let Some(rows) = rows {
            builder = builder.with_row_selection(rows);
        }
        let reader = builder.build().map_err(Error::parquet(path))?;
        Ok(reader.map(|batch| Ok(crate::schema::plain_batch(batch?)?)))
    }

    /// Rebuilds the deduplication index from every stored file.
    pub fn load_index(&self) -> Result<DedupIndex> {
        let mut index = DedupIndex::default();
        update_index(self, &mut index)?;
        Ok(index)
    }

    /// Adds to `index` what was committed since it was loaded or last updated (by any writer).
    pub fn update_index(&self, index: &mut DedupIndex) -> Result<()> {
        update_index(self, index)
    }

    /// Compacts small files, checkpoints the logs and removes files replaced longer ago than
    /// the policy's retention.
    pub fn compact(&self, policy: &CompactionPolicy) -> Result<CompactionStats> {
        self.block_on(compact::compact(self, policy))
    }

    /// Replaces the snapshot `name` (a projection's state) atomically with the rows of
    /// `batches`, written as they come, and key-value metadata; returns its bytes.
    pub fn write_snapshot(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: impl Iterator<Item = Result<RecordBatch>> + Send,
        metadata: Vec<(String, String)>,
    ) -> Result<u64> {
        self.block_on(snapshot::write(
            &self.inner.root,
            name,
            schema,
            batches,
            metadata,
        ))
    }

    /// Opens the snapshot `name`, when there is one: its metadata, and its rows a batch at a
    /// time as it is iterated.
    pub fn read_snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        self.block_on(snapshot::read(self, &self.inner.root, name))
    }

    /// Removes the snapshot `name`, if any.
    pub fn remove_snapshot(&self, name: &str) -> Result<()> {
        self.block_on(snapshot::remove(&self.inner.root, name))
    }
}

/// See `Inner::scans`.
fn scan_settings() -> datafusion::execution::SessionState {
    let config = datafusion::prelude::SessionConfig::new()
        .set_bool("datafusion.execution.parquet.schema_force_view_types", true);
    datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .build()
}

/// Runs `future` on `runtime` and waits: directly from a plain thread, through a scoped thread
/// from inside another runtime (whose threads must not block on one).
fn on_runtime<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime.block_on(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lake that cannot open says why, also when asked from async code (where dropping its
    /// runtime the usual way would panic instead).
    #[tokio::test]
    async fn a_lake_that_cannot_open_says_why_inside_async_code() {
        let tmp = tempfile::tempdir().unwrap();
        let location = LakeLocation::local(tmp.path()).unwrap();
        // The events table's folder is a file: nothing can be created or read there.
        std::fs::write(tmp.path().join(EVENTS_TABLE), b"not a folder").unwrap();
        let err = Lake::open(&location).map(|_| ()).unwrap_err();
        assert!(!err.to_string().is_empty());
    }

    /// Processes that start at once on an empty lake create each table once: one commit holds
    /// its schema, and every process opens that table.
    #[test]
    fn processes_starting_at_once_on_an_empty_lake_create_each_table_once() {
        for round in 0..5 {
            let tmp = tempfile::tempdir().unwrap();
            let location = LakeLocation::local(tmp.path()).unwrap();
            let start = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        start.wait();
                        Lake::open(&location).unwrap();
                    });
                }
            });
            for table in [EVENTS_TABLE, REJECTED_TABLE] {
                let log = tmp.path().join(table).join("_delta_log");
                let creates = std::fs::read_dir(&log)
                    .unwrap()
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
                    .filter(|commit| commit.contains("\"metaData\""))
                    .count();
                assert_eq!(creates, 1, "round {round}: {table} created {creates} times");
            }
        }
    }
}
