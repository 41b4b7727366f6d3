//! Report definitions as code: one TOML file per report (`reports/<id>.toml`), parsed and
//! checked as a whole before any is used — an unknown metric or field, a placeholder naming no
//! figure, a table without columns stops the load with the file, section and table named.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use parwatch_metrics::{MetricDef, Unit};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The definitions shipped in the repository's `reports/`.
const BUILT_IN: &[(&str, &str)] = &[
    ("province", include_str!("../../../reports/province.toml")),
    (
        "department",
        include_str!("../../../reports/department.toml"),
    ),
    ("public", include_str!("../../../reports/public.toml")),
];

/// The smallest number of dossiers a public report shows in a cell, unless its definition
/// says `min_dossiers`.
pub const MIN_DOSSIERS: u32 = 5;

/// Placeholders every text may use besides its report's figures.
pub const BUILT_IN_PLACEHOLDERS: &[&str] = &["period", "agency", "from", "to"];

/// Text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Vietnamese (the default).
    pub vi: String,
    /// English.
    pub en: String,
}

impl Text {
    fn check(&self, what: &str) -> std::result::Result<(), String> {
        if self.vi.trim().is_empty() || self.en.trim().is_empty() {
            return Err(format!("{what}: both vi and en are needed"));
        }
        Ok(())
    }
}

/// Whom a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// The whole province: every agency.
    Province,
    /// One agency, given when the report is run.
    Agency,
}

/// Which part of a metric's value a figure takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The value (a count, a share, days).
    Value,
    /// A rate's numerator (e.g. dossiers received online).
    Numerator,
    /// A rate's denominator.
    Denominator,
    /// A rate's denominator less its numerator (e.g. late dossiers without an apology).
    Rest,
}

/// One term of a figure: a metric and the part of it taken.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Term {
    /// Added (`+`) or subtracted (`-`).
    pub sign: i64,
    /// The metric.
    #[serde(serialize_with = "metric_name")]
    pub metric: &'static MetricDef,
    /// The part taken.
    pub field: Field,
}

fn metric_name<S: serde::Serializer>(m: &&'static MetricDef, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.name)
}

/// A figure: one metric's value, or a sum of counts (`received - online_uptake.numerator`).
#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    /// As written.
    pub text: String,
    /// Its terms, in order.
    #[serde(skip)]
    pub terms: Vec<Term>,
}

/// How a figure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A whole number (dossiers, activities, tasks).
    Count,
    /// A share, shown as a percentage.
    Ratio,
    /// Days.
    Days,
    /// PAR Index points.
    Points,
    /// A place in a ranking.
    Rank,
    /// Places gained (+) or lost (−).
    Change,
}

impl Expr {
    /// Parses `metric[.field] (+|- metric[.field])*`.
    pub(crate) fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut terms = Vec::new();
        let mut sign = 1;
        let mut expect_term = true;
        for token in text.split_whitespace() {
            match (token, expect_term) {
                ("+", false) => (sign, expect_term) = (1, true),
                ("-", false) => (sign, expect_term) = (-1, true),
                (_, true) => {
                    let (name, field) = match token.split_once('.') {
                        Some((name, field)) => (name, field),
                        None => (token, "value"),
                    };
                    let metric = parwatch_metrics::metric(name).ok_or_else(|| {
                        let known: Vec<&str> =
                            parwatch_metrics::METRICS.iter().map(|m| m.name).collect();
                        format!("unknown metric {name:?}; known: {}", known.join(", "))
                    })?;
                    let field = match field {
                        "value" => Field::Value,
                        "numerator" => Field::Numerator,
                        "denominator" => Field::Denominator,
                        "rest" => Field::Rest,
                        other => {
                            return Err(format!(
                                "unknown field {other:?} of {name}: use value, numerator, denominator or rest"
                            ));
                        }
                    };
                    if field != Field::Value && metric.unit != Unit::Ratio {
                        return Err(format!(
                            "{name} is not a share: it has only a value, no .{}",
                            token.split_once('.').map_or("", |(_, f)| f)
                        ));
                    }
                    terms.push(Term {
                        sign,
                        metric,
                        field,
                    });
                    expect_term = false;
                }
                (other, false) => {
                    return Err(format!("{text:?}: expected + or - before {other:?}"));
                }
            }
        }
        if expect_term {
            return Err(format!("{text:?}: expected a metric, e.g. \"received\""));
        }
        let expr = Self {
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            terms,
        };
        if expr.terms.len() > 1 && expr.terms.iter().any(|t| !t.is_count()) {
            return Err(format!(
                "{text:?}: only counts can be added or subtracted (a share or days cannot)"
            ));
        }
        Ok(expr)
    }

    /// How its value is shown.
    pub fn kind(&self) -> Kind {
        match self.terms.as_slice() {
            [t] if !t.is_count() && t.metric.unit == Unit::Days => Kind::Days,
            [t] if !t.is_count() => Kind::Ratio,
            _ => Kind::Count,
        }
    }
}

impl Term {
    /// Whether the term is a whole number of something.
    fn is_count(&self) -> bool {
        self.field != Field::Value || self.metric.unit == Unit::Dossiers
    }
}

/// What a table's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rows {
    /// One row per agency (only the report's agency in an agency report), and a total.
    Agency,
    /// One row per month of the period, and a total.
    Month,
    /// Agencies ranked on one metric over the period, with places gained or lost against the
    /// previous period of the same length.
    Ranking,
    /// The PAR Index of the period's year by component, with rank and places gained or lost.
    ParIndex,
}

/// One column of a metric table.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Heading.
    pub title: Text,
    /// The figure.
    pub value: Expr,
}

/// One table of a section.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Id, unique in its report.
    pub id: String,
    /// Title.
    pub title: Text,
    /// What its rows are.
    pub rows: Rows,
    /// Columns of an agency or month table.
    pub columns: Vec<Column>,
    /// The metric of a ranking.
    pub metric: Option<Expr>,
}

/// One section of a report: a heading, a paragraph with figures, tables.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Id, unique in its report.
    pub id: String,
    /// Heading.
    pub title: Text,
    /// Paragraph; `{name}` is replaced by the figure `name`.
    pub text: Option<Text>,
    /// Tables, in order.
    pub tables: Vec<Table>,
}

/// Which units a report's figures are counted in (`units` and `units_date` of a definition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Each figure under the agency that recorded it (the default).
    #[default]
    AsRecorded,
    /// Restated to the units of a date through the registry's lineage, as the API's
    /// `units=restated`: of `units_date`, or of the period's last day when it gives none.
    Restated(Option<NaiveDate>),
}

impl Units {
    /// The date the figures of a period ending `to` are restated to; `None` as recorded.
    pub fn date(self, to: NaiveDate) -> Option<NaiveDate> {
        match self {
            Units::AsRecorded => None,
            Units::Restated(date) => Some(date.unwrap_or(to)),
        }
    }
}

/// A report definition.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    /// Id: the file name without `.toml`.
    pub id: String,
    /// Title.
    pub title: Text,
    /// Whom it is about.
    pub subject: Subject,
    /// The issuing body, first line of the national document layout (e.g. `UBND TỈNH …`).
    pub issuer: Text,
    /// The document's symbol after its number (e.g. `BC-UBND`).
    pub symbol: String,
    /// Recipients (Nơi nhận).
    pub recipients: Vec<String>,
    /// For a public report (`public = true`), the smallest number of dossiers a cell shows
    /// (`min_dossiers`, default [`MIN_DOSSIERS`]): smaller cells, and those that would give
    /// them back, are suppressed in every output. `None`: an internal report, shown whole.
    pub public: Option<u32>,
    /// Figures over the whole period, by name, for the texts.
    pub figures: BTreeMap<String, Expr>,
    /// The units every figure is counted in.
    pub units: Units,
    /// Sections, in order.
    pub sections: Vec<Section>,
    /// The file's text: publishing records it, so a report is reproduced by the definition
    /// it was published with.
    #[serde(skip)]
    pub source: String,
}

impl Definition {
    /// Every table, in order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.sections.iter().flat_map(|s| &s.tables)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionFile {
    title: Text,
    subject: Subject,
    issuer: Text,
    symbol: String,
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    public: bool,
    min_dossiers: Option<u32>,
    units: Option<String>,
    units_date: Option<String>,
    #[serde(default)]
    figures: BTreeMap<String, String>,
    sections: Vec<SectionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFile {
    id: String,
    title: Text,
    text: Option<Text>,
    #[serde(default)]
    tables: Vec<TableFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    id: String,
    title: Text,
    rows: Rows,
    #[serde(default)]
    columns: Vec<ColumnFile>,
    metric: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    title: Text,
    value: String,
}

/// Lower-case letters, digits, `-` and `_`: what ids in URLs and file names may hold.
pub(crate) fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The `{name}` placeholders of `text`, or what is wrong with its braces.
pub(crate) fn placeholders(text: &str) -> std::result::Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a } without its {".to_owned());
        }
        let after = &rest[open + 1..];
        let close = after
            .find(['{', '}'])
            .filter(|&c| after[c..].starts_with('}'))
            .ok_or_else(|| "a { without its }".to_owned())?;
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Parses and checks one file's text.
pub fn parse(id: &str, file: &str, text: &str) -> Result<Definition> {
    let file_error = |message: String| Error::Definition {
        file: file.to_owned(),
        message,
    };
    if !is_id(id) {
        return Err(file_error(format!(
            "the file name {id:?} is the report's id: use lower-case letters, digits, - and _"
        )));
    }
    let raw: DefinitionFile = toml::from_str(text).map_err(|e| file_error(e.to_string()))?;
    raw.title.check("title").map_err(file_error)?;
    raw.issuer.check("issuer").map_err(file_error)?;
    if raw.symbol.trim().is_empty() {
        return Err(file_error(
            "symbol: give the document's symbol, e.g. \"BC-UBND\"".to_owned(),
        ));
    }
    let public = match (raw.public, raw.min_dossiers) {
        (false, None) => None,
        (false, Some(_)) => {
            return Err(file_error(
                "min_dossiers applies to public reports: add public = true".to_owned(),
            ));
        }
        (true, Some(k)) if !(2..=1000).contains(&k) => {
            return Err(file_error(format!(
                "min_dossiers = {k}: give 2 to 1000 (the default is {MIN_DOSSIERS})"
            )));
        }
        (true, k) => Some(k.unwrap_or(MIN_DOSSIERS)),
    };
    let units_date = raw
        .units_date
        .as_deref()
        .map(|d| {
            d.parse::<NaiveDate>()
                .map_err(|_| file_error(format!("units_date = {d:?}: give YYYY-MM-DD")))
        })
        .transpose()?;
    let units = match (raw.units.as_deref(), units_date) {
        (None | Some("as_recorded"), None) => Units::AsRecorded,
        (None | Some("as_recorded"), Some(_)) => {
            return Err(file_error(
                "units_date applies to restated figures: add units = \"restated\"".to_owned(),
            ));
        }
        // Restated cells beside a recorded report's could give back what disclosure control
        // withholds (as embeds, which are as recorded only).
        (Some("restated"), _) if public.is_some() => {
            return Err(file_error(
                "units = \"restated\" applies to internal reports: a public report is as recorded"
                    .to_owned(),
            ));
        }
        (Some("restated"), date) => Units::Restated(date),
        (Some(other), _) => {
            return Err(file_error(format!(
                "units = {other:?}: give \"as_recorded\" or \"restated\""
            )));
        }
    };
    let mut figures = BTreeMap::new();
    for (name, value) in &raw.figures {
        if !is_id(name) || BUILT_IN_PLACEHOLDERS.contains(&name.as_str()) {
            return Err(file_error(format!(
                "figure {name:?}: use lower-case letters, digits, - and _, and not {}",
                BUILT_IN_PLACEHOLDERS.join(", ")
            )));
        }
        let expr = Expr::parse(value).map_err(|m| file_error(format!("figure {name}: {m}")))?;
        figures.insert(name.clone(), expr);
    }
    if raw.sections.is_empty() {
        return Err(file_error("no [[sections]]".to_owned()));
    }
    let mut sections: Vec<Section> = Vec::with_capacity(raw.sections.len());
    let mut table_ids: Vec<String> = Vec::new();
    for s in raw.sections {
        let section_error = |message: String| Error::Section {
            file: file.to_owned(),
            section: s.id.clone(),
            message,
        };
        if !is_id(&s.id) || sections.iter().any(|o| o.id == s.id) {
            return Err(section_error(
                "id: unique, lower-case letters, digits, - and _".to_owned(),
            ));
        }
        s.title.check("title").map_err(section_error)?;
        if let Some(text) = &s.text {
            text.check("text").map_err(section_error)?;
            for (lang, t) in [("vi", &text.vi), ("en", &text.en)] {
                let names =
                    placeholders(t).map_err(|m| section_error(format!("text.{lang}: {m}")))?;
                if let Some(unknown) = names
                    .iter()
                    .find(|n| !figures.contains_key(**n) && !BUILT_IN_PLACEHOLDERS.contains(n))
                {
                    let mut known: Vec<&str> = figures.keys().map(String::as_str).collect();
                    known.extend(BUILT_IN_PLACEHOLDERS);
                    return Err(section_error(format!(
                        "text.{lang}: placeholder {{{unknown}}} names no figure; known: {}",
                        known.join(", ")
                    )));
                }
            }
        }
        let mut tables = Vec::with_capacity(s.tables.len());
        for t in s.tables {
            let table_error = |message: String| Error::Table {
                file: file.to_owned(),
                section: s.id.clone(),
                table: t.id.clone(),
                message,
            };
            if !is_id(&t.id) || table_ids.contains(&t.id) {
                return Err(table_error(
                    "id: unique in the report, lower-case letters, digits, - and _".to_owned(),
                ));
            }
            table_ids.push(t.id.clone());
            t.title.check("title").map_err(table_error)?;
            let metric = match (t.rows, &t.metric) {
                (Rows::Ranking, Some(m)) => {
                    let expr = Expr::parse(m).map_err(table_error)?;
                    if expr.terms.len() != 1 || expr.terms[0].field != Field::Value {
                        return Err(table_error(
                            "metric: a ranking ranks one metric's value, e.g. \"on_time_rate\""
                                .to_owned(),
                        ));
                    }
                    Some(expr)
                }
                (Rows::Ranking, None) => {
                    return Err(table_error("a ranking needs metric = \"...\"".to_owned()));
                }
                (_, Some(_)) => {
                    return Err(table_error(
                        "metric belongs to a ranking; give columns instead".to_owned(),
                    ));
                }
                (_, None) => None,
            };
            let columns = match t.rows {
                Rows::Agency | Rows::Month if t.columns.is_empty() => {
                    return Err(table_error("no columns".to_owned()));
                }
                Rows::Agency | Rows::Month => t
                    .columns
                    .into_iter()
                    .map(|c| {
                        c.title.check("column title")?;
                        let value = Expr::parse(&c.value)
                            .map_err(|m| format!("column {:?}: {m}", c.title.en))?;
                        Ok(Column {
                            title: c.title,
                            value,
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, String>>()
                    .map_err(table_error)?,
                Rows::Ranking | Rows::ParIndex if !t.columns.is_empty() => {
                    return Err(table_error(
                        "a ranking or PAR Index table has fixed columns; remove columns".to_owned(),
                    ));
                }
                Rows::Ranking | Rows::ParIndex => Vec::new(),
            };
            tables.push(Table {
                id: t.id,
                title: t.title,
                rows: t.rows,
                columns,
                metric,
            });
        }
        sections.push(Section {
            id: s.id,
            title: s.title,
            text: s.text,
            tables,
        });
    }
    Ok(Definition {
        id: id.to_owned(),
        title: raw.title,
        subject: raw.subject,
        issuer: raw.issuer,
        symbol: raw.symbol,
        recipients: raw.recipients,
        public,
        figures,
        units,
        sections,
        source: text.to_owned(),
    })
}

/// The checked report definitions, by id.
#[derive(Debug, Clone)]
pub struct Catalogue {
    reports: BTreeMap<String, Definition>,
}

impl Catalogue {
    /// The definitions built into the binary (the repository's `reports/`).
    pub fn builtin() -> Result<Self> {
        let reports = BUILT_IN
            .iter()
            .map(|(id, text)| {
                Ok((
                    (*id).to_owned(),
                    parse(id, &format!("built-in {id}.toml"), text)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self { reports })
    }

    /// The definitions of `dir` ([`Catalogue::load`]), or the built-in ones without a
    /// directory: the one way the server and the CLI read them.
    pub fn open(dir: Option<&Path>) -> Result<Self> {
        match dir {
            Some(dir) => Self::load(dir),
            None => Self::builtin(),
        }
    }

    /// Every `*.toml` of `dir`, each checked; any mistake is an error naming the file.
    pub fn load(dir: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut reports = BTreeMap::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(io)?;
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        {
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            reports.insert(
                id.to_owned(),
                parse(id, &path.display().to_string(), &text)?,
            );
        }
        if reports.is_empty() {
            return Err(Error::Definition {
                file: dir.display().to_string(),
                message: "no *.toml report definitions".to_owned(),
            });
        }
        Ok(Self { reports })
    }

    /// One definition by id.
    pub fn get(&self, id: &str) -> Result<&Definition> {
        self.reports
            .get(id)
            .ok_or_else(|| Error::UnknownReport(id.to_owned()))
    }

    /// Every definition, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.reports.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
title = { vi = "Báo cáo", en = "Report" }
subject = "province"
issuer = { vi = "UBND TỈNH", en = "PROVINCIAL PEOPLE'S COMMITTEE" }
symbol = "BC-UBND"
[figures]
received = "received"
counter = "received - online_uptake.numerator - postal_share.numerator"
[[sections]]
id = "dossiers"
title = { vi = "Hồ sơ", en = "Dossiers" }
text = { vi = "Tiếp nhận {received} hồ sơ trong {period}.", en = "{received} dossiers received in {period}." }
[[sections.tables]]
id = "by_agency"
title = { vi = "Theo cơ quan", en = "By agency" }
rows = "agency"
columns = [{ title = { vi = "Tiếp nhận", en = "Received" }, value = "received" }]
"#;

    fn error_of(text: &str) -> String {
        parse("r", "r.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_reports_are_valid() {
        let catalogue = Catalogue::builtin().unwrap();
        let ids: Vec<&str> = catalogue.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["department", "province", "public"]);
        assert_eq!(catalogue.get("public").unwrap().public, Some(5));
        assert_eq!(catalogue.get("province").unwrap().public, None);
        assert_eq!(
            catalogue.get("department").unwrap().subject,
            Subject::Agency
        );
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reports");
        assert_eq!(Catalogue::load(&repo).unwrap().iter().count(), 3);
    }

    #[test]
    fn units_are_as_recorded_or_restated_to_a_date_or_the_periods_end() {
        let to = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        let with = |lines: &str| {
            GOOD.replace(
                "symbol = \"BC-UBND\"",
                &format!("symbol = \"BC-UBND\"\n{lines}"),
            )
        };
        let units = |lines: &str| parse("r", "r.toml", &with(lines)).unwrap().units;
        assert_eq!(units(""), Units::AsRecorded);
        assert_eq!(units("").date(to), None);
        assert_eq!(units("units = \"restated\"").date(to), Some(to));
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let restated = units("units = \"restated\"\nunits_date = \"2026-01-01\"");
        assert_eq!(
            (restated, restated.date(to)),
            (Units::Restated(Some(date)), Some(date))
        );
        for (lines, error) in [
            ("units_date = \"2026-01-01\"", "add units = \"restated\""),
            ("units = \"today\"", "units = \"today\""),
            (
                "units = \"restated\"\nunits_date = \"2026-13-01\"",
                "YYYY-MM-DD",
            ),
            ("units = \"restated\"\npublic = true", "internal reports"),
        ] {
            let e = error_of(&with(lines));
            assert!(e.contains(error), "{lines}: {e}");
        }
    }

    #[test]
    fn a_good_file_reads_with_its_figures() {
        let d = parse("r", "r.toml", GOOD).unwrap();
        assert_eq!(d.figures["counter"].terms.len(), 3);
        assert_eq!(d.figures["counter"].terms[1].sign, -1);
        assert_eq!(d.figures["counter"].kind(), Kind::Count);
        assert_eq!(d.tables().count(), 1);
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                GOOD.replace("value = \"received\"", "value = \"recieved\""),
                "unknown metric \"recieved\"",
            ),
            (
                GOOD.replace("{received} dossiers", "{recieved} dossiers"),
                "text.en: placeholder {recieved} names no figure",
            ),
            (
                GOOD.replace("trong {period}.", "trong {period."),
                "text.vi: a { without its }",
            ),
            (
                GOOD.replace("= \"received\"\n", "= \"received.numerator\"\n"),
                "received is not a share",
            ),
            (
                GOOD.replace("- postal_share.numerator", "- postal_share"),
                "only counts can be added",
            ),
            (
                GOOD.replace("- postal_share.numerator", "- postal_share.ratio"),
                "unknown field \"ratio\"",
            ),
            (
                GOOD.replace("rows = \"agency\"", "rows = \"ranking\""),
                "a ranking needs metric",
            ),
            (
                GOOD.replace("rows = \"agency\"", "rows = \"district\""),
                "unknown variant `district`",
            ),
            (
                GOOD.replace("en = \"Dossiers\"", "en = \"\""),
                "section \"dossiers\": title: both vi and en",
            ),
            (
                GOOD.replace("symbol = \"BC-UBND\"", "symbol = \"BC-UBND\"\ncolour = 1"),
                "unknown field `colour`",
            ),
            (
                GOOD.replace(
                    "symbol = \"BC-UBND\"",
                    "symbol = \"BC-UBND\"\nmin_dossiers = 3",
                ),
                "min_dossiers applies to public reports: add public = true",
            ),
            (
                GOOD.replace(
                    "symbol = \"BC-UBND\"",
                    "symbol = \"BC-UBND\"\npublic = true\nmin_dossiers = 1",
                ),
                "min_dossiers = 1: give 2 to 1000",
            ),
        ];
        for (text, expected) in cases {
            let err = error_of(&text);
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
            assert!(err.starts_with("r.toml"), "{err}");
        }
        let err = error_of(&GOOD.replace(
            "id = \"by_agency\"",
            "id = \"by_agency\"\nmetric = \"received\"",
        ));
        assert!(err.contains("table \"by_agency\""), "{err}");
    }

    #[test]
    fn placeholders_are_found() {
        assert_eq!(placeholders("a {x} b {y}").unwrap(), ["x", "y"]);
        assert!(placeholders("a } b").is_err());
        assert!(placeholders("a {x b").is_err());
        assert!(placeholders("a {x {y} b").is_err());
    }
}
