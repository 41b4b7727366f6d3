//! Read-only SQL over the lake with DataFusion.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::sandbox::{Limits, Scope, Scoping, Session};
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE};
use crate::scope::ScopedTable;
use crate::travel::{AsOf, TableAt};

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

/// The lake's SQL engine: the registered tables, the limits and the threads queries run on.
/// Cheap to clone. Each query runs in a [`Session`] made for its caller's [`Scope`].
#[derive(Clone)]
pub struct QueryEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    tables: RwLock<Vec<Registered>>,
    /// The lake's tables, for their time-travel functions (`events_at`, …).
    lake: Lake,
    lake_tables: Vec<(&'static str, SchemaRef)>,
    lake_root: String,
    limits: Limits,
    /// Queries run here, not on the server's threads; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        // Dropping a runtime may block; an engine may be dropped inside async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Registered {
    name: String,
    provider: Arc<dyn TableProvider>,
    scoping: Scoping,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Threads that run queries.
const QUERY_THREADS: usize = 2;
/// Their stack: deep (but parser-bounded) expressions recurse in the planner.
const QUERY_THREAD_STACK: usize = 32 << 20;

impl QueryEngine {
    /// An engine over the lake's `events` and `rejected_events`, with default [`Limits`].
    pub fn new(lake: &Lake) -> Result<Self> {
        Self::with_limits(lake, Limits::default())
    }

    /// An engine whose every query runs under `limits`.
    pub fn with_limits(lake: &Lake, limits: Limits) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(QUERY_THREADS)
            .thread_name("parwatch-sql")
            .thread_stack_size(QUERY_THREAD_STACK)
            .enable_all()
            .build()
            .map_err(Error::io("query runtime"))?;
        let engine = Self {
            inner: Arc::new(EngineInner {
                tables: RwLock::default(),
                lake: lake.clone(),
                lake_tables: [EVENTS_TABLE, REJECTED_TABLE]
                    .into_iter()
                    .map(|name| {
                        Ok((
                            name,
                            lake.block_on(lake.table_provider(name, None))?.schema(),
                        ))
                    })
                    .collect::<Result<_>>()?,
                lake_root: hidden_root(lake),
                limits,
                runtime: Some(runtime),
            }),
        };
        for (name, schema) in engine.inner.lake_tables.clone() {
            let table = Arc::new(LakeTable {
                lake: lake.clone(),
                name,
                schema,
                at: None,
            });
            engine.register(name, table, Scoping::Column(AGENCY_COLUMN))?;
        }
        Ok(engine)
    }

    /// The limits every query runs under.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Registers (or replaces) a further table, e.g. a projection, and how scopes restrict it.
    pub fn register(
        &self,
        name: &str,
        table: Arc<dyn TableProvider>,
        scoping: Scoping,
    ) -> Result<()> {
        let mut tables = self.inner.tables.write().unwrap_or_else(|e| e.into_inner());
        tables.retain(|t| t.name != name);
        tables.push(Registered {
            name: name.to_owned(),
            provider: table,
            scoping,
        });
        Ok(())
    }

    /// A session that sees what `scope` allows, named `catalog` for clients that ask.
    pub fn session(&self, scope: &Scope) -> Result<Session> {
        self.session_with(scope, |_| Ok(()))
    }

    /// [`QueryEngine::session`] with more functions and tables (a wire protocol's catalogue
    /// emulation): `extend` adds them before the sandbox wraps every scalar function, so what
    /// it adds is bounded like the rest.
    pub fn session_with(
        &self,
        scope: &Scope,
        extend: impl FnOnce(&SessionContext) -> datafusion::error::Result<()>,
    ) -> Result<Session> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            // Filters run inside the lake's Parquet scans: the other columns of rows that fail
            // them are not decoded (dashboard questions keep a few percent of the rows).
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udf(version_function());
        ctx.register_udf(crate::dates::DateTrunc::udf());
        let tables = self.inner.tables.read().unwrap_or_else(|e| e.into_inner());
        for table in tables.iter() {
            let provider = match (scope, table.scoping) {
                (Scope::All, _) => Arc::clone(&table.provider),
                (Scope::Agency(_), Scoping::Hidden) => continue,
                (Scope::Agency(agency), Scoping::Column(column)) => Arc::new(ScopedTable::new(
                    Arc::clone(&table.provider),
                    column,
                    agency,
                )),
            };
            ctx.register_table(table.name.as_str(), provider)?;
        }
        let agency = match scope {
            Scope::All => None,
            Scope::Agency(agency) => Some(agency.clone()),
        };
        for (name, schema) in &self.inner.lake_tables {
            let at = TableAt::new(
                self.inner.lake.clone(),
                name,
                Arc::clone(schema),
                agency.clone(),
            );
            ctx.register_udtf(&format!("{name}_at"), Arc::new(at));
        }
        extend(&ctx)?;
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("runtime lives as long as the engine")
            .handle()
            .clone();
        Session::new(
            ctx,
            self.inner.limits,
            runtime,
            scope,
            &self.inner.lake_root,
        )
    }

    /// Runs one read-only statement over every agency's rows and collects it.
    pub async fn sql(&self, sql: &str) -> Result<QueryOutput> {
        self.session(&Scope::All)?.sql(sql).await
    }
}

/// Where the lake lies, as EXPLAIN would show it: its folder, or its bucket and prefix.
fn hidden_root(lake: &Lake) -> String {
    let location = lake.location();
    match location.local_dir() {
        Some(dir) => dir.display().to_string(),
        None => {
            let url = location.url();
            format!("{}{}", url.host_str().unwrap_or_default(), url.path())
                .trim_end_matches('/')
                .to_owned()
        }
    }
}

/// `version()` as PostgreSQL answers it: clients (SQLAlchemy, so pandas and Superset; JDBC)
/// read the server's version from it, and cannot parse DataFusion's own.
fn version_function() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let text = format!(
        "PostgreSQL {PG_VERSION} (ParWatch {}, Apache DataFusion {}) on {}-linux",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
    );
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::from(text.as_str())))),
    )
}

/// The PostgreSQL version ParWatch's SQL answers as (`version()`, `SHOW server_version`).
pub const PG_VERSION: &str = "16.6";

/// The catalogue and schema name clients see (`current_database()`).
pub const CATALOG: &str = "parwatch";
/// The schema the tables are in.
pub const SCHEMA: &str = "public";
/// The column agency scopes filter on, in every table that has one.
pub const AGENCY_COLUMN: &str = "agency_code";

/// A stored table: a statement reads the table's latest Delta version (or the one at `at`) as
/// of its first scan of it (see [`Pinned`]), so it sees every commit and compaction wholly or
/// not at all, and one version however often it names the table.
#[derive(Debug)]
pub(crate) struct LakeTable {
    pub(crate) lake: Lake,
    pub(crate) name: &'static str,
    pub(crate) schema: SchemaRef,
    /// A moment of the table's history (time travel); `None`: the latest version.
    pub(crate) at: Option<AsOf>,
}

#[async_trait]
impl TableProvider for LakeTable {
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
        // Used to skip files and row groups; applied again above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let table = match self.at {
            None => match state.config().get_extension::<Pinned>() {
                Some(pinned) => pinned.latest(self, state).await?,
                None => self.latest(state).await?,
            },
            Some(at) => self
                .lake
                .table_provider_at(self.name, at, Some(state))
                .await
                .map_err(|e| match e {
                    Error::NoVersion(message) => DataFusionError::Plan(message),
                    e => DataFusionError::External(Box::new(e)),
                })?,
        };
        table.scan(state, projection, filters, limit).await
    }
}

impl LakeTable {
    /// The table's latest version, loaded now.
    async fn latest(&self, state: &dyn DfSession) -> DfResult<Arc<dyn TableProvider>> {
        self.lake
            .table_provider(self.name, Some(state))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// The versions one statement reads: the first scan of a table loads its latest version, and
/// every other scan of it in the statement (a self-join, a subquery) reads the same one. Set
/// in the configuration of each statement's run (`Session::execute`).
#[derive(Debug, Default)]
pub(crate) struct Pinned(tokio::sync::Mutex<Vec<(&'static str, Arc<dyn TableProvider>)>>);

impl Pinned {
    async fn latest(
        &self,
        table: &LakeTable,
        state: &dyn DfSession,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let mut pinned = self.0.lock().await;
        if let Some((_, provider)) = pinned.iter().find(|(name, _)| *name == table.name) {
            return Ok(Arc::clone(provider));
        }
        let provider = table.latest(state).await?;
        pinned.push((table.name, Arc::clone(&provider)));
        Ok(provider)
    }
}

#[cfg(test)]
mod tests {
    use parwatch_proto::Channel;
    use parwatch_proto::testing::TestEvent;

    use super::*;
    use crate::{Commit, LakeLocation, StoredEvent};

    /// Commits events `from..to` (received online, one agency).
    async fn commit(lake: &Lake, from: u64, to: u64) {
        let events = (from..to)
            .map(|i| StoredEvent {
                event: TestEvent::received(Channel::Online)
                    .id(format!("e{i}"))
                    .dossier(format!("D{i}"))
                    .build(),
                stream_seq: i + 1,
            })
            .collect();
        let lake = lake.clone();
        tokio::task::spawn_blocking(move || {
            let commit = Commit {
                events,
                rejected: vec![],
            };
            lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        })
        .await
        .unwrap()
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scans_decode_text_as_views_and_results_carry_the_declared_types() {
        use datafusion::arrow::datatypes::Field;
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
        commit(&lake, 0, 10).await;
        let engine = QueryEngine::new(&lake).unwrap();
        let out = engine
            .sql(
                "SELECT type, arrow_typeof(type) AS scanned, array_agg(dossier_id) AS dossiers, \
                   named_struct('agency', min(agency_code)) AS first \
                 FROM events GROUP BY type",
            )
            .await
            .unwrap();
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let types: Vec<DataType> = out
            .schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let expected = vec![
            DataType::Utf8,
            DataType::Utf8,
            DataType::new_list(DataType::Utf8, true),
            DataType::Struct(vec![text("agency")].into()),
        ];
        assert_eq!(types, expected);
        let batch = &out.batches[0];
        assert_eq!(
            batch.schema(),
            out.schema,
            "the rows have the declared types"
        );
        use datafusion::arrow::array::AsArray;
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "Utf8View");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_reads_one_version_of_a_table_however_often_it_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
        commit(&lake, 0, 10).await;
        let table = LakeTable {
            lake: lake.clone(),
            name: EVENTS_TABLE,
            schema: crate::events_schema(),
            at: None,
        };
        let ctx = SessionContext::new();
        let rows = |provider: Arc<dyn TableProvider>| {
            let frame = ctx.read_table(provider).unwrap();
            async move { frame.count().await.unwrap() }
        };
        let statement = Pinned::default();
        let first = statement.latest(&table, &ctx.state()).await.unwrap();
        commit(&lake, 10, 20).await;
        let again = statement.latest(&table, &ctx.state()).await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "one version within a statement"
        );
        assert_eq!(rows(again).await, 10);
        let next = Pinned::default()
            .latest(&table, &ctx.state())
            .await
            .unwrap();
        assert_eq!(
            rows(next).await,
            20,
            "the next statement reads the new commit"
        );
    }
}
