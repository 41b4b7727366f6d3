//! One Delta table of the lake: its latest loaded state (refreshed from the Delta log, never by
//! listing files), and the ingest commits to it, each carrying the stream position it covers
//! as a Delta `txn` action, so that a second writer's commit is refused by the log itself.
//! A stream split into partitions has one position per partition, and the worker holding a
//! partition commits its claim on it (an epoch) first: every later commit carries that epoch,
//! so a worker that lost the partition (a zombie) is refused by the log.
//!
//! This process writes its commits as the log's next entry itself (created only if absent, as
//! delta-rs does), and when others landed ahead, reads them first: one that moved a position
//! it writes refuses it, as delta-rs' conflict check would. delta-rs would also load the table
//! again after each commit, parsing the statistics of every file in it: the cost of a commit
//! would grow with the table (8.5% of the worker's time at 1M events, rising with the backlog).
//! The table with its files is loaded when a reader asks ([`Table::refresh`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

use datafusion::arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::logstore::CommitOrBytes;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::config::TablePropertiesExt as _;
use tracing::warn;
use uuid::Uuid;

use crate::changes::{read_commits, version_of};
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

    /// Whether a commit's `txn` of `app_id` moves its position or its claim.
    fn moved_by(&self, app_id: &str) -> bool {
        app_id == self.position_app_id() || self.owner().is_some_and(|(owner, _)| app_id == owner)
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

/// The key of a commit's `commitInfo` that names the attempt that wrote it.
const COMMIT_ID_KEY: &str = "parwatchCommit";

/// How many times a commit is tried again at a later version when others landed first
/// (delta-rs' default).
const MAX_RETRIES: usize = 15;

/// A Delta table and the serialisation of ParWatch's commits to it.
#[derive(Debug)]
pub(crate) struct Table {
    /// The table's folder when the lake is on the local disk: what `sync` makes durable.
    local: Option<PathBuf>,
    /// The table with its files as last loaded from the log ([`Table::refresh`]): what queries,
    /// compaction and the projector read. It may be behind this process's commits.
    loaded: RwLock<DeltaTable>,
    /// The newest version this process knows of, committed or loaded.
    known: RwLock<Known>,
    /// The log as this process's commits know it; held for a whole commit, and for a
    /// compaction's commit (see [`Table::turn`]).
    head: tokio::sync::Mutex<Head>,
    /// Commits that found other writers' commits ahead of the version they read and landed
    /// after them (none of those moved a position they write).
    conflicts: AtomicU64,
    /// When this process last had a vacuum look for files no commit names.
    orphans_sought: std::sync::Mutex<Option<std::time::Instant>>,
}

/// What this process knows of the table's newest version.
#[derive(Debug, Default)]
struct Known {
    /// Its figures.
    stats: TableStats,
    /// The versions of the `txn` actions of the commits this process wrote or read since it
    /// loaded the table, by application id (each only ever grows).
    txns: HashMap<String, i64>,
}

/// The log as this process's commits know it.
#[derive(Debug)]
struct Head {
    /// Every commit up to this version was loaded, written or read by this process: its next
    /// commit lands right after it, or reads the commits ahead first.
    version: u64,
    /// Each writer's ingest position as of opening (the sole writer) or claiming (a partition),
    /// then as this process committed it; a writer whose position another commit moved is no
    /// longer here.
    positions: HashMap<Writer, Option<u64>>,
}

/// A commit about to be written (see [`Table::write`]).
struct Pending {
    /// Its entry (or, on stores that rename one into place, its temporary file).
    entry: CommitOrBytes,
    /// The id of the attempt, in its `commitInfo`.
    id: Uuid,
    /// The files it adds.
    files: HashSet<String>,
    /// Its `txn` actions: a commit ahead of it that holds one of their application ids
    /// refuses it.
    txns: Vec<Transaction>,
}

/// What [`Table::catch_up`] read.
#[derive(Debug, Default)]
struct CaughtUp {
    /// The version of the commit that is the one about to be written, if read.
    landed: Option<u64>,
    /// Whether a commit of another ingest writer was read.
    overtaken: bool,
}

/// A turn at committing to a table (see [`Table::turn`]).
pub(crate) struct CommitTurn<'a> {
    _held: tokio::sync::MutexGuard<'a, Head>,
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
            head: tokio::sync::Mutex::new(Head {
                version: stats.version,
                positions: HashMap::from([(Writer::Sole, stats.position)]),
            }),
            loaded: RwLock::new(table),
            known: RwLock::new(Known {
                stats,
                txns: HashMap::new(),
            }),
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

    /// The table as last loaded (it may be behind this process's commits).
    pub(crate) fn current(&self) -> DeltaTable {
        self.loaded.read().expect("table lock").clone()
    }

    /// Commits of this process that landed after other writers' (see `conflicts`).
    pub(crate) fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    /// The figures of the newest version this process committed or loaded.
    pub(crate) fn stats(&self) -> TableStats {
        self.known.read().expect("known lock").stats.clone()
    }

    /// The latest version in the log (its files are not loaded).
    pub(crate) async fn latest_version(&self) -> Result<u64> {
        let known = self.stats().version;
        Ok(self.current().log_store().get_latest_version(known).await?)
    }

    /// The version of the `txn` of `app_id` in `table`, or in a commit this process wrote or
    /// read since, whichever is newer.
    async fn txn(&self, table: &DeltaTable, app_id: String) -> Result<Option<i64>> {
        let known = self
            .known
            .read()
            .expect("known lock")
            .txns
            .get(&app_id)
            .copied();
        let loaded = table
            .snapshot()?
            .transaction_version(table.log_store().as_ref(), app_id)
            .await?;
        Ok(loaded.max(known))
    }

    /// What `table` (or a newer commit this process knows) holds for `writer`: its position
    /// and, for a partition, the epoch of the partition's latest claim.
    async fn held(&self, table: &DeltaTable, writer: Writer) -> Result<(Option<u64>, Option<u64>)> {
        let position = self.txn(table, writer.position_app_id()).await?;
        let epoch = match writer.owner() {
            Some((owner, _)) => self.txn(table, owner).await?,
            None => None,
        };
        let unsigned = |v: Option<i64>| v.map(|v| v.max(0) as u64);
        Ok((unsigned(position), unsigned(epoch)))
    }

    /// What the table holds for `writer`'s partition, as of the latest state this process
    /// loaded or committed.
    pub(crate) async fn partition(&self, writer: Writer) -> Result<PartitionState> {
        let table = self.current();
        let (position, epoch) = self.held(&table, writer).await?;
        let published = self.txn(&table, writer.app_id(PUBLISHED_APP_ID)).await?;
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
        let mut head = self.head.lock().await;
        head.positions
            .retain(|held, _| held.position_app_id() != writer.position_app_id());
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
        let pending = self.prepare(&table, vec![], vec![claim]).await?;
        // The commits up to the table read may move the other writers' positions; the earlier
        // holder's among them are why this claim is made.
        self.catch_up(&mut head, None, Some(version_of(&table)))
            .await?;
        let version = self
            .write(&mut head, &pending, false)
            .await
            .map_err(|e| Error::Fenced(format!("claiming {}: {e}", writer.position_app_id())))?;
        self.sync(&log_entry(version))?;
        head.version = version;
        head.positions.insert(writer, position);
        self.record(version, &[], &pending.txns, None).await;
        Ok(position)
    }

    /// Waits for this process's commit to the table under way, if any, and holds off its next
    /// ones until the turn is dropped. A compaction commits in its turn: racing the ingest
    /// appends of a fast backfill, it would check itself against each version they landed
    /// meanwhile, and find more landed each time it tried again.
    pub(crate) async fn turn(&self) -> CommitTurn<'_> {
        CommitTurn {
            _held: self.head.lock().await,
        }
    }

    /// Loads the table with its files as of the latest version (commits made by anyone since
    /// the last load) and returns it.
    pub(crate) async fn refresh(&self) -> Result<DeltaTable> {
        let mut table = self.current();
        let before = table.version();
        table.update_incremental(None).await?;
        if table.version() != before {
            if version_of(&table) > self.stats().version {
                let stats = stats_of(&table).await?;
                let mut known = self.known.write().expect("known lock");
                if stats.version > known.stats.version {
                    known.stats = stats;
                }
            }
            let mut loaded = self.loaded.write().expect("table lock");
            if loaded.version() < table.version() {
                *loaded = table.clone();
            }
        }
        Ok(table)
    }

    /// Commits `adds` (files already in the store) with the ingest position raised to
    /// `last_seq`, and the application transaction `also` in the same commit when given.
    /// `retry` says that an earlier attempt to commit these files failed: its outcome is then
    /// unknown, and the log says whether it landed, so that a retry never commits the same
    /// files twice (a first attempt names new files, which no commit can hold yet).
    /// Refused with [`Error::Fenced`] when another writer moved the position since this
    /// process opened the table or last committed.
    pub(crate) async fn append(
        &self,
        adds: Vec<Add>,
        (last_seq, published_ms): (u64, Option<i64>),
        writer: Writer,
        also: Option<Transaction>,
        retry: bool,
    ) -> Result<()> {
        let mut head = self.head.lock().await;
        let Some(&expected) = head.positions.get(&writer) else {
            return Err(Error::Fenced(format!(
                "{} is not held by this process (never claimed, or moved by another writer)",
                writer.position_app_id()
            )));
        };
        let position = expected.map_or(last_seq, |p| p.max(last_seq));
        let txns = writer
            .transactions(position, published_ms)
            .into_iter()
            .chain(also)
            .collect();
        let actions = adds.iter().cloned().map(Action::Add).collect();
        let pending = self.prepare(&self.current(), actions, txns).await?;
        let version = self.write(&mut head, &pending, retry).await?;
        self.sync(&log_entry(version))?;
        head.version = version;
        head.positions.insert(writer, Some(position));
        let sole = (writer == Writer::Sole).then_some(position);
        self.record(version, &adds, &pending.txns, sole).await;
        self.checkpoint(version).await;
        Ok(())
    }

    /// Lays out a commit of `actions` and `txns` for [`Table::write`]; `table` checks that
    /// its protocol allows the commit.
    async fn prepare(
        &self,
        table: &DeltaTable,
        actions: Vec<Action>,
        txns: Vec<Transaction>,
    ) -> Result<Pending> {
        let id = Uuid::new_v4();
        let files = actions
            .iter()
            .filter_map(|a| match a {
                Action::Add(add) => Some(add.path.clone()),
                _ => None,
            })
            .collect();
        let properties = CommitProperties::default()
            .with_application_transactions(txns.clone())
            .with_metadata([(COMMIT_ID_KEY.to_owned(), id.to_string().into())]);
        let prepared = CommitBuilder::from(properties)
            .with_actions(actions)
            .with_operation_id(id)
            .build(
                Some(table.snapshot()?),
                table.log_store(),
                append_operation(),
            )
            .into_prepared_commit_future()
            .await?;
        Ok(Pending {
            entry: prepared.commit_or_bytes().clone(),
            id,
            files,
            txns,
        })
    }

    /// Writes `pending` as the log's entry after the head and returns its version (the head
    /// is left to the caller to move once the entry is durable). When commits landed ahead
    /// (other writers', a compaction's), reads them first (see [`Table::catch_up`]); so it
    /// does first when `retry` says an earlier attempt of these files may have landed.
    async fn write(&self, head: &mut Head, pending: &Pending, retry: bool) -> Result<u64> {
        let store = self.current().log_store();
        let mut behind = retry;
        let mut overtaken = false;
        for _ in 0..=MAX_RETRIES {
            if behind {
                let read = self.catch_up(head, Some(pending), None).await?;
                if let Some(version) = read.landed {
                    return Ok(version);
                }
                overtaken |= read.overtaken;
            }
            let version = head.version + 1;
            match store
                .write_commit_entry(version, pending.entry.clone(), pending.id)
                .await
            {
                Ok(()) => {
                    if overtaken {
                        self.conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(version);
                }
                Err(TransactionError::VersionAlreadyExists(_)) => behind = true,
                Err(e) => {
                    // A store error after the entry was written, maybe: the log tells.
                    if let Ok(CaughtUp {
                        landed: Some(version),
                        ..
                    }) = self.catch_up(head, Some(pending), None).await
                    {
                        return Ok(version);
                    }
                    store
                        .abort_commit_entry(version, pending.entry.clone(), pending.id)
                        .await
                        .ok();
                    return Err(deltalake::DeltaTableError::from(e).into());
                }
            }
        }
        Err(
            deltalake::DeltaTableError::from(TransactionError::MaxCommitAttempts(
                MAX_RETRIES as i32,
            ))
            .into(),
        )
    }

    /// Reads the commits after the head up to `until` (by default the log's latest), moving
    /// the head over each. Returns the version of one that is `pending` (an earlier attempt
    /// whose answer was lost: its `commitInfo` names it, or it adds `pending`'s files), and
    /// stops there. Another commit that holds an application id of `pending`'s `txn`s refuses
    /// it ([`Error::Fenced`]); one that moved a writer's position drops that writer.
    async fn catch_up(
        &self,
        head: &mut Head,
        pending: Option<&Pending>,
        until: Option<u64>,
    ) -> Result<CaughtUp> {
        let store = self.current().log_store();
        let latest = match until {
            Some(until) => until,
            None => store.get_latest_version(head.version).await?,
        };
        let commits = read_commits(&store, head.version + 1..=latest).await?;
        let mut read = CaughtUp::default();
        for (version, actions) in (head.version + 1..).zip(commits) {
            let Some(actions) = actions else {
                // Cleaned from the log after its retention: start again from the table.
                self.reload(head).await?;
                return Ok(read);
            };
            if let Some(pending) = pending
                && actions.iter().any(|a| is_of(a, pending))
            {
                read.landed = Some(version);
                return Ok(read);
            }
            let (mut fenced, mut changed) = (None, false);
            for action in &actions {
                let app_id = match action {
                    Action::Txn(txn) => {
                        self.known_txn(txn);
                        read.overtaken |= txn.app_id.starts_with(INGEST_APP_ID);
                        &txn.app_id
                    }
                    Action::Metadata(_) | Action::Protocol(_) => {
                        changed = true;
                        continue;
                    }
                    _ => continue,
                };
                if pending.is_some_and(|p| p.txns.iter().any(|t| &t.app_id == app_id)) {
                    fenced = Some(app_id.clone());
                }
                head.positions.retain(|writer, _| !writer.moved_by(app_id));
            }
            head.version = version;
            if let Some(app_id) = fenced {
                return Err(Error::Fenced(format!(
                    "another writer committed {app_id} at version {version} of {}",
                    store.root_url()
                )));
            }
            if changed {
                // delta-rs' conflict check refuses a commit over such a change too; a commit
                // laid out again afterwards lands after it.
                return Err(deltalake::DeltaTableError::Generic(format!(
                    "the metadata or protocol of {} changed at version {version}",
                    store.root_url()
                ))
                .into());
            }
        }
        Ok(read)
    }

    /// Starts the head again from the table as the log holds it now, when the commits since
    /// the head are no longer in the log: a writer stays held only where the table still
    /// holds its position and claim as this process knew them.
    async fn reload(&self, head: &mut Head) -> Result<()> {
        let table = self.refresh().await?;
        let mut kept = HashMap::new();
        for (writer, position) in std::mem::take(&mut head.positions) {
            let epoch = writer.owner().map(|(_, epoch)| epoch);
            if self.held(&table, writer).await? == (position, epoch) {
                kept.insert(writer, position);
            }
        }
        head.positions = kept;
        head.version = version_of(&table);
        Ok(())
    }

    /// Keeps the version of a `txn` read or written.
    fn known_txn(&self, txn: &Transaction) {
        let mut known = self.known.write().expect("known lock");
        let version = known.txns.entry(txn.app_id.clone()).or_insert(txn.version);
        *version = (*version).max(txn.version);
    }

    /// Adds this process's commit `version` (its files `adds` and `txn`s; `sole`: the sole
    /// writer's position it wrote) to what it knows. The figures grow by its files when they
    /// were those of the version before; otherwise (others' commits landed between) the
    /// table is loaded again, which failing, they stay as they were until the next load.
    async fn record(&self, version: u64, adds: &[Add], txns: &[Transaction], sole: Option<u64>) {
        txns.iter().for_each(|txn| self.known_txn(txn));
        {
            let mut known = self.known.write().expect("known lock");
            let stats = &mut known.stats;
            if stats.version >= version {
                return;
            }
            if stats.version + 1 == version {
                add_files(stats, adds);
                stats.version = version;
                stats.position = sole.or(stats.position);
                stats.committed_at = Some(Utc::now().timestamp_millis());
                return;
            }
        }
        if let Err(e) = self.refresh().await {
            warn!(error = %e, version, "loading the table after a commit failed");
        }
    }

    /// After this process's commit `version`, writes a checkpoint of the log when one is due
    /// (every `delta.checkpointInterval` versions, as delta-rs does after its own commits), so
    /// that a load reads a checkpoint and the few commits after it. A failure is only logged:
    /// the commit stands, and the next checkpoint covers it.
    async fn checkpoint(&self, version: u64) {
        let interval = match self.current().snapshot() {
            Ok(snapshot) => snapshot.table_config().checkpoint_interval().get(),
            Err(_) => return,
        };
        if !(version + 1).is_multiple_of(interval) {
            return;
        }
        let written = async {
            let table = self.refresh().await?;
            deltalake::checkpoints::create_checkpoint(&table, None).await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = written.await {
            warn!(error = %e, version, "writing a checkpoint failed");
        }
    }
}

/// Whether `action` shows that its commit is `pending`.
fn is_of(action: &Action, pending: &Pending) -> bool {
    match action {
        Action::Add(add) => pending.files.contains(&add.path),
        Action::CommitInfo(info) => info
            .info
            .get(COMMIT_ID_KEY)
            .and_then(|id| id.as_str())
            .is_some_and(|id| id == pending.id.to_string()),
        _ => false,
    }
}

/// The path of the log's entry for `version`, relative to the table's folder.
pub(crate) fn log_entry(version: u64) -> String {
    format!("_delta_log/{version:020}.json")
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
