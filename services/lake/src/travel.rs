//! Time travel in SQL: `events_at(x)` and `rejected_events_at(x)` read a table as it was at
//! Delta version `x` (an integer, as `/api/v1/status` and the log number them) or at time `x`
//! (a timestamp text: the version current then). A scoped caller sees its own rows only, as in
//! the tables themselves.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;

use crate::lake::Lake;
use crate::query::{AGENCY_COLUMN, LakeTable};
use crate::scope::ScopedTable;

/// A moment of a table's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// A Delta version.
    Version(u64),
    /// The version current at this time.
    Time(DateTime<Utc>),
}

impl AsOf {
    /// Reads `x` of `events_at(x)`: a non-negative integer, or a date or RFC 3339 time text.
    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(version) = text.parse::<u64>() {
            return Some(Self::Version(version));
        }
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(Self::Time(at.with_timezone(&Utc)));
        }
        let day = text.parse::<NaiveDate>().ok()?;
        Some(Self::Time(day.and_hms_opt(0, 0, 0)?.and_utc()))
    }
}

/// The table function `<table>_at`, for one session (and its scope).
#[derive(Debug)]
pub(crate) struct TableAt {
    lake: Lake,
    table: &'static str,
    schema: SchemaRef,
    agency: Option<String>,
}

impl TableAt {
    pub(crate) fn new(
        lake: Lake,
        table: &'static str,
        schema: SchemaRef,
        agency: Option<String>,
    ) -> Self {
        Self {
            lake,
            table,
            schema,
            agency,
        }
    }
}

impl TableFunctionImpl for TableAt {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> DfResult<Arc<dyn TableProvider>> {
        let name = self.table;
        let at = match args.exprs() {
            [Expr::Literal(value, _)] => match value {
                ScalarValue::Int64(Some(v)) if *v >= 0 => Some(AsOf::Version(*v as u64)),
                ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)) => {
                    AsOf::parse(text)
                }
                _ => None,
            },
            _ => None,
        };
        let Some(at) = at else {
            return plan_err!(
                "{name}_at takes one argument: a version number, or a time such as \
                 '2026-12-01T08:00:00+07:00'"
            );
        };
        let table: Arc<dyn TableProvider> = Arc::new(LakeTable {
            lake: self.lake.clone(),
            name,
            schema: Arc::clone(&self.schema),
            at: Some(at),
        });
        Ok(match &self.agency {
            Some(agency) => Arc::new(ScopedTable::new(table, AGENCY_COLUMN, agency)),
            None => table,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_dates_and_times_are_read() {
        assert_eq!(AsOf::parse("12"), Some(AsOf::Version(12)));
        let noon = AsOf::parse("2026-12-01T12:00:00+07:00").unwrap();
        assert_eq!(noon, AsOf::Time("2026-12-01T05:00:00Z".parse().unwrap()));
        assert_eq!(
            AsOf::parse("2026-12-01"),
            Some(AsOf::Time("2026-12-01T00:00:00Z".parse().unwrap()))
        );
        for bad in ["-1", "yesterday", "2026-13-01", ""] {
            assert_eq!(AsOf::parse(bad), None, "{bad}");
        }
    }
}
