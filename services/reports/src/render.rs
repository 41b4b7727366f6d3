//! Figures of a report at one lake version: every named figure, every table cell, and the
//! texts with their placeholders filled, read from the projections of that version through
//! the methods the metric endpoints answer from (`summary`, `series`, `ranking`, `par_index`).
//! The same definition, period and version give the same bytes: nothing here reads the clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use parwatch_metrics::{Bucket, MetricDef, Point};
use parwatch_scoring::Models;
use serde::{Deserialize, Serialize};

use crate::definition::{Definition, Expr, Field, Kind, Rows, Subject, Table, Text, placeholders};
use crate::period::Period;
use crate::{Error, Result};

/// What report figures are read from: the projections of one version of `events`.
pub type View = parwatch_metrics::Rollups;

/// What a report is run for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    /// The period covered.
    pub period: Period,
    /// The agency of an agency report; none for a province report.
    pub agency: Option<String>,
}

impl Ask {
    /// Checks the ask against the definition's subject.
    pub fn check(&self, definition: &Definition) -> Result<()> {
        match (definition.subject, &self.agency) {
            (Subject::Agency, None) => Err(Error::BadAsk(format!(
                "report {} is about one agency: give agency=CODE",
                definition.id
            ))),
            (Subject::Province, Some(_)) => Err(Error::BadAsk(format!(
                "report {} covers the whole province: give no agency",
                definition.id
            ))),
            _ => Ok(()),
        }
    }
}

/// A column heading of a rendered table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heading {
    /// Heading text.
    pub title: Text,
    /// How its cells are shown.
    pub kind: Kind,
}

/// One row of a rendered table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The agency code, the month (`2025-01`) or `total`.
    pub key: String,
    /// One value per column; null where there is nothing to measure.
    pub cells: Vec<Option<f64>>,
}

/// A rendered table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableFigures {
    /// Id in its report.
    pub id: String,
    /// Title.
    pub title: Text,
    /// What its rows are.
    pub rows: Rows,
    /// Column headings (the row key is the first column, not listed).
    pub columns: Vec<Heading>,
    /// Rows, in order.
    pub lines: Vec<Line>,
}

/// A rendered section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionFigures {
    /// Id in its report.
    pub id: String,
    /// Heading.
    pub title: Text,
    /// The paragraph with its figures written in.
    pub text: Option<Text>,
    /// Tables.
    pub tables: Vec<TableFigures>,
}

/// A named figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// How it is shown.
    pub kind: Kind,
    /// Its value; null where there is nothing to measure.
    pub value: Option<f64>,
}

/// Every figure of a report run at one version: what publishing freezes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The report's id.
    pub report: String,
    /// Its title.
    pub title: Text,
    /// Period and agency.
    #[serde(flatten)]
    pub ask: Ask,
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// The Delta version of `events` read.
    pub lake_version: u64,
    /// Named figures over the whole period.
    pub figures: BTreeMap<String, Figure>,
    /// Sections with their tables.
    pub sections: Vec<SectionFigures>,
}

impl Figures {
    /// The canonical bytes of the figures (JSON, keys in a fixed order): equal bytes, equal
    /// report.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("figures serialize")
    }

    /// A short fingerprint of [`Figures::canonical`] (xxh3-128, hex). Compare a run with a
    /// published report by this (the record's `digest`, computed before it was written):
    /// figures read back from the record's JSON may differ in a float's last bit.
    pub fn digest(&self) -> String {
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&self.canonical()))
    }

    /// Every table, in order.
    pub fn tables(&self) -> impl Iterator<Item = &TableFigures> {
        self.sections.iter().flat_map(|s| &s.tables)
    }
}

/// One figure of a metric's point.
fn part(point: &Point, field: Field) -> Option<f64> {
    match field {
        Field::Value => point.value,
        Field::Numerator => point.numerator.map(|n| n as f64),
        Field::Denominator => point.denominator.map(|n| n as f64),
        Field::Rest => Some((point.denominator? - point.numerator?) as f64),
    }
}

/// Evaluates `expr` with `point` giving each term's metric's point.
fn eval(expr: &Expr, point: impl Fn(&'static MetricDef) -> Option<Point>) -> Option<f64> {
    if let [term] = expr.terms.as_slice() {
        return part(&point(term.metric)?, term.field);
    }
    let mut sum = 0.0;
    for term in &expr.terms {
        sum += term.sign as f64 * part(&point(term.metric)?, term.field)?;
    }
    Some(sum)
}

/// Renders `definition` for `ask` from `view`, the projections of version `lake_version`.
pub fn render(
    definition: &Definition,
    ask: &Ask,
    view: &View,
    lake_version: u64,
    models: &Models,
) -> Result<Figures> {
    ask.check(definition)?;
    let (from, to) = (ask.period.from(), ask.period.to());
    let agency = ask.agency.as_deref();
    let mut totals: BTreeMap<&'static str, Point> = BTreeMap::new();
    let mut total = |m: &'static MetricDef| -> Result<Point> {
        if let Some(p) = totals.get(m.name) {
            return Ok(p.clone());
        }
        let p = view.summary(m, from, to, agency)?;
        totals.insert(m.name, p.clone());
        Ok(p)
    };
    let mut figures = BTreeMap::new();
    for (name, expr) in &definition.figures {
        let points = points_of(expr, &mut total)?;
        let value = eval(expr, |m| points.get(m.name).cloned());
        figures.insert(
            name.clone(),
            Figure {
                kind: expr.kind(),
                value,
            },
        );
    }
    let mut sections = Vec::with_capacity(definition.sections.len());
    for section in &definition.sections {
        let tables = section
            .tables
            .iter()
            .map(|t| table(t, ask, view, models, &mut total))
            .collect::<Result<Vec<_>>>()?;
        let text = section.text.as_ref().map(|t| Text {
            vi: fill(&t.vi, Lang::Vi, ask, &figures),
            en: fill(&t.en, Lang::En, ask, &figures),
        });
        sections.push(SectionFigures {
            id: section.id.clone(),
            title: section.title.clone(),
            text,
            tables,
        });
    }
    Ok(Figures {
        report: definition.id.clone(),
        title: definition.title.clone(),
        ask: ask.clone(),
        from,
        to,
        lake_version,
        figures,
        sections,
    })
}

/// The points of the metrics of `expr`, by name.
fn points_of(
    expr: &Expr,
    point: &mut impl FnMut(&'static MetricDef) -> Result<Point>,
) -> Result<BTreeMap<&'static str, Point>> {
    expr.terms
        .iter()
        .map(|t| Ok((t.metric.name, point(t.metric)?)))
        .collect()
}

fn table(
    table: &Table,
    ask: &Ask,
    view: &View,
    models: &Models,
    total: &mut impl FnMut(&'static MetricDef) -> Result<Point>,
) -> Result<TableFigures> {
    let (from, to) = (ask.period.from(), ask.period.to());
    let agency = ask.agency.as_deref();
    let headings = || {
        table
            .columns
            .iter()
            .map(|c| Heading {
                title: c.title.clone(),
                kind: c.value.kind(),
            })
            .collect::<Vec<_>>()
    };
    let metrics: BTreeSet<&'static str> = table
        .columns
        .iter()
        .flat_map(|c| c.value.terms.iter().map(|t| t.metric.name))
        .collect();
    let metric = |name: &str| parwatch_metrics::metric(name).expect("a checked metric");
    let total_line = |total: &mut dyn FnMut(&'static MetricDef) -> Result<Point>| -> Result<Line> {
        let points: BTreeMap<&str, Point> = metrics
            .iter()
            .map(|m| Ok((*m, total(metric(m))?)))
            .collect::<Result<_>>()?;
        Ok(Line {
            key: "total".to_owned(),
            cells: table
                .columns
                .iter()
                .map(|c| eval(&c.value, |m| points.get(m.name).cloned()))
                .collect(),
        })
    };
    let (columns, lines) = match table.rows {
        Rows::Agency => {
            // One ranking per metric gives every agency's sums over the period in one pass.
            let mut by_agency: BTreeMap<String, BTreeMap<&str, Point>> = BTreeMap::new();
            for name in &metrics {
                for row in view.ranking(metric(name), from, to)?.rows {
                    if agency.is_some_and(|a| a != row.agency_code) {
                        continue;
                    }
                    let point = Point {
                        bucket: from,
                        value: row.value,
                        numerator: row.numerator,
                        denominator: row.denominator,
                    };
                    by_agency
                        .entry(row.agency_code)
                        .or_default()
                        .insert(name, point);
                }
            }
            let mut lines: Vec<Line> = by_agency
                .into_iter()
                .map(|(code, points)| Line {
                    cells: table
                        .columns
                        .iter()
                        .map(|c| eval(&c.value, |m| points.get(m.name).cloned()))
                        .collect(),
                    key: code,
                })
                .collect();
            lines.push(total_line(total)?);
            (headings(), lines)
        }
        Rows::Month => {
            let mut by_month: BTreeMap<NaiveDate, BTreeMap<&str, Point>> = BTreeMap::new();
            for name in &metrics {
                let series = view.series(metric(name), from, to, Bucket::Month, agency, false)?;
                for point in series.into_iter().flat_map(|s| s.points) {
                    by_month
                        .entry(point.bucket)
                        .or_default()
                        .insert(name, point);
                }
            }
            let mut lines: Vec<Line> = ask
                .period
                .month_starts()
                .into_iter()
                .map(|month| {
                    let points = by_month.get(&month);
                    Line {
                        key: month.format("%Y-%m").to_string(),
                        cells: table
                            .columns
                            .iter()
                            .map(|c| eval(&c.value, |m| points?.get(m.name).cloned()))
                            .collect(),
                    }
                })
                .collect();
            lines.push(total_line(total)?);
            (headings(), lines)
        }
        Rows::Ranking => {
            let expr = table
                .metric
                .as_ref()
                .expect("a checked ranking has a metric");
            let ranking = view.ranking(expr.terms[0].metric, from, to)?;
            let ranked = ranking.rows.iter().filter(|r| r.rank.is_some()).count() as f64;
            let lines = ranking
                .rows
                .into_iter()
                .filter(|r| agency.is_none_or(|a| a == r.agency_code))
                .map(|r| Line {
                    cells: vec![
                        r.rank.map(f64::from),
                        Some(ranked),
                        r.value,
                        r.previous_rank.map(f64::from),
                        r.change.map(|c| c as f64),
                    ],
                    key: r.agency_code,
                })
                .collect();
            let columns = vec![
                heading("Hạng", "Rank", Kind::Rank),
                heading("Số cơ quan xếp hạng", "Agencies ranked", Kind::Count),
                Heading {
                    title: table.title.clone(),
                    kind: expr.kind(),
                },
                heading("Hạng kỳ trước", "Previous rank", Kind::Rank),
                heading(
                    "Tăng (+) / giảm (−) bậc",
                    "Places gained (+) or lost (−)",
                    Kind::Change,
                ),
            ];
            (columns, lines)
        }
        Rows::ParIndex => par_table(ask, view, models),
    };
    Ok(TableFigures {
        id: table.id.clone(),
        title: table.title.clone(),
        rows: table.rows,
        columns,
        lines,
    })
}

fn heading(vi: &str, en: &str, kind: Kind) -> Heading {
    Heading {
        title: Text {
            vi: vi.to_owned(),
            en: en.to_owned(),
        },
        kind,
    }
}

/// The PAR Index of the period's year, as it stood at the period's end: one column per
/// component (those of every agency's rubric, in rubric order), then the index, its maximum,
/// rank, agencies ranked, the previous year's rank and places gained or lost.
fn par_table(ask: &Ask, view: &View, models: &Models) -> (Vec<Heading>, Vec<Line>) {
    let index = view.par_index(models, ask.period.year(), ask.period.to());
    let mut components: Vec<(String, Heading)> = Vec::new();
    for a in &index.agencies {
        for c in &a.components {
            if !components.iter().any(|(code, _)| *code == c.code) {
                let title = Text {
                    vi: c.name.clone(),
                    en: c.name_en.clone().unwrap_or_else(|| c.name.clone()),
                };
                components.push((
                    c.code.clone(),
                    Heading {
                        title,
                        kind: Kind::Points,
                    },
                ));
            }
        }
    }
    let lines = index
        .agencies
        .iter()
        .filter(|a| {
            ask.agency
                .as_deref()
                .is_none_or(|code| code == a.agency_code)
        })
        .map(|a| {
            let mut cells: Vec<Option<f64>> = components
                .iter()
                .map(|(code, _)| {
                    a.components
                        .iter()
                        .find(|c| c.code == *code)
                        .map(|c| c.score)
                })
                .collect();
            cells.extend([
                Some(a.index),
                Some(a.max),
                Some(f64::from(a.rank)),
                Some(f64::from(a.of)),
                a.previous_rank.map(f64::from),
                a.change.map(|c| c as f64),
            ]);
            Line {
                key: a.agency_code.clone(),
                cells,
            }
        })
        .collect();
    let mut columns: Vec<Heading> = components.into_iter().map(|(_, h)| h).collect();
    columns.extend([
        heading("Chỉ số CCHC", "PAR Index", Kind::Points),
        heading("Điểm tối đa", "Maximum", Kind::Points),
        heading("Xếp hạng", "Rank", Kind::Rank),
        heading("Số cơ quan xếp hạng", "Agencies ranked", Kind::Count),
        heading("Hạng năm trước", "Previous year's rank", Kind::Rank),
        heading(
            "Tăng (+) / giảm (−) bậc",
            "Places gained (+) or lost (−)",
            Kind::Change,
        ),
    ]);
    (columns, lines)
}

/// The language a text is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Vietnamese: `1.234`, `97,3%`.
    Vi,
    /// English: `1,234`, `97.3%`.
    En,
}

/// `value` as `kind` is written in `lang`; `–` for nothing to measure.
pub fn format_value(value: Option<f64>, kind: Kind, lang: Lang) -> String {
    let Some(v) = value else {
        return "–".to_owned();
    };
    let (thousands, decimal) = match lang {
        Lang::Vi => ('.', ','),
        Lang::En => (',', '.'),
    };
    let grouped = |n: i64| {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(thousands);
            }
            out.push(d);
        }
        if n < 0 { format!("-{out}") } else { out }
    };
    let decimals = |v: f64, places: usize| {
        let text = format!("{v:.places$}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let int: i64 = int.parse().unwrap_or_default();
        let sign = if v < 0.0 && int == 0 { "-" } else { "" };
        match frac {
            "" => format!("{sign}{}", grouped(int)),
            frac => format!("{sign}{}{decimal}{frac}", grouped(int)),
        }
    };
    match kind {
        Kind::Count | Kind::Rank => grouped(v.round() as i64),
        Kind::Change => match v.round() as i64 {
            n if n > 0 => format!("+{n}"),
            n => n.to_string(),
        },
        Kind::Ratio => format!("{}%", decimals(v * 100.0, 1)),
        Kind::Days => decimals(v, 1),
        Kind::Points => decimals(v, 2),
    }
}

/// `text` with each `{name}` replaced by the figure `name` written in `lang`.
fn fill(text: &str, lang: Lang, ask: &Ask, figures: &BTreeMap<String, Figure>) -> String {
    let mut out = text.to_owned();
    let names = placeholders(text).unwrap_or_default();
    let (vi, en) = ask.period.label();
    for name in names {
        let value = match name {
            "period" => match lang {
                Lang::Vi => vi.clone(),
                Lang::En => en.clone(),
            },
            "agency" => ask.agency.clone().unwrap_or_default(),
            "from" => ask.period.from().format("%d/%m/%Y").to_string(),
            "to" => ask.period.to().format("%d/%m/%Y").to_string(),
            name => figures
                .get(name)
                .map(|f| format_value(f.value, f.kind, lang))
                .unwrap_or_default(),
        };
        out = out.replacen(&format!("{{{name}}}"), &value, 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_each_language_writes_them() {
        let cases = [
            (Some(1234567.0), Kind::Count, "1.234.567", "1,234,567"),
            (Some(0.973), Kind::Ratio, "97,3%", "97.3%"),
            (Some(87.303), Kind::Points, "87,30", "87.30"),
            (Some(6.0), Kind::Change, "+6", "+6"),
            (Some(-2.0), Kind::Change, "-2", "-2"),
            (Some(12.25), Kind::Days, "12,2", "12.2"),
            (None, Kind::Ratio, "–", "–"),
            (Some(-1234.0), Kind::Count, "-1.234", "-1,234"),
        ];
        for (value, kind, vi, en) in cases {
            assert_eq!(format_value(value, kind, Lang::Vi), vi);
            assert_eq!(format_value(value, kind, Lang::En), en);
        }
    }
}
