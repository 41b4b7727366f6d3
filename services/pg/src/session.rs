//! One client connection: login with a token, then simple and extended queries on its session.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, SinkExt, StreamExt, stream};
use parwatch_auth::{Audit, Gate, Principal, Role};
use parwatch_lake::{Error as LakeError, Scope, Session, check_sql_text};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::PgServer;
use crate::catalog::{self, StatementParser};

/// How the audit trail names this entry point.
const VIA: &str = "pg";

/// The handlers of one connection.
pub(crate) struct Connection {
    state: Arc<ConnState>,
}

impl Connection {
    pub(crate) fn new(server: Arc<PgServer>, peer: SocketAddr) -> Self {
        let login = Arc::new(OnceLock::new());
        Self {
            state: Arc::new(ConnState {
                parser: Arc::new(Parser {
                    gate: Arc::clone(&server.gate),
                    login: Arc::clone(&login),
                    sql: StatementParser::new(),
                }),
                server,
                login,
                peer,
                pids: RandomPidSecretKeyGenerator::default(),
            }),
        }
    }

    /// Whether the connection has logged in (asked by the login timeout).
    pub(crate) fn logged_in(&self) -> impl Fn() -> bool + Send + 'static {
        let login = Arc::clone(&self.state.login);
        move || login.get().is_some()
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.state)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.state)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.state)
    }
}

/// Who logged in, with which token (none in open mode), and the session their scope allows.
struct Login {
    principal: Principal,
    token: Option<String>,
    session: Session,
}

impl Login {
    /// Refuses, and ends the session (FATAL), once its token was revoked or changed role or
    /// scope: checked before every statement, so `parwatch token revoke` reaches open sessions.
    fn check_token(&self, gate: &Gate) -> PgWireResult<()> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        match gate.still_valid(token, &self.principal) {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::info!(token = %self.principal.token_id, "pg: token revoked, session ended");
                Err(fatal(
                    "28000",
                    "the API token of this session was revoked (or its role or scope changed); \
                     reconnect with a valid token"
                        .to_owned(),
                ))
            }
            Err(e) => Err(fatal("XX000", e.to_string())),
        }
    }
}

struct ConnState {
    server: Arc<PgServer>,
    parser: Arc<Parser>,
    login: Arc<OnceLock<Login>>,
    peer: SocketAddr,
    pids: RandomPidSecretKeyGenerator,
}

impl ConnState {
    /// Checks the token (or the open mode), and prepares the session.
    fn log_in(&self, password: Option<&str>) -> PgWireResult<()> {
        let principal = self
            .server
            .gate
            .authenticate(password)
            .map_err(|e| fatal("28P01", e.to_string()))?;
        principal
            .require(Role::Analyst, "run SQL")
            .map_err(|e| fatal("28000", e.to_string()))?;
        let scope = Scope::from(principal.agency.clone());
        let session = self
            .server
            .engine
            .session_with(&scope, catalog::install)
            .map_err(|e| fatal("XX000", e.to_string()))?;
        tracing::info!(peer = %self.peer, token = %principal.token_id, agency = ?principal.agency, "pg: logged in");
        let _ = self.login.set(Login {
            principal,
            token: password.map(str::to_owned),
            session,
        });
        Ok(())
    }

    async fn finish<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        parameters.server_version = parwatch_lake::PG_VERSION.to_owned();
        finish_authentication(client, &parameters).await
    }

    /// Runs one planned query: budget, sandboxed execution, audit.
    async fn run(
        &self,
        login: &Login,
        sql: String,
        plan: LogicalPlan,
        format: &Format,
    ) -> PgWireResult<Response> {
        let mut audit = Audit::start(&login.principal, VIA, sql);
        let budgets = &self.server.budgets;
        let admitted = async {
            let permit = budgets.admit(&login.principal.token_id)?;
            let slot = budgets.running_slot().await?;
            Ok::<_, parwatch_auth::BudgetError>((permit, slot))
        }
        .await;
        let held = match admitted {
            Ok(held) => held,
            Err(e) => {
                audit.fail(&e.to_string());
                return Err(user_error("53400", e.to_string()));
            }
        };
        let rows = match login.session.execute(plan).await {
            Ok(rows) => rows,
            Err(e) => {
                audit.fail(&e.to_string());
                return Err(lake_error(e));
            }
        };
        let fields = Arc::new(arrow_schema_to_pg_fields(&rows.schema(), format, None)?);
        let row_fields = Arc::clone(&fields);
        let encoded = rows.flat_map(move |batch| {
            let _held = &held;
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send> = match batch {
                Ok(batch) => {
                    audit.add_rows(batch.num_rows());
                    encode_recordbatch(Arc::clone(&row_fields), batch)
                }
                Err(e) => {
                    audit.fail(&e.to_string());
                    Box::new(std::iter::once(Err(lake_error(e))))
                }
            };
            stream::iter(rows)
        });
        Ok(Response::Query(QueryResponse::new(fields, encoded)))
    }

    /// The login, once its token is checked again for the statement about to run.
    fn login(&self) -> PgWireResult<&Login> {
        let login = self
            .login
            .get()
            .ok_or_else(|| fatal("08P01", "not logged in".to_owned()))?;
        login.check_token(&self.server.gate)?;
        Ok(login)
    }
}

#[async_trait]
impl StartupHandler for ConnState {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.server.gate.is_open() {
                    // Open for local use: no password to ask for.
                    self.log_in(None)?;
                    return self.finish(client).await;
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                self.log_in(Some(&password.password))?;
                self.finish(client).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A statement prepared by the extended protocol.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    /// A transaction or `SET` statement, answered with its tag.
    Command(&'static str),
    /// A query and its plan (with `$n` parameters still open).
    Query { sql: String, plan: LogicalPlan },
}

pub(crate) struct Parser {
    gate: Arc<Gate>,
    login: Arc<OnceLock<Login>>,
    sql: StatementParser,
}

impl Parser {
    /// One statement's text into statements, with Postgres-isms rewritten for DataFusion.
    fn parse(&self, sql: &str) -> PgWireResult<Vec<Statement>> {
        check_sql_text(sql).map_err(lake_error)?;
        self.sql
            .parse(sql)
            .map_err(|e| user_error("42601", e.to_string()))
    }

    async fn prepare(&self, session: &Session, statement: Statement) -> PgWireResult<Prepared> {
        if let Some(tag) = no_op_tag(&statement) {
            return Ok(Prepared::Command(tag));
        }
        if let Statement::ShowVariable { variable } = &statement
            && let Some((name, value)) = catalog::setting(
                &variable
                    .iter()
                    .map(|i| i.value.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        {
            let sql = format!("SELECT '{value}' AS {name}");
            let plan = session.plan_sql(&sql).await.map_err(lake_error)?;
            return Ok(Prepared::Query { sql, plan });
        }
        let sql = statement.to_string();
        let plan = session
            .plan_statement(statement)
            .await
            .map_err(lake_error)?;
        Ok(Prepared::Query { sql, plan })
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let login = self
            .login
            .get()
            .ok_or_else(|| fatal("08P01", "not logged in".to_owned()))?;
        login.check_token(&self.gate)?;
        let mut statements = self.parse(sql)?;
        if statements.len() > 1 {
            return Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement".to_owned(),
            ));
        }
        match statements.pop() {
            None => Ok(None),
            Some(statement) => self.prepare(&login.session, statement).await.map(Some),
        }
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        parameter_types(statement)?
            .iter()
            .map(|t| t.as_ref().map_or(Ok(Type::UNKNOWN), into_pg_type))
            .collect()
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match statement {
            Prepared::Command(_) => Ok(Vec::new()),
            Prepared::Query { plan, .. } => arrow_schema_to_pg_fields(
                plan.schema().as_arrow(),
                format.unwrap_or(&Format::UnifiedText),
                None,
            ),
        }
    }
}

/// The most parameters a statement may have (as the protocol's 16-bit count allows).
const MAX_PARAMETERS: usize = u16::MAX as usize;

/// The plan's `$1, $2, …` types, each at its number's place (`None` where DataFusion could not
/// infer one, or the plan no longer has that parameter: a catalogue rewrite may drop some).
fn parameter_types(statement: &Prepared) -> PgWireResult<Vec<Option<DataType>>> {
    let Prepared::Query { plan, .. } = statement else {
        return Ok(Vec::new());
    };
    let types = plan
        .get_parameter_types()
        .map_err(|e| user_error("42P18", e.strip_backtrace()))?;
    let numbered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(name, t)| Some((name.strip_prefix('$')?.parse().ok()?, t)))
        .filter(|(n, _)| *n > 0)
        .collect();
    let count = numbered.iter().map(|(n, _)| *n).max().unwrap_or(0);
    if count > MAX_PARAMETERS {
        return Err(user_error(
            "42P02",
            format!("there is no parameter ${count} (at most {MAX_PARAMETERS})"),
        ));
    }
    let mut ordered = vec![None; count];
    for (n, t) in numbered {
        ordered[n - 1] = t;
    }
    Ok(ordered)
}

#[async_trait]
impl SimpleQueryHandler for ConnState {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = self.login()?;
        let mut responses = Vec::new();
        for statement in self.parser.parse(query)? {
            match self.parser.prepare(&login.session, statement).await {
                Ok(Prepared::Command(tag)) => responses.push(command_response(tag)),
                Ok(Prepared::Query { sql, plan }) => {
                    responses.push(self.run(login, sql, plan, &Format::UnifiedText).await?)
                }
                Err(e) => {
                    Audit::start(&login.principal, VIA, query.to_owned()).fail(&e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for ConnState {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = self.login()?;
        let statement = &portal.statement.statement;
        let Prepared::Query { sql, plan } = statement else {
            let Prepared::Command(tag) = statement else {
                unreachable!("two kinds")
            };
            return Ok(command_response(tag));
        };
        let types = parameter_types(statement)?;
        let types: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
        let values = deserialize_parameters(portal, &types)?;
        let plan = plan
            .clone()
            .replace_params_with_values(&values)
            .map_err(|e| user_error("22023", e.strip_backtrace()))?;
        self.run(login, sql.clone(), plan, &portal.result_column_format)
            .await
    }
}

/// Statements clients send on their own that change nothing here: transactions (everything is
/// read-only already) and session settings.
fn no_op_tag(statement: &Statement) -> Option<&'static str> {
    match statement {
        Statement::StartTransaction { .. } => Some("BEGIN"),
        Statement::Commit { .. } => Some("COMMIT"),
        Statement::Rollback { .. } => Some("ROLLBACK"),
        Statement::Savepoint { .. } => Some("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
        Statement::Set(_) => Some("SET"),
        Statement::Discard { .. } => Some("DISCARD ALL"),
        Statement::Deallocate { .. } => Some("DEALLOCATE"),
        _ => None,
    }
}

fn command_response(tag: &str) -> Response {
    match tag {
        "BEGIN" => Response::TransactionStart(Tag::new(tag)),
        "COMMIT" | "ROLLBACK" => Response::TransactionEnd(Tag::new(tag)),
        _ => Response::Execution(Tag::new(tag)),
    }
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        message,
    )))
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_owned(),
        code.to_owned(),
        message,
    )))
}

/// A lake error as the PostgreSQL error a client expects: the SQLSTATE of its kind, decided in
/// the lake (the HTTP endpoint maps the same kinds), and an internal cause masked.
fn lake_error(e: LakeError) -> PgWireError {
    user_error(e.kind().sqlstate(), e.client_message())
}
