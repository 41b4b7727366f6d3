//! What changed since a report was published: today's figures beside the published ones, cell
//! by cell, and for each difference the events ingested after publication that touch it — the
//! files the commits to `events` since the published version added with new rows
//! ([`parwatch_lake::Lake::changes`]; compaction's rewrites are not new rows), read for the
//! row's agency and dates, each with its dossier.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray as _, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use parwatch_lake::{EVENTS_TABLE, Lake};
use serde::Serialize;

use crate::definition::Text;
use crate::render::{Figures, Line, TableFigures};
use crate::store::Published;
use crate::{Error, Result};

/// Events named per difference, at most.
const CAUSES_PER_DIFFERENCE: usize = 50;

/// Columns of `events` read for a cause.
const COLUMNS: [&str; 7] = [
    "event_id",
    "type",
    "agency_code",
    "dossier_id",
    "occurred_at",
    "event_date",
    "ingested_at",
];

/// An event ingested after publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// The event's id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Its agency.
    pub agency_code: String,
    /// Its dossier, if it concerns one (`SELECT * FROM events WHERE dossier_id = …`).
    pub dossier_id: Option<String>,
    /// When it happened.
    pub occurred_at: String,
    /// Its local date.
    pub event_date: NaiveDate,
    /// When ParWatch stored it.
    pub ingested_at: String,
}

/// One cell whose figure moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The table.
    pub table: String,
    /// The row's key (agency code, month, `total`).
    pub row: String,
    /// The column's heading.
    pub column: Text,
    /// As published.
    pub published: Option<f64>,
    /// As it stands now.
    pub now: Option<f64>,
    /// Events ingested since publication for the row's agency and dates (for a row over every
    /// agency, any agency's), those dated in the row's dates; when none is, the agency's other
    /// events since (a late apology restates the month its dossier ran late in). At most 50.
    pub causes: Vec<Cause>,
    /// How many events matched, of which `causes` lists the first.
    pub causes_total: usize,
}

/// A published report beside its figures now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The published report's id.
    pub id: String,
    /// The version it read.
    pub published_version: u64,
    /// The version read now.
    pub current_version: u64,
    /// Differences of named figures (table `figures`, row the name).
    pub differences: Vec<Difference>,
    /// Events ingested since publication, any agency.
    pub events_since: usize,
    /// The figures now.
    pub now: Figures,
}

/// The dates a row covers, and its agency (`None`: every agency).
fn span<'a>(
    figures: &'a Figures,
    table: &TableFigures,
    line: &'a Line,
) -> (NaiveDate, NaiveDate, Option<&'a str>) {
    let agency = figures.ask.agency.as_deref();
    match (table.rows, line.key.as_str()) {
        (crate::Rows::Month, key) if key != "total" => {
            let from =
                NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").unwrap_or(figures.from);
            let to = from
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(figures.to);
            (from, to, agency)
        }
        (_, "total") => (figures.from, figures.to, agency),
        (crate::Rows::Month, _) => (figures.from, figures.to, agency),
        (_, code) => (figures.from, figures.to, Some(code)),
    }
}

/// Compares `published` with `now` (the same report rendered at a later version of `lake`)
/// and names the events behind each difference. Blocking.
pub fn compare(published: &Published, now: Figures, lake: &Lake) -> Result<Comparison> {
    let then = &published.figures;
    let events = events_since(lake, then.lake_version)?;
    let causes = |from: NaiveDate, to: NaiveDate, agency: Option<&str>| {
        let of_agency: Vec<&Cause> = events
            .iter()
            .filter(|e| agency.is_none_or(|a| a == e.agency_code))
            .collect();
        let dated: Vec<&Cause> = of_agency
            .iter()
            .copied()
            .filter(|e| (from..=to).contains(&e.event_date))
            .collect();
        let chosen = if dated.is_empty() { of_agency } else { dated };
        let total = chosen.len();
        let listed = chosen
            .into_iter()
            .take(CAUSES_PER_DIFFERENCE)
            .cloned()
            .collect();
        (listed, total)
    };
    let mut differences = Vec::new();
    for (name, figure) in &then.figures {
        let current = now.figures.get(name).and_then(|f| f.value);
        if !same(figure.value, current) {
            let (listed, total) = causes(then.from, then.to, then.ask.agency.as_deref());
            differences.push(Difference {
                table: "figures".to_owned(),
                row: name.clone(),
                column: Text {
                    vi: name.clone(),
                    en: name.clone(),
                },
                published: figure.value,
                now: current,
                causes: listed,
                causes_total: total,
            });
        }
    }
    let current_tables: BTreeMap<&str, &TableFigures> =
        now.tables().map(|t| (t.id.as_str(), t)).collect();
    for table in then.tables() {
        let current = current_tables.get(table.id.as_str());
        let now_lines: BTreeMap<&str, &Line> = current
            .map(|t| t.lines.iter().map(|l| (l.key.as_str(), l)).collect())
            .unwrap_or_default();
        // Rows published, and rows that appeared since (a new agency), in order.
        let mut keys: Vec<&str> = table.lines.iter().map(|l| l.key.as_str()).collect();
        let new: Vec<&str> = now_lines
            .keys()
            .copied()
            .filter(|k| !keys.contains(k))
            .collect();
        keys.extend(new);
        for key in keys {
            let before = table.lines.iter().find(|l| l.key == key);
            let after = now_lines.get(key);
            let line = before.or(after.copied()).expect("a key of either");
            for (i, heading) in table.columns.iter().enumerate() {
                let was = before.and_then(|l| l.cells.get(i).copied().flatten());
                let is = after.and_then(|l| l.cells.get(i).copied().flatten());
                if same(was, is) {
                    continue;
                }
                let (from, to, agency) = span(then, table, line);
                let (listed, total) = causes(from, to, agency);
                differences.push(Difference {
                    table: table.id.clone(),
                    row: key.to_owned(),
                    column: heading.title.clone(),
                    published: was,
                    now: is,
                    causes: listed,
                    causes_total: total,
                });
            }
        }
    }
    Ok(Comparison {
        id: published.id.clone(),
        published_version: then.lake_version,
        current_version: now.lake_version,
        differences,
        events_since: events.len(),
        now,
    })
}

/// Equal figures: both absent, or the same number. A record read back from its JSON may
/// differ from the figure published in the last bit (serde_json's default float parsing is
/// not exact), which is no change.
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
        (None, None) => true,
        _ => false,
    }
}

/// Every event in the files committed to `events` with new rows since `version`, in file and
/// row order.
fn events_since(lake: &Lake, version: u64) -> Result<Vec<Cause>> {
    let changes = lake.changes(EVENTS_TABLE, Some(version))?;
    if changes.whole {
        return Err(Error::Store(format!(
            "the log no longer holds every commit since version {version}: what changed since cannot be told"
        )));
    }
    let mut out = Vec::new();
    for file in &changes.files {
        for batch in lake.read_file(EVENTS_TABLE, &file.path, &COLUMNS, None)? {
            out.extend(causes_of(&batch)?);
        }
    }
    Ok(out)
}

fn causes_of(batch: &RecordBatch) -> Result<Vec<Cause>> {
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Store(format!("an events file has no column {name}")))?;
        let column = cast(column, &DataType::Utf8).map_err(|e| Error::Store(e.to_string()))?;
        let strings = column.as_string::<i32>();
        Ok((0..strings.len())
            .map(|i| strings.is_valid(i).then(|| strings.value(i).to_owned()))
            .collect())
    };
    let [id, kind, agency, dossier, occurred, date, ingested] = COLUMNS.map(text);
    let (id, kind, agency, dossier) = (id?, kind?, agency?, dossier?);
    let (occurred, date, ingested) = (occurred?, date?, ingested?);
    Ok((0..batch.num_rows())
        .map(|i| Cause {
            event_id: id[i].clone().unwrap_or_default(),
            event_type: kind[i].clone().unwrap_or_default(),
            agency_code: agency[i].clone().unwrap_or_default(),
            dossier_id: dossier[i].clone(),
            occurred_at: occurred[i].clone().unwrap_or_default(),
            event_date: date[i]
                .as_deref()
                .and_then(|d| d.parse().ok())
                .unwrap_or_default(),
            ingested_at: ingested[i].clone().unwrap_or_default(),
        })
        .collect())
}
