//! Read-only SQL over the lake with DataFusion.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;

use crate::error::{Error, Result};
use crate::schema::{
    EVENTS_PARTITION, EVENTS_TABLE, REJECTED_PARTITION, REJECTED_TABLE, events_schema,
    rejected_schema,
};
use crate::writer::Lake;

/// The result of a query: its schema and all its batches.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Columns of the result.
    pub schema: SchemaRef,
    /// Rows of the result.
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    /// Number of rows.
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A DataFusion session with the lake's tables registered. Cheap to clone.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// Registers `events` and `rejected_events` over the lake's directories.
    pub fn new(lake: &Lake) -> Result<Self> {
        // No file-list cache: files landed after start must be visible to the next query.
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let tables = [
            (EVENTS_TABLE, EVENTS_PARTITION, events_schema()),
            (REJECTED_TABLE, REJECTED_PARTITION, rejected_schema()),
        ];
        for (name, partition, schema) in tables {
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![(partition.to_owned(), DataType::Date32)]);
            let table = LakeTable {
                lake: lake.clone(),
                name,
                options,
                schema,
            };
            ctx.register_table(name, Arc::new(table))?;
        }
        Ok(Self { ctx })
    }

    /// Registers (or replaces) a further table, e.g. a projection.
    pub fn register(&self, name: &str, table: Arc<dyn TableProvider>) -> Result<()> {
        self.ctx.register_table(name, table)?;
        Ok(())
    }

    /// Runs one read-only statement (SELECT/WITH, EXPLAIN, SHOW, DESCRIBE) and collects it.
    pub async fn sql(&self, sql: &str) -> Result<QueryOutput> {
        self.run(self.plan(sql).await?).await
    }

    /// Plans one read-only statement without running it. Its named placeholders (`$from`)
    /// are listed by [`LogicalPlan::get_parameter_types`] and bound with
    /// [`LogicalPlan::with_param_values`] before [`QueryEngine::run`].
    pub async fn plan(&self, sql: &str) -> Result<LogicalPlan> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect)?;
        ensure_read_only(&statement)?;
        let plan = state.statement_to_plan(statement).await?;
        // Second line of defence: the plan itself may not write or change the session.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| Error::NotAQuery(e.strip_backtrace()))?;
        Ok(plan)
    }

    /// Runs a plan made by [`QueryEngine::plan`] and collects it.
    pub async fn run(&self, plan: LogicalPlan) -> Result<QueryOutput> {
        let frame = self.ctx.execute_logical_plan(plan).await?;
        let schema = Arc::clone(frame.schema().inner());
        let batches = frame.collect().await?;
        Ok(QueryOutput { schema, batches })
    }
}

/// A stored table: at each scan, the partitions' current generations, read as one listing
/// table, so a query sees each partition either before or after a compaction, never half.
#[derive(Debug)]
struct LakeTable {
    lake: Lake,
    name: &'static str,
    options: ListingOptions,
    schema: SchemaRef,
}

impl LakeTable {
    /// A listing table over `paths` (directories, ending in `/`).
    fn listing(&self, paths: &[std::path::PathBuf]) -> DfResult<ListingTable> {
        let urls = paths
            .iter()
            .map(|p| ListingTableUrl::parse(format!("{}/", p.display())))
            .collect::<DfResult<Vec<_>>>()?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(self.options.clone())
            .with_schema(Arc::clone(&self.schema));
        ListingTable::try_new(config)
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        // The file columns plus the partition column, as the listing table reports them.
        self.listing(&[self.lake.table_dir(self.name)])
            .map(|t| t.schema())
            .unwrap_or_else(|_| Arc::clone(&self.schema))
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.listing(&[self.lake.table_dir(self.name)])?
            .supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut roots = self
            .lake
            .generation_roots(self.name)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        if roots.is_empty() {
            // An empty table: list its (empty) directory.
            roots.push(self.lake.table_dir(self.name));
        }
        self.listing(&roots)?
            .scan(state, projection, filters, limit)
            .await
    }
}

fn ensure_read_only(statement: &DfStatement) -> Result<()> {
    let allowed = match statement {
        DfStatement::Statement(s) => matches!(
            s.as_ref(),
            Statement::Query(_)
                | Statement::Explain { .. }
                | Statement::ExplainTable { .. }
                | Statement::ShowTables { .. }
                | Statement::ShowColumns { .. }
                | Statement::ShowVariable { .. }
        ),
        DfStatement::Explain(_) => true,
        DfStatement::CreateExternalTable(_) | DfStatement::CopyTo(_) | DfStatement::Reset(_) => {
            false
        }
    };
    if allowed {
        return Ok(());
    }
    let text = statement.to_string();
    let keyword = text.split_whitespace().next().unwrap_or("").to_uppercase();
    Err(Error::NotAQuery(format!(
        "only read-only queries are allowed (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE); refused: {keyword} statement"
    )))
}
