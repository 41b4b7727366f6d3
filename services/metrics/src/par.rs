//! The PAR Index over the projections: each agency's scores and live metric values of a year,
//! handed to the scoring models of `parwatch-scoring`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate};
use parwatch_proto::{AgencyKind, local_date};
use parwatch_scoring::{
    AgencyIndex, AgencyInput, CriterionInput, Models, Ratio, Score, YearIndex, year_index,
};

use crate::agencies::Agencies;
use crate::catalogue::{Counters, MetricDef, metric};
use crate::governance::ScoreFact;
use crate::par_work::ParWork;
use crate::registry::{Restatement, received};
use crate::restate::restated_point;

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

/// The metrics the rubrics of `year` derive criteria from.
fn rubric_metrics(models: &Models, year: i32) -> Vec<&'static MetricDef> {
    let names: BTreeSet<&str> = AgencyKind::ALL
        .iter()
        .filter_map(|&kind| models.rubric(kind, year))
        .flat_map(|r| r.metrics())
        .collect();
    names.iter().filter_map(|name| metric(name)).collect()
}

/// The days of `year` whose data counts on `today`; `None` before the year starts.
fn year_to_date(year: i32, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    Some((NaiveDate::from_ymd_opt(year, 1, 1)?, as_of(year, today)?))
}

/// One criterion's score in a unit, from its parts' `(code, weight, score)`: a part's alone
/// as it was; several as the weighted mean of their shares of the maximum (equal weights when
/// all are 0), on the heaviest part's scale, by its assessor, at the latest of them.
fn combine(scored: &[(&str, f64, &Score)]) -> Option<Score> {
    let (_, _, heaviest) = *scored.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    if let [(_, _, one)] = scored {
        return Some((*one).clone());
    }
    let total: f64 = scored.iter().map(|&(_, w, _)| w).sum();
    let weight = |w: f64| {
        if total > 0.0 {
            w / total
        } else {
            1.0 / scored.len() as f64
        }
    };
    let share: f64 = scored
        .iter()
        .map(|&(_, w, s)| weight(w) * (s.score / s.max).clamp(0.0, 1.0))
        .sum();
    let parts: Vec<String> = scored
        .iter()
        .map(|&(code, w, s)| format!("{code} {}/{} × {:.3}", s.score, s.max, weight(w)))
        .collect();
    Some(Score {
        at: scored.iter().map(|(_, _, s)| s.at).max()?,
        assessor: heaviest.assessor,
        score: share * heaviest.max,
        max: heaviest.max,
        evidence: Some(format!("restated: {}", parts.join(", "))),
    })
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
        let defs = rubric_metrics(models, year);
        let values = match year_to_date(year, today) {
            Some((from, to)) => self.counters.period_points(&defs, from, to),
            None => BTreeMap::new(),
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

    /// What is known of each unit of a date in `year`, from the agencies it takes (see
    /// [`Restatement`]) that had PAR work that year: a criterion scored by one of them keeps
    /// its score; scored by several, it gets the mean of their shares of the maximum weighted
    /// by each one's part in the unit times the dossiers it received in the year (by the parts
    /// alone when none received any). The rubric's metrics are restated as every figure is:
    /// numerators and denominators summed through the lineage, rounded to whole ones. Only
    /// units existing on the date are scored, those taking nothing with PAR work left out; a
    /// unit's kind is its own when it had PAR work, else that of its heaviest part.
    fn restated_inputs(
        &self,
        models: &Models,
        year: i32,
        today: NaiveDate,
        units: &Restatement,
    ) -> Vec<AgencyInput> {
        let recorded = self.par_inputs(models, year, today);
        let by_code: BTreeMap<&str, &AgencyInput> = recorded
            .iter()
            .map(|input| (input.agency_code.as_str(), input))
            .collect();
        let codes = self.agencies().codes();
        let period = year_to_date(year, today);
        let defs = rubric_metrics(models, year);
        let mut restated = Vec::new();
        for (unit, parts) in &units.units {
            // (the part's recorded input, its part in the unit, its dossiers in the year)
            let parts_worked: Vec<(&AgencyInput, f64, f64)> = parts
                .iter()
                .filter_map(|&(id, weight)| {
                    let input = by_code.get(codes[id as usize].as_str())?;
                    let dossiers = period.map_or(0.0, |(from, to)| {
                        received(self.counters.daily, id, from, to)
                    });
                    Some((*input, weight, dossiers))
                })
                .collect();
            if parts_worked.is_empty() {
                continue;
            }
            let by_dossiers = parts_worked.iter().any(|&(_, w, n)| w * n > 0.0);
            // (the part's recorded input, its weight in the unit's scores)
            let worked: Vec<(&AgencyInput, f64)> = parts_worked
                .into_iter()
                .map(|(input, w, n)| (input, if by_dossiers { w * n } else { w }))
                .collect();
            let heaviest = worked
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(input, _)| input.kind)
                .unwrap_or(AgencyKind::Department);
            let keys: BTreeSet<&(String, String)> = worked
                .iter()
                .flat_map(|(input, _)| input.scores.keys())
                .collect();
            let scores = keys
                .into_iter()
                .map(|key| {
                    let of = |pick: fn(&CriterionInput) -> Option<&Score>| {
                        let scored: Vec<(&str, f64, &Score)> = worked
                            .iter()
                            .filter_map(|(input, w)| {
                                let score = input.scores.get(key).and_then(pick)?;
                                Some((input.agency_code.as_str(), *w, score))
                            })
                            .collect();
                        combine(&scored)
                    };
                    let input = CriterionInput {
                        official: of(|c| c.official.as_ref()),
                        self_assessed: of(|c| c.self_assessed.as_ref()),
                    };
                    (key.clone(), input)
                })
                .collect();
            let metrics = match period {
                Some((from, to)) => defs
                    .iter()
                    .filter_map(|def| {
                        let (point, _) =
                            restated_point(def, &self.counters, parts, from, from, to).ok()?;
                        let ratio = Ratio {
                            numerator: point.numerator.unwrap_or(0),
                            denominator: point.denominator.unwrap_or(0),
                        };
                        Some((def.name.to_owned(), ratio))
                    })
                    .collect(),
                None => BTreeMap::new(),
            };
            restated.push(AgencyInput {
                agency_code: unit.clone(),
                kind: by_code.get(unit.as_str()).map_or(heaviest, |own| own.kind),
                scores,
                metrics,
            });
        }
        restated
    }

    /// The inputs of `year`: as recorded (`units` `None`) or restated to the units of a date.
    fn inputs(
        &self,
        models: &Models,
        year: i32,
        today: NaiveDate,
        units: Option<&Restatement>,
    ) -> Vec<AgencyInput> {
        match units {
            None => self.par_inputs(models, year, today),
            Some(units) => self.restated_inputs(models, year, today, units),
        }
    }

    /// The PAR Index of `year` on `today`: every agency with PAR work that year (restated:
    /// every unit of the date taking some), ranked among agencies of its kind against the
    /// previous year's ranks (in the same view).
    pub(crate) fn par_index(
        &self,
        models: &Models,
        year: i32,
        today: NaiveDate,
        units: Option<&Restatement>,
    ) -> YearIndex {
        let previous = year_index(
            models,
            year - 1,
            &self.inputs(models, year - 1, today, units),
            None,
        );
        year_index(
            models,
            year,
            &self.inputs(models, year, today, units),
            Some(&previous),
        )
    }

    /// One agency's (restated: one unit's) index in every year from the first scoring model to
    /// `today`'s year in which it had PAR work.
    pub(crate) fn par_history(
        &self,
        models: &Models,
        agency: &str,
        today: NaiveDate,
        units: Option<&Restatement>,
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
                &self.inputs(models, year, today, units),
                previous.as_ref(),
            );
            history.extend(index.agency(agency).cloned());
            previous = Some(index);
        }
        history
    }
}
