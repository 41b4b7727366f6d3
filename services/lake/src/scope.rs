//! Row-level security for agency-scoped sessions, applied inside the scan.
//!
//! A scoped session sees each table through a [`ScopedTable`]: its scan filters the stored rows
//! on the agency column, below a [`ScopeExec`] barrier, and accepts none of the user's
//! predicates. So the user's expressions (casts, regexes, divisions, JSON functions) run only on
//! rows that passed the scope, and cannot fail, or be slow, on another agency's row — the way
//! PostgreSQL runs row-level security policies before non-leakproof user predicates.
//!
//! The barrier (a [`Passthrough`] shown as `ScopeExec`) keeps it so through DataFusion's
//! optimizers: it takes no filter from above (dynamic filters of TopK and joins included), no
//! projection, no limit, and reports unknown statistics, so nothing is computed from other
//! agencies' rows, not even a row count.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExecBuilder;

use crate::passthrough::{Passthrough, Role};

/// A table as an agency-scoped session sees it: only the rows whose `column` is `agency`.
#[derive(Debug)]
pub(crate) struct ScopedTable {
    inner: Arc<dyn TableProvider>,
    column: String,
    agency: String,
}

impl ScopedTable {
    /// `inner` restricted to the rows of `agency` in `column`.
    pub(crate) fn new(inner: Arc<dyn TableProvider>, column: &str, agency: &str) -> Self {
        Self {
            inner,
            column: column.to_owned(),
            agency: agency.to_owned(),
        }
    }

    /// `column = agency`, the code typed as the column is (text or a text view), so that no
    /// cast shows in the plan.
    fn predicate(&self) -> DfResult<Expr> {
        let schema = self.inner.schema();
        let column = schema.field_with_name(&self.column)?;
        let agency = ScalarValue::try_from_string(self.agency.clone(), column.data_type())?;
        Ok(col(self.column.as_str()).eq(lit(agency)))
    }
}

#[async_trait]
impl TableProvider for ScopedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    /// The inner table's: a scoped view is still listed as a view.
    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    /// None: every user predicate stays above the scope.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.inner.schema();
        let agency_index = schema.index_of(&self.column)?;
        // Read the asked columns plus the agency column; hand back only the asked ones.
        let (read, keep) = match projection {
            None => (None, None),
            Some(asked) => {
                let mut read = asked.clone();
                if !read.contains(&agency_index) {
                    read.push(agency_index);
                }
                (Some(read), Some((0..asked.len()).collect::<Vec<_>>()))
            }
        };
        let predicate = self.predicate()?;
        // The scope itself may prune files and row groups below; user filters never go there.
        let stored = self
            .inner
            .scan(state, read.as_ref(), std::slice::from_ref(&predicate), None)
            .await?;
        let df_schema = DFSchema::try_from(stored.schema())?;
        let physical = state.create_physical_expr(predicate, &df_schema)?;
        let filtered = FilterExecBuilder::new(physical, stored)
            .apply_projection(keep)?
            .build()?;
        Ok(Arc::new(Passthrough::new(
            Arc::new(filtered),
            Role::Scope(self.agency.clone()),
        )))
    }
}
