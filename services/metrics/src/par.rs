//! The PAR Index over the projections: each agency's scores and live metric values of a year,
//! handed to the scoring models of `parwatch-scoring`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate};
use parwatch_proto::{AgencyKind, local_date};
use parwatch_scoring::{
    AgencyIndex, AgencyInput, CriterionInput, Models, Ratio, Score, YearIndex, year_index,
};

use crate::agencies::Agencies;
use crate::catalogue::{Counters, metric};
use crate::governance::ScoreFact;
use crate::par_work::ParWork;

/// Loads scoring models from `dir`, or the built-in ones, and checks that every derived
/// criterion names a metric of the catalogue.
pub fn load_models(dir: Option<&std::path::Path>) -> parwatch_scoring::Result<Models> {
    let models = match dir {
        Some(dir) => Models::load(dir)?,
        None => Models::builtin(),
    };
    models.check_metrics(|name| metric(name).is_some())?;
    Ok(models)
}

/// The last day whose data counts for `year` on `today`: the year's end, or today while the
/// year runs; `None` before the year starts.
pub fn as_of(year: i32, today: NaiveDate) -> Option<NaiveDate> {
    let end = NaiveDate::from_ymd_opt(year, 12, 31)?;
    let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
    (today >= start).then(|| end.min(today))
}

fn score(fact: &ScoreFact) -> Score {
    Score {
        at: DateTime::from_timestamp_micros(fact.at).unwrap_or_default(),
        assessor: fact.assessor,
        score: fact.score,
        max: fact.max,
        evidence: fact.evidence.as_deref().map(str::to_owned),
    }
}

fn local_year(micros: i64) -> i32 {
    local_date(DateTime::from_timestamp_micros(micros).unwrap_or_default()).year()
}

/// What the PAR Index reads of the projections: the agencies' PAR work and the daily counters
/// the metrics of the rubrics come from. [`crate::Projection`] answers through it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParSource<'a> {
    /// Plan activities, tasks and scores.
    pub(crate) work: &'a ParWork,
    /// The daily counters, with the agencies.
    pub(crate) counters: Counters<'a>,
}

impl ParSource<'_> {
    fn agencies(&self) -> &Agencies {
        self.counters.agencies
    }

    /// What is known of every agency with PAR work in `year` — a score for it, an activity of
    /// its plan, a task due in it — as the scoring models read it on `today`.
    fn par_inputs(&self, models: &Models, year: i32, today: NaiveDate) -> Vec<AgencyInput> {
        let mut agencies: BTreeSet<&str> = BTreeSet::new();
        // Kind of each agency: from its latest score (by year, then time) that names one.
        let mut kinds: BTreeMap<&str, (i32, i64, AgencyKind)> = BTreeMap::new();
        let mut scores: BTreeMap<&str, BTreeMap<(String, String), CriterionInput>> =
            BTreeMap::new();
        for (agency, (y, component, criterion), scored) in self.work.scores(self.agencies()) {
            for fact in [&scored.official, &scored.self_assessed]
                .into_iter()
                .flatten()
            {
                if let Some(kind) = fact.agency_kind.filter(|_| *y <= year) {
                    let latest = kinds.entry(agency).or_insert((*y, fact.at, kind));
                    if (*y, fact.at) > (latest.0, latest.1) {
                        *latest = (*y, fact.at, kind);
                    }
                }
            }
            if *y == year {
                agencies.insert(agency);
                let input = CriterionInput {
                    official: scored.official.as_ref().map(score),
                    self_assessed: scored.self_assessed.as_ref().map(score),
                };
                scores
                    .entry(agency)
                    .or_default()
                    .insert((component.to_string(), criterion.to_string()), input);
            }
        }
        agencies.extend(
            self.work
                .activities(self.agencies())
                .filter(|(_, _, a)| a.plan_year == year)
                .map(|(agency, ..)| agency),
        );
        agencies.extend(
            self.work
                .tasks(self.agencies())
                .filter(|(_, _, t)| t.due_at().is_some_and(|due| local_year(due) == year))
                .map(|(agency, ..)| agency),
        );

        // The metrics the year's rubrics derive criteria from, over the year to date.
        let names: BTreeSet<&str> = AgencyKind::ALL
            .iter()
            .filter_map(|&kind| models.rubric(kind, year))
            .flat_map(|r| r.metrics())
            .collect();
        let defs: Vec<_> = names.iter().filter_map(|name| metric(name)).collect();
        let values = match (as_of(year, today), NaiveDate::from_ymd_opt(year, 1, 1)) {
            (Some(to), Some(from)) => self.counters.period_points(&defs, from, to),
            _ => BTreeMap::new(),
        };

        agencies
            .into_iter()
            .map(|agency| {
                let metrics = self
                    .agencies()
                    .id(agency)
                    .and_then(|id| values.get(&id))
                    .map(|points| {
                        defs.iter()
                            .zip(points)
                            .map(|(def, p)| {
                                let ratio = Ratio {
                                    numerator: p.numerator.unwrap_or(0),
                                    denominator: p.denominator.unwrap_or(0),
                                };
                                (def.name.to_owned(), ratio)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                AgencyInput {
                    agency_code: agency.to_owned(),
                    kind: kinds.get(agency).map_or(AgencyKind::Department, |k| k.2),
                    scores: scores.remove(agency).unwrap_or_default(),
                    metrics,
                }
            })
            .collect()
    }

    /// The PAR Index of `year` on `today`: every agency with PAR work that year, ranked among
    /// agencies of its kind against the previous year's ranks.
    pub(crate) fn par_index(&self, models: &Models, year: i32, today: NaiveDate) -> YearIndex {
        let previous = year_index(
            models,
            year - 1,
            &self.par_inputs(models, year - 1, today),
            None,
        );
        year_index(
            models,
            year,
            &self.par_inputs(models, year, today),
            Some(&previous),
        )
    }

    /// One agency's index in every year from the first scoring model to `today`'s year in which
    /// it had PAR work.
    pub(crate) fn par_history(
        &self,
        models: &Models,
        agency: &str,
        today: NaiveDate,
    ) -> Vec<AgencyIndex> {
        let Some(first) = models.first_year() else {
            return Vec::new();
        };
        let mut previous: Option<YearIndex> = None;
        let mut history = Vec::new();
        for year in first..=today.year() {
            let index = year_index(
                models,
                year,
                &self.par_inputs(models, year, today),
                previous.as_ref(),
            );
            history.extend(index.agency(agency).cloned());
            previous = Some(index);
        }
        history
    }
}
