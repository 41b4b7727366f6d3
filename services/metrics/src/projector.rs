//! The projector: folds stored event files into the projections, each file exactly once.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use parwatch_lake::{EVENTS_TABLE, Lake};
use parwatch_proto::EventType;
use tracing::debug;

use crate::facts::{CHANNELS, Fact, Facts, Late, ONLINE_MODES, Received, Resolved};
use crate::governance::{Activity, GovernanceFact, ScoreKey, Scored, Task, merge_task};
use crate::rollup::{Daily, contribute, contribute_activity, contribute_task};
use crate::tables::{GOVERNANCE_TABLES, governance_batch, governance_facts};
use crate::{Error, Result};

/// The projections: per-dossier facts, per-agency plan activities, tasks and PAR Index scores,
/// and per-day, per-agency counters.
#[derive(Debug, Default)]
pub struct Projection {
    agencies: Vec<String>,
    agency_ids: HashMap<String, u32>,
    /// Facts per agency id, per dossier id.
    dossiers: Vec<HashMap<Box<str>, Facts>>,
    /// Plan activities by (agency id, activity id).
    activities: BTreeMap<(u32, Box<str>), Activity>,
    /// Tasks from superiors by (agency id, task id).
    tasks: BTreeMap<(u32, Box<str>), Task>,
    /// PAR Index scores by (agency id, (year, component, criterion)).
    scores: BTreeMap<(u32, ScoreKey), Scored>,
    pub(crate) daily: Daily,
    events: u64,
}

impl Projection {
    fn agency_id(&mut self, code: &str) -> u32 {
        if let Some(&id) = self.agency_ids.get(code) {
            return id;
        }
        let id = self.agencies.len() as u32;
        self.agencies.push(code.to_owned());
        self.agency_ids.insert(code.to_owned(), id);
        self.dossiers.push(HashMap::new());
        id
    }

    /// Folds one event in; old buckets move when the dossier's facts change.
    pub(crate) fn apply(&mut self, agency: &str, dossier: &str, fact: Fact) {
        let id = self.agency_id(agency);
        let dossiers = &mut self.dossiers[id as usize];
        let facts = match dossiers.get_mut(dossier) {
            Some(facts) => facts,
            None => dossiers.entry(dossier.into()).or_default(),
        };
        let before = *facts;
        if facts.apply(fact) {
            let after = *facts;
            contribute(&before, -1, id, &mut self.daily);
            contribute(&after, 1, id, &mut self.daily);
        }
    }

    /// Folds one plan, task or score event in; old buckets move when a fact changes.
    pub(crate) fn apply_governance(&mut self, agency: &str, fact: GovernanceFact) {
        let id = self.agency_id(agency);
        match fact {
            GovernanceFact::Activity(activity_id, activity) => {
                match self.activities.entry((id, activity_id)) {
                    Entry::Vacant(slot) => {
                        contribute_activity(&activity, 1, id, &mut self.daily);
                        slot.insert(activity);
                    }
                    Entry::Occupied(mut slot) if activity > *slot.get() => {
                        contribute_activity(slot.get(), -1, id, &mut self.daily);
                        contribute_activity(&activity, 1, id, &mut self.daily);
                        slot.insert(activity);
                    }
                    Entry::Occupied(_) => {}
                }
            }
            GovernanceFact::Task(task_id, event) => {
                let task = self.tasks.entry((id, task_id)).or_default();
                let before = *task;
                if merge_task(task, event) {
                    contribute_task(&before, -1, id, &mut self.daily);
                    contribute_task(task, 1, id, &mut self.daily);
                }
            }
            GovernanceFact::Score(key, score) => {
                self.scores.entry((id, key)).or_default().apply(score);
            }
        }
    }

    /// Every plan activity: (agency code, activity id, state).
    pub fn activities(&self) -> impl Iterator<Item = (&str, &str, &Activity)> {
        self.activities
            .iter()
            .map(|((a, id), activity)| (self.agencies[*a as usize].as_str(), id.as_ref(), activity))
    }

    /// Every task from a superior: (agency code, task id, task).
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &str, &Task)> {
        self.tasks
            .iter()
            .map(|((a, id), task)| (self.agencies[*a as usize].as_str(), id.as_ref(), task))
    }

    /// Every scored criterion: (agency code, (year, component, criterion), scores).
    pub fn scores(&self) -> impl Iterator<Item = (&str, &ScoreKey, &Scored)> {
        self.scores
            .iter()
            .map(|((a, key), scored)| (self.agencies[*a as usize].as_str(), key, scored))
    }

    /// Agency codes, indexed by agency id.
    pub fn agencies(&self) -> &[String] {
        &self.agencies
    }

    /// The id of an agency code, when it has events.
    pub fn agency(&self, code: &str) -> Option<u32> {
        self.agency_ids.get(code).copied()
    }

    /// Every dossier with its agency code.
    pub fn dossiers(&self) -> impl Iterator<Item = (&str, &str, &Facts)> {
        self.dossiers.iter().enumerate().flat_map(move |(id, map)| {
            let agency = self.agencies[id].as_str();
            map.iter().map(move |(d, f)| (agency, d.as_ref(), f))
        })
    }

    /// Number of dossiers.
    pub fn dossier_count(&self) -> usize {
        self.dossiers.iter().map(HashMap::len).sum()
    }

    /// Number of events folded in.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// Adds a whole dossier's facts (from a snapshot).
    fn insert(&mut self, agency: &str, dossier: &str, facts: Facts) {
        let id = self.agency_id(agency);
        contribute(&facts, 1, id, &mut self.daily);
        self.dossiers[id as usize].insert(dossier.into(), facts);
    }

    /// Refolds the `dossiers` table's rows (a snapshot) into facts.
    fn load_dossiers(&mut self, batch: &RecordBatch) -> std::result::Result<(), String> {
        let (text, time) = (|n| text_column(batch, n), |n| time_column(batch, n));
        let (agency, dossier) = (text("agency_code")?, text("dossier_id")?);
        let (channel, mode) = (text("channel")?, text("online_mode")?);
        let (received, due, resolved) =
            (time("received_at")?, time("due_at")?, time("resolved_at")?);
        let (late, late_due, apology) = (
            time("late_at")?,
            time("late_due_at")?,
            time("first_apology_at")?,
        );
        let digitized = bool_column(batch, "digitized")?;
        let opt = |a: &TimestampMicrosecondArray, i: usize| (!a.is_null(i)).then(|| a.value(i));
        let code = |names: &[&str], a: &StringArray, i: usize| {
            if a.is_null(i) {
                0
            } else {
                names.iter().position(|n| *n == a.value(i)).unwrap_or(0) as u8
            }
        };
        for i in 0..batch.num_rows() {
            let facts = Facts {
                received: opt(received, i).map(|at| Received {
                    at,
                    channel: code(&CHANNELS, channel, i),
                    online_mode: code(&ONLINE_MODES, mode, i),
                    due_at: opt(due, i).unwrap_or(at),
                }),
                resolved: opt(resolved, i).map(|at| Resolved {
                    at,
                    digitized: (!digitized.is_null(i)).then(|| digitized.value(i)),
                }),
                late: opt(late, i).map(|at| Late {
                    at,
                    due_at: opt(late_due, i).unwrap_or(at),
                }),
                apology_at: opt(apology, i),
            };
            self.insert(agency.value(i), dossier.value(i), facts);
        }
        Ok(())
    }

    /// Folds every event of one batch of the `events` table in.
    pub(crate) fn apply_batch(&mut self, batch: &RecordBatch) -> std::result::Result<(), String> {
        let (text, time) = (|n| text_column(batch, n), |n| time_column(batch, n));
        let (ty, agency, dossier) = (text("type")?, text("agency_code")?, text("dossier_id")?);
        let (channel, mode) = (text("channel")?, text("online_mode")?);
        let (at, due) = (time("occurred_at")?, time("due_at")?);
        let digitized = bool_column(batch, "digitized")?;
        let code = |names: &[&str], value: &str| names.iter().position(|n| *n == value);
        self.events += batch.num_rows() as u64;
        for i in 0..batch.num_rows() {
            if dossier.is_null(i) {
                continue;
            }
            let due_at = || (!due.is_null(i)).then(|| due.value(i));
            let fact = match ty.value(i) {
                "dossier.received" => {
                    let (Some(channel), Some(due_at)) =
                        (code(&CHANNELS, channel.value(i)), due_at())
                    else {
                        continue;
                    };
                    let online_mode = if mode.is_null(i) {
                        0
                    } else {
                        code(&ONLINE_MODES, mode.value(i)).unwrap_or(0)
                    };
                    Fact::Received(Received {
                        at: at.value(i),
                        channel: channel as u8,
                        online_mode: online_mode as u8,
                        due_at,
                    })
                }
                "dossier.resolved" => Fact::Resolved(Resolved {
                    at: at.value(i),
                    digitized: (!digitized.is_null(i)).then(|| digitized.value(i)),
                }),
                "dossier.late" => match due_at() {
                    Some(due_at) => Fact::Late(Late {
                        at: at.value(i),
                        due_at,
                    }),
                    None => continue,
                },
                "dossier.apology" => Fact::Apology(at.value(i)),
                _ => continue,
            };
            self.apply(agency.value(i), dossier.value(i), fact);
        }
        Ok(())
    }

    /// Folds the plan, task and score events of one batch (columns of [`GOVERNANCE_COLUMNS`]).
    fn apply_governance_batch(&mut self, batch: &RecordBatch) -> std::result::Result<(), String> {
        let (text, time) = (|n| text_column(batch, n), |n| time_column(batch, n));
        let (ty, agency, data) = (text("type")?, text("agency_code")?, text("data")?);
        let (at, due) = (time("occurred_at")?, time("due_at")?);
        for i in 0..batch.num_rows() {
            let due_at = (!due.is_null(i)).then(|| due.value(i));
            if let Some(fact) =
                GovernanceFact::parse(ty.value(i), at.value(i), due_at, data.value(i))
            {
                self.apply_governance(agency.value(i), fact);
            }
        }
        Ok(())
    }
}

/// Whether a stored type is a plan, task or score event (one without a dossier).
fn is_governance(ty: &str) -> bool {
    EventType::parse(ty).is_some_and(|t| !t.needs_dossier())
}

/// Ranges of rows of `batches` (counted from the first) holding plan, task or score events.
fn governance_rows(
    batches: &[RecordBatch],
) -> std::result::Result<Vec<std::ops::Range<usize>>, String> {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut offset = 0;
    for batch in batches {
        let ty = text_column(batch, "type")?;
        for i in 0..batch.num_rows() {
            if is_governance(ty.value(i)) {
                let row = offset + i;
                match ranges.last_mut() {
                    Some(last) if last.end == row => last.end += 1,
                    _ => ranges.push(row..row + 1),
                }
            }
        }
        offset += batch.num_rows();
    }
    Ok(ranges)
}

type Column<'a, T> = std::result::Result<&'a T, String>;

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Column<'a, StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| format!("missing text column {name}"))
}

fn time_column<'a>(batch: &'a RecordBatch, name: &str) -> Column<'a, TimestampMicrosecondArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| format!("missing timestamp column {name}"))
}

fn bool_column<'a>(batch: &'a RecordBatch, name: &str) -> Column<'a, BooleanArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| format!("missing boolean column {name}"))
}

/// Keeps the projections up to date with the lake.
#[derive(Debug)]
pub struct Projector {
    lake: Lake,
    projection: RwLock<Projection>,
    /// Files already folded in; held for the whole of a catch-up so no file is applied twice.
    applied: Mutex<BTreeSet<PathBuf>>,
}

const SNAPSHOT: &str = "dossiers";
const VERSION_KEY: &str = "parwatch.snapshot_version";
/// Version 2 added the plan, task and score snapshots.
const VERSION: &str = "2";
/// Written in every snapshot file of one save: files of different saves are never mixed.
const TOKEN_KEY: &str = "parwatch.snapshot_token";
const EVENTS_KEY: &str = "parwatch.events";
const APPLIED_KEY: &str = "parwatch.applied_files";

/// Columns of `events` the projections read.
const COLUMNS: [&str; 8] = [
    "type",
    "occurred_at",
    "agency_code",
    "dossier_id",
    "channel",
    "online_mode",
    "due_at",
    "digitized",
];

/// Columns of `events` the plan, task and score facts read, for their rows only.
const GOVERNANCE_COLUMNS: [&str; 5] = ["type", "occurred_at", "agency_code", "due_at", "data"];

impl Projector {
    /// An empty projector over `lake`; call [`Projector::catch_up`] to fill it.
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            projection: RwLock::new(Projection::default()),
            applied: Mutex::new(BTreeSet::new()),
        }
    }

    /// Folds in every event file not yet applied; returns how many. Blocking. `progress` is
    /// told (files done, files to do) after each file.
    pub fn catch_up(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<usize> {
        let mut applied = self.applied.lock().expect("projector lock");
        let present: BTreeSet<PathBuf> = self.lake.files(EVENTS_TABLE)?.into_iter().collect();
        // Files merged away by compaction are forgotten; the merged file is folded in again,
        // which changes nothing: folding an event twice is the same as once.
        applied.retain(|p| present.contains(p));
        let new: Vec<PathBuf> = present.difference(&applied).cloned().collect();
        for (done, path) in new.iter().enumerate() {
            let bad = |message| Error::BadFile {
                path: path.display().to_string(),
                message,
            };
            let read = read_events(path, &COLUMNS, None).and_then(|batches| {
                // The few plan, task and score rows are read again with their `data`.
                let rows = governance_rows(&batches).map_err(bad)?;
                let governance = if rows.is_empty() {
                    Vec::new()
                } else {
                    let total = batches.iter().map(RecordBatch::num_rows).sum();
                    let selection = RowSelection::from_consecutive_ranges(rows.into_iter(), total);
                    read_events(path, &GOVERNANCE_COLUMNS, Some(selection))?
                };
                Ok((batches, governance))
            });
            let (batches, governance) = match read {
                Ok(read) => read,
                // Merged away by a compaction since the listing: its rows are in the new file.
                Err(_) if !path.exists() => continue,
                Err(e) => return Err(e),
            };
            let mut projection = self.projection.write().expect("projection lock");
            for batch in &batches {
                projection.apply_batch(batch).map_err(bad)?;
            }
            for batch in &governance {
                projection.apply_governance_batch(batch).map_err(bad)?;
            }
            drop(projection);
            applied.insert(path.clone());
            progress(done + 1, new.len());
        }
        if !new.is_empty() {
            debug!(files = new.len(), "projections caught up");
        }
        Ok(new.len())
    }

    /// A projector restored from the lake's snapshot (see [`Projector::save`]), or empty when
    /// there is none; [`Projector::catch_up`] then folds in only the files landed since.
    pub fn load(lake: Lake) -> Result<Self> {
        let projector = Self::new(lake);
        let snapshot = match projector.lake.read_snapshot(SNAPSHOT) {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => return Ok(projector),
            Err(e) => {
                // A damaged snapshot costs a refold from the events, never the service.
                tracing::warn!(error = %e, "projection snapshot unreadable; folding every event again");
                return Ok(projector);
            }
        };
        if snapshot.metadata.get(VERSION_KEY).map(String::as_str) != Some(VERSION) {
            return Ok(projector);
        }
        // The plan, task and score snapshots of the same save, or a refold from the events.
        let token = snapshot.metadata.get(TOKEN_KEY);
        let mut governance = Vec::new();
        for (name, kind) in GOVERNANCE_TABLES {
            match projector.lake.read_snapshot(name) {
                Ok(Some(part)) if part.metadata.get(TOKEN_KEY) == token => {
                    governance.push((name, kind, part))
                }
                other => {
                    let problem = other.err().map(|e| e.to_string());
                    tracing::warn!(snapshot = name, error = ?problem, "projection snapshots of different saves; folding every event again");
                    return Ok(projector);
                }
            }
        }
        let mut projection = projector.projection.write().expect("projection lock");
        for batch in &snapshot.batches {
            projection
                .load_dossiers(batch)
                .map_err(|message| Error::BadFile {
                    path: SNAPSHOT.to_owned(),
                    message,
                })?;
        }
        for (name, kind, part) in &governance {
            for batch in &part.batches {
                let facts = governance_facts(*kind, batch).map_err(|message| Error::BadFile {
                    path: (*name).to_owned(),
                    message,
                })?;
                for (agency, fact) in facts {
                    projection.apply_governance(&agency, fact);
                }
            }
        }
        projection.events = snapshot
            .metadata
            .get(EVENTS_KEY)
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let events_dir = projector.lake.table_dir(EVENTS_TABLE);
        let mut applied = projector.applied.lock().expect("projector lock");
        if let Some(files) = snapshot.metadata.get(APPLIED_KEY) {
            applied.extend(files.lines().map(|f| events_dir.join(f)));
        }
        drop((projection, applied));
        Ok(projector)
    }

    /// Stores the projections' state (the dossier facts, plan activities, tasks and scores, and
    /// which files they cover) as the lake's snapshot. Blocking. Each file is replaced
    /// atomically, the dossiers' last; a load takes only files of one save.
    pub fn save(&self) -> Result<()> {
        let applied = self.applied.lock().expect("projector lock");
        let projection = self.read();
        let token = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_string();
        for (name, kind) in GOVERNANCE_TABLES {
            let batch = governance_batch(kind, &projection)?;
            let metadata = vec![(TOKEN_KEY.to_owned(), token.clone())];
            self.lake.write_snapshot(name, &batch, metadata)?;
        }
        let batch = crate::tables::dossiers_batch(&projection)?;
        let events_dir = self.lake.table_dir(EVENTS_TABLE);
        let files: Vec<String> = applied
            .iter()
            .filter_map(|p| p.strip_prefix(&events_dir).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let metadata = vec![
            (VERSION_KEY.to_owned(), VERSION.to_owned()),
            (TOKEN_KEY.to_owned(), token),
            (EVENTS_KEY.to_owned(), projection.events.to_string()),
            (APPLIED_KEY.to_owned(), files.join("\n")),
        ];
        self.lake.write_snapshot(SNAPSHOT, &batch, metadata)?;
        Ok(())
    }

    /// Forgets the snapshot, so the next load folds in every event again.
    pub fn discard_snapshot(lake: &Lake) -> Result<()> {
        Ok(lake.remove_snapshot(SNAPSHOT)?)
    }

    /// Read access to the projections.
    pub fn read(&self) -> RwLockReadGuard<'_, Projection> {
        self.projection.read().expect("projection lock")
    }
}

/// Reads `columns` of an event file, only the `rows` selected when given (the page index lets
/// the reader skip the pages of other rows).
fn read_events(
    path: &Path,
    columns: &[&str],
    rows: Option<RowSelection>,
) -> Result<Vec<RecordBatch>> {
    let bad = |e: &dyn std::fmt::Display| Error::BadFile {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|e| bad(&e))?;
    let index = match rows {
        Some(_) => PageIndexPolicy::Optional,
        None => PageIndexPolicy::Skip,
    };
    let options = ArrowReaderOptions::new().with_page_index_policy(index);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(|e| bad(&e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let mut builder = builder.with_projection(mask).with_batch_size(65_536);
    if let Some(rows) = rows {
        builder = builder.with_row_selection(rows);
    }
    let reader = builder.build().map_err(|e| bad(&e))?;
    reader.map(|b| b.map_err(|e| bad(&e))).collect()
}
