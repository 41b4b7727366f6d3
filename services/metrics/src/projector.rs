//! The projector: folds stored event files into the projections, each file exactly once.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parwatch_lake::{EVENTS_TABLE, Lake};
use tracing::debug;

use crate::facts::{CHANNELS, Fact, Facts, Late, ONLINE_MODES, Received, Resolved};
use crate::rollup::{Daily, contribute};
use crate::{Error, Result};

/// The projections: per-dossier facts and per-day, per-agency counters.
#[derive(Debug, Default)]
pub struct Projection {
    agencies: Vec<String>,
    agency_ids: HashMap<String, u32>,
    /// Facts per agency id, per dossier id.
    dossiers: Vec<HashMap<Box<str>, Facts>>,
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
const VERSION: &str = "1";
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
            let batches = match read_events(path) {
                Ok(batches) => batches,
                // Merged away by a compaction since the listing: its rows are in the new file.
                Err(_) if !path.exists() => continue,
                Err(e) => return Err(e),
            };
            let mut projection = self.projection.write().expect("projection lock");
            for batch in &batches {
                projection
                    .apply_batch(batch)
                    .map_err(|message| Error::BadFile {
                        path: path.display().to_string(),
                        message,
                    })?;
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
        let mut projection = projector.projection.write().expect("projection lock");
        for batch in &snapshot.batches {
            projection
                .load_dossiers(batch)
                .map_err(|message| Error::BadFile {
                    path: SNAPSHOT.to_owned(),
                    message,
                })?;
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

    /// Stores the projections' state (the dossier facts and which files they cover) as the
    /// lake's snapshot, atomically. Blocking.
    pub fn save(&self) -> Result<()> {
        let applied = self.applied.lock().expect("projector lock");
        let projection = self.read();
        let batch = crate::tables::dossiers_batch(&projection)?;
        let events_dir = self.lake.table_dir(EVENTS_TABLE);
        let files: Vec<String> = applied
            .iter()
            .filter_map(|p| p.strip_prefix(&events_dir).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let metadata = vec![
            (VERSION_KEY.to_owned(), VERSION.to_owned()),
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

fn read_events(path: &Path) -> Result<Vec<RecordBatch>> {
    let bad = |e: &dyn std::fmt::Display| Error::BadFile {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|e| bad(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(&e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), COLUMNS);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| bad(&e))?;
    reader.map(|b| b.map_err(|e| bad(&e))).collect()
}
