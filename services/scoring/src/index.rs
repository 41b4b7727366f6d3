//! One year's PAR Index of every agency: criteria resolved from scores and live metrics,
//! components summed, projection, and ranks among agencies of the same kind.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;

use chrono::{DateTime, Utc};
use parwatch_proto::{AgencyKind, Assessor};
use serde::{Serialize, Serializer};

use crate::model::{Criterion, Models};

/// Points are published with three decimals ("87,303 điểm"); ranks compare those.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn display<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// A score given by a `par.score` event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// When it was given (the event's `occurred_at`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<Utc>,
    /// Who gave it.
    #[serde(serialize_with = "display")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "appraisal"))]
    pub assessor: Assessor,
    /// Points given.
    pub score: f64,
    /// Maximum on the assessor's scale; the score counts as `score / max` of the criterion.
    pub max: f64,
    /// What it rests on.
    pub evidence: Option<String>,
}

impl Score {
    fn share(&self) -> f64 {
        (self.score / self.max).clamp(0.0, 1.0)
    }
}

/// The scores one criterion got in a year: the latest official one (appraisal, inspection or
/// survey) and the latest self-assessment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CriterionInput {
    /// Latest appraisal, inspection or survey score.
    pub official: Option<Score>,
    /// Latest self-assessment.
    pub self_assessed: Option<Score>,
}

/// A metric's value over the year (to date) as numerator and denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    /// Numerator, e.g. tasks done on time.
    pub numerator: i64,
    /// Denominator, e.g. tasks due; 0 when there was nothing to measure.
    pub denominator: i64,
}

/// What is known of one agency in one year.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyInput {
    /// The agency.
    pub agency_code: String,
    /// Its kind: which rubric scores it and whom it is ranked with.
    pub kind: AgencyKind,
    /// Scores given, by (component code, criterion code).
    pub scores: BTreeMap<(String, String), CriterionInput>,
    /// The year's (to date) values of the metrics its rubric derives criteria from, by name.
    pub metrics: BTreeMap<String, Ratio>,
}

/// Where a criterion's points come from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Scored: by an appraisal, inspection or survey, else by the agency itself.
    Assessed,
    /// Computed from a live metric (no official score yet).
    Derived,
    /// Not scored and nothing to derive it from yet.
    Missing,
}

/// A derived criterion's metric value and the points it earns.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DerivedValue {
    /// The metric.
    pub metric: String,
    /// The rule, in words.
    pub rule: String,
    /// Numerator over the year (to date).
    pub numerator: i64,
    /// Denominator over the year (to date).
    pub denominator: i64,
    /// numerator / denominator.
    pub value: f64,
    /// Points the rule gives.
    pub points: f64,
}

/// Where a criterion's projected points come from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectedFrom {
    /// This year's points.
    ThisYear,
    /// Last year's points for the same criterion, scaled to this year's maximum.
    PreviousYear,
    /// Nothing to project from: counted as 0.
    Nothing,
}

/// One criterion of an agency's index.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionIndex {
    /// Component code.
    pub component: String,
    /// Criterion code.
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the rubric gives one.
    pub name_en: Option<String>,
    /// Points it is worth.
    pub max: f64,
    /// Assessed, derived or missing.
    pub status: Status,
    /// Points earned, unless missing.
    pub points: Option<f64>,
    /// Points lost (`max − points`), unless missing.
    pub lost: Option<f64>,
    /// Points counted in the projection.
    pub projected: f64,
    /// Where the projected points come from.
    pub projected_from: ProjectedFrom,
    /// The latest official score, when there is one.
    pub official: Option<Score>,
    /// The latest self-assessment, when there is one (superseded by an official score).
    pub self_assessed: Option<Score>,
    /// The live metric's value, for a derived criterion with something to measure.
    pub derived: Option<DerivedValue>,
}

/// One component of an agency's index.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentIndex {
    /// Component code.
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the rubric gives one.
    pub name_en: Option<String>,
    /// Points it is worth.
    pub max: f64,
    /// Points earned (criteria not missing).
    pub score: f64,
    /// Points projected.
    pub projected: f64,
    /// Rank on this component among agencies of the same kind.
    pub rank: u32,
}

/// How many criteria are assessed, derived or missing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Scored.
    pub assessed: u32,
    /// Derived from live metrics.
    pub derived: u32,
    /// Neither yet.
    pub missing: u32,
}

/// One agency's index of one year.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyIndex {
    /// The year scored.
    pub year: i32,
    /// The agency.
    pub agency_code: String,
    /// Its kind; ranks are among agencies of this kind.
    #[serde(serialize_with = "display")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "department"))]
    pub kind: AgencyKind,
    /// Points of a perfect index.
    pub max: f64,
    /// Points earned so far: assessed and derived criteria.
    pub index: f64,
    /// The index with each missing criterion at last year's points.
    pub projected: f64,
    /// Whether no criterion is missing.
    pub complete: bool,
    /// Rank by `index` among agencies of the same kind (1, 2, 2, 4).
    pub rank: u32,
    /// Rank by `projected`.
    pub projected_rank: u32,
    /// Number of agencies of the same kind ranked.
    pub of: u32,
    /// Rank in the previous year, when it was ranked then.
    pub previous_rank: Option<u32>,
    /// Places gained (positive) or lost since the previous year.
    pub change: Option<i64>,
    /// Places gained or lost by the projected rank.
    pub projected_change: Option<i64>,
    /// Criteria by status.
    pub counts: Counts,
    /// Components in rubric order.
    pub components: Vec<ComponentIndex>,
    /// Criteria, weakest first: most points lost first, missing ones last.
    pub criteria: Vec<CriterionIndex>,
    /// `component.criterion` codes scored by events but not in the rubric (typos, old codes).
    pub unknown_criteria: Vec<String>,
}

/// Every agency's index of one year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearIndex {
    /// The year.
    pub year: i32,
    /// Agencies by kind, then rank.
    pub agencies: Vec<AgencyIndex>,
}

impl YearIndex {
    /// One agency's index, when it has one this year.
    pub fn agency(&self, code: &str) -> Option<&AgencyIndex> {
        self.agencies.iter().find(|a| a.agency_code == code)
    }
}

/// Resolves one criterion: an official score first, then the live metric, then the
/// self-assessment; a missing one is projected at last year's share of the maximum.
fn criterion(
    component: &str,
    k: &Criterion,
    input: Option<&CriterionInput>,
    metrics: &BTreeMap<String, Ratio>,
    previous: Option<&AgencyIndex>,
) -> CriterionIndex {
    let official = input.and_then(|i| i.official.clone());
    let self_assessed = input.and_then(|i| i.self_assessed.clone());
    let derived = k.derived.as_ref().and_then(|d| {
        let ratio = metrics.get(&d.metric).filter(|r| r.denominator > 0)?;
        let value = ratio.numerator as f64 / ratio.denominator as f64;
        Some(DerivedValue {
            metric: d.metric.clone(),
            rule: d.rule.describe(),
            numerator: ratio.numerator,
            denominator: ratio.denominator,
            value,
            points: round3(d.rule.fraction(value) * k.max),
        })
    });
    let (status, points) = match (&official, &derived, &self_assessed) {
        (Some(s), ..) => (Status::Assessed, Some(s.share() * k.max)),
        (None, Some(d), _) => (Status::Derived, Some(d.points)),
        (None, None, Some(s)) => (Status::Assessed, Some(s.share() * k.max)),
        (None, None, None) => (Status::Missing, None),
    };
    let last_year = previous
        .and_then(|p| {
            p.criteria
                .iter()
                .find(|c| c.component == component && c.code == k.code)
        })
        .and_then(|c| Some(c.points? / c.max * k.max));
    let (projected, projected_from) = match (points, last_year) {
        (Some(p), _) => (p, ProjectedFrom::ThisYear),
        (None, Some(p)) => (p, ProjectedFrom::PreviousYear),
        (None, None) => (0.0, ProjectedFrom::Nothing),
    };
    CriterionIndex {
        component: component.to_owned(),
        code: k.code.clone(),
        name: k.name.clone(),
        name_en: k.name_en.clone(),
        max: k.max,
        status,
        points: points.map(round3),
        lost: points.map(|p| round3(k.max - p)),
        projected: round3(projected),
        projected_from,
        official,
        self_assessed,
        derived,
    }
}

/// Standard competition ranks (1, 2, 2, 4) of `values`, highest first.
pub(crate) fn ranks(values: &[f64]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut out = vec![0; values.len()];
    for (position, &i) in order.iter().enumerate() {
        out[i] = match position {
            0 => 1,
            _ if values[order[position - 1]] == values[i] => out[order[position - 1]],
            _ => position as u32 + 1,
        };
    }
    out
}

/// The index of `year` for every agency of `inputs` whose kind has a rubric that year, ranked
/// among agencies of the same kind. `previous`, the previous year's index, gives the places
/// gained or lost and the points projected for criteria still missing.
pub fn year_index(
    models: &Models,
    year: i32,
    inputs: &[AgencyInput],
    previous: Option<&YearIndex>,
) -> YearIndex {
    let mut agencies: Vec<AgencyIndex> = inputs
        .iter()
        .filter_map(|input| {
            let rubric = models.rubric(input.kind, year)?;
            // Last year counts only when the agency was of the same kind.
            let last_year = previous
                .and_then(|p| p.agency(&input.agency_code))
                .filter(|p| p.kind == input.kind);
            let mut criteria = Vec::new();
            let mut components = Vec::new();
            for c in &rubric.components {
                let start = criteria.len();
                for k in &c.criteria {
                    let key = (c.code.clone(), k.code.clone());
                    criteria.push(criterion(
                        &c.code,
                        k,
                        input.scores.get(&key),
                        &input.metrics,
                        last_year,
                    ));
                }
                let own = &criteria[start..];
                components.push(ComponentIndex {
                    code: c.code.clone(),
                    name: c.name.clone(),
                    name_en: c.name_en.clone(),
                    max: c.max,
                    score: round3(own.iter().filter_map(|k| k.points).sum()),
                    projected: round3(own.iter().map(|k| k.projected).sum()),
                    rank: 0,
                });
            }
            let mut counts = Counts::default();
            for k in &criteria {
                *match k.status {
                    Status::Assessed => &mut counts.assessed,
                    Status::Derived => &mut counts.derived,
                    Status::Missing => &mut counts.missing,
                } += 1;
            }
            let unknown_criteria = input
                .scores
                .keys()
                .filter(|(c, k)| {
                    !rubric
                        .criteria()
                        .any(|(rc, rk)| rc.code == *c && rk.code == *k)
                })
                .map(|(c, k)| format!("{c}.{k}"))
                .collect();
            let index = round3(criteria.iter().filter_map(|k| k.points).sum());
            let projected = round3(criteria.iter().map(|k| k.projected).sum());
            // Weakest first: most points lost, then rubric order; missing criteria last.
            criteria.sort_by(|a, b| match (a.lost, b.lost) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
            Some(AgencyIndex {
                year,
                agency_code: input.agency_code.clone(),
                kind: input.kind,
                max: rubric.total,
                index,
                projected,
                complete: counts.missing == 0,
                rank: 0,
                projected_rank: 0,
                of: 0,
                previous_rank: last_year.map(|p| p.rank),
                change: None,
                projected_change: None,
                counts,
                components,
                criteria,
                unknown_criteria,
            })
        })
        .collect();

    let mut by_kind: HashMap<AgencyKind, Vec<usize>> = HashMap::new();
    for (i, a) in agencies.iter().enumerate() {
        by_kind.entry(a.kind).or_default().push(i);
    }
    for members in by_kind.values() {
        let of = members.len() as u32;
        let values = |f: &dyn Fn(&AgencyIndex) -> f64| -> Vec<f64> {
            members.iter().map(|&i| f(&agencies[i])).collect()
        };
        let rank = ranks(&values(&|a| a.index));
        let projected_rank = ranks(&values(&|a| a.projected));
        let component_ranks: Vec<Vec<u32>> = (0..agencies[members[0]].components.len())
            .map(|c| ranks(&values(&|a| a.components[c].score)))
            .collect();
        for (m, &i) in members.iter().enumerate() {
            let a = &mut agencies[i];
            a.of = of;
            a.rank = rank[m];
            a.projected_rank = projected_rank[m];
            a.change = a.previous_rank.map(|p| i64::from(p) - i64::from(a.rank));
            a.projected_change = a
                .previous_rank
                .map(|p| i64::from(p) - i64::from(a.projected_rank));
            for (c, component) in a.components.iter_mut().enumerate() {
                component.rank = component_ranks[c][m];
            }
        }
    }
    agencies
        .sort_by(|a, b| (a.kind, a.rank, &a.agency_code).cmp(&(b.kind, b.rank, &b.agency_code)));
    YearIndex { year, agencies }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(assessor: Assessor, score: f64, max: f64) -> Score {
        Score {
            at: DateTime::UNIX_EPOCH,
            assessor,
            score,
            max,
            evidence: None,
        }
    }

    fn input(agency: &str, kind: AgencyKind) -> AgencyInput {
        AgencyInput {
            agency_code: agency.to_owned(),
            kind,
            scores: BTreeMap::new(),
            metrics: BTreeMap::new(),
        }
    }

    fn key(component: &str, criterion: &str) -> (String, String) {
        (component.to_owned(), criterion.to_owned())
    }

    #[test]
    fn official_then_derived_then_self_assessed() {
        let models = Models::builtin();
        let tasks = key("direction", "superior_tasks");
        let mut a = input("A", AgencyKind::Department);
        a.metrics.insert(
            "tasks_on_time".to_owned(),
            Ratio {
                numerator: 34,
                denominator: 40,
            },
        );
        let self_only = CriterionInput {
            official: None,
            self_assessed: Some(score(Assessor::SelfAssessment, 2.0, 2.0)),
        };
        let points = |a: &AgencyInput| {
            let index = year_index(&models, 2022, std::slice::from_ref(a), None);
            let k = index.agencies[0]
                .criteria
                .iter()
                .find(|k| k.code == "superior_tasks")
                .cloned()
                .unwrap();
            (k.status, k.points)
        };
        a.scores.insert(tasks.clone(), self_only.clone());
        assert_eq!(points(&a), (Status::Derived, Some(1.7)));
        let official = CriterionInput {
            official: Some(score(Assessor::Inspection, 1.5, 2.0)),
            ..self_only.clone()
        };
        a.scores.insert(tasks.clone(), official);
        assert_eq!(points(&a), (Status::Assessed, Some(1.5)));
        a.metrics.clear();
        a.scores.insert(tasks, self_only);
        assert_eq!(points(&a), (Status::Assessed, Some(2.0)));
    }

    #[test]
    fn missing_criteria_take_last_years_share_of_the_same_kind() {
        let models = Models::builtin();
        let mut last = input("A", AgencyKind::Department);
        last.scores.insert(
            key("survey", "citizen_satisfaction"),
            CriterionInput {
                official: Some(score(Assessor::Survey, 90.0, 100.0)),
                self_assessed: None,
            },
        );
        let previous = year_index(&models, 2022, &[last], None);
        let now = year_index(
            &models,
            2023,
            &[input("A", AgencyKind::Department)],
            Some(&previous),
        );
        let a = &now.agencies[0];
        assert_eq!(
            (a.index, a.projected, a.previous_rank),
            (0.0, 18.0, Some(1))
        );
        // The same code as a district has no past as a department.
        let district = year_index(
            &models,
            2023,
            &[input("A", AgencyKind::District)],
            Some(&previous),
        );
        let a = &district.agencies[0];
        assert_eq!((a.projected, a.previous_rank, a.of), (0.0, None, 1));
    }

    #[test]
    fn competition_ranks_share_ties() {
        assert_eq!(ranks(&[80.0, 95.5, 80.0, 70.0, 95.5]), vec![3, 1, 3, 5, 1]);
        assert_eq!(ranks(&[]), Vec::<u32>::new());
    }
}
