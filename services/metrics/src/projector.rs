//! The projector: keeps the [`Projection`] up to date with the lake by Delta version, folding
//! in the files each commit added with new rows (`fold.rs`; compaction's rewrites hold rows
//! already folded and are skipped), so every event is folded exactly once; publishes its
//! [`Rollups`] after each catch-up for requests to read; builds the rollups of a past version
//! on demand (`as_of`); and saves and restores the projection as snapshots in the lake tagged
//! with the version they cover (`batches.rs` lays the snapshot tables out).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use parwatch_lake::{AsOf, EVENTS_TABLE, Lake, SNAPSHOT_BATCH_ROWS};
use tracing::debug;

use crate::batches::{GOVERNANCE_TABLES, Kind, dossier_batches, governance_batch};
use crate::dossiers::Eviction;
use crate::fold::{
    EVENT_COLUMNS, GOVERNANCE_COLUMNS, fold_events, fold_governance, governance_facts,
    governance_rows, load_dossiers,
};
use crate::projection::Projection;
use crate::rollups::Rollups;
use crate::{Error, Result};

/// Keeps the projections up to date with the lake.
#[derive(Debug)]
pub struct Projector {
    lake: Lake,
    projection: RwLock<Projection>,
    /// The rollups of the last version wholly folded in; replaced, never changed.
    published: RwLock<Arc<Rollups>>,
    /// How far the folding got; held for the whole of a catch-up or a save.
    progress: Mutex<Progress>,
    /// The rollups of the past version last asked for; built under this lock, so concurrent
    /// requests for one version build them once.
    past: Mutex<Option<Arc<Rollups>>>,
    /// When dossiers leave RAM, for every projection this projector builds.
    eviction: Eviction,
}

/// How far the folding got.
#[derive(Debug, Default)]
struct Progress {
    /// The version of `events` wholly folded in, if any.
    version: Option<u64>,
    /// Files of later versions already folded in by a catch-up that stopped part way.
    partial: BTreeSet<String>,
}

const SNAPSHOT: &str = "dossiers";
const VERSION_KEY: &str = "parwatch.snapshot_version";
/// Version 6 holds the receipts' roles (`receiving_agency_code`, `area_code`; 5 did not read
/// them from the events, so it is folded again); 5 the 766 service index's facts (dossier
/// columns, petitions and catalogue; 4 counted those events as unknown); 4 the registry of
/// agencies; 3 records the Delta version of `events` a snapshot covers (2 listed its files).
const VERSION: &str = "6";
/// Written in every snapshot file of one save: files of different saves are never mixed.
const TOKEN_KEY: &str = "parwatch.snapshot_token";
const EVENTS_KEY: &str = "parwatch.events";
/// The Delta version of `events` a snapshot covers.
const EVENTS_VERSION_KEY: &str = "parwatch.events_version";
/// The rows not folded in for a value this build cannot read back (absent: none).
const UNKNOWN_KEY: &str = "parwatch.unknown_values";
/// The registry events folded in, as JSON.
const REGISTRY_KEY: &str = "parwatch.registry";
/// The 766 index's petitions and procedure catalogue, as JSON.
const SERVICE_KEY: &str = "parwatch.index_766";

impl Projector {
    /// An empty projector over `lake`; call [`Projector::catch_up`] to fill it.
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            projection: RwLock::new(Projection::default()),
            published: RwLock::new(Arc::default()),
            progress: Mutex::new(Progress::default()),
            past: Mutex::new(None),
            eviction: Eviction::default(),
        }
    }

    /// This projector with dossiers leaving RAM by `eviction` (before its first catch-up).
    pub fn with_eviction(mut self, eviction: Eviction) -> Self {
        *self.projection.get_mut().expect("projection lock") = Projection::new(eviction.clone());
        self.eviction = eviction;
        self
    }

    /// Folds in the files that the commits to `events` since the version folded added with
    /// new rows (every file, the first time); returns how many. Blocking. `progress` is told
    /// (files done, files to do) after each file.
    pub fn catch_up(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<usize> {
        let mut state = self.progress.lock().expect("projector lock");
        let mut changes = self.lake.changes(EVENTS_TABLE, state.version)?;
        if !changes.whole && Some(changes.version) == state.version {
            return Ok(0);
        }
        let mut todo = self.unfolded(&mut state, &changes);
        let mut done = 0;
        while let Some(path) = todo.pop() {
            let folded = {
                let mut projection = self.projection.write().expect("projection lock");
                self.fold_file(&mut projection, &path)
            };
            match folded {
                Ok(()) => {
                    state.partial.insert(path);
                    done += 1;
                    progress(done, done + todo.len());
                }
                // Merged by compaction and vacuumed before this projector read it (it was
                // far behind): the rows are in a file it skips as a rewrite; start again.
                Err(Unfolded::Unread(_)) if !changes.whole && !self.is_current(&path)? => {
                    tracing::warn!(file = %path, "an added file is gone; folding every event again");
                    changes = self.lake.changes(EVENTS_TABLE, None)?;
                    todo = self.unfolded(&mut state, &changes);
                }
                Err(Unfolded::Unread(e)) => return Err(e),
                // Some of the file's rows are in: only folding every event again is exact.
                Err(Unfolded::Partly(e)) => {
                    state.version = None;
                    state.partial.clear();
                    return Err(e);
                }
            }
        }
        state.version = Some(changes.version);
        state.partial.clear();
        self.publish(changes.version);
        if done > 0 {
            debug!(
                files = done,
                version = changes.version,
                "projections caught up"
            );
        }
        Ok(done)
    }

    /// The files of `changes` still to fold, last first; when they are the whole table, the
    /// projection starts again from empty.
    fn unfolded(&self, state: &mut Progress, changes: &parwatch_lake::Changes) -> Vec<String> {
        if changes.whole {
            *self.projection.write().expect("projection lock") =
                Projection::new(self.eviction.clone());
            state.partial.clear();
        }
        changes
            .files
            .iter()
            .rev()
            .filter(|f| !state.partial.contains(&f.path))
            .map(|f| f.path.clone())
            .collect()
    }

    /// Publishes the projection's rollups as those of `version`.
    fn publish(&self, version: u64) {
        let mut rollups = self.read().rollups().clone();
        rollups.version = Some(version);
        *self.published.write().expect("published rollups lock") = Arc::new(rollups);
    }

    /// The rollups of the last version of `events` wholly folded in: what requests answer
    /// from, never waiting for a fold.
    pub fn rollups(&self) -> Arc<Rollups> {
        Arc::clone(&self.published.read().expect("published rollups lock"))
    }

    /// The version of `events` of [`Projector::rollups`] (`None` before the first catch-up).
    pub fn version(&self) -> Option<u64> {
        self.rollups().version()
    }

    /// The rollups of `events` as of `at`: what the endpoints answered from at that moment.
    /// Built by folding that version's files (seconds on a large lake), then kept until
    /// another version is asked for. Blocking.
    pub fn at(&self, at: AsOf) -> Result<Arc<Rollups>> {
        let mut past = self.past.lock().expect("past projection lock");
        let (version, files) = self.lake.files_at(EVENTS_TABLE, at)?;
        if let Some(rollups) = past.as_ref()
            && rollups.version == Some(version)
        {
            return Ok(Arc::clone(rollups));
        }
        // Not kept beside the one built next.
        *past = None;
        let mut projection = Projection::new(self.eviction.clone());
        for file in &files {
            match self.fold_file(&mut projection, &file.path) {
                Ok(()) => {}
                // Replaced since and vacuumed: that version can no longer be read.
                Err(Unfolded::Unread(e)) if !self.is_current(&file.path)? => {
                    return Err(parwatch_lake::Error::no_version(EVENTS_TABLE, at, &e).into());
                }
                Err(Unfolded::Unread(e) | Unfolded::Partly(e)) => return Err(e),
            }
        }
        let mut rollups = projection.rollups;
        rollups.version = Some(version);
        let rollups = Arc::new(rollups);
        *past = Some(Arc::clone(&rollups));
        Ok(rollups)
    }

    /// Folds an event file into `projection`: its dossier columns a batch at a time, then its
    /// plan, task and score rows again with their `data`; then moves the dossiers that went
    /// quiet out of RAM.
    fn fold_file(&self, projection: &mut Projection, path: &str) -> Result<(), Unfolded> {
        let batches = self
            .read_events(path, &EVENT_COLUMNS, None)
            .map_err(Unfolded::Unread)?;
        let fold = || -> Result<()> {
            let (mut governance, mut rows) = (Vec::new(), 0);
            for batch in batches {
                let batch = batch.map_err(|e| bad(path)(e.to_string()))?;
                fold_events(projection, &batch).map_err(bad(path))?;
                governance_rows(&batch, rows, &mut governance).map_err(bad(path))?;
                rows += batch.num_rows();
            }
            if !governance.is_empty() {
                let selection = RowSelection::from_consecutive_ranges(governance.into_iter(), rows);
                for batch in self.read_events(path, &GOVERNANCE_COLUMNS, Some(selection))? {
                    let batch = batch.map_err(|e| bad(path)(e.to_string()))?;
                    fold_governance(projection, &batch).map_err(bad(path))?;
                }
            }
            evict(projection, path)
        };
        fold().map_err(Unfolded::Partly)
    }

    /// A projector restored from the lake's snapshot (see [`Projector::save`]), or empty when
    /// there is none; [`Projector::catch_up`] then folds in only the files committed since the
    /// version it covers.
    pub fn load(lake: Lake) -> Result<Self> {
        Self::load_with(lake, Eviction::default())
    }

    /// [`Projector::load`] with dossiers leaving RAM by `eviction`.
    pub fn load_with(lake: Lake, eviction: Eviction) -> Result<Self> {
        let projector = Self::new(lake).with_eviction(eviction);
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
        let registry = snapshot.metadata.get(REGISTRY_KEY);
        if !registry.is_some_and(|text| projection.restore_registry(text)) {
            tracing::warn!(
                "projection snapshot without a readable registry; folding every event again"
            );
            drop(projection);
            return Ok(projector);
        }
        let service = snapshot.metadata.get(SERVICE_KEY);
        if !service.is_some_and(|text| projection.restore_service_work(text)) {
            tracing::warn!(
                "projection snapshot without readable 766 index facts; folding every event again"
            );
            drop(projection);
            return Ok(projector);
        }
        let events = snapshot
            .metadata
            .get(EVENTS_KEY)
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let unknown = snapshot.metadata.get(UNKNOWN_KEY).cloned();
        let version = snapshot
            .metadata
            .get(EVENTS_VERSION_KEY)
            .and_then(|v| v.parse().ok());
        // Read a batch at a time: each batch of dossiers is loaded and its quiet dossiers
        // moved out of RAM before the next is read.
        let parts = std::iter::once((SNAPSHOT, None, snapshot))
            .chain(governance.into_iter().map(|(n, k, p)| (n, Some(k), p)));
        for (name, kind, part) in parts {
            for batch in part {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(e) => {
                        // Damaged part way: what was loaded is dropped, the events folded again.
                        tracing::warn!(snapshot = name, error = %e, "projection snapshot unreadable; folding every event again");
                        drop(projection);
                        let eviction = projector.eviction.clone();
                        return Ok(Self::new(projector.lake.clone()).with_eviction(eviction));
                    }
                };
                let bad = |message| Error::BadFile {
                    path: name.to_owned(),
                    message,
                };
                let Some(kind) = kind else {
                    load_dossiers(&mut projection, &batch).map_err(bad)?;
                    evict(&mut projection, SNAPSHOT)?;
                    continue;
                };
                let facts = governance_facts(kind, &batch).map_err(bad)?;
                for (agency, fact) in facts {
                    projection.apply_governance(&agency, fact);
                }
            }
        }
        projection.rollups.events = events;
        if let Some(text) = unknown {
            projection.restore_unknown_values(&text);
        }
        drop(projection);
        if let Some(version) = version {
            projector.progress.lock().expect("projector lock").version = Some(version);
            projector.publish(version);
        }
        Ok(projector)
    }

    /// Stores the projections' state (the dossier facts, plan activities, tasks and scores, and
    /// the version of `events` they cover) as the lake's snapshot; nothing before the first
    /// catch-up or while one stopped part way. Blocking. Each file is replaced atomically,
    /// the dossiers' last; a load takes only files of one save.
    pub fn save(&self) -> Result<()> {
        let state = self.progress.lock().expect("projector lock");
        let Some(version) = state.version.filter(|_| state.partial.is_empty()) else {
            return Ok(());
        };
        let projection = self.read();
        let token = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_string();
        for (name, kind) in GOVERNANCE_TABLES {
            let batch = governance_batch(kind, &projection)?;
            let metadata = vec![(TOKEN_KEY.to_owned(), token.clone())];
            self.lake
                .write_snapshot(name, batch.schema(), std::iter::once(Ok(batch)), metadata)?;
        }
        let metadata = vec![
            (VERSION_KEY.to_owned(), VERSION.to_owned()),
            (TOKEN_KEY.to_owned(), token),
            (EVENTS_KEY.to_owned(), projection.rollups.events.to_string()),
            (EVENTS_VERSION_KEY.to_owned(), version.to_string()),
            (UNKNOWN_KEY.to_owned(), projection.unknown_values_text()),
            (REGISTRY_KEY.to_owned(), projection.registry_text()),
            (SERVICE_KEY.to_owned(), projection.service_work_text()),
        ];
        // Laid out and written a slice at a time: the dossiers are never all in one batch.
        let batches = dossier_batches(&projection, SNAPSHOT_BATCH_ROWS)
            .map(|batch| batch.map_err(parwatch_lake::Error::from));
        self.lake
            .write_snapshot(SNAPSHOT, Kind::Dossiers.schema(), batches, metadata)?;
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

    /// The batches of `columns` of an event file, only the `rows` selected when given.
    fn read_events(
        &self,
        path: &str,
        columns: &[&str],
        rows: Option<RowSelection>,
    ) -> Result<impl Iterator<Item = parwatch_lake::Result<RecordBatch>> + use<>> {
        self.lake
            .file_batches(EVENTS_TABLE, path, columns, rows)
            .map_err(|e| bad(path)(e.to_string()))
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

/// Why a file was not folded in.
enum Unfolded {
    /// It could not be opened: none of its rows are in.
    Unread(Error),
    /// It failed part way: some of its rows may be in.
    Partly(Error),
}

/// Moves the dossiers that went quiet out of RAM, after folding `path`.
fn evict(projection: &mut Projection, path: &str) -> Result<()> {
    projection
        .evict_dossiers()
        .map_err(|e| bad(path)(format!("cold dossier storage: {e}")))?;
    Ok(())
}

/// The error of a file whose rows the folds cannot read.
fn bad(path: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::BadFile {
        path: path.to_owned(),
        message,
    }
}
