//! The agency directory: agencies' names by code, from a CSV file the province keeps
//! (`agency_code,name`), so people read "Sở Tư pháp" where events carry `000.00.04.H02`.
//! Served to the web UI and as the SQL table `agencies`. Agencies the directory does not name
//! (those known only from registry events, e.g. units created by a merger) take the registry's
//! names of the date shown ([`AgencyNames::at`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use parwatch_lake::{AGENCY_COLUMN, QueryEngine, Scoping};
use parwatch_metrics::Period;

/// The SQL table of the directory.
const AGENCIES_TABLE: &str = "agencies";

/// Agencies' display names by code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AgencyNames(BTreeMap<String, String>);

/// Why a directory file was refused.
#[derive(Debug, thiserror::Error)]
pub enum AgencyNamesError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not the expected CSV.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        reason: String,
    },
}

#[derive(serde::Deserialize)]
struct Row {
    agency_code: String,
    name: String,
}

impl AgencyNames {
    /// Reads `path`: a header `agency_code,name`, then one agency a line; each code once and
    /// each name non-empty.
    pub fn load(path: &Path) -> Result<Self, AgencyNamesError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| AgencyNamesError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| AgencyNamesError::Invalid {
            path: shown,
            reason,
        })
    }

    fn parse(text: &[u8]) -> Result<Self, String> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text);
        let header = reader.headers().map_err(|e| e.to_string())?;
        if header.iter().collect::<Vec<_>>() != [AGENCY_COLUMN, "name"] {
            return Err(format!(
                "the first line must be \"{AGENCY_COLUMN},name\", not {:?}",
                header.iter().collect::<Vec<_>>().join(",")
            ));
        }
        let mut names = BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| e.to_string())?;
            let line = record.position().map_or(0, csv::Position::line);
            let row: Row = record
                .deserialize(None)
                .map_err(|e| format!("line {line}: {e}"))?;
            if row.agency_code.is_empty() || row.name.is_empty() {
                return Err(format!("line {line}: an empty code or name"));
            }
            if let Some(first) = names.insert(row.agency_code.clone(), row.name) {
                return Err(format!(
                    "line {line}: agency {} appears twice (first as {first:?})",
                    row.agency_code
                ));
            }
        }
        Ok(Self(names))
    }

    /// The part of the directory that names `codes`.
    pub(crate) fn among<'a>(&self, codes: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            codes
                .into_iter()
                .filter_map(|code| self.0.get_key_value(code))
                .map(|(c, n)| (c.clone(), n.clone()))
                .collect(),
        )
    }

    /// The names of `codes` on `date`, Vietnamese and English: the directory's name first
    /// (Vietnamese), else the registry's of the period covering `date`; an agency not existing
    /// then takes its name of the nearest period before, else after. English names are the
    /// registry's only (the directory has one name).
    pub(crate) fn at<'a>(
        &self,
        codes: impl IntoIterator<Item = &'a str>,
        periods: &[Period],
        date: NaiveDate,
    ) -> (Self, Self) {
        let mut named: BTreeMap<&str, Vec<&Period>> = BTreeMap::new();
        for period in periods.iter().filter(|p| p.name_vi.is_some()) {
            named.entry(&period.agency_code).or_default().push(period);
        }
        let (mut vi, mut en) = (BTreeMap::new(), BTreeMap::new());
        for code in codes {
            let period = named.get(code).and_then(|rows| {
                let before = |p: &&&Period| p.valid_from.is_none_or(|f| f <= date);
                rows.iter()
                    .find(|p| p.covers(date))
                    .or_else(|| rows.iter().rev().find(before))
                    .or_else(|| rows.first())
            });
            if let Some(name) = self.0.get(code) {
                vi.insert(code.to_owned(), name.clone());
            } else if let Some(name) = period.and_then(|p| p.name_vi.as_ref()) {
                vi.insert(code.to_owned(), name.clone());
            }
            if let Some(name) = period.and_then(|p| p.name_en.as_ref()) {
                en.insert(code.to_owned(), name.clone());
            }
        }
        (Self(vi), Self(en))
    }

    /// How many agencies the directory names.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Registers the directory as the SQL table `agencies` (`agency_code`, `name`); an
    /// agency's token sees its own row.
    pub(crate) fn register(&self, engine: &QueryEngine) -> parwatch_lake::Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new(AGENCY_COLUMN, DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let codes = StringArray::from_iter_values(self.0.keys());
        let names = StringArray::from_iter_values(self.0.values());
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(codes), Arc::new(names)])?;
        let table = MemTable::try_new(schema, vec![vec![batch]])?;
        engine.register(
            AGENCIES_TABLE,
            Arc::new(table),
            Scoping::Column(AGENCY_COLUMN),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_quotes_and_spaces() {
        let names = AgencyNames::parse(
            "agency_code,name\n000.00.04.H02, Sở Tư pháp\n\"000.00.09.H02\",\"Sở Nông nghiệp, Môi trường\"\n"
                .as_bytes(),
        )
        .unwrap();
        let expected = |pairs: &[(&str, &str)]| {
            AgencyNames(
                pairs
                    .iter()
                    .map(|&(c, n)| (c.to_owned(), n.to_owned()))
                    .collect(),
            )
        };
        assert_eq!(
            names,
            expected(&[
                ("000.00.04.H02", "Sở Tư pháp"),
                ("000.00.09.H02", "Sở Nông nghiệp, Môi trường"),
            ])
        );
        assert_eq!(names.len(), 2);
        // Unnamed codes are left out.
        assert_eq!(
            names.among(["000.00.05.H02", "000.00.04.H02"]),
            expected(&[("000.00.04.H02", "Sở Tư pháp")])
        );
    }

    fn period(code: &str, names: (&str, Option<&str>), from: &str, to: Option<&str>) -> Period {
        Period {
            agency_code: code.to_owned(),
            name_vi: Some(names.0.to_owned()),
            name_en: names.1.map(str::to_owned),
            level: None,
            parent_code: None,
            valid_from: Some(from.parse().unwrap()),
            valid_to: to.map(|t| t.parse().unwrap()),
            basis: None,
        }
    }

    #[test]
    fn the_registry_names_what_the_directory_does_not_at_the_date() {
        let directory = AgencyNames::parse(
            "agency_code,name
D1,Sở Một
"
            .as_bytes(),
        )
        .unwrap();
        let periods = [
            period(
                "D1",
                ("Sở Một (registry)", Some("Department One")),
                "2024-01-01",
                None,
            ),
            period(
                "N1",
                ("Xã Một", Some("Commune One")),
                "2025-07-01",
                Some("2026-01-01"),
            ),
            period("N1", ("Phường Một", None), "2026-01-01", None),
            period("C1", ("Xã Cũ", None), "2024-01-01", Some("2025-07-01")),
        ];
        let names = |date: &str| {
            let (vi, en) = directory.at(["D1", "N1", "C1", "X"], &periods, date.parse().unwrap());
            (
                vi.0.into_iter().collect::<Vec<_>>(),
                en.0.into_iter().collect::<Vec<_>>(),
            )
        };
        let pair = |c: &str, n: &str| (c.to_owned(), n.to_owned());
        // The directory first; the registry's name of the date, else the nearest.
        assert_eq!(
            names("2025-08-01"),
            (
                vec![
                    pair("C1", "Xã Cũ"),
                    pair("D1", "Sở Một"),
                    pair("N1", "Xã Một")
                ],
                vec![pair("D1", "Department One"), pair("N1", "Commune One")]
            )
        );
        assert_eq!(names("2026-02-01").0[2], pair("N1", "Phường Một"));
        assert_eq!(names("2026-02-01").1, vec![pair("D1", "Department One")]);
        // Before it exists, a unit is named as it will be.
        assert_eq!(names("2024-06-01").0[2], pair("N1", "Xã Một"));
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line() {
        for (text, says) in [
            (
                "code,name\nA,B\n",
                "the first line must be \"agency_code,name\"",
            ),
            (
                "agency_code,name\nA,B\nA,C\n",
                "line 3: agency A appears twice",
            ),
            ("agency_code,name\nA,\n", "line 2: an empty code or name"),
            (
                "agency_code,name\nA,\"two\nlines\"\nA,C\n",
                "line 4: agency A appears twice",
            ),
            ("agency_code,name\nA,B,C\n", "found record with 3 fields"),
        ] {
            let error = AgencyNames::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }
}
