//! One Delta table of the lake: its latest loaded state (refreshed from the Delta log, never by
//! listing files), and the ingest commits to it, each carrying the stream position it covers
//! as a Delta `txn` action, so that a second writer's commit is refused by the log itself.
//! A stream split into partitions has one position per partition, and the worker holding a
//! partition commits its claim on it (an epoch) first: every later commit carries that epoch,
//! so a worker that lost the partition (a zombie) is refused by the log.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::RwLock;

use chrono::Utc;

use datafusion::arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};

use crate::error::{Error, Result};
use crate::location::LakeLocation;

/// The application id of ParWatch's ingest commits in each table's `txn` actions. Its version
/// is the highest JetStream stream sequence stored in the table; a stream split into
/// partitions has one per partition, `parwatch-ingest/<partition>`.
pub const INGEST_APP_ID: &str = "parwatch-ingest";

/// The application id whose version is the epoch of the worker holding a partition:
/// `parwatch-owner/<partition>`.
const OWNER_APP_ID: &str = "parwatch-owner";

/// The application id whose version is when the newest message stored was published (ms since
/// 1970): the stream is in publishing order, so every message of the partition published
/// before that is stored. `parwatch-published/<partition>`, or `parwatch-published`.
const PUBLISHED_APP_ID: &str = "parwatch-published";

/// What a table's log holds for one partition of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionState {
    /// The partition (0 for the unpartitioned stream).
    pub index: u32,
    /// Highest stream sequence stored.
    pub position: Option<u64>,
    /// The epoch of the latest claim (none for the unpartitioned stream).
    pub epoch: Option<u64>,
    /// Every message of the partition published before this time (ms since 1970) is stored.
    pub published_until_ms: Option<i64>,
}

/// Who commits the ingest positions of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Writer {
    /// The one worker of an unpartitioned stream (position `parwatch-ingest`).
    #[default]
    Sole,
    /// The worker holding a partition of the stream since it claimed it with `epoch`
    /// (strictly greater than any earlier claim's).
    Partition {
        /// The partition, from 0.
        index: u32,
        /// The claim's epoch.
        epoch: u64,
    },
}

impl Writer {
    /// The application id of its position.
    pub fn position_app_id(&self) -> String {
        self.app_id(INGEST_APP_ID)
    }

    /// `base`, or `base/<partition>`.
    fn app_id(&self, base: &str) -> String {
        match self {
            Writer::Sole => base.to_owned(),
            Writer::Partition { index, .. } => format!("{base}/{index}"),
        }
    }

    /// The application id of its claim and the epoch, for a partition's writer.
    fn owner(&self) -> Option<(String, u64)> {
        match self {
            Writer::Sole => None,
            Writer::Partition { index, epoch } => Some((format!("{OWNER_APP_ID}/{index}"), *epoch)),
        }
    }

    /// The `txn` actions of a commit of this writer at `position` whose newest message was
    /// published at `published_ms`.
    fn transactions(&self, position: u64, published_ms: Option<i64>) -> Vec<Transaction> {
        let ingest = Transaction::new(self.position_app_id(), position as i64);
        let owner = self
            .owner()
            .map(|(app, epoch)| Transaction::new(app, epoch as i64));
        let published = published_ms.map(|ms| Transaction::new(self.app_id(PUBLISHED_APP_ID), ms));
        std::iter::once(ingest)
            .chain(owner)
            .chain(published)
            .collect()
    }
}

/// A table's state as of its last refresh, for status pages (no I/O to read it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Delta version loaded.
    pub version: u64,
    /// Data files in that version.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Their rows, as their statistics count them.
    pub rows: u64,
    /// Highest stream sequence stored (the ingest `txn` version), if any.
    pub position: Option<u64>,
    /// When that version was committed (milliseconds since 1970).
    pub committed_at: Option<i64>,
    /// The greatest `occurred_at` (or `received_at`) in the files' statistics, as Delta
    /// writes it (RFC 3339, milliseconds rounded up).
    pub newest: Option<String>,
}

/// A Delta table and the serialisation of ParWatch's commits to it.
#[derive(Debug)]
pub(crate) struct Table {
    /// The table's folder when the lake is on the local disk: what `sync` makes durable.
    local: Option<PathBuf>,
    /// The latest state loaded, and what it holds: replaced together, so that the position a
    /// commit checks is the one of the state it commits on.
    state: RwLock<Loaded>,
    /// Each writer's ingest position as of opening (the sole writer) or claiming (a partition),
    /// then as this process committed it; held for a whole commit, so the position a commit
    /// checks is the one it writes over, and for a compaction's commit (see [`Table::turn`]).
    written: tokio::sync::Mutex<HashMap<Writer, Option<u64>>>,
    /// Commits that found other writers' commits ahead of the version they read and landed
    /// after them (the log's conflict check found nothing in common).
    conflicts: std::sync::atomic::AtomicU64,
    /// When this process last had a vacuum look for files no commit names.
    orphans_sought: std::sync::Mutex<Option<std::time::Instant>>,
}

/// A turn at committing to a table (see [`Table::turn`]).
pub(crate) struct CommitTurn<'a> {
    _held: tokio::sync::MutexGuard<'a, HashMap<Writer, Option<u64>>>,
}

/// A loaded version of the table and its figures.
#[derive(Debug)]
struct Loaded {
    table: DeltaTable,
    stats: TableStats,
}

impl Table {
    /// Opens the table `name` of the lake, creating it with `schema` when it does not exist.
    pub(crate) async fn open(
        location: &LakeLocation,
        name: &str,
        schema: SchemaRef,
    ) -> Result<Self> {
        let table = location.builder(&format!("{name}/"))?.build()?;
        let table = if table.verify_deltatable_existence().await? {
            let mut table = table;
            table.load().await?;
            table
        } else {
            let columns: StructType = schema.as_ref().try_into_kernel()?;
            let created = table
                .create()
                .with_table_name(name)
                .with_columns(columns.fields().cloned())
                .with_save_mode(SaveMode::Ignore)
                // A process that finds version 0 written meanwhile would otherwise commit a
                // second creation after it (delta-rs retries it as version 1).
                .with_commit_properties(CommitProperties::default().with_max_retries(0))
                .await;
            match created {
                Ok(table) => table,
                // Created meanwhile by another process: load theirs.
                Err(_) => location.builder(&format!("{name}/"))?.load().await?,
            }
        };
        let stats = stats_of(&table).await?;
        Ok(Self {
            local: location.local_dir().map(|dir| dir.join(name)),
            written: tokio::sync::Mutex::new(HashMap::from([(Writer::Sole, stats.position)])),
            state: RwLock::new(Loaded { table, stats }),
            conflicts: Default::default(),
            orphans_sought: Default::default(),
        })
    }

    /// Whether a vacuum should look for files no commit names: never yet in this process, or
    /// not for `every`; it is then taken as done now.
    pub(crate) fn orphans_due(&self, every: std::time::Duration) -> bool {
        let mut sought = self.orphans_sought.lock().expect("orphans lock");
        let due = sought.is_none_or(|at| at.elapsed() >= every);
        if due {
            *sought = Some(std::time::Instant::now());
        }
        due
    }

    /// The table as last loaded.
    pub(crate) fn current(&self) -> DeltaTable {
        self.state.read().expect("table lock").table.clone()
    }

    /// Commits of this process that landed after other writers' (see `conflicts`).
    pub(crate) fn conflicts(&self) -> u64 {
        self.conflicts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Its state as of the last refresh.
    pub(crate) fn stats(&self) -> TableStats {
        self.state.read().expect("table lock").stats.clone()
    }

    /// What `table` holds for `writer`: its position and, for a partition, the epoch of the
    /// partition's latest claim. The sole writer's position is the one of the figures kept.
    async fn held(&self, table: &DeltaTable, writer: Writer) -> Result<(Option<u64>, Option<u64>)> {
        let Some((owner, _)) = writer.owner() else {
            return Ok((self.stats().position, None));
        };
        let snapshot = table.snapshot()?;
        let store = table.log_store();
        let version = |app: String| {
            let store = store.clone();
            async move {
                Ok::<_, Error>(
                    snapshot
                        .transaction_version(store.as_ref(), app)
                        .await?
                        .map(|v| v.max(0) as u64),
                )
            }
        };
        Ok((
            version(writer.position_app_id()).await?,
            version(owner).await?,
        ))
    }

    /// What the latest loaded state holds for `writer`'s partition.
    pub(crate) async fn partition(&self, writer: Writer) -> Result<PartitionState> {
        let table = self.current();
        let (position, epoch) = self.held(&table, writer).await?;
        let published = table
            .snapshot()?
            .transaction_version(table.log_store().as_ref(), writer.app_id(PUBLISHED_APP_ID))
            .await?;
        Ok(PartitionState {
            index: match writer {
                Writer::Sole => 0,
                Writer::Partition { index, .. } => index,
            },
            position,
            epoch,
            published_until_ms: published,
        })
    }

    /// Claims a partition for `writer` (a [`Writer::Partition`]): commits its epoch, which
    /// refuses every later commit of an earlier holder, and returns the partition's position.
    /// Refused with [`Error::Fenced`] when the table holds a claim of the same or a later epoch.
    pub(crate) async fn claim(&self, writer: Writer) -> Result<Option<u64>> {
        let Some((owner, epoch)) = writer.owner() else {
            return Ok(self.stats().position);
        };
        let mut written = self.written.lock().await;
        let table = self.refresh().await?;
        let (position, claimed) = self.held(&table, writer).await?;
        if claimed.is_some_and(|c| c >= epoch) {
            return Err(Error::Fenced(format!(
                "{} holds a claim of epoch {claimed:?}, not older than {epoch}",
                writer.position_app_id()
            )));
        }
        // The claim's `txn` alone: a commit of an earlier holder made meanwhile carries the same
        // application id, so the log refuses one of the two.
        let claim = Transaction::new(owner, epoch as i64);
        let properties = CommitProperties::default()
            .with_application_transactions(vec![claim])
            .with_cleanup_expired_logs(Some(false));
        let finalized = CommitBuilder::from(properties)
            .build(
                Some(table.snapshot()?),
                table.log_store(),
                append_operation(),
            )
            .await
            .map_err(|e| Error::Fenced(format!("claiming {}: {e}", writer.position_app_id())))?;
        self.sync(&format!("_delta_log/{:020}.json", finalized.version()))?;
        self.refresh().await?;
        written.insert(writer, position);
        Ok(position)
    }

    /// Waits for this process's commit to the table under way, if any, and holds off its next
    /// ones until the turn is dropped. A compaction commits in its turn: racing the ingest
    /// appends of a fast backfill, it would check itself against each version they landed
    /// meanwhile, and find more landed each time it tried again.
    pub(crate) async fn turn(&self) -> CommitTurn<'_> {
        CommitTurn {
            _held: self.written.lock().await,
        }
    }

    /// Loads the commits made since the last refresh (by anyone) and returns the table.
    pub(crate) async fn refresh(&self) -> Result<DeltaTable> {
        let mut table = self.current();
        let before = table.version();
        table.update_incremental(None).await?;
        if table.version() != before {
            let stats = stats_of(&table).await?;
            self.keep(table.clone(), stats);
        }
        Ok(table)
    }

    /// Keeps `table` as the latest state when it is newer than the one known.
    fn keep(&self, table: DeltaTable, stats: TableStats) {
        let mut state = self.state.write().expect("table lock");
        if stats.version > state.stats.version {
            *state = Loaded { table, stats };
        }
    }

    /// Commits `adds` (files already in the store) with the ingest position raised to
    /// `last_seq`, and the application transaction `also` in the same commit when given.
    /// `retry` says that an earlier attempt to commit these files failed: its outcome is then
    /// unknown, and the log says whether it landed, so that a retry never commits the same
    /// files twice (a first attempt names new files, which no commit can hold yet).
    /// Refused with [`Error::Fenced`] when another writer moved the position since this
    /// process opened the table or last committed: seen in the state loaded, or in a commit
    /// made since, which holds the same application id and so conflicts with this one.
    pub(crate) async fn append(
        &self,
        adds: Vec<Add>,
        (last_seq, published_ms): (u64, Option<i64>),
        writer: Writer,
        also: Option<Transaction>,
        retry: bool,
    ) -> Result<()> {
        let mut written = self.written.lock().await;
        let Some(&expected) = written.get(&writer) else {
            return Err(Error::Fenced(format!(
                "{} was not claimed by this process",
                writer.position_app_id()
            )));
        };
        let epoch = writer.owner().map(|(_, epoch)| epoch);
        if retry {
            let before = self.current().version();
            let table = self.refresh().await?;
            if landed(&table, &adds) {
                // An attempt whose answer was lost did land.
                self.sync_commits(before, &table)?;
                written.insert(writer, self.held(&table, writer).await?.0);
                return Ok(());
            }
        }
        let table = self.current();
        let (found, claimed) = self.held(&table, writer).await?;
        if found != expected || claimed != epoch {
            return Err(Error::Fenced(format!(
                "another writer moved {} of {} from {expected:?} to {found:?} (claim {claimed:?}, ours {epoch:?})",
                writer.position_app_id(),
                table.table_url()
            )));
        }
        let position = expected.map_or(last_seq, |p| p.max(last_seq));
        let properties = CommitProperties::default()
            .with_application_transactions(
                writer
                    .transactions(position, published_ms)
                    .into_iter()
                    .chain(also)
                    .collect(),
            )
            // Listing the whole log at each commit is left to compaction's commits.
            .with_cleanup_expired_logs(Some(false));
        let actions = adds.iter().cloned().map(Action::Add).collect();
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(
                Some(table.snapshot()?),
                table.log_store(),
                append_operation(),
            )
            .await;
        match committed {
            Ok(finalized) => {
                // The commit is the table's next `_delta_log/<version>.json`.
                let version = finalized.version();
                if table.version().is_some_and(|read| version > read + 1) {
                    self.conflicts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                self.sync(&format!("_delta_log/{version:020}.json"))?;
                written.insert(writer, Some(position));
                let mut next = table.clone();
                next.state = Some(finalized.snapshot());
                let stats = if table.version() == Some(version - 1) {
                    // Nothing committed in between: the figures known plus these files.
                    let mut stats = self.stats();
                    add_files(&mut stats, &adds);
                    stats.version = version;
                    if writer == Writer::Sole {
                        stats.position = Some(position);
                    }
                    stats.committed_at = next
                        .snapshot()?
                        .snapshot()
                        .version_timestamp(version)
                        .or(Some(Utc::now().timestamp_millis()));
                    stats
                } else {
                    stats_of(&next).await?
                };
                self.keep(next, stats);
                Ok(())
            }
            Err(e) => {
                // A store error after the commit was written, or a writer that won the race:
                // the log tells which.
                let before = table.version();
                let table = self.refresh().await?;
                if landed(&table, &adds) {
                    self.sync_commits(before, &table)?;
                    written.insert(writer, Some(position));
                    Ok(())
                } else if self.held(&table, writer).await? != (expected, epoch) {
                    Err(Error::Fenced(format!(
                        "a concurrent writer committed to {} first: {e}",
                        table.table_url()
                    )))
                } else {
                    Err(e.into())
                }
            }
        }
    }
}

/// An ingest commit: files appended.
fn append_operation() -> DeltaOperation {
    DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    }
}

/// The figures of the version `table` holds: its files' statistics summed.
async fn stats_of(table: &DeltaTable) -> Result<TableStats> {
    let snapshot = table.snapshot()?;
    let version = snapshot.version();
    let position = snapshot
        .transaction_version(table.log_store().as_ref(), INGEST_APP_ID)
        .await?
        .map(|v| v as u64);
    let files = snapshot.log_data();
    let mut stats = TableStats {
        version,
        position,
        committed_at: snapshot.snapshot().version_timestamp(version),
        ..TableStats::default()
    };
    for file in files.iter() {
        count_file(&mut stats, file.size(), file.stats().as_deref());
    }
    Ok(stats)
}

/// Adds the files of `adds` to the figures.
fn add_files(stats: &mut TableStats, adds: &[Add]) {
    for add in adds {
        count_file(stats, add.size, add.stats.as_deref());
    }
}

/// Adds one file, of `size` bytes and Delta statistics `file_stats`, to the figures.
fn count_file(stats: &mut TableStats, size: i64, file_stats: Option<&str>) {
    stats.files += 1;
    stats.bytes += size.max(0) as u64;
    let parsed = file_stats.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    if let Some(parsed) = parsed {
        stats.rows += parsed["numRecords"].as_u64().unwrap_or_default();
        stats.newest = stats.newest.take().max(newest_time(&parsed));
    }
}

impl Table {
    /// Makes durable the commits after version `before` up to `table`'s: one of them is an
    /// attempt that landed while its answer was lost, which may not have been synced.
    fn sync_commits(&self, before: Option<u64>, table: &DeltaTable) -> Result<()> {
        let first = before.map_or(0, |v| v + 1);
        for version in first..=table.version().unwrap_or_default() {
            self.sync(&format!("_delta_log/{version:020}.json"))?;
        }
        Ok(())
    }

    /// On a local disk, makes the file at `path` (relative to the table's folder) and its
    /// folder's entry durable: the object store writes and renames files but never fsyncs, and
    /// an acknowledged batch must survive a power cut. An object store is durable on its own.
    pub(crate) fn sync(&self, path: &str) -> Result<()> {
        let Some(table) = &self.local else {
            return Ok(());
        };
        let file = table.join(path);
        for target in [file.as_path(), file.parent().unwrap_or(table)] {
            std::fs::File::open(target)
                .and_then(|f| f.sync_all())
                .map_err(Error::io(target))?;
        }
        Ok(())
    }
}

/// The greatest event time in a file's Delta statistics.
fn newest_time(stats: &serde_json::Value) -> Option<String> {
    ["occurred_at", "received_at"]
        .iter()
        .find_map(|c| stats["maxValues"][c].as_str().map(str::to_owned))
}

/// Whether every file of `adds` is in the table.
fn landed(table: &DeltaTable, adds: &[Add]) -> bool {
    let Ok(snapshot) = table.snapshot() else {
        return false;
    };
    let wanted: HashSet<&str> = adds.iter().map(|a| a.path.as_str()).collect();
    let found = snapshot
        .log_data()
        .iter()
        .filter(|f| wanted.contains(f.path().as_ref()))
        .count();
    !wanted.is_empty() && found == wanted.len()
}
