//! The scoring models: one rubric file per kind of agency and year of change,
//! `<kind>/<year>.toml`, in force from that year until a later file of the same kind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parwatch_proto::{AgencyKind, Assessor};
use serde::Deserialize;

use crate::{Error, Result};

/// How far sums of maxima may be off (decimal fractions in binary floating point).
pub(crate) const TOLERANCE: f64 = 1e-6;

/// The rubric files of `deploy/par-model`, built into the binary.
const BUILTIN: &[(&str, &str)] = &[
    (
        "department/2022.toml",
        include_str!("../../../deploy/par-model/department/2022.toml"),
    ),
    (
        "district/2022.toml",
        include_str!("../../../deploy/par-model/district/2022.toml"),
    ),
    (
        "commune/2025.toml",
        include_str!("../../../deploy/par-model/commune/2025.toml"),
    ),
];

/// How a derived criterion's points follow from its metric's value `v` (a share in [0, 1]).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `max × v`: 34/40 tasks on time give 1.7 of 2 points.
    Ratio,
    /// `max × min(1, v / target)`: full points from the target on.
    Target(f64),
    /// `max × fraction` of the first `(threshold, fraction)` whose threshold `v` reaches, 0 below
    /// the last; thresholds descending.
    Steps(Vec<(f64, f64)>),
}

impl Rule {
    /// The share of the criterion's maximum that a metric value earns.
    pub fn fraction(&self, value: f64) -> f64 {
        // A share computed as n/d may miss a decimal threshold by a rounding error.
        const EPSILON: f64 = 1e-9;
        match self {
            Rule::Ratio => value.clamp(0.0, 1.0),
            Rule::Target(target) => (value / target).clamp(0.0, 1.0),
            Rule::Steps(steps) => steps
                .iter()
                .find(|(threshold, _)| value + EPSILON >= *threshold)
                .map_or(0.0, |(_, fraction)| *fraction),
        }
    }

    /// The rule in words, e.g. `target 0.5`.
    pub fn describe(&self) -> String {
        match self {
            Rule::Ratio => "ratio".to_owned(),
            Rule::Target(target) => format!("target {target}"),
            Rule::Steps(steps) => {
                let steps: Vec<String> = steps
                    .iter()
                    .map(|(threshold, fraction)| format!("≥{threshold}→{fraction}"))
                    .collect();
                format!("steps {}", steps.join(" "))
            }
        }
    }
}

/// A criterion computed from a live metric of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    /// Name of the metric (`tasks_on_time`, `on_time_rate`, ...).
    pub metric: String,
    /// How its value becomes points.
    pub rule: Rule,
}

/// A criterion (tiêu chí) of a component.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// Code named by `par.score` events (`data.criterion`).
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the file gives one.
    pub name_en: Option<String>,
    /// Points it is worth.
    pub max: f64,
    /// Derived from a live metric, when it is.
    pub derived: Option<Derivation>,
    /// Who scores it officially: the appraisal council unless said otherwise.
    pub assessed_by: Assessor,
}

/// A component (lĩnh vực) of a rubric.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Code named by `par.score` events (`data.component`).
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the file gives one.
    pub name_en: Option<String>,
    /// Points it is worth: the sum of its criteria's.
    pub max: f64,
    /// Its criteria.
    pub criteria: Vec<Criterion>,
}

/// The rubric of one kind of agency, in force from one year.
#[derive(Debug, Clone, PartialEq)]
pub struct Rubric {
    /// Kind of agency it scores.
    pub kind: AgencyKind,
    /// First year it is in force.
    pub from_year: i32,
    /// Points of a perfect index: the sum of the components'.
    pub total: f64,
    /// Its components.
    pub components: Vec<Component>,
}

impl Rubric {
    /// Every criterion with its component.
    pub fn criteria(&self) -> impl Iterator<Item = (&Component, &Criterion)> {
        self.components
            .iter()
            .flat_map(|c| c.criteria.iter().map(move |k| (c, k)))
    }

    /// Names of the metrics its derived criteria read.
    pub fn metrics(&self) -> BTreeSet<&str> {
        self.criteria()
            .filter_map(|(_, k)| k.derived.as_ref().map(|d| d.metric.as_str()))
            .collect()
    }
}

/// Every rubric, by kind and first year.
#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    rubrics: BTreeMap<(AgencyKind, i32), Rubric>,
}

impl Models {
    /// The rubrics of the repository's `deploy/par-model`, built in.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN.iter().copied())
            .expect("the built-in scoring models are valid (tested)")
    }

    /// Reads every `<kind>/<year>.toml` under `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let mut files = Vec::new();
        for kind_dir in std::fs::read_dir(dir).map_err(io(dir))? {
            let kind_dir = kind_dir.map_err(io(dir))?.path();
            let kind = file_name(&kind_dir);
            if !kind_dir.is_dir() {
                if kind.ends_with(".toml") {
                    return Err(invalid(
                        &kind,
                        "a rubric belongs in a directory named after its kind of agency \
                         (department, district, commune): <kind>/<year>.toml",
                    ));
                }
                continue;
            }
            for file in std::fs::read_dir(&kind_dir).map_err(io(&kind_dir))? {
                let path = file.map_err(io(&kind_dir))?.path();
                let name = file_name(&path);
                if name.ends_with(".toml") {
                    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
                    files.push((format!("{kind}/{name}"), text));
                }
            }
        }
        if files.is_empty() {
            return Err(Error::Invalid {
                file: dir.display().to_string(),
                message: "no rubric found: expected files <kind>/<year>.toml".to_owned(),
            });
        }
        Self::parse(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Parses rubric files given as (`<kind>/<year>.toml`, text).
    fn parse<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut rubrics = BTreeMap::new();
        for (name, text) in files {
            let rubric = parse_rubric(name, text)?;
            rubrics.insert((rubric.kind, rubric.from_year), rubric);
        }
        Ok(Self { rubrics })
    }

    /// Checks that every derived criterion names a metric `known` knows.
    pub fn check_metrics(&self, known: impl Fn(&str) -> bool) -> Result<()> {
        for rubric in self.rubrics.values() {
            for (component, criterion) in rubric.criteria() {
                if let Some(d) = criterion.derived.as_ref().filter(|d| !known(&d.metric)) {
                    return Err(invalid(
                        &rubric_file(rubric),
                        &format!(
                            "{}.{}: derived from unknown metric {:?} (GET /api/v1/metrics lists them)",
                            component.code, criterion.code, d.metric
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The rubric in force for agencies of `kind` in `year`: the latest from that year or before.
    pub fn rubric(&self, kind: AgencyKind, year: i32) -> Option<&Rubric> {
        self.rubrics
            .range((kind, i32::MIN)..=(kind, year))
            .next_back()
            .map(|(_, r)| r)
    }

    /// The first year any rubric is in force.
    pub fn first_year(&self) -> Option<i32> {
        self.rubrics.keys().map(|(_, year)| *year).min()
    }

    /// Every rubric, by kind then year.
    pub fn rubrics(&self) -> impl Iterator<Item = &Rubric> {
        self.rubrics.values()
    }
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn rubric_file(rubric: &Rubric) -> String {
    format!("{}/{}.toml", rubric.kind, rubric.from_year)
}

pub(crate) fn invalid(file: &str, message: &str) -> Error {
    Error::Invalid {
        file: file.to_owned(),
        message: message.to_owned(),
    }
}

/// A rubric file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RubricFile {
    total: f64,
    components: Vec<ComponentFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentFile {
    code: String,
    name: String,
    name_en: Option<String>,
    max: f64,
    criteria: Vec<CriterionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CriterionFile {
    code: String,
    name: String,
    name_en: Option<String>,
    max: f64,
    derived: Option<DerivationFile>,
    assessed_by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DerivationFile {
    metric: String,
    rule: String,
    target: Option<f64>,
    steps: Option<Vec<(f64, f64)>>,
}

/// Parses and checks one file named `<kind>/<year>.toml`.
fn parse_rubric(name: &str, text: &str) -> Result<Rubric> {
    let fail = |message: String| invalid(name, &message);
    let (kind, year) = name
        .strip_suffix(".toml")
        .and_then(|n| n.split_once('/'))
        .ok_or_else(|| fail("expected a file <kind>/<year>.toml".to_owned()))?;
    let kind = AgencyKind::parse(kind).ok_or_else(|| {
        let kinds: Vec<&str> = AgencyKind::ALL.iter().map(|k| k.as_str()).collect();
        fail(format!(
            "unknown kind of agency {kind:?}: expected one of {}",
            kinds.join(", ")
        ))
    })?;
    let from_year: i32 = year
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| fail(format!("{year:?} is not a year from 2000 to 2100")))?;
    let file: RubricFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;

    let positive = |what: &str, value: f64| {
        if value > 0.0 && value.is_finite() {
            Ok(())
        } else {
            Err(fail(format!("{what}: max must be positive (got {value})")))
        }
    };
    // English names are optional (the UI then shows the Vietnamese one), but never blank.
    let english = |at: &str, name: Option<String>| match name {
        Some(n) if n.trim().is_empty() => Err(fail(format!(
            "{at}: name_en is blank (leave it out to show the Vietnamese name)"
        ))),
        name => Ok(name),
    };
    let mut components = Vec::new();
    let mut codes = BTreeSet::new();
    for c in file.components {
        positive(&c.code, c.max)?;
        if c.code.is_empty() || !codes.insert(c.code.clone()) {
            return Err(fail(format!(
                "component code {:?} empty or repeated",
                c.code
            )));
        }
        if c.criteria.is_empty() {
            return Err(fail(format!("{}: no criteria", c.code)));
        }
        let mut criteria = Vec::new();
        let mut criterion_codes = BTreeSet::new();
        for k in c.criteria {
            let at = format!("{}.{}", c.code, k.code);
            positive(&at, k.max)?;
            if k.code.is_empty() || !criterion_codes.insert(k.code.clone()) {
                return Err(fail(format!("{at}: criterion code empty or repeated")));
            }
            let assessed_by = match k.assessed_by.as_deref() {
                None => Assessor::Appraisal,
                Some(text) => Assessor::parse(text)
                    .filter(|a| *a != Assessor::SelfAssessment)
                    .ok_or_else(|| {
                        fail(format!(
                            "{at}: assessed_by must be appraisal, inspection or survey (got {text:?})"
                        ))
                    })?,
            };
            let derived = k
                .derived
                .map(|d| derivation(d).map_err(|m| fail(format!("{at}: {m}"))))
                .transpose()?;
            criteria.push(Criterion {
                name_en: english(&at, k.name_en)?,
                code: k.code,
                name: k.name,
                max: k.max,
                derived,
                assessed_by,
            });
        }
        let sum: f64 = criteria.iter().map(|k| k.max).sum();
        if (sum - c.max).abs() > TOLERANCE {
            return Err(fail(format!(
                "{}: the criteria's maxima add up to {sum}, not the component's {}",
                c.code, c.max
            )));
        }
        components.push(Component {
            name_en: english(&c.code, c.name_en)?,
            code: c.code,
            name: c.name,
            max: c.max,
            criteria,
        });
    }
    if components.is_empty() {
        return Err(fail("no components".to_owned()));
    }
    let sum: f64 = components.iter().map(|c| c.max).sum();
    if (sum - file.total).abs() > TOLERANCE {
        return Err(fail(format!(
            "the components' maxima add up to {sum}, not the total {}",
            file.total
        )));
    }
    Ok(Rubric {
        kind,
        from_year,
        total: file.total,
        components,
    })
}

fn derivation(d: DerivationFile) -> std::result::Result<Derivation, String> {
    Ok(Derivation {
        rule: parse_rule(&d.rule, d.target, d.steps)?,
        metric: d.metric,
    })
}

/// A rule as a file writes it (`rule = "ratio" | "target" | "steps"` with its `target` or
/// `steps`); the error says what is wrong, for the caller to place.
pub(crate) fn parse_rule(
    rule: &str,
    target: Option<f64>,
    steps: Option<Vec<(f64, f64)>>,
) -> std::result::Result<Rule, String> {
    Ok(match (rule, target, steps) {
        ("ratio", None, None) => Rule::Ratio,
        ("target", Some(target), None) if target > 0.0 && target <= 1.0 => Rule::Target(target),
        ("target", Some(target), None) => {
            return Err(format!("target must be within (0, 1] (got {target})"));
        }
        ("steps", None, Some(steps)) => {
            let descending = steps.windows(2).all(|w| w[0].0 > w[1].0);
            let fractions = steps.iter().all(|(_, f)| (0.0..=1.0).contains(f));
            if steps.is_empty() || !descending || !fractions {
                return Err(
                    "steps must be [threshold, fraction] pairs, thresholds descending, \
                     fractions within [0, 1]"
                        .to_owned(),
                );
            }
            Rule::Steps(steps)
        }
        ("ratio" | "target" | "steps", ..) => {
            return Err(format!(
                "rule {rule:?} takes {}",
                match rule {
                    "ratio" => "neither target nor steps",
                    "target" => "a target and no steps",
                    _ => "steps and no target",
                }
            ));
        }
        (other, ..) => {
            return Err(format!(
                "unknown rule {other:?}: expected ratio, target or steps"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(year: i32) -> Option<i32> {
        Models::builtin()
            .rubric(AgencyKind::Department, year)
            .map(|r| r.from_year)
    }

    #[test]
    fn a_rubric_is_in_force_until_a_later_one() {
        assert_eq!(d(2021), None);
        assert_eq!(d(2022), Some(2022));
        assert_eq!(d(2026), Some(2022));
        let models = Models::builtin();
        assert!(models.rubric(AgencyKind::Commune, 2024).is_none());
        assert!(models.rubric(AgencyKind::Commune, 2025).is_some());
        assert_eq!(models.first_year(), Some(2022));
    }

    #[test]
    fn rules_give_shares_of_the_maximum() {
        assert!((Rule::Ratio.fraction(34.0 / 40.0) * 2.0 - 1.7).abs() < 1e-12);
        assert_eq!(Rule::Target(0.5).fraction(0.3), 0.6);
        assert_eq!(Rule::Target(0.5).fraction(0.9), 1.0);
        let steps = Rule::Steps(vec![(1.0, 1.0), (0.98, 0.75), (0.95, 0.5)]);
        assert_eq!(steps.fraction(1.0), 1.0);
        assert_eq!(steps.fraction(49.0 / 50.0), 0.75);
        assert_eq!(steps.fraction(0.97), 0.5);
        assert_eq!(steps.fraction(0.9), 0.0);
    }
}
