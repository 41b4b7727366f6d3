//! The national real-time service index of Decision 766/QĐ-TTg (2022): six groups of indicators,
//! 100 points, per agency and month, quarter or year.
//!
//! The rubric is dated data: `deploy/index-766/<valid-from-date>.toml`, in force from that date
//! until a later file (built in, or from a directory given at start), read and checked by
//! [`ServiceRubrics`]. Each indicator reads one [`Input`] — a numerator over a denominator the
//! metrics crate folds from the events — and turns its share into points by a [`Rule`] of the PAR
//! models (`target` = full points from a threshold on, linear below it). An input with nothing to
//! measure (denominator 0) leaves its indicator missing, never at full marks; the total is then
//! the points over the maximum of the indicators with data, scaled to the rubric's total.
//! [`service_index`] scores every agency of a period and ranks agencies of the same kind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use chrono::{Datelike, Months, NaiveDate};
use parwatch_proto::AgencyKind;
use serde::{Deserialize, Serialize, Serializer};

use crate::index::{Ratio, ranks, round3};
use crate::model::{Rule, TOLERANCE, file_name, invalid, parse_rule};
use crate::{Error, Result};

/// The rubric files of `deploy/index-766`, built into the binary.
const BUILTIN: &[(&str, &str)] = &[(
    "2022-06-23.toml",
    include_str!("../../../deploy/index-766/2022-06-23.toml"),
)];

macro_rules! inputs {
    ($($variant:ident = $text:literal: $numerator:literal / $denominator:literal;)+) => {
        /// What an indicator reads: a numerator over a denominator per agency and period, folded
        /// from the events by the metrics crate (docs/index-766.md says how each is counted).
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Input {
            $(
                #[doc = concat!($numerator, " / ", $denominator, ".")]
                $variant,
            )+
        }

        impl Input {
            /// Every input, in documentation order.
            pub const ALL: &'static [Input] = &[$(Input::$variant),+];

            /// The name rubric files and answers use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Input::$variant => $text),+
                }
            }

            /// Parses a name.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Input::$variant),)+
                    _ => None,
                }
            }

            /// What is counted above and below the line, in words.
            pub fn describe(self) -> (&'static str, &'static str) {
                match self {
                    $(Input::$variant => ($numerator, $denominator)),+
                }
            }
        }
    };
}

inputs! {
    ProceduresPublished = "procedures_published":
        "procedures published at the period's end" / "procedures catalogued";
    ProceduresPublicised = "procedures_publicised":
        "procedures publicised with complete information" / "procedures catalogued";
    DossiersSynced = "dossiers_synced":
        "dossiers received in the period synced to the national portal" / "dossiers received";
    DossiersOnTime = "dossiers_on_time":
        "dossiers resolved on time in the period"
        / "dossiers resolved, plus dossiers open and late at the period's end";
    ProceduresOnline = "procedures_online":
        "procedures offered online (full or partial) at the period's end" / "procedures catalogued";
    DossiersOnline = "dossiers_online":
        "dossiers received online in the period" / "dossiers received";
    FeesPaidOnline = "fees_paid_online":
        "dossiers whose fee (over 0 VND) was paid online in the period" / "dossiers whose fee was paid";
    RatingsSatisfied = "ratings_satisfied":
        "dossiers rated satisfied or very satisfied in the period" / "dossiers rated";
    PetitionsOnTime = "petitions_on_time":
        "petitions answered by their deadline in the period"
        / "petitions answered, plus petitions open past their deadline at the period's end";
    DossiersDigitised = "dossiers_digitised":
        "dossiers received in the period with a component digitised or reused" / "dossiers received";
    DossiersReused = "dossiers_reused":
        "dossiers received in the period with a component reused" / "dossiers with a component digitised or reused";
    ResultsElectronic = "results_electronic":
        "dossiers resolved in the period with an electronic result" / "dossiers resolved";
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An indicator (chỉ tiêu) of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// Its code within the group.
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the file gives one.
    pub name_en: Option<String>,
    /// Points it is worth.
    pub max: f64,
    /// What it reads.
    pub input: Input,
    /// How the input's share becomes points.
    pub rule: Rule,
}

/// A group (nhóm chỉ số) of the rubric.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its code.
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the file gives one.
    pub name_en: Option<String>,
    /// Points it is worth: the sum of its indicators'.
    pub max: f64,
    /// Its indicators.
    pub indicators: Vec<Indicator>,
}

/// The service index's rubric in force from one date.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRubric {
    /// First day it is in force.
    pub valid_from: NaiveDate,
    /// Points of a perfect index: the sum of the groups'.
    pub total: f64,
    /// Its groups.
    pub groups: Vec<Group>,
}

impl ServiceRubric {
    /// The inputs its indicators read.
    pub fn inputs(&self) -> BTreeSet<Input> {
        self.groups
            .iter()
            .flat_map(|g| g.indicators.iter().map(|i| i.input))
            .collect()
    }
}

/// Every rubric of the service index, by the date it is in force from.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRubrics {
    rubrics: BTreeMap<NaiveDate, ServiceRubric>,
}

impl ServiceRubrics {
    /// The rubrics of the repository's `deploy/index-766`, built in.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN.iter().copied())
            .expect("the built-in service index rubrics are valid (tested)")
    }

    /// Reads every `<valid-from-date>.toml` of `dir`; a broken file is an error naming it.
    pub fn load(dir: &Path) -> Result<Self> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let name = file_name(&path);
            if name.ends_with(".toml") {
                let text = std::fs::read_to_string(&path).map_err(io(&path))?;
                files.push((name, text));
            }
        }
        if files.is_empty() {
            return Err(Error::Invalid {
                file: dir.display().to_string(),
                message: "no rubric found: expected files <valid-from-date>.toml".to_owned(),
            });
        }
        Self::parse(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Parses rubric files given as (`<valid-from-date>.toml`, text).
    fn parse<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut rubrics = BTreeMap::new();
        for (name, text) in files {
            let rubric = parse_rubric(name, text)?;
            rubrics.insert(rubric.valid_from, rubric);
        }
        Ok(Self { rubrics })
    }

    /// The rubric in force on `date`: the latest from that date or before.
    pub fn in_force(&self, date: NaiveDate) -> Option<&ServiceRubric> {
        self.rubrics.range(..=date).next_back().map(|(_, r)| r)
    }

    /// Every rubric, oldest first.
    pub fn rubrics(&self) -> impl Iterator<Item = &ServiceRubric> {
        self.rubrics.values()
    }
}

/// A rubric file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RubricFile {
    total: f64,
    groups: Vec<GroupFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    code: String,
    name: String,
    name_en: Option<String>,
    max: f64,
    indicators: Vec<IndicatorFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorFile {
    code: String,
    name: String,
    name_en: Option<String>,
    max: f64,
    input: String,
    rule: String,
    target: Option<f64>,
    steps: Option<Vec<(f64, f64)>>,
}

/// Parses and checks one file named `<valid-from-date>.toml`.
fn parse_rubric(name: &str, text: &str) -> Result<ServiceRubric> {
    let fail = |message: String| invalid(name, &message);
    let valid_from = name
        .strip_suffix(".toml")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| {
            fail("expected a file named <valid-from-date>.toml, e.g. 2022-06-23.toml".to_owned())
        })?;
    let file: RubricFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
    let positive = |at: &str, value: f64| {
        if value > 0.0 && value.is_finite() {
            Ok(())
        } else {
            Err(fail(format!("{at}: max must be positive (got {value})")))
        }
    };
    let english = |at: &str, name: Option<String>| match name {
        Some(n) if n.trim().is_empty() => Err(fail(format!(
            "{at}: name_en is blank (leave it out to show the Vietnamese name)"
        ))),
        name => Ok(name),
    };
    let mut groups = Vec::new();
    let mut codes = BTreeSet::new();
    for g in file.groups {
        positive(&g.code, g.max)?;
        if g.code.is_empty() || !codes.insert(g.code.clone()) {
            return Err(fail(format!("group code {:?} empty or repeated", g.code)));
        }
        if g.indicators.is_empty() {
            return Err(fail(format!("{}: no indicators", g.code)));
        }
        let mut indicators = Vec::new();
        let mut indicator_codes = BTreeSet::new();
        for i in g.indicators {
            let at = format!("{}.{}", g.code, i.code);
            positive(&at, i.max)?;
            if i.code.is_empty() || !indicator_codes.insert(i.code.clone()) {
                return Err(fail(format!("{at}: indicator code empty or repeated")));
            }
            let input = Input::parse(&i.input).ok_or_else(|| {
                let known: Vec<&str> = Input::ALL.iter().map(|i| i.as_str()).collect();
                fail(format!(
                    "{at}: unknown input {:?}: expected one of {}",
                    i.input,
                    known.join(", ")
                ))
            })?;
            let rule =
                parse_rule(&i.rule, i.target, i.steps).map_err(|m| fail(format!("{at}: {m}")))?;
            indicators.push(Indicator {
                name_en: english(&at, i.name_en)?,
                code: i.code,
                name: i.name,
                max: i.max,
                input,
                rule,
            });
        }
        let sum: f64 = indicators.iter().map(|i| i.max).sum();
        if (sum - g.max).abs() > TOLERANCE {
            return Err(fail(format!(
                "{}: the indicators' maxima add up to {sum}, not the group's {}",
                g.code, g.max
            )));
        }
        groups.push(Group {
            name_en: english(&g.code, g.name_en)?,
            code: g.code,
            name: g.name,
            max: g.max,
            indicators,
        });
    }
    if groups.is_empty() {
        return Err(fail("no groups".to_owned()));
    }
    let sum: f64 = groups.iter().map(|g| g.max).sum();
    if (sum - file.total).abs() > TOLERANCE || file.total <= 0.0 {
        return Err(fail(format!(
            "the groups' maxima add up to {sum}, not the total {}",
            file.total
        )));
    }
    Ok(ServiceRubric {
        valid_from,
        total: file.total,
        groups,
    })
}

/// How long a period of the index is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Span {
    /// A calendar month, `2025-03`.
    Month,
    /// A calendar quarter, `2025-Q1`.
    Quarter,
    /// A calendar year, `2025`.
    Year,
}

/// A period the index is computed for: a month, a quarter or a year (local calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexPeriod {
    /// Its first day.
    first: NaiveDate,
    /// How long it is.
    span: Span,
}

impl IndexPeriod {
    /// Parses `2025-03`, `2025-Q1` or `2025` (years 2000–2100).
    pub fn parse(text: &str) -> Option<Self> {
        let (year, rest) = match text.split_once('-') {
            Some((year, rest)) => (year, Some(rest)),
            None => (text, None),
        };
        if year.len() != 4 {
            return None;
        }
        let year: i32 = year.parse().ok().filter(|y| (2000..=2100).contains(y))?;
        let (month, span) = match rest {
            None => (1, Span::Year),
            Some(q) if q.len() == 2 && q.starts_with('Q') => {
                let q: u32 = q[1..].parse().ok().filter(|q| (1..=4).contains(q))?;
                ((q - 1) * 3 + 1, Span::Quarter)
            }
            Some(m) if m.len() == 2 => (
                m.parse().ok().filter(|m| (1..=12).contains(m))?,
                Span::Month,
            ),
            Some(_) => return None,
        };
        Some(Self {
            first: NaiveDate::from_ymd_opt(year, month, 1)?,
            span,
        })
    }

    /// How long it is.
    pub fn span(self) -> Span {
        self.span
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        self.first
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.next().first - chrono::Days::new(1)
    }

    /// The months it is made of, as their first days.
    pub fn months(self) -> impl Iterator<Item = NaiveDate> {
        let n = self.months_long();
        (0..n).map(move |i| self.first + Months::new(i))
    }

    fn months_long(self) -> u32 {
        match self.span {
            Span::Month => 1,
            Span::Quarter => 3,
            Span::Year => 12,
        }
    }

    /// The period of the same length before it.
    pub fn previous(self) -> Self {
        Self {
            first: self.first - Months::new(self.months_long()),
            span: self.span,
        }
    }

    /// The period of the same length after it.
    pub fn next(self) -> Self {
        Self {
            first: self.first + Months::new(self.months_long()),
            span: self.span,
        }
    }
}

impl fmt::Display for IndexPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let year = self.first.year();
        match self.span {
            Span::Month => write!(f, "{year}-{:02}", self.first.month()),
            Span::Quarter => write!(f, "{year}-Q{}", self.first.month0() / 3 + 1),
            Span::Year => write!(f, "{year}"),
        }
    }
}

/// One agency's inputs over one period.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInputs {
    /// The agency.
    pub agency_code: String,
    /// Its kind: whom it is ranked with.
    pub kind: AgencyKind,
    /// Each input's numerator and denominator (an input absent has denominator 0).
    pub inputs: BTreeMap<Input, Ratio>,
}

fn display<T: fmt::Display, S: Serializer>(
    value: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// One indicator of an agency's index.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorScore {
    /// Its group's code.
    pub group: String,
    /// Its code.
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the rubric gives one.
    pub name_en: Option<String>,
    /// What it reads.
    pub input: Input,
    /// Its rule in words (`target 0.5`: full points from 50 %, linear below).
    pub rule: String,
    /// Points it is worth.
    pub max: f64,
    /// The input's numerator over the period.
    pub numerator: i64,
    /// The input's denominator over the period; 0: nothing to measure.
    pub denominator: i64,
    /// numerator / denominator, unless missing.
    pub value: Option<f64>,
    /// Points earned (three decimals), unless missing.
    pub points: Option<f64>,
    /// Whether there was nothing to measure: no points, left out of the total's maximum.
    pub missing: bool,
}

/// One group of an agency's index.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScore {
    /// Its code.
    pub code: String,
    /// Vietnamese name (the default).
    pub name: String,
    /// English name, when the rubric gives one.
    pub name_en: Option<String>,
    /// Points it is worth.
    pub max: f64,
    /// Points earned by its indicators with data.
    pub points: f64,
    /// The maximum of its indicators with data.
    pub max_with_data: f64,
    /// Its indicators, in rubric order.
    pub indicators: Vec<IndicatorScore>,
}

/// One agency's service index of one period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyServiceIndex {
    /// The agency.
    pub agency_code: String,
    /// Its kind; ranks are among agencies of this kind.
    #[serde(serialize_with = "display")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "commune"))]
    pub kind: AgencyKind,
    /// Points of a perfect index (the rubric's total, 100).
    pub max: f64,
    /// Points earned by the indicators with data.
    pub points: f64,
    /// The maximum of the indicators with data.
    pub max_with_data: f64,
    /// `points / max_with_data × max`, three decimals; null when no indicator has data.
    pub total: Option<f64>,
    /// Whether every indicator has data.
    pub complete: bool,
    /// The indicators without data, `group.indicator`.
    pub missing: Vec<String>,
    /// Rank by `total` among agencies of the same kind with a total (1, 2, 2, 4).
    pub rank: Option<u32>,
    /// Number of agencies of the same kind ranked.
    pub of: u32,
    /// The total of the previous period of the same length, when there was one.
    pub previous_total: Option<f64>,
    /// `total − previous_total`.
    pub change: Option<f64>,
    /// The rank in the previous period.
    pub previous_rank: Option<u32>,
    /// Places gained (positive) or lost since the previous period.
    pub rank_change: Option<i64>,
    /// Groups in rubric order.
    pub groups: Vec<GroupScore>,
}

/// Every agency's service index of one period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceIndex {
    /// The period, `2025-03`, `2025-Q1` or `2025`.
    #[serde(serialize_with = "display")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2025-Q1"))]
    pub period: IndexPeriod,
    /// The date the rubric used is in force from (the one in force on the period's first day).
    pub rubric: NaiveDate,
    /// Agencies by kind, then rank (unranked last), then code.
    pub agencies: Vec<AgencyServiceIndex>,
}

impl ServiceIndex {
    /// One agency's index, when it has one.
    pub fn agency(&self, code: &str) -> Option<&AgencyServiceIndex> {
        self.agencies.iter().find(|a| a.agency_code == code)
    }
}

/// Scores one agency by `rubric`.
fn score(rubric: &ServiceRubric, input: &ServiceInputs) -> AgencyServiceIndex {
    let mut groups = Vec::new();
    let mut missing = Vec::new();
    let (mut points, mut max_with_data) = (0.0, 0.0);
    for g in &rubric.groups {
        let mut indicators = Vec::new();
        let (mut group_points, mut group_max) = (0.0, 0.0);
        for i in &g.indicators {
            let ratio = input.inputs.get(&i.input).copied().unwrap_or(Ratio {
                numerator: 0,
                denominator: 0,
            });
            let value =
                (ratio.denominator > 0).then(|| ratio.numerator as f64 / ratio.denominator as f64);
            let earned = value.map(|v| i.rule.fraction(v) * i.max);
            match earned {
                Some(p) => {
                    group_points += p;
                    group_max += i.max;
                }
                None => missing.push(format!("{}.{}", g.code, i.code)),
            }
            indicators.push(IndicatorScore {
                group: g.code.clone(),
                code: i.code.clone(),
                name: i.name.clone(),
                name_en: i.name_en.clone(),
                input: i.input,
                rule: i.rule.describe(),
                max: i.max,
                numerator: ratio.numerator,
                denominator: ratio.denominator,
                value,
                points: earned.map(round3),
                missing: earned.is_none(),
            });
        }
        points += group_points;
        max_with_data += group_max;
        groups.push(GroupScore {
            code: g.code.clone(),
            name: g.name.clone(),
            name_en: g.name_en.clone(),
            max: g.max,
            points: round3(group_points),
            max_with_data: round3(group_max),
            indicators,
        });
    }
    AgencyServiceIndex {
        agency_code: input.agency_code.clone(),
        kind: input.kind,
        max: rubric.total,
        points: round3(points),
        max_with_data: round3(max_with_data),
        total: (max_with_data > 0.0).then(|| round3(points / max_with_data * rubric.total)),
        complete: missing.is_empty(),
        missing,
        rank: None,
        of: 0,
        previous_total: None,
        change: None,
        previous_rank: None,
        rank_change: None,
        groups,
    }
}

/// The service index of `period` for every agency of `inputs`, by the rubric in force on the
/// period's first day (`None` before every rubric), ranked among agencies of the same kind;
/// `previous`, the index of the period before, gives the change of total and rank.
pub fn service_index(
    rubrics: &ServiceRubrics,
    period: IndexPeriod,
    inputs: &[ServiceInputs],
    previous: Option<&ServiceIndex>,
) -> Option<ServiceIndex> {
    let rubric = rubrics.in_force(period.first_day())?;
    let mut agencies: Vec<AgencyServiceIndex> = inputs.iter().map(|i| score(rubric, i)).collect();
    let mut by_kind: HashMap<AgencyKind, Vec<usize>> = HashMap::new();
    for (i, a) in agencies.iter().enumerate() {
        if a.total.is_some() {
            by_kind.entry(a.kind).or_default().push(i);
        }
    }
    for members in by_kind.values() {
        let totals: Vec<f64> = members.iter().filter_map(|&i| agencies[i].total).collect();
        for (&i, rank) in members.iter().zip(ranks(&totals)) {
            agencies[i].rank = Some(rank);
            agencies[i].of = members.len() as u32;
        }
    }
    for a in &mut agencies {
        // The previous period counts only when the agency was of the same kind.
        let before = previous
            .and_then(|p| p.agency(&a.agency_code))
            .filter(|b| b.kind == a.kind);
        a.previous_total = before.and_then(|b| b.total);
        a.previous_rank = before.and_then(|b| b.rank);
        a.change = a.total.zip(a.previous_total).map(|(t, p)| round3(t - p));
        a.rank_change = a
            .rank
            .zip(a.previous_rank)
            .map(|(r, p)| i64::from(p) - i64::from(r));
    }
    agencies.sort_by(|a, b| {
        (a.kind, a.rank.is_none(), a.rank, &a.agency_code).cmp(&(
            b.kind,
            b.rank.is_none(),
            b.rank,
            &b.agency_code,
        ))
    });
    Some(ServiceIndex {
        period,
        rubric: rubric.valid_from,
        agencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(numerator: i64, denominator: i64) -> Ratio {
        Ratio {
            numerator,
            denominator,
        }
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_builtin_rubric_has_the_decisions_groups() {
        let rubrics = ServiceRubrics::builtin();
        assert!(rubrics.in_force(date("2022-06-22")).is_none());
        let rubric = rubrics.in_force(date("2025-03-01")).unwrap();
        let groups: Vec<(&str, f64)> = rubric
            .groups
            .iter()
            .map(|g| (g.code.as_str(), g.max))
            .collect();
        assert_eq!(
            groups,
            [
                ("transparency", 18.0),
                ("progress", 20.0),
                ("online_services", 12.0),
                ("online_payment", 10.0),
                ("satisfaction", 18.0),
                ("digitisation", 22.0)
            ]
        );
        assert_eq!(
            rubric.inputs().len(),
            Input::ALL.len(),
            "every input is read"
        );
    }

    /// A rubric file with one group of two indicators, `broken` replacing a line when given.
    fn file(replace: Option<(&str, &str)>) -> String {
        let text = r#"total = 10
[[groups]]
code = "online_services"
name = "Dịch vụ công trực tuyến"
max = 10
[[groups.indicators]]
code = "online_dossiers"
name = "Hồ sơ nộp trực tuyến"
max = 6
input = "dossiers_online"
rule = "target"
target = 0.5
[[groups.indicators]]
code = "rating"
name = "Đánh giá hài lòng"
max = 4
input = "ratings_satisfied"
rule = "ratio"
"#;
        match replace {
            Some((from, to)) => {
                assert!(text.contains(from));
                text.replace(from, to)
            }
            None => text.to_owned(),
        }
    }

    #[test]
    fn a_broken_file_stops_the_load_naming_the_file_and_the_indicator() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2022-06-23.toml"), file(None)).unwrap();
        let loaded = ServiceRubrics::load(dir.path()).unwrap();
        assert_eq!(loaded.rubrics().count(), 1);
        for (broken, expected) in [
            (
                ("max = 4", "max = 3"),
                "online_services: the indicators' maxima add up to 9",
            ),
            (
                ("\"ratings_satisfied\"", "\"ratings\""),
                "online_services.rating: unknown input \"ratings\"",
            ),
            (
                ("target = 0.5", "target = 50"),
                "online_services.online_dossiers: target must be within (0, 1]",
            ),
            (
                ("total = 10", "total = 100"),
                "add up to 10, not the total 100",
            ),
            (("max = 6", "max = 6\nweight = 1"), "unknown field `weight`"),
        ] {
            std::fs::write(dir.path().join("2025-01-01.toml"), file(Some(broken))).unwrap();
            let error = ServiceRubrics::load(dir.path()).unwrap_err().to_string();
            assert!(
                error.starts_with("scoring model 2025-01-01.toml: ") && error.contains(expected),
                "{error}"
            );
        }
        std::fs::remove_file(dir.path().join("2025-01-01.toml")).unwrap();
        std::fs::write(dir.path().join("2025-13-01.toml"), file(None)).unwrap();
        let error = ServiceRubrics::load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("2025-13-01.toml: expected a file named <valid-from-date>.toml"),
            "{error}"
        );
    }

    #[test]
    fn a_later_file_takes_over_from_its_date() {
        let first = file(None);
        let later = file(Some(("target = 0.5", "target = 0.6")));
        let rubrics = ServiceRubrics::parse([
            ("2022-06-23.toml", first.as_str()),
            ("2025-07-01.toml", later.as_str()),
        ])
        .unwrap();
        let rule = |d: &str| {
            rubrics.in_force(date(d)).unwrap().groups[0].indicators[0]
                .rule
                .clone()
        };
        assert_eq!(rule("2025-06-30"), Rule::Target(0.5));
        assert_eq!(rule("2025-07-01"), Rule::Target(0.6));
    }

    fn inputs(agency: &str, kind: AgencyKind, pairs: &[(Input, Ratio)]) -> ServiceInputs {
        ServiceInputs {
            agency_code: agency.to_owned(),
            kind,
            inputs: pairs.iter().copied().collect(),
        }
    }

    #[test]
    fn thresholds_linear_parts_and_missing_indicators() {
        let text = file(None);
        let rubrics = ServiceRubrics::parse([("2022-06-23.toml", text.as_str())]).unwrap();
        let period = IndexPeriod::parse("2025-03").unwrap();
        let a = inputs(
            "A",
            AgencyKind::Commune,
            &[
                // 30 of 50 online: 60 % ≥ the 50 % threshold → all 6 points.
                (Input::DossiersOnline, ratio(30, 50)),
                // 7 of 10 satisfied, ratio → 4 × 0.7 = 2.8.
                (Input::RatingsSatisfied, ratio(7, 10)),
            ],
        );
        // 10 of 50 online: 20 % of a 50 % threshold → 6 × 0.4 = 2.4; no ratings → missing.
        let b = inputs(
            "B",
            AgencyKind::Commune,
            &[
                (Input::DossiersOnline, ratio(10, 50)),
                (Input::RatingsSatisfied, ratio(0, 0)),
            ],
        );
        let c = inputs("C", AgencyKind::Commune, &[]);
        let index = service_index(&rubrics, period, &[c, b, a], None).unwrap();
        let a = index.agency("A").unwrap();
        assert_eq!((a.points, a.max_with_data, a.total), (8.8, 10.0, Some(8.8)));
        let b = index.agency("B").unwrap();
        let online = &b.groups[0].indicators[0];
        assert_eq!(
            (online.points, online.value, online.missing),
            (Some(2.4), Some(0.2), false)
        );
        let rating = &b.groups[0].indicators[1];
        assert_eq!(
            (rating.points, rating.value, rating.missing),
            (None, None, true)
        );
        // 2.4 points of the 6 with data, scaled to the total 10: 4.
        assert_eq!((b.points, b.max_with_data, b.total), (2.4, 6.0, Some(4.0)));
        assert_eq!(b.missing, ["online_services.rating"]);
        assert!(!b.complete && a.complete);
        let c = index.agency("C").unwrap();
        assert_eq!((c.total, c.rank, c.missing.len()), (None, None, 2));
        assert_eq!((a.rank, b.rank, a.of), (Some(1), Some(2), 2));
        let order: Vec<&str> = index
            .agencies
            .iter()
            .map(|a| a.agency_code.as_str())
            .collect();
        assert_eq!(order, ["A", "B", "C"], "ranked first, unranked last");

        // The next month B climbs to 6/6 online and 1/1 satisfied: 10, first; A stays at 8.8.
        let next = service_index(
            &rubrics,
            IndexPeriod::parse("2025-04").unwrap(),
            &[
                inputs(
                    "A",
                    AgencyKind::Commune,
                    &[
                        (Input::DossiersOnline, ratio(30, 50)),
                        (Input::RatingsSatisfied, ratio(7, 10)),
                    ],
                ),
                inputs(
                    "B",
                    AgencyKind::Commune,
                    &[
                        (Input::DossiersOnline, ratio(6, 6)),
                        (Input::RatingsSatisfied, ratio(1, 1)),
                    ],
                ),
            ],
            Some(&index),
        )
        .unwrap();
        let b = next.agency("B").unwrap();
        assert_eq!(
            (b.total, b.change, b.rank, b.rank_change),
            (Some(10.0), Some(6.0), Some(1), Some(1))
        );
        let a = next.agency("A").unwrap();
        assert_eq!((a.change, a.rank_change), (Some(0.0), Some(-1)));
    }

    #[test]
    fn periods_parse_and_step_back() {
        let p = |t: &str| IndexPeriod::parse(t).unwrap();
        assert_eq!(p("2025-03").last_day(), date("2025-03-31"));
        assert_eq!(p("2025-Q1").last_day(), date("2025-03-31"));
        assert_eq!(p("2024").last_day(), date("2024-12-31"));
        assert_eq!(p("2025-Q1").previous().to_string(), "2024-Q4");
        assert_eq!(p("2025-01").previous().to_string(), "2024-12");
        assert_eq!(p("2025").previous().to_string(), "2024");
        assert_eq!(
            p("2025-Q3").months().collect::<Vec<_>>(),
            [date("2025-07-01"), date("2025-08-01"), date("2025-09-01")]
        );
        for bad in [
            "2025-13",
            "2025-Q5",
            "2025-3",
            "25",
            "2025-03-01",
            "1999",
            "2025-q1",
        ] {
            assert_eq!(IndexPeriod::parse(bad), None, "{bad}");
        }
    }
}
