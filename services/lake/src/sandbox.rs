//! The SQL sandbox: who sees which rows, and how much one query may take.
//!
//! Every SQL entry point (HTTP, PostgreSQL wire) plans on a [`Session`] and runs through
//! [`Session::execute`]:
//! - **Scope.** A session for an agency holds only scoped views of the tables: each is the
//!   stored table under a filter on its agency column, built as a logical plan, so no SQL can
//!   name the unfiltered table. Tables without an agency column are absent from such sessions.
//! - **Read-only.** Only queries are planned (SELECT/WITH, EXPLAIN, SHOW, DESCRIBE); the plan is
//!   checked again for DDL, DML and statements. File and URL tables are not enabled.
//! - **Limits.** Each query gets its own memory pool (no spilling to disk), a deadline and a row
//!   limit, and runs on the engine's own threads, so a heavy query cannot stall the server that
//!   answers others.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SQLOptions, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::error::{Error, LimitKind, Result};

/// Longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 256 * 1024;

/// What one query may use. Each is configurable per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall time from the start of execution to the last row.
    pub timeout: Duration,
    /// Memory the query's operators may reserve (hash tables, sorts, buffers).
    pub memory_bytes: usize,
    /// Rows a result may have.
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            max_rows: 1_000_000,
        }
    }
}

/// Which rows a session may see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every agency's rows.
    #[default]
    All,
    /// Only rows of this agency (its code).
    Agency(String),
}

impl From<Option<String>> for Scope {
    /// `Agency(code)` for a code, `All` for none.
    fn from(agency: Option<String>) -> Self {
        agency.map_or(Scope::All, Scope::Agency)
    }
}

/// How a table is restricted under an agency [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoping {
    /// Rows are kept when this column equals the agency code.
    Column(&'static str),
    /// The table is not visible to agency-scoped sessions.
    Hidden,
}

/// A SQL session: the tables a scope may see, planning and sandboxed execution.
pub struct Session {
    ctx: SessionContext,
    limits: Limits,
    runtime: tokio::runtime::Handle,
    scoped: bool,
    /// Text hidden from EXPLAIN output: where the lake lies (a folder, a bucket).
    lake_root: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        mut ctx: SessionContext,
        limits: Limits,
        runtime: tokio::runtime::Handle,
        scope: &Scope,
        lake_root: &str,
    ) -> Result<Self> {
        crate::guards::install(&mut ctx, limits.memory_bytes)?;
        Ok(Self {
            ctx,
            limits,
            runtime,
            scoped: matches!(scope, Scope::Agency(_)),
            lake_root: lake_root.to_owned(),
        })
    }

    /// The DataFusion context, e.g. to install catalogue emulation for a wire protocol.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The limits every query of this session runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Parses (DataFusion's dialect) and plans one read-only statement.
    pub async fn plan_sql(&self, sql: &str) -> Result<LogicalPlan> {
        check_sql_text(sql)?;
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect)?;
        ensure_read_only(&statement)?;
        self.plan(statement).await
    }

    /// Plans one statement parsed elsewhere (e.g. by a wire protocol's own parser).
    pub async fn plan_statement(&self, statement: Statement) -> Result<LogicalPlan> {
        let statement = DfStatement::Statement(Box::new(statement));
        ensure_read_only(&statement)?;
        self.plan(statement).await
    }

    /// Plans on the query threads, under the time limit: planning folds constants, which can
    /// be as costly as running.
    async fn plan(&self, statement: DfStatement) -> Result<LogicalPlan> {
        let state = self.ctx.state();
        let planning = self.runtime.spawn(crate::step::stepwise(async move {
            state.statement_to_plan(statement).await
        }));
        let plan = match tokio::time::timeout(self.limits.timeout, planning).await {
            Ok(Ok(planned)) => planned.map_err(|e| limit_error(e, &self.limits, self.scoped))?,
            Ok(Err(join)) => return Err(Error::Query(DataFusionError::External(Box::new(join)))),
            Err(_) => return Err(time_limit(&self.limits)),
        };
        // Second line of defence: the plan itself may not write or change the session.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| Error::NotAQuery(e.strip_backtrace()))?;
        if self.scoped {
            refuse_statistics(&plan)?;
        }
        Ok(crate::guards::bound_plan(plan, self.limits.memory_bytes)?)
    }

    /// Runs a plan under the session's limits, on the engine's query threads.
    ///
    /// Returns once the first batch (or the end, or an error) is known, so errors of queries that
    /// produce nothing until they finish (aggregations, sorts) arrive before any row.
    pub async fn execute(&self, plan: LogicalPlan) -> Result<QueryStream> {
        let limits = self.limits;
        let deadline = Instant::now() + limits.timeout;
        // Clients get text and bytes as the tables declare them, not the scans' view types.
        let schema = crate::schema::plain_schema(plan.schema().inner());
        let explain = matches!(plan, LogicalPlan::Explain(_)).then(|| self.lake_root.clone());
        let runtime = query_runtime(limits.memory_bytes)?;
        let mut state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_runtime_env(runtime)
            .build();
        // One version of each table for the whole statement.
        state
            .config_mut()
            .set_extension(Arc::new(crate::query::Pinned::default()));
        let (sender, receiver) = mpsc::channel(2);
        let task = self.runtime.spawn(crate::step::stepwise(async move {
            let started: DfResult<SendableRecordBatchStream> = async {
                let physical = state.create_physical_plan(&plan).await?;
                execute_stream(crate::guards::step_everywhere(physical)?, state.task_ctx())
            }
            .await;
            let mut batches = match started {
                Ok(batches) => batches,
                Err(e) => {
                    let _ = sender.send(Err(e)).await;
                    return;
                }
            };
            while let Some(batch) = batches.next().await {
                let batch = batch.and_then(|b| Ok(crate::schema::plain_batch(b)?));
                let batch = match &explain {
                    Some(root) => batch.and_then(|b| hide_paths(&b, root)),
                    None => batch,
                };
                let failed = batch.is_err();
                if sender.send(batch).await.is_err() || failed {
                    return;
                }
            }
        }));
        let mut stream = QueryStream {
            schema,
            receiver,
            task,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            limits,
            scoped: self.scoped,
            rows: 0,
            peeked: None,
            done: false,
        };
        // Wait for the first item so early failures are plain errors, not a broken stream.
        match stream.next().await {
            Some(Err(e)) => Err(e),
            first => {
                stream.peeked = first;
                Ok(stream)
            }
        }
    }

    /// Plans, runs and collects one query (for small results).
    pub async fn sql(&self, sql: &str) -> Result<crate::QueryOutput> {
        let plan = self.plan_sql(sql).await?;
        let mut stream = self.execute(plan).await?;
        let schema = stream.schema();
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch?);
        }
        Ok(crate::QueryOutput { schema, batches })
    }
}

/// A memory-capped runtime for one query: no disk spilling, no file-list cache.
fn query_runtime(memory_bytes: usize) -> Result<Arc<RuntimeEnv>> {
    Ok(RuntimeEnvBuilder::new()
        .with_memory_limit(memory_bytes, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()?)
}

/// Refuses SQL text too long, or with chains of operators, joins or set operations too long to
/// plan safely: DataFusion walks such chains recursively, one stack frame per link (nesting
/// depth is bounded separately, by the parser).
pub fn check_sql_text(sql: &str) -> Result<()> {
    let too_big = |message: String| Error::Limit {
        kind: LimitKind::Size,
        message,
    };
    if sql.len() > MAX_SQL_BYTES {
        return Err(too_big(format!(
            "SQL text of {} bytes is longer than the limit of {MAX_SQL_BYTES} bytes",
            sql.len()
        )));
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map_err(|e| Error::Query(DataFusionError::SQL(Box::new(e.into()), None)))?;
    let links = tokens.iter().filter(|t| is_link(t)).count();
    if links > MAX_LINKS {
        return Err(too_big(format!(
            "query too complex: {links} operators, joins and set operations (the limit is {MAX_LINKS})"
        )));
    }
    Ok(())
}

/// Most binary operators, joins and set operations in one statement.
pub const MAX_LINKS: usize = 1000;

/// Whether a token chains two operands (a binary operator, AND/OR, JOIN, UNION...).
fn is_link(token: &Token) -> bool {
    match token {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::JOIN
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
        ),
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::StringConcat
        | Token::Eq
        | Token::DoubleEq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Spaceship
        | Token::Ampersand
        | Token::Pipe
        | Token::Caret
        | Token::ShiftLeft
        | Token::ShiftRight
        | Token::Tilde
        | Token::TildeAsterisk
        | Token::ExclamationMarkTilde
        | Token::ExclamationMarkTildeAsterisk
        | Token::Arrow
        | Token::LongArrow => true,
        _ => false,
    }
}

/// Refuses anything but a read-only query, naming the statement.
pub(crate) fn ensure_read_only(statement: &DfStatement) -> Result<()> {
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

/// The rows of a running query, batch by batch, under its deadline and row limit.
///
/// Dropping it cancels the query.
pub struct QueryStream {
    schema: SchemaRef,
    receiver: mpsc::Receiver<DfResult<RecordBatch>>,
    task: tokio::task::JoinHandle<()>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limits: Limits,
    /// Runtime errors lose their data values (see [`runtime_error`]).
    scoped: bool,
    rows: usize,
    peeked: Option<Result<RecordBatch>>,
    done: bool,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl QueryStream {
    /// Columns of the result.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows delivered so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn finish(&mut self, error: Error) -> Poll<Option<Result<RecordBatch>>> {
        self.done = true;
        self.task.abort();
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.peeked.take() {
            return Poll::Ready(Some(first));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let error = time_limit(&self.limits);
            return self.finish(error);
        }
        match self.receiver.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let error = runtime_error(e, &self.limits, self.scoped);
                self.finish(error)
            }
            Poll::Ready(Some(Ok(batch))) => {
                let rows = self.rows + batch.num_rows();
                if rows > self.limits.max_rows {
                    let max = self.limits.max_rows;
                    return self.finish(Error::Limit {
                        kind: LimitKind::Rows,
                        message: format!(
                            "query cancelled: the result has more than {max} rows (the row limit); add a LIMIT or aggregate"
                        ),
                    });
                }
                self.rows = rows;
                Poll::Ready(Some(Ok(batch)))
            }
        }
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn time_limit(limits: &Limits) -> Error {
    let seconds = limits.timeout.as_secs_f64();
    Error::Limit {
        kind: LimitKind::Time,
        message: format!("query cancelled: it ran past the time limit of {seconds} s"),
    }
}

/// DataFusion's memory refusal as a limit error; anything else as it is. In an agency-scoped
/// session the refusal names no amount: a share of the pool may hold rows of every agency (a
/// projection table laid out before its scope's filter), and its size would tell their count.
fn limit_error(e: DataFusionError, limits: &Limits, scoped: bool) -> Error {
    if let DataFusionError::ResourcesExhausted(detail) = e.find_root() {
        let mib = limits.memory_bytes >> 20;
        let detail = if scoped {
            "amounts are not shown to agency-scoped tokens"
        } else {
            detail
        };
        return Error::Limit {
            kind: LimitKind::Memory,
            message: format!(
                "query cancelled: it needs more than the memory limit of {mib} MiB ({detail})"
            ),
        };
    }
    // DataFusion reports a pattern too big to compile as its own fault; it is the query's.
    if let DataFusionError::Internal(detail) = e.find_root()
        && let Some(at) = detail.find("Regular expression did not compile")
    {
        return Error::Query(DataFusionError::Execution(detail[at..].to_owned()));
    }
    Error::Query(e)
}

/// In an agency-scoped session, refuses `EXPLAIN VERBOSE` and `EXPLAIN ANALYZE`: they print
/// statistics and metrics computed over every agency's files and rows (row counts, min/max
/// values, selectivity). Plain `EXPLAIN` shows the plan only.
fn refuse_statistics(plan: &LogicalPlan) -> Result<()> {
    let what = match plan {
        LogicalPlan::Explain(explain) if explain.verbose => "EXPLAIN VERBOSE",
        LogicalPlan::Analyze(_) => "EXPLAIN ANALYZE",
        _ => return Ok(()),
    };
    Err(Error::NotAQuery(format!(
        "{what} is not available to agency-scoped tokens: it shows statistics of every agency's data; use EXPLAIN"
    )))
}

/// An error met while running, as the client sees it.
///
/// In an agency-scoped session the message keeps only what went wrong, never a value: an
/// error on a row would otherwise quote it, and the row may be one the scope hides (a plan can
/// evaluate expressions in an order the SQL text does not show).
fn runtime_error(e: DataFusionError, limits: &Limits, scoped: bool) -> Error {
    use datafusion::arrow::error::ArrowError;
    match limit_error(e, limits, scoped) {
        Error::Query(e) if scoped => {
            let what = match e.find_root() {
                DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
                    ArrowError::CastError(_) | ArrowError::ParseError(_) => {
                        "a value could not be converted to the requested type"
                    }
                    ArrowError::DivideByZero => "division by zero",
                    ArrowError::ArithmeticOverflow(_) => "arithmetic overflow",
                    _ => "a function failed on a row",
                },
                _ => "a function or operator failed on a row",
            };
            Error::Query(DataFusionError::Execution(format!(
                "query failed while running: {what} (values are not shown to agency-scoped tokens)"
            )))
        }
        other => other,
    }
}

/// EXPLAIN's text without the lake's place on the server's disk (object paths are shown
/// without the leading `/`).
fn hide_paths(batch: &RecordBatch, root: &str) -> DfResult<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
    let relative = root.trim_start_matches('/');
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.as_string_opt::<i32>() {
            Some(text) => {
                let cleaned: StringArray = text
                    .iter()
                    .map(|v| v.map(|v| v.replace(root, "").replace(relative, "")))
                    .collect();
                Arc::new(cleaned) as ArrayRef
            }
            None => Arc::clone(column),
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
