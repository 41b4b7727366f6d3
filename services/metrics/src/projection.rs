//! [`Projection`]: the projections the metrics are read from, and the one home of every
//! operation on them. Events are folded in here (the projector feeds them, see `fold.rs`);
//! metric series and rankings are computed by `catalogue.rs`, the PAR Index by `par.rs`, over
//! the parts this type holds: agencies (`agencies.rs`), per-dossier facts (`facts.rs`), PAR
//! work (`par_work.rs`) and daily counters (`rollup.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use std::sync::Arc;

use parwatch_lake::{EventColumn, Unknown};

use crate::dossiers::{Dossiers, Eviction};
use crate::facts::{Fact, Facts};
use crate::governance::{Activity, GovernanceFact, ScoreKey, Scored, Task};
use crate::registry::{Change, Registry};
use crate::rollups::Rollups;
use crate::service_index::{ServiceWork, ServiceWorkFact, contribute_service};

/// The projections: per-dossier facts, per-agency plan activities, tasks and PAR Index scores,
/// and per-day, per-agency counters.
#[derive(Debug, Default)]
pub struct Projection {
    /// Facts per agency id, per dossier id: recent ones in RAM, quiet ones in cold storage.
    dossiers: Dossiers,
    /// The agencies, their PAR work and the daily counters (published as they are after each
    /// catch-up), and the events folded in.
    pub(crate) rollups: Rollups,
    /// Stored values the folds could not read back.
    unknown: UnknownValues,
}

/// Rows holding a stored value this build's contract cannot read back (a value a newer
/// publisher sent, data that no longer reads as its type), counted per column and value and
/// not folded in. Bounded: a column keeps [`UnknownValues::DISTINCT`] values, each cut to
/// [`UnknownValues::VALUE_CHARS`] characters; further values are counted under
/// [`UnknownValues::OTHER`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct UnknownValues {
    /// Rows by (column, value).
    counts: BTreeMap<(&'static str, String), u64>,
}

impl UnknownValues {
    /// Distinct values kept per column.
    const DISTINCT: usize = 16;
    /// Characters of a value kept.
    const VALUE_CHARS: usize = 64;
    /// Where a column's values beyond [`UnknownValues::DISTINCT`] are counted.
    const OTHER: &'static str = "(other)";

    /// Counts one row holding `unknown`; the first row of each value is logged.
    fn count(&mut self, unknown: Unknown) {
        self.add(unknown.column.name(), unknown.value, 1);
    }

    /// Counts `rows` rows holding `value` in `column`.
    fn add(&mut self, column: &'static str, value: String, rows: u64) {
        let mut key = (column, value);
        if let Some((cut, _)) = key.1.char_indices().nth(Self::VALUE_CHARS) {
            key.1.truncate(cut);
        }
        if !self.counts.contains_key(&key) {
            let kept = self.counts.keys().filter(|(c, _)| *c == column).count();
            if kept >= Self::DISTINCT {
                key.1 = Self::OTHER.to_owned();
            }
            if !self.counts.contains_key(&key) {
                tracing::warn!(
                    column,
                    value = %key.1,
                    "a stored value this build cannot read back: its rows are counted, not folded in"
                );
            }
        }
        *self.counts.entry(key).or_default() += rows;
    }

    /// Every (column, value, rows), by column and value.
    fn iter(&self) -> impl Iterator<Item = (&'static str, &str, u64)> {
        self.counts.iter().map(|((c, v), n)| (*c, v.as_str(), *n))
    }
}

impl Projection {
    /// The id of agency `code`, given one when it is new.
    pub(crate) fn agency_id(&mut self, code: &str) -> u32 {
        match self.rollups.agencies.id(code) {
            Some(id) => id,
            None => Arc::make_mut(&mut self.rollups.agencies).intern(code),
        }
    }

    /// An empty projection whose dossiers leave RAM by `eviction`.
    pub(crate) fn new(eviction: Eviction) -> Self {
        Self {
            dossiers: Dossiers::new(eviction),
            ..Self::default()
        }
    }

    /// Folds one event in; old buckets move when the dossier's facts change (a cold dossier's
    /// facts are read back first). Fails only when cold storage cannot be read.
    pub(crate) fn apply(&mut self, agency: &str, dossier: &str, fact: Fact) -> std::io::Result<()> {
        let id = self.agency_id(agency);
        if let Some((before, after)) = self.dossiers.apply(id, dossier, fact)? {
            // A 766 event changes only the 766 facts; a late file or an apology none of them.
            if !matches!(fact, Fact::Service(..)) {
                self.rollups.daily.change(&before, &after, id);
            }
            if !matches!(fact, Fact::Late(_) | Fact::Apology(_)) {
                contribute_service(&before, -1, id, &mut self.rollups.service);
                contribute_service(&after, 1, id, &mut self.rollups.service);
            }
        }
        Ok(())
    }

    /// Folds one petition or procedure catalogue event of the 766 index in.
    pub(crate) fn apply_service_work(&mut self, agency: &str, fact: ServiceWorkFact) {
        let id = self.agency_id(agency);
        let Rollups {
            service_work,
            service,
            ..
        } = &mut self.rollups;
        Arc::make_mut(service_work).apply(id, fact, service);
    }

    /// The petitions and procedure catalogue as text, for a snapshot's metadata.
    pub(crate) fn service_work_text(&self) -> String {
        self.rollups.service_work.to_text(&self.rollups.agencies)
    }

    /// Restores the petitions and catalogue of [`Projection::service_work_text`]; `false`
    /// when the text does not read (the snapshot is then of no use).
    pub(crate) fn restore_service_work(&mut self, text: &str) -> bool {
        let mut service = std::mem::take(&mut self.rollups.service);
        let work = ServiceWork::from_text(text, |code| self.agency_id(code), &mut service);
        self.rollups.service = service;
        match work {
            Some(work) => {
                self.rollups.service_work = Arc::new(work);
                true
            }
            None => false,
        }
    }

    /// Moves the dossiers that went quiet out of RAM (see [`Eviction`]); returns how many.
    pub(crate) fn evict_dossiers(&mut self) -> std::io::Result<usize> {
        self.dossiers.evict()
    }

    /// Folds one plan, task or score event in; old buckets move when a fact changes.
    pub(crate) fn apply_governance(&mut self, agency: &str, fact: GovernanceFact) {
        let id = self.agency_id(agency);
        let Rollups { work, daily, .. } = &mut self.rollups;
        Arc::make_mut(work).apply(id, fact, daily);
    }

    /// Folds one registry event in (the registry keeps codes, not ids: a registered agency
    /// without events gets no counters).
    pub(crate) fn apply_registry(&mut self, change: Change) {
        Arc::make_mut(&mut self.rollups.registry).apply(change);
    }

    /// The registry as text, for a snapshot's metadata.
    pub(crate) fn registry_text(&self) -> String {
        self.rollups.registry.to_text()
    }

    /// Restores the registry of [`Projection::registry_text`]; `false` when the text does not
    /// read (the snapshot is then of no use).
    pub(crate) fn restore_registry(&mut self, text: &str) -> bool {
        match Registry::from_text(text) {
            Some(registry) => {
                self.rollups.registry = Arc::new(registry);
                true
            }
            None => false,
        }
    }

    /// Counts a row holding a value the folds cannot read back; it is not folded in.
    pub(crate) fn count_unknown(&mut self, unknown: Unknown) {
        self.unknown.count(unknown);
    }

    /// Rows not folded in because they hold a stored value this build's contract cannot read
    /// back (e.g. a channel a newer publisher sent): (column, value, rows), by column and
    /// value. A column keeps 16 distinct values, each cut to 64 characters; rows of further
    /// values are counted under the value `(other)`. For `data`, the value names the field
    /// and fault that stopped it (`data.status: bad_value`).
    pub fn unknown_values(&self) -> impl Iterator<Item = (&'static str, &str, u64)> {
        self.unknown.iter()
    }

    /// [`Projection::unknown_values`] as text for a snapshot's metadata.
    pub(crate) fn unknown_values_text(&self) -> String {
        let rows: Vec<_> = self.unknown.iter().collect();
        serde_json::to_string(&rows).unwrap_or_default()
    }

    /// Adds the counts of [`Projection::unknown_values_text`] (from a snapshot); text that does
    /// not read is ignored: the counts are for operators, not for the metrics.
    pub(crate) fn restore_unknown_values(&mut self, text: &str) {
        let rows: Vec<(String, String, u64)> = serde_json::from_str(text).unwrap_or_default();
        for (column, value, rows) in rows {
            if let Some(column) = EventColumn::ALL.iter().find(|c| c.name() == column) {
                self.unknown.add(column.name(), value, rows);
            }
        }
    }

    /// Adds a whole dossier's facts (from a snapshot).
    pub(crate) fn insert(
        &mut self,
        agency: &str,
        dossier: &str,
        facts: Facts,
    ) -> std::io::Result<()> {
        let id = self.agency_id(agency);
        self.rollups.daily.change(&Facts::default(), &facts, id);
        contribute_service(&facts, 1, id, &mut self.rollups.service);
        self.dossiers.insert(id, dossier, &facts)
    }

    /// Every plan activity: (agency code, activity id, state).
    pub fn activities(&self) -> impl Iterator<Item = (&str, &str, &Activity)> {
        self.rollups.work.activities(&self.rollups.agencies)
    }

    /// Every task from a superior: (agency code, task id, task).
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &str, &Task)> {
        self.rollups.work.tasks(&self.rollups.agencies)
    }

    /// Every scored criterion: (agency code, (year, component, criterion), scores).
    pub fn scores(&self) -> impl Iterator<Item = (&str, &ScoreKey, &Scored)> {
        self.rollups.work.scores(&self.rollups.agencies)
    }

    /// The agencies, their PAR work and the daily counters, as folded so far.
    pub fn rollups(&self) -> &Rollups {
        &self.rollups
    }

    /// Every dossier with its agency code, those in cold storage too.
    ///
    /// # Panics
    /// When cold storage (files this process wrote) cannot be read; the projection tables
    /// and the snapshot read `Projection::try_dossiers` instead.
    pub fn dossiers(&self) -> impl Iterator<Item = (&str, Cow<'_, str>, Facts)> {
        self.try_dossiers()
            .map(|row| row.expect("cold dossier storage readable"))
    }

    /// Every dossier with its agency code; reading cold storage may fail.
    pub(crate) fn try_dossiers(
        &self,
    ) -> impl Iterator<Item = std::io::Result<(&str, Cow<'_, str>, Facts)>> {
        let codes = self.rollups.agencies();
        self.dossiers.iter().map(move |row| {
            row.map(|(agency, id, facts)| (codes[agency as usize].as_str(), id, facts))
        })
    }

    /// Number of dossiers in RAM (the others are in cold storage).
    pub fn hot_dossier_count(&self) -> usize {
        self.dossiers.hot_len()
    }

    /// Number of dossiers.
    pub fn dossier_count(&self) -> usize {
        self.dossiers.len()
    }
}
