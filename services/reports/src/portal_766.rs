//! The 766 index as the national public-service portal published it, imported from the
//! portal's monthly table as CSV (docs/index-766.md, "Reconciliation with the portal") and kept
//! in the lake's object store beside the tables (`<lake>/index-766/portal/<period>.json`), one
//! object per period, replaced by a later import of the same period: every API node over one
//! lake, and the CLI, read the same figures.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{self, ObjectStore, ObjectStoreExt as _, PutPayload};
use parwatch_lake::Lake;
use parwatch_scoring::{IndexPeriod, Span};
use serde::{Deserialize, Serialize};

use crate::store::lake_folder;
use crate::{Error, Result};

/// Rows an import reads at most (a province has a few hundred agencies, 13 figures each a
/// month: a year's table is well under it).
pub const MAX_PORTAL_ROWS: usize = 200_000;
/// Longest agency code or indicator accepted.
const MAX_CODE: usize = 64;
/// The columns of the CSV, in order.
pub const PORTAL_COLUMNS: [&str; 4] = ["period", "agency_code", "indicator", "points"];

/// One figure the portal published: an indicator's points (or `total`) of one agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalFigure {
    /// The agency.
    pub agency_code: String,
    /// The indicator's code in the rubric (`on_time`), or `total`.
    pub indicator: String,
    /// Its points.
    pub points: f64,
}

/// The portal's figures of one period, as imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalFigures {
    /// The period, `2025-03`.
    pub period: String,
    /// When they were imported.
    pub imported_at: DateTime<Utc>,
    /// The file they came from (its name).
    pub source: String,
    /// The figures, by agency and indicator.
    pub figures: Vec<PortalFigure>,
}

/// Reads the portal's CSV (header `period,agency_code,indicator,points`): the figures of each
/// period in it. A wrong line is refused naming its number; an agency and indicator given twice
/// in one period too.
pub fn parse_portal_csv(
    text: &str,
    source: &str,
    imported_at: DateTime<Utc>,
) -> Result<Vec<PortalFigures>> {
    let bad =
        |line: usize, message: String| Error::BadAsk(format!("{source}: line {line}: {message}"));
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = match lines.next() {
        Some((_, header)) => header
            .trim_start_matches('\u{feff}')
            .split(',')
            .map(str::trim)
            .collect(),
        None => return Err(Error::BadAsk(format!("{source}: empty"))),
    };
    if header != PORTAL_COLUMNS {
        return Err(bad(
            1,
            format!("expected the header {}", PORTAL_COLUMNS.join(",")),
        ));
    }
    let mut periods: BTreeMap<String, BTreeMap<(String, String), f64>> = BTreeMap::new();
    for (n, (i, line)) in lines.enumerate() {
        let number = i + 1;
        if n >= MAX_PORTAL_ROWS {
            return Err(bad(number, format!("more than {MAX_PORTAL_ROWS} rows")));
        }
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let [period, agency, indicator, points] = cells[..] else {
            return Err(bad(
                number,
                format!("expected 4 cells, found {}", cells.len()),
            ));
        };
        let period = IndexPeriod::parse(period)
            .filter(|p| p.span() == Span::Month)
            .ok_or_else(|| {
                bad(
                    number,
                    format!("period {period:?}: expected a month 2025-03"),
                )
            })?;
        for (name, code) in [("agency_code", agency), ("indicator", indicator)] {
            if code.is_empty() || code.len() > MAX_CODE {
                return Err(bad(number, format!("{name}: 1 to {MAX_CODE} characters")));
            }
        }
        let points: f64 = points
            .replace(' ', "")
            .parse()
            .ok()
            .filter(|p: &f64| (0.0..=100.0).contains(p))
            .ok_or_else(|| bad(number, format!("points {points:?}: a number from 0 to 100")))?;
        let key = (agency.to_owned(), indicator.to_owned());
        if periods
            .entry(period.to_string())
            .or_default()
            .insert(key, points)
            .is_some()
        {
            return Err(bad(
                number,
                format!("{agency} {indicator} given twice for {period}"),
            ));
        }
    }
    Ok(periods
        .into_iter()
        .map(|(period, rows)| PortalFigures {
            period,
            imported_at,
            source: source.to_owned(),
            figures: rows
                .into_iter()
                .map(|((agency_code, indicator), points)| PortalFigure {
                    agency_code,
                    indicator,
                    points,
                })
                .collect(),
        })
        .collect())
}

/// The portal's figures of one lake.
#[derive(Debug, Clone)]
pub struct PortalShelf {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

impl PortalShelf {
    /// The figures of `lake`, in its object store. Blocking (reads the table's log once).
    pub fn open(lake: &Lake) -> Result<Self> {
        let (store, root) = lake_folder(lake, &["index-766", "portal"])?;
        Ok(Self { store, root })
    }

    fn path(&self, period: &str) -> Path {
        self.root.clone().join(format!("{period}.json").as_str())
    }

    /// Stores one period's figures, replacing any imported before.
    pub async fn put(&self, figures: &PortalFigures) -> Result<()> {
        let bytes = serde_json::to_vec(figures).expect("figures serialize");
        self.store
            .put(&self.path(&figures.period), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The figures of `period` (a month), `None` when none were imported.
    pub async fn get(&self, period: &str) -> Result<Option<PortalFigures>> {
        let path = self.path(period);
        match self.store.get(&path).await {
            Ok(found) => {
                let bytes = found.bytes().await?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| Error::Store(format!("{path}: {e}")))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_reads_by_period_and_refuses_wrong_lines() {
        let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let text = "period,agency_code,indicator,points\n\
                    2025-03,A,on_time,9.5\n2025-03,A,total,70\n\n2025-04,B,total,81.25\n";
        let read = parse_portal_csv(text, "portal.csv", at).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(
            (read[0].period.as_str(), read[0].figures.len()),
            ("2025-03", 2)
        );
        assert_eq!(read[1].figures[0].points, 81.25);
        for (text, word) in [
            (
                "period,agency,indicator,points\n",
                "line 1: expected the header",
            ),
            (
                "period,agency_code,indicator,points\n2025-Q1,A,total,70\n",
                "line 2: period",
            ),
            (
                "period,agency_code,indicator,points\n2025-03,A,total,170\n",
                "a number from 0 to 100",
            ),
            (
                "period,agency_code,indicator,points\n2025-03,A,total\n",
                "expected 4 cells",
            ),
            (
                "period,agency_code,indicator,points\n2025-03,A,total,1\n2025-03,A,total,2\n",
                "line 3: A total given twice",
            ),
        ] {
            let e = parse_portal_csv(text, "portal.csv", at)
                .unwrap_err()
                .to_string();
            assert!(e.contains(word), "{e}");
        }
    }
}
