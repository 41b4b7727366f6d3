//! Time travel in SQL: `events_at(x)` and `rejected_events_at(x)` read a table as it was at
//! Delta version `x` (an integer, as `/api/v1/status` and the log number them) or at time `x`
//! (a timestamp text: the version current then). A scoped caller sees its own rows only, as in
//! the tables themselves.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::lake::Lake;
use crate::query::AGENCY_COLUMN;
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
        let table: Arc<dyn TableProvider> = Arc::new(HistoricTable {
            lake: self.lake.clone(),
            table: name,
            schema: Arc::clone(&self.schema),
            at,
        });
        Ok(match &self.agency {
            Some(agency) => Arc::new(ScopedTable::new(table, AGENCY_COLUMN, agency)),
            None => table,
        })
    }
}

/// A table as it was at one moment.
#[derive(Debug)]
struct HistoricTable {
    lake: Lake,
    table: &'static str,
    schema: SchemaRef,
    at: AsOf,
}

#[async_trait]
impl TableProvider for HistoricTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let provider = self
            .lake
            .table_provider_at(self.table, self.at, Some(state))
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, at = ?self.at, "time travel refused");
                // The cause may name where the lake is: not for the client.
                DataFusionError::Plan(format!(
                    "{} has no version {} (the log keeps 30 days of versions; the files of \
                     versions replaced longer ago than the vacuum retention, 7 days by \
                     default, are gone)",
                    self.table,
                    match self.at {
                        AsOf::Version(v) => v.to_string(),
                        AsOf::Time(t) => format!("at {}", t.to_rfc3339()),
                    }
                ))
            })?;
        provider.scan(state, projection, filters, limit).await
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
