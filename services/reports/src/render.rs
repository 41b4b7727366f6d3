//! Figures of a report at one lake version: every named figure, every table cell, and the
//! texts with their placeholders filled, read from the projections of that version through
//! the methods the metric endpoints answer from (`summary`, `series`, `ranking`, `par_index`),
//! as recorded or restated to the units of a date as the definition says (the same
//! [`parwatch_metrics::InUnits`] the API reads).
//! The same definition, period and version give the same bytes: nothing here reads the clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use parwatch_metrics::{Bucket, InUnits, MetricDef, Point};
use parwatch_scoring::Models;
use serde::{Deserialize, Serialize};

use crate::definition::{Definition, Expr, Field, Kind, Rows, Subject, Table, Text, placeholders};
use crate::disclosure::{Cell, Grid, Quantity};
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
    /// One value per column; null where there is nothing to measure, or suppressed.
    pub cells: Vec<Option<f64>>,
    /// The columns (0-based, as `cells`) suppressed by a public report's disclosure control:
    /// their cells are null. Absent when none is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<usize>,
}

impl Line {
    fn new(key: String, cells: Vec<Option<f64>>) -> Self {
        Self {
            key,
            cells,
            suppressed: Vec::new(),
        }
    }

    /// Whether the cell of column `column` is suppressed.
    pub fn is_suppressed(&self, column: usize) -> bool {
        self.suppressed.contains(&column)
    }
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
    /// Its value; null where there is nothing to measure, or suppressed.
    pub value: Option<f64>,
    /// Suppressed by a public report's disclosure control (its value is null).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// How a public report's small cells were suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// Cells of fewer dossiers than this are suppressed, and the cells that would give them
    /// back.
    pub min_dossiers: u32,
    /// How many cells and figures were suppressed.
    pub suppressed: usize,
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
    /// The date whose units the figures are restated to (the definition's `units =
    /// "restated"`); absent: as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units_date: Option<NaiveDate>,
    /// Named figures over the whole period.
    pub figures: BTreeMap<String, Figure>,
    /// Sections with their tables.
    pub sections: Vec<SectionFigures>,
    /// A public report's disclosure control; absent for an internal report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<Disclosure>,
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

/// The numerator and denominator behind a share's value, for disclosure control.
fn ratio_parts(expr: &Expr, point: impl Fn(&'static MetricDef) -> Option<Point>) -> Parts {
    match expr.terms.as_slice() {
        [t] if t.field == Field::Value && t.metric.unit == parwatch_metrics::Unit::Ratio => {
            let p = point(t.metric)?;
            Some((p.numerator? as f64, p.denominator? as f64))
        }
        _ => None,
    }
}

/// A share's numerator and denominator.
type Parts = Option<(f64, f64)>;

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
    let units_date = definition.units.date(to);
    let view = &view.in_units(units_date);
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
    let mut figure_parts = BTreeMap::new();
    for (name, expr) in &definition.figures {
        let points = points_of(expr, &mut total)?;
        let value = eval(expr, |m| points.get(m.name).cloned());
        figure_parts.insert(
            name.as_str(),
            ratio_parts(expr, |m| points.get(m.name).cloned()),
        );
        figures.insert(
            name.clone(),
            Figure {
                kind: expr.kind(),
                value,
                suppressed: false,
            },
        );
    }
    let mut sections = Vec::with_capacity(definition.sections.len());
    let mut table_parts = Vec::new();
    for section in &definition.sections {
        let mut tables = Vec::with_capacity(section.tables.len());
        for t in &section.tables {
            let (figures, parts) = table(t, ask, view, models, &mut total)?;
            tables.push(figures);
            table_parts.push(parts);
        }
        sections.push(SectionFigures {
            id: section.id.clone(),
            title: section.title.clone(),
            text: section.text.clone(),
            tables,
        });
    }
    let disclosure = definition.public.map(|k| {
        let suppressed = protect(
            definition,
            &mut figures,
            &figure_parts,
            &mut sections,
            &table_parts,
            k,
        );
        Disclosure {
            min_dossiers: k,
            suppressed,
        }
    });
    for section in &mut sections {
        section.text = section.text.as_ref().map(|t| Text {
            vi: fill(&t.vi, Lang::Vi, ask, &figures),
            en: fill(&t.en, Lang::En, ask, &figures),
        });
    }
    Ok(Figures {
        report: definition.id.clone(),
        title: definition.title.clone(),
        ask: ask.clone(),
        from,
        to,
        lake_version,
        units_date,
        figures,
        sections,
        disclosure,
    })
}

/// Suppresses the small cells of a public report and those that would give them back (see
/// `disclosure.rs`); returns how many were suppressed.
fn protect(
    definition: &Definition,
    figures: &mut BTreeMap<String, Figure>,
    figure_parts: &BTreeMap<&str, Parts>,
    sections: &mut [SectionFigures],
    table_parts: &[Vec<Vec<Parts>>],
    k: u32,
) -> usize {
    let mut grid = Grid::default();
    // The named figures are the whole period's: the `total` row.
    let named: Vec<(&String, Option<Quantity>)> = definition
        .figures
        .iter()
        .map(|(name, expr)| (name, Quantity::of(expr)))
        .collect();
    let cells = named
        .iter()
        .filter_map(|(name, q)| {
            Some(Cell {
                quantity: q.clone()?,
                value: figures[*name].value,
                parts: figure_parts[name.as_str()],
            })
        })
        .collect();
    let named_nodes = grid.row("total", cells);
    let tables: Vec<&Table> = definition.tables().collect();
    let mut table_nodes = Vec::with_capacity(tables.len());
    for ((table, figures), parts) in tables
        .iter()
        .zip(sections.iter().flat_map(|s| &s.tables))
        .zip(table_parts)
    {
        // What each column shows: a metric table's expressions, a ranking's metric.
        let quantities: Vec<Option<Quantity>> = match table.rows {
            Rows::Agency | Rows::Month => table
                .columns
                .iter()
                .map(|c| Quantity::of(&c.value))
                .collect(),
            // Rank, agencies ranked, value, previous rank, change: only the value counts.
            Rows::Ranking => (0..figures.columns.len())
                .map(|c| match c {
                    2 => table.metric.as_ref().and_then(Quantity::of),
                    _ => None,
                })
                .collect(),
            Rows::ParIndex => Vec::new(),
        };
        let rows: Vec<Vec<(usize, Option<usize>)>> = figures
            .lines
            .iter()
            .zip(parts)
            .map(|(line, parts)| {
                let (columns, cells): (Vec<usize>, Vec<Cell>) = quantities
                    .iter()
                    .enumerate()
                    .filter_map(|(c, q)| {
                        Some((
                            c,
                            Cell {
                                quantity: q.clone()?,
                                value: line.cells[c],
                                parts: parts[c],
                            },
                        ))
                    })
                    .unzip();
                columns
                    .into_iter()
                    .zip(grid.row(&line.key, cells))
                    .collect()
            })
            .collect();
        if matches!(table.rows, Rows::Agency | Rows::Month) {
            for (c, q) in quantities.iter().enumerate() {
                if q.as_ref().is_some_and(Quantity::is_count) {
                    let column = rows
                        .iter()
                        .flat_map(|r| r.iter().filter(|(col, _)| *col == c))
                        .filter_map(|(_, node)| *node)
                        .collect();
                    grid.column(column);
                }
            }
        }
        table_nodes.push(rows);
    }
    let hidden = grid.solve(k);
    let mut count = 0;
    let named = named
        .iter()
        .filter(|(_, q)| q.is_some())
        .map(|(name, _)| name);
    for (name, node) in named.zip(&named_nodes) {
        if node.is_some_and(|n| hidden[n]) {
            let figure = figures.get_mut(*name).expect("a named figure");
            figure.value = None;
            figure.suppressed = true;
            count += 1;
        }
    }
    for (table, rows) in sections
        .iter_mut()
        .flat_map(|s| &mut s.tables)
        .zip(table_nodes)
    {
        for (line, nodes) in table.lines.iter_mut().zip(rows) {
            for (c, node) in nodes {
                if node.is_some_and(|n| hidden[n]) {
                    line.cells[c] = None;
                    line.suppressed.push(c);
                    count += 1;
                }
            }
        }
    }
    count
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
    view: &InUnits<'_>,
    models: &Models,
    total: &mut impl FnMut(&'static MetricDef) -> Result<Point>,
) -> Result<(TableFigures, Vec<Vec<Parts>>)> {
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
    // A row of a metric table from its metrics' points, with its shares' parts.
    let line = |key: String, points: Option<&BTreeMap<&str, Point>>| {
        let point = |m: &'static MetricDef| points?.get(m.name).cloned();
        let cells = table
            .columns
            .iter()
            .map(|c| eval(&c.value, point))
            .collect();
        let parts = table
            .columns
            .iter()
            .map(|c| ratio_parts(&c.value, point))
            .collect();
        (Line::new(key, cells), parts)
    };
    let total_line = |total: &mut dyn FnMut(&'static MetricDef) -> Result<Point>| {
        let points: BTreeMap<&str, Point> = metrics
            .iter()
            .map(|m| Ok((*m, total(metric(m))?)))
            .collect::<Result<_>>()?;
        Ok::<_, Error>(line("total".to_owned(), Some(&points)))
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
            let mut lines: Vec<(Line, Vec<Parts>)> = by_agency
                .into_iter()
                .map(|(code, points)| line(code, Some(&points)))
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
            let mut lines: Vec<(Line, Vec<Parts>)> = ask
                .period
                .month_starts()
                .into_iter()
                .map(|month| line(month.format("%Y-%m").to_string(), by_month.get(&month)))
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
                .map(|r| {
                    let point = Point {
                        bucket: from,
                        value: r.value,
                        numerator: r.numerator,
                        denominator: r.denominator,
                    };
                    let parts = ratio_parts(expr, |_| Some(point.clone()));
                    let cells = vec![
                        r.rank.map(f64::from),
                        Some(ranked),
                        r.value,
                        r.previous_rank.map(f64::from),
                        r.change.map(|c| c as f64),
                    ];
                    (
                        Line::new(r.agency_code, cells),
                        vec![None, None, parts, None, None],
                    )
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
        Rows::ParIndex => {
            let (columns, lines) = par_table(ask, view, models);
            let lines = lines
                .into_iter()
                .map(|l| {
                    let parts = vec![None; l.cells.len()];
                    (l, parts)
                })
                .collect();
            (columns, lines)
        }
    };
    let (lines, parts) = lines.into_iter().unzip();
    let figures = TableFigures {
        id: table.id.clone(),
        title: table.title.clone(),
        rows: table.rows,
        columns,
        lines,
    };
    Ok((figures, parts))
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
fn par_table(ask: &Ask, view: &InUnits<'_>, models: &Models) -> (Vec<Heading>, Vec<Line>) {
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
            Line::new(a.agency_code.clone(), cells)
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

/// What a suppressed cell or figure shows in texts and exports (the symbol statistical
/// offices use for confidential cells), explained by [`Disclosure::footnote`].
pub const SUPPRESSED: &str = "x";

impl Disclosure {
    /// The footnote that explains [`SUPPRESSED`] in `lang`.
    pub fn footnote(&self, lang: Lang) -> String {
        let k = self.min_dossiers;
        match lang {
            Lang::Vi => format!(
                "{SUPPRESSED}: số liệu không công bố để bảo vệ thông tin cá nhân (dưới {k} hồ sơ, \
                 hoặc ô được ẩn thêm để không suy ra được ô đã ẩn từ tổng số hay tỷ lệ)."
            ),
            Lang::En => format!(
                "{SUPPRESSED}: not published to protect personal information (fewer than {k} \
                 dossiers, or hidden as well so that totals and rates cannot give such a cell back)."
            ),
        }
    }
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
                .map(|f| match f.suppressed {
                    true => SUPPRESSED.to_owned(),
                    false => format_value(f.value, f.kind, lang),
                })
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
