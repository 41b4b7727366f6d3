//! [`Projection`]: the projections the metrics are read from, and the one home of every
//! operation on them. Events are folded in here (the projector feeds them, see `fold.rs`);
//! metric series and rankings are computed by `catalogue.rs`, the PAR Index by `par.rs`, over
//! the parts this type holds: agencies (`agencies.rs`), per-dossier facts (`facts.rs`), PAR
//! work (`par_work.rs`) and daily counters (`rollup.rs`).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use parwatch_lake::{EventColumn, Unknown};
use parwatch_scoring::{AgencyIndex, Models, YearIndex};

use crate::agencies::Agencies;
use crate::bucket::Bucket;
use crate::catalogue::{Counters, MetricDef, MetricError, Point, Ranking, Series};
use crate::facts::{Fact, Facts};
use crate::governance::{Activity, GovernanceFact, ScoreKey, Scored, Task};
use crate::par::ParSource;
use crate::par_work::ParWork;
use crate::rollup::{Daily, contribute};

/// The projections: per-dossier facts, per-agency plan activities, tasks and PAR Index scores,
/// and per-day, per-agency counters.
#[derive(Debug, Default)]
pub struct Projection {
    agencies: Agencies,
    /// Facts per agency id, per dossier id.
    dossiers: Vec<HashMap<Box<str>, Facts>>,
    /// Plan activities, tasks and scores.
    work: ParWork,
    pub(crate) daily: Daily,
    /// Events folded in.
    pub(crate) events: u64,
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
    fn agency_id(&mut self, code: &str) -> u32 {
        let id = self.agencies.intern(code);
        if id as usize == self.dossiers.len() {
            self.dossiers.push(HashMap::new());
        }
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
        self.work.apply(id, fact, &mut self.daily);
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
    pub(crate) fn insert(&mut self, agency: &str, dossier: &str, facts: Facts) {
        let id = self.agency_id(agency);
        contribute(&facts, 1, id, &mut self.daily);
        self.dossiers[id as usize].insert(dossier.into(), facts);
    }

    /// Every plan activity: (agency code, activity id, state).
    pub fn activities(&self) -> impl Iterator<Item = (&str, &str, &Activity)> {
        self.work.activities(&self.agencies)
    }

    /// Every task from a superior: (agency code, task id, task).
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &str, &Task)> {
        self.work.tasks(&self.agencies)
    }

    /// Every scored criterion: (agency code, (year, component, criterion), scores).
    pub fn scores(&self) -> impl Iterator<Item = (&str, &ScoreKey, &Scored)> {
        self.work.scores(&self.agencies)
    }

    /// Agency codes, indexed by agency id.
    pub fn agencies(&self) -> &[String] {
        self.agencies.codes()
    }

    /// The id of an agency code, when it has events.
    pub fn agency(&self, code: &str) -> Option<u32> {
        self.agencies.id(code)
    }

    /// Every dossier with its agency code.
    pub fn dossiers(&self) -> impl Iterator<Item = (&str, &str, &Facts)> {
        self.dossiers.iter().enumerate().flat_map(move |(id, map)| {
            let agency = self.agencies()[id].as_str();
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

    /// The series of a metric: one point per bucket in `[from, to]`, one series overall or one
    /// per agency.
    pub fn series(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        bucket: Bucket,
        agency: Option<&str>,
        by_agency: bool,
    ) -> Result<Vec<Series>, MetricError> {
        self.counters()
            .series(metric, from, to, bucket, agency, by_agency)
    }

    /// The value of `metric` over the whole of `[from, to]` (one bucket spanning the range),
    /// for every agency or one.
    pub fn summary(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        agency: Option<&str>,
    ) -> Result<Point, MetricError> {
        self.counters().summary(metric, from, to, agency)
    }

    /// Ranks every agency on `metric` over `[from, to]`, with places gained or lost against
    /// the previous period of the same length.
    pub fn ranking(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Ranking, MetricError> {
        self.counters().ranking(metric, from, to)
    }

    /// The PAR Index of `year` on `today`: every agency with PAR work that year, ranked among
    /// agencies of its kind against the previous year's ranks.
    pub fn par_index(&self, models: &Models, year: i32, today: NaiveDate) -> YearIndex {
        self.par_source().par_index(models, year, today)
    }

    /// One agency's index in every year from the first scoring model to `today`'s year in which
    /// it had PAR work.
    pub fn par_history(&self, models: &Models, agency: &str, today: NaiveDate) -> Vec<AgencyIndex> {
        self.par_source().par_history(models, agency, today)
    }

    fn counters(&self) -> Counters<'_> {
        Counters {
            daily: &self.daily,
            agencies: &self.agencies,
        }
    }

    fn par_source(&self) -> ParSource<'_> {
        ParSource {
            work: &self.work,
            counters: self.counters(),
        }
    }
}
