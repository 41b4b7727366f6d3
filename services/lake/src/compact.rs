//! Upkeep of the tables while the worker runs, so that no separate process must be remembered:
//! small files merged into large ones (one commit swaps them atomically, concurrently with
//! appends, and refuses a second compaction of the same files), and files replaced longer ago than a retention deleted (VACUUM).
//! Once a day (and at the first pass of a process) the vacuum also deletes data files no commit
//! names that are older than [`ORPHAN_AGE`]: those a worker wrote and stopped before committing
//! (a crash, a lost compaction it could not clean up).
//! Checkpoints of the logs are written by the commits themselves (every 100 versions).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::ObjectStoreExt as _;
use deltalake::logstore::object_store::buffered::BufWriter;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use serde_json::{Map, Value, json};

use crate::encoding::compaction_properties;
use crate::error::Result;
use crate::lake::Lake;
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE, events_schema, rejected_schema};
use crate::table::log_entry;
use crate::writer::{DATA_DIR, nonce};

/// Files no commit names are deleted once this old: far longer than any commit of them can
/// still be under way (a worker retries a commit while its store is down), whatever the
/// retention of replaced files.
pub const ORPHAN_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often a vacuum also looks for files no commit names (it lists the table's folder).
const ORPHANS_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Files this large are left as they are; smaller ones are merged toward this size.
pub const TARGET_FILE_BYTES: u64 = 128 << 20;

/// When a table's small files are merged, and how long replaced files are kept.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// A table with at least this many small files is compacted.
    pub max_files: usize,
    /// A table with two or more small files and no new file for this long is compacted.
    pub idle: Duration,
    /// Replaced files are deleted this long after the commit that replaced them: longer than
    /// any query runs (a query reads the version it started with), and as long as time travel
    /// should reach back.
    pub retention: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            max_files: 16,
            idle: Duration::from_secs(60),
            // Delta's own default.
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Tables compacted.
    pub compactions: usize,
    /// Small files merged away.
    pub files_merged: u64,
    /// Files written by the merges.
    pub files_written: u64,
    /// Replaced files deleted.
    pub files_deleted: usize,
    /// Compactions refused because another compaction of the same version committed first.
    pub lost: usize,
}

/// Compacts every table the policy selects, then vacuums each.
pub(crate) async fn compact(lake: &Lake, policy: &CompactionPolicy) -> Result<CompactionStats> {
    let mut stats = CompactionStats::default();
    for name in [EVENTS_TABLE, REJECTED_TABLE] {
        let table = lake.table(name).refresh().await?;
        if due(&table, policy)? {
            let plan = Plan::of(&table, name)?;
            match plan.merge(lake).await? {
                Some((merged, written)) => {
                    stats.compactions += 1;
                    stats.files_merged += merged;
                    stats.files_written += written;
                }
                None => stats.lost += 1,
            }
        }
        // Replaced files after the retention; when due, then a full vacuum, which lists the
        // folder and deletes what no commit names once the longer of the two ages passed.
        let mut passes = vec![(VacuumMode::Lite, policy.retention)];
        if lake.table(name).orphans_due(ORPHANS_EVERY) {
            passes.push((VacuumMode::Full, policy.retention.max(ORPHAN_AGE)));
        }
        for (mode, age) in passes {
            let table = lake.table(name).refresh().await?;
            let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            let (_, vacuumed) = table
                .vacuum()
                .with_mode(mode)
                .with_retention_period(age)
                .with_enforce_retention_duration(false)
                .await?;
            stats.files_deleted += vacuumed.files_deleted.len();
        }
        lake.table(name).refresh().await?;
    }
    Ok(stats)
}

/// The application id of compaction commits, in their `txn` actions. Two compactions that read
/// the same version and commit both carry it, so the log refuses the later one: delta-rs 1.1
/// lets two commits remove the same files when neither changes data (OPTIMIZE's), which would
/// leave two merged copies of the same rows.
const COMPACTION_APP_ID: &str = "parwatch-compaction";

/// A small file of a table, as its `add` action describes it.
#[derive(Debug, Clone)]
struct SmallFile {
    path: String,
    size: i64,
    stats: Option<Value>,
}

/// The small files of one version of a table, in the groups one commit merges.
struct Plan {
    table: DeltaTable,
    name: &'static str,
    groups: Vec<Vec<SmallFile>>,
}

impl Plan {
    /// Groups `table`'s small files in the order of their first rows (the day for events, the
    /// time received for rejected messages), each group up to [`TARGET_FILE_BYTES`]: a merged
    /// file then holds neighbouring days, which its statistics prune.
    fn of(table: &DeltaTable, name: &'static str) -> Result<Self> {
        let order = if name == EVENTS_TABLE {
            "event_date"
        } else {
            "received_at"
        };
        let mut small: Vec<(Option<String>, SmallFile)> = table
            .snapshot()?
            .log_data()
            .iter()
            .filter(|f| (f.size().max(0) as u64) < TARGET_FILE_BYTES / 2)
            .map(|f| {
                let stats = f
                    .stats()
                    .and_then(|s| serde_json::from_str::<Value>(&s).ok());
                let first = stats
                    .as_ref()
                    .and_then(|s| s["minValues"][order].as_str().map(str::to_owned));
                let file = SmallFile {
                    path: f.path().into_owned(),
                    size: f.size(),
                    stats,
                };
                (first, file)
            })
            .collect();
        small.sort_by(|a, b| (&a.0, &a.1.path).cmp(&(&b.0, &b.1.path)));
        let mut groups: Vec<Vec<SmallFile>> = Vec::new();
        let mut bytes = 0u64;
        for (_, file) in small {
            let size = file.size.max(0) as u64;
            match groups.last_mut() {
                Some(group) if bytes + size <= TARGET_FILE_BYTES => group.push(file),
                _ => {
                    bytes = 0;
                    groups.push(vec![file]);
                }
            }
            bytes += size;
        }
        groups.retain(|g| g.len() > 1);
        Ok(Self {
            table: table.clone(),
            name,
            groups,
        })
    }

    /// Writes each group as one file and commits the swap, fenced against every other
    /// compaction since the version planned. Returns the files merged away and written, or
    /// `None` when another compaction committed first (its files are then deleted again).
    async fn merge(self, lake: &Lake) -> Result<Option<(u64, u64)>> {
        if self.groups.is_empty() {
            return Ok(Some((0, 0)));
        }
        let stored = lake.table(self.name);
        let store = self.table.object_store();
        let now = Utc::now().timestamp_millis();
        let mut actions = Vec::new();
        let mut written = Vec::new();
        for group in &self.groups {
            let add = match merge_files(&store, self.name, group).await {
                Ok(add) => add,
                Err(e) => {
                    delete(&store, &written).await;
                    return Err(e);
                }
            };
            stored.sync(&add.path)?;
            written.push(add.path.clone());
            actions.push(Action::Add(add));
            actions.extend(group.iter().map(|f| {
                Action::Remove(Remove {
                    path: f.path.clone(),
                    data_change: false,
                    deletion_timestamp: Some(now),
                    extended_file_metadata: Some(true),
                    size: Some(f.size),
                    ..Default::default()
                })
            }));
        }
        let read = self.table.version().unwrap_or_default();
        let fence = Transaction::new(
            COMPACTION_APP_ID,
            i64::try_from(read + 1).unwrap_or(i64::MAX),
        );
        let committed = {
            // Not while an append of this process commits, nor one after it until this is in;
            // the turn ends with the commit, before any clean-up of a refused one.
            let _turn = stored.turn().await;
            CommitBuilder::from(
                CommitProperties::default().with_application_transactions(vec![fence]),
            )
            .with_actions(actions)
            .build(
                Some(self.table.snapshot()?),
                self.table.log_store(),
                DeltaOperation::Optimize {
                    predicate: None,
                    target_size: TARGET_FILE_BYTES as i64,
                },
            )
            .await
        };
        let merged: u64 = self.groups.iter().map(|g| g.len() as u64).sum();
        match committed {
            Ok(finalized) => {
                stored.sync(&log_entry(finalized.version()))?;
                Ok(Some((merged, self.groups.len() as u64)))
            }
            Err(e) => {
                // Refused, or a store error after the commit was written: the log tells which.
                let now = stored.refresh().await?;
                let current: HashSet<String> = now
                    .snapshot()?
                    .log_data()
                    .iter()
                    .map(|f| f.path().into_owned())
                    .collect();
                if written.iter().all(|p| current.contains(p)) {
                    return Ok(Some((merged, self.groups.len() as u64)));
                }
                delete(&store, &written).await;
                match e {
                    DeltaTableError::Transaction {
                        source: TransactionError::CommitConflict(_),
                    } => Ok(None),
                    e => Err(e.into()),
                }
            }
        }
    }
}

/// Streams the files of `group` (in order) into one new file of table `name`; returns its
/// `add`, with the statistics of the files combined (a merge adds no data).
async fn merge_files(store: &ObjectStoreRef, name: &str, group: &[SmallFile]) -> Result<Add> {
    let schema = if name == EVENTS_TABLE {
        events_schema()
    } else {
        rejected_schema()
    };
    let path = format!("{DATA_DIR}/part-merged-{}.zstd.parquet", nonce()?);
    let parquet = crate::Error::parquet(&path);
    let out = BufWriter::new(Arc::clone(store), path.as_str().into());
    let mut writer =
        AsyncArrowWriter::try_new(out, Arc::clone(&schema), Some(compaction_properties()))
            .map_err(crate::Error::parquet(&path))?;
    for file in group {
        // One small file in memory at a time, its rows decoded a batch at a time.
        let bytes = store.get(&file.path.as_str().into()).await?.bytes().await?;
        let rows = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(crate::Error::parquet(&file.path))?;
        for batch in rows {
            writer
                .write(&conform(batch?, &schema)?)
                .await
                .map_err(crate::Error::parquet(&path))?;
        }
    }
    writer.close().await.map_err(parquet)?;
    let size = store.head(&path.as_str().into()).await?.size as i64;
    Ok(Add {
        path,
        size,
        modification_time: Utc::now().timestamp_millis(),
        data_change: false,
        stats: combined_stats(group).map(|s| s.to_string()),
        ..Default::default()
    })
}

/// `batch` in the table's `schema`: files written by earlier compactions hold text as Arrow's
/// view types.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The Delta statistics of the files of `group` as one file's: rows and nulls summed, the
/// least of the least values and the greatest of the greatest (a bound only where every file
/// has one). `None` when a file has no statistics.
fn combined_stats(group: &[SmallFile]) -> Option<Value> {
    let all: Vec<&Value> = group
        .iter()
        .map(|f| f.stats.as_ref())
        .collect::<Option<_>>()?;
    let mut rows = 0;
    let (mut mins, mut maxs, mut nulls) = (Map::new(), Map::new(), Map::new());
    for (i, stats) in all.iter().enumerate() {
        rows += stats["numRecords"].as_u64()?;
        let keep = |into: &mut Map<String, Value>, key: &str, pick: fn(Ordering) -> bool| {
            let theirs = stats[key].as_object();
            if i == 0 {
                *into = theirs.cloned().unwrap_or_default();
                return;
            }
            into.retain(|column, ours| {
                let Some(other) = theirs.and_then(|t| t.get(column)) else {
                    return false;
                };
                match order(ours, other) {
                    Some(o) => {
                        if pick(o) {
                            *ours = other.clone();
                        }
                        true
                    }
                    None => false,
                }
            });
        };
        keep(&mut mins, "minValues", |o| o == Ordering::Greater);
        keep(&mut maxs, "maxValues", |o| o == Ordering::Less);
        if i == 0 {
            nulls = stats["nullCount"].as_object().cloned().unwrap_or_default();
        } else {
            nulls.retain(|column, ours| {
                match (ours.as_u64(), stats["nullCount"][column].as_u64()) {
                    (Some(a), Some(b)) => {
                        *ours = json!(a + b);
                        true
                    }
                    _ => false,
                }
            });
        }
    }
    Some(json!({
        "numRecords": rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    }))
}

/// How two bounds of Delta statistics compare: numbers by value, text (dates and times are
/// written in one fixed format) by its characters; `None` for anything else.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        _ => None,
    }
}

/// Deletes files written for a commit that did not land (best effort: vacuum does not find
/// files no commit names).
async fn delete(store: &ObjectStoreRef, paths: &[String]) {
    for path in paths {
        if let Err(e) = store.delete(&path.as_str().into()).await {
            tracing::warn!(%path, error = %e, "could not delete a merged file whose commit did not land");
        }
    }
}

/// Whether the table has enough small files, or small files left alone long enough.
fn due(table: &DeltaTable, policy: &CompactionPolicy) -> Result<bool> {
    let snapshot = table.snapshot()?;
    let (mut small, mut newest) = (0, i64::MIN);
    for file in snapshot.log_data().iter() {
        if (file.size().max(0) as u64) < TARGET_FILE_BYTES / 2 {
            small += 1;
            newest = newest.max(file.modification_time());
        }
    }
    let idle_since = Utc::now().timestamp_millis().saturating_sub(newest);
    Ok(small >= policy.max_files || (small >= 2 && idle_since >= policy.idle.as_millis() as i64))
}

#[cfg(test)]
mod tests {
    use parwatch_proto::Channel;
    use parwatch_proto::testing::TestEvent;

    use super::*;
    use crate::{Commit, LakeLocation};

    /// Two compactions that planned the same files (two workers, or one that outlived its
    /// turn): the first commits, the log refuses the second, whose merged file is deleted; every
    /// row is stored once, with statistics that still bound it.
    #[test]
    fn a_second_compaction_of_the_same_files_is_refused_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
        for i in 0..4u64 {
            let event = TestEvent::received(Channel::Counter)
                .id(format!("e{i}"))
                .at(format!("2024-0{}-10T09:00:00+07:00", 4 - i).as_str())
                .dossier(format!("D{i}"))
                .build();
            lake.write(
                &Commit::of_event(event, i + 1),
                Utc::now(),
                &mut Default::default(),
            )
            .unwrap();
        }
        let (first, second) = lake.block_on(async {
            let table = lake.table(EVENTS_TABLE).refresh().await.unwrap();
            let first = Plan::of(&table, EVENTS_TABLE).unwrap();
            let second = Plan::of(&table, EVENTS_TABLE).unwrap();
            (
                first.merge(&lake).await.unwrap(),
                second.merge(&lake).await.unwrap(),
            )
        });
        assert_eq!(first, Some((4, 1)));
        assert_eq!(second, None, "the log refuses the second swap");
        lake.block_on(lake.table(EVENTS_TABLE).refresh()).unwrap();
        let files = lake.files(EVENTS_TABLE).unwrap();
        assert_eq!(files.len(), 1);
        let stats = lake.table(EVENTS_TABLE).stats();
        assert_eq!(stats.rows, 4);
        let on_disk = std::fs::read_dir(tmp.path().join("events").join(DATA_DIR))
            .unwrap()
            .count();
        assert_eq!(
            on_disk, 5,
            "four replaced files and one merged: the loser's is gone"
        );
        let file = lake.block_on(async {
            let table = lake.table(EVENTS_TABLE).current();
            let snapshot = table.snapshot().unwrap();
            let stats = snapshot.log_data().iter().next().unwrap().stats().unwrap();
            serde_json::from_str::<Value>(&stats).unwrap()
        });
        assert_eq!(file["numRecords"], 4);
        assert_eq!(file["minValues"]["event_date"], "2024-01-10");
        assert_eq!(file["maxValues"]["event_date"], "2024-04-10");
        assert_eq!(file["maxValues"]["stream_seq"], 4);
        assert_eq!(file["nullCount"]["dossier_id"], 0);
    }

    /// A compaction's commit and this process's appends take turns: while a compaction holds
    /// its turn, an append waits, and lands once the turn is over.
    #[test]
    fn an_append_waits_while_a_compaction_holds_its_turn() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
        let commit = |i: u64| {
            let event = TestEvent::received(Channel::Counter)
                .id(format!("e{i}"))
                .dossier(format!("D{i}"))
                .build();
            Commit::of_event(event, i)
        };
        lake.write(&commit(1), Utc::now(), &mut Default::default())
            .unwrap();
        let before = lake.stats(EVENTS_TABLE).version;
        let turn = lake.block_on(lake.table(EVENTS_TABLE).turn());
        std::thread::scope(|s| {
            let append = s.spawn(|| lake.write(&commit(2), Utc::now(), &mut Default::default()));
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(
                !append.is_finished(),
                "the append committed during the turn"
            );
            let table = lake.block_on(lake.table(EVENTS_TABLE).refresh()).unwrap();
            assert_eq!(table.version(), Some(before));
            drop(turn);
            append.join().unwrap().unwrap();
        });
        assert_eq!(lake.stats(EVENTS_TABLE).version, before + 1);
        assert_eq!(lake.stats(EVENTS_TABLE).rows, 2);
    }
}
