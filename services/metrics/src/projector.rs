//! The projector: keeps the [`Projection`] up to date with the lake, folding each stored event
//! file in exactly once (`fold.rs`), and saves and restores it as snapshots in the lake
//! (`batches.rs` lays the snapshot tables out).

use std::collections::BTreeSet;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use parwatch_lake::{EVENTS_TABLE, Lake};
use tracing::debug;

use crate::batches::{GOVERNANCE_TABLES, dossiers_batch, governance_batch};
use crate::fold::{
    EVENT_COLUMNS, GOVERNANCE_COLUMNS, fold_events, fold_governance, governance_facts,
    governance_rows, load_dossiers,
};
use crate::projection::Projection;
use crate::{Error, Result};

/// Keeps the projections up to date with the lake.
#[derive(Debug)]
pub struct Projector {
    lake: Lake,
    projection: RwLock<Projection>,
    /// Files already folded in (paths in the `events` table); held for the whole of a catch-up
    /// so no file is applied twice.
    applied: Mutex<BTreeSet<String>>,
}

const SNAPSHOT: &str = "dossiers";
const VERSION_KEY: &str = "parwatch.snapshot_version";
/// Version 2 added the plan, task and score snapshots.
const VERSION: &str = "2";
/// Written in every snapshot file of one save: files of different saves are never mixed.
const TOKEN_KEY: &str = "parwatch.snapshot_token";
const EVENTS_KEY: &str = "parwatch.events";
const APPLIED_KEY: &str = "parwatch.applied_files";

impl Projector {
    /// An empty projector over `lake`; call [`Projector::catch_up`] to fill it.
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            projection: RwLock::new(Projection::default()),
            applied: Mutex::new(BTreeSet::new()),
        }
    }

    /// Folds in every event file of the table's latest version not yet applied (the Delta log
    /// says which; no folder is listed); returns how many. Blocking. `progress` is told (files
    /// done, files to do) after each file.
    pub fn catch_up(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<usize> {
        let mut applied = self.applied.lock().expect("projector lock");
        let present: BTreeSet<String> = self
            .lake
            .files(EVENTS_TABLE)?
            .into_iter()
            .map(|f| f.path)
            .collect();
        // Files merged away by compaction are forgotten; the merged file is folded in again,
        // which changes nothing: folding an event twice is the same as once.
        applied.retain(|p| present.contains(p));
        let new: Vec<String> = present.difference(&applied).cloned().collect();
        for (done, path) in new.iter().enumerate() {
            let bad = |message| Error::BadFile {
                path: path.clone(),
                message,
            };
            let read = self
                .read_events(path, &EVENT_COLUMNS, None)
                .and_then(|batches| {
                    // The few plan, task and score rows are read again with their `data`.
                    let rows = governance_rows(&batches).map_err(bad)?;
                    let governance = if rows.is_empty() {
                        Vec::new()
                    } else {
                        let total = batches.iter().map(RecordBatch::num_rows).sum();
                        let selection =
                            RowSelection::from_consecutive_ranges(rows.into_iter(), total);
                        self.read_events(path, &GOVERNANCE_COLUMNS, Some(selection))?
                    };
                    Ok((batches, governance))
                });
            let (batches, governance) = match read {
                Ok(read) => read,
                // Merged away and vacuumed since the listing: its rows are in a newer file.
                Err(_) if !self.is_current(path)? => continue,
                Err(e) => return Err(e),
            };
            let mut projection = self.projection.write().expect("projection lock");
            for batch in &batches {
                fold_events(&mut projection, batch).map_err(bad)?;
            }
            for batch in &governance {
                fold_governance(&mut projection, batch).map_err(bad)?;
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
            load_dossiers(&mut projection, batch).map_err(|message| Error::BadFile {
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
        let mut applied = projector.applied.lock().expect("projector lock");
        if let Some(files) = snapshot.metadata.get(APPLIED_KEY) {
            applied.extend(files.lines().map(str::to_owned));
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
        let batch = dossiers_batch(&projection)?;
        let files: Vec<&str> = applied.iter().map(String::as_str).collect();
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

    /// Reads `columns` of an event file, only the `rows` selected when given.
    fn read_events(
        &self,
        path: &str,
        columns: &[&str],
        rows: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>> {
        self.lake
            .read_file(EVENTS_TABLE, path, columns, rows)
            .map_err(|e| Error::BadFile {
                path: path.to_owned(),
                message: e.to_string(),
            })
    }

    /// Whether `path` is still a file of the table's latest version.
    fn is_current(&self, path: &str) -> Result<bool> {
        Ok(self
            .lake
            .files(EVENTS_TABLE)?
            .iter()
            .any(|f| f.path == path))
    }
}
