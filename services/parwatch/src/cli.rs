//! Command line: every flag also an environment variable, grouped as api-v1 lists them.
//!
//! The doc comments of this module are `--help` text, printed as written: `<data-dir>` is a
//! placeholder there, not an HTML tag, and URLs are not Markdown links.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use parwatch_api::WebConfig;
use parwatch_api::embed::EmbedKey;
use parwatch_ingest::{Failpoint, IngestConfig};
use parwatch_lake::CompactionPolicy;

/// ParWatch: event-sourced analytics for public-administration reform (CCHC).
#[derive(Debug, Parser)]
#[command(name = "parwatch", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Log format on stderr.
    #[arg(long, env = "PARWATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub(crate) log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Everything on one machine: ingest worker and HTTP server (and a private nats-server
    /// when no --nats-url is given).
    Up(Box<UpArgs>),
    /// The ingest worker alone: JetStream → Parquet lake.
    Ingest(WorkerArgs),
    /// The HTTP server alone, reading the lake.
    Serve(Box<ServeArgs>),
    /// Publishes realistic events of a simulated province to NATS.
    Simulate(SimulateArgs),
    /// Creates, lists and revokes API tokens.
    Token(TokenArgs),
    /// Recomputes every projection (dossiers, daily rollups) from the raw events.
    Rebuild(LakeArgs),
    /// Mints a signed token that lets a web page embed one dashboard (optionally locked to
    /// one agency) until it expires; prints it on stdout, and its id on stderr.
    EmbedToken(EmbedTokenArgs),
    /// Revokes an embed token (by its id, or the token itself): every server refuses it from
    /// its next request on.
    EmbedRevoke(EmbedRevokeArgs),
    /// Publishing systems allowed to send events: adds one (with its NATS key), lists them,
    /// prints the nats-server accounts they need.
    Publisher(PublisherArgs),
    /// Upkeep of the lake's storage.
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Periodic CCHC reports: check definitions, preview, publish (frozen in the lake), list,
    /// show and export published reports, reproduce them, and what changed since.
    Report(crate::report::ReportArgs),
    /// The 766 service index: imports the national portal's published figures (CSV) for
    /// reconciliation.
    #[command(name = "index-766")]
    Index766(crate::index_766::Index766Args),
}

/// `parwatch lake`.
#[derive(Debug, Subcommand)]
pub(crate) enum LakeCommand {
    /// Converts a lake of the format before Delta Lake (partition folders under
    /// <data-dir>/lake/) into the Delta tables: moves it aside to <data-dir>/lake-v1/, appends
    /// its events and rejected messages to the tables, carries its projection snapshots over.
    /// Idempotent: a second run, or a run after one cut short, stores nothing twice. Stop
    /// ParWatch first.
    Migrate(MigrateArgs),
}

/// `parwatch lake migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    /// Rows per file written: old files are gathered, in order, into files of about this many
    /// rows, each committed with how far the migration got.
    #[arg(long, default_value_t = 250_000, value_parser = at_least_one)]
    pub(crate) rows_per_file: usize,
}

/// `parwatch publisher`.
#[derive(Debug, Args)]
pub(crate) struct PublisherArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    /// The publishers file. Default: <data-dir>/publishers.toml.
    #[arg(long, env = "PARWATCH_PUBLISHERS")]
    pub(crate) publishers: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) action: PublisherAction,
}

/// What to do with publishers.
#[derive(Debug, Subcommand)]
pub(crate) enum PublisherAction {
    /// Adds a publishing system: makes its NATS key pair, writes the seed (mode 0600) for the
    /// system to keep, and its public key, agencies and rights to the publishers file.
    Add {
        /// Its name (lowercase letters, digits, '-'), e.g. motcua-so-tp.
        name: String,
        /// An agency it publishes for: a code, or a prefix ending in '*'. Repeatable.
        #[arg(long = "agency", required = true)]
        agencies: Vec<String>,
        /// It may publish official assessments (par.score by appraisal, inspection, survey).
        #[arg(long)]
        official: bool,
        /// Who runs it.
        #[arg(long)]
        note: Option<String>,
        /// Where to write its seed. Default: <data-dir>/publishers/<name>.nk.
        #[arg(long)]
        key_out: Option<PathBuf>,
    },
    /// Lists the publishers.
    List,
    /// Prints the `accounts { … }` block for a nats-server.conf (include it, restart or reload
    /// the server); the worker's and administrator's keys are <data-dir>/nats/ingest.nk and
    /// admin.nk, made when missing.
    NatsConfig {
        /// Partitions of the stream, as the workers' --partitions.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
    },
}

/// Where NATS is.
#[derive(Debug, Args)]
pub(crate) struct NatsArgs {
    /// NATS server URL, or a cluster's several separated by commas (any that answers will do;
    /// the client learns the others from it). `up` starts a private nats-server (store under
    /// the data dir) when absent; `serve` then watches no broker (given, it reports each
    /// partition's lag); the other commands default to nats://127.0.0.1:4222.
    #[arg(long, env = "PARWATCH_NATS_URL")]
    pub(crate) nats_url: Option<String>,
    /// The nkey seed file of this process's NATS user: the worker's (`ingest`, `up
    /// --nats-url`) or a publishing system's (`simulate`); see `parwatch publisher`. `up`
    /// without --nats-url makes and uses its own.
    #[arg(long, env = "PARWATCH_NATS_NKEY")]
    pub(crate) nats_nkey: Option<PathBuf>,
    /// Seconds to keep retrying NATS when it does not answer: connecting, creating the stream
    /// and the consumer at start, and publishes not acknowledged (sent again with the same
    /// message id). Pauses grow from 0.5 s to 8 s, each announced on stderr; then the command
    /// stops with the reason.
    #[arg(long, env = "PARWATCH_NATS_RETRY_SECS", default_value = "60", value_parser = seconds)]
    pub(crate) nats_retry_secs: Duration,
}

impl NatsArgs {
    /// How NATS calls are retried (--nats-retry-secs).
    pub(crate) fn backoff(&self) -> parwatch_ingest::Backoff {
        parwatch_ingest::Backoff::with_deadline(self.nats_retry_secs)
    }

    /// The identity of --nats-nkey, if given.
    pub(crate) fn identity(&self) -> anyhow::Result<Option<parwatch_ingest::Identity>> {
        Ok(match &self.nats_nkey {
            Some(path) => Some(parwatch_ingest::Identity::load(path)?),
            None => None,
        })
    }
}

/// Where the data lives.
#[derive(Debug, Args)]
pub(crate) struct LakeArgs {
    /// Data directory: tokens, publishers, the private nats-server's store (nats/) and, unless
    /// --lake says otherwise, the lake (lake/).
    #[arg(
        long,
        env = "PARWATCH_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub(crate) data_dir: PathBuf,
    /// The lake's Delta tables: a local folder, or `s3://bucket/prefix` on an S3-compatible
    /// store (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). Default:
    /// <data-dir>/lake.
    #[arg(long, env = "PARWATCH_LAKE", global = true)]
    pub(crate) lake: Option<String>,
    /// Endpoint of the S3-compatible store (e.g. http://127.0.0.1:8333); also AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    pub(crate) lake_endpoint: Option<String>,
    /// Region of the S3 store; also AWS_REGION.
    #[arg(long, env = "AWS_REGION", global = true)]
    pub(crate) lake_region: Option<String>,
}

impl LakeArgs {
    /// Where the lake is, with the store options the flags give.
    pub(crate) fn location(&self) -> anyhow::Result<parwatch_lake::LakeLocation> {
        let location = match &self.lake {
            Some(spec) => parwatch_lake::LakeLocation::parse(spec)?,
            None => parwatch_lake::LakeLocation::local(&self.data_dir.join("lake"))?,
        };
        let options = [
            ("AWS_ENDPOINT_URL", &self.lake_endpoint),
            ("AWS_REGION", &self.lake_region),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), value.clone()?)));
        Ok(location.with_options(options))
    }

    /// Opens the lake.
    pub(crate) fn open(&self) -> anyhow::Result<parwatch_lake::Lake> {
        let location = self.location()?;
        parwatch_lake::Lake::open(&location)
            .map_err(|e| anyhow::anyhow!("cannot open the lake at {location}: {e}"))
    }
}

/// Where the servers listen, and what one SQL query (HTTP or PostgreSQL) may take.
///
/// Without --open every caller needs an API token (with none in the data dir, everyone is
/// refused, and a non-loopback address is refused at start).
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address of the HTTP server.
    #[arg(long, env = "PARWATCH_HTTP", default_value = "127.0.0.1:8080")]
    pub(crate) http: SocketAddr,
    /// Address of the PostgreSQL wire protocol endpoint (psql, DBeaver, Grafana, Metabase).
    #[arg(long, env = "PARWATCH_PG", default_value = "127.0.0.1:5433")]
    pub(crate) pg: SocketAddr,
    /// Do not serve the PostgreSQL protocol.
    #[arg(long, env = "PARWATCH_NO_PG")]
    pub(crate) no_pg: bool,
    /// Agencies' names: a CSV file with the header `agency_code,name`, shown beside the codes
    /// and queryable as the SQL table `agencies`. Default: <data-dir>/agencies.csv when it
    /// exists.
    #[arg(long, env = "PARWATCH_AGENCIES")]
    pub(crate) agencies: Option<PathBuf>,
    /// Per-query time limit, in seconds.
    #[arg(long, env = "PARWATCH_SQL_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub(crate) sql_timeout: Duration,
    /// Per-query memory limit, in MiB (hash tables, sorts; no spilling to disk).
    #[arg(long, env = "PARWATCH_SQL_MEMORY_MB", default_value_t = 512, value_parser = at_least_one)]
    pub(crate) sql_memory_mb: usize,
    /// Most rows one result may have.
    #[arg(long, env = "PARWATCH_SQL_MAX_ROWS", default_value_t = 1_000_000, value_parser = at_least_one)]
    pub(crate) sql_max_rows: usize,
    /// Queries one token may run at the same time.
    #[arg(long, env = "PARWATCH_SQL_CONCURRENT", default_value_t = 4, value_parser = at_least_one)]
    pub(crate) sql_concurrent: usize,
    /// Queries one token may start per minute.
    #[arg(long, env = "PARWATCH_SQL_PER_MINUTE", default_value_t = std::num::NonZeroU32::new(120).expect("non-zero"))]
    pub(crate) sql_per_minute: std::num::NonZeroU32,
    /// SQL statements running at once, all callers and both protocols together (the console,
    /// dashboard SQL panels, embeds and PostgreSQL sessions); a statement waits up to 2 s for a
    /// slot, then is refused.
    #[arg(long, env = "PARWATCH_SQL_RUNNING", default_value_t = 16, value_parser = at_least_one)]
    pub(crate) sql_running: usize,
    #[command(flatten)]
    pub(crate) http_limits: HttpLimitArgs,
    #[command(flatten)]
    pub(crate) access: AccessArgs,
}

impl ServerArgs {
    /// The per-query limits.
    pub(crate) fn limits(&self) -> parwatch_lake::Limits {
        parwatch_lake::Limits {
            timeout: self.sql_timeout,
            memory_bytes: self.sql_memory_mb << 20,
            max_rows: self.sql_max_rows,
        }
    }

    /// The per-token budget.
    pub(crate) fn budget(&self) -> parwatch_auth::QueryBudget {
        parwatch_auth::QueryBudget {
            concurrent: self.sql_concurrent,
            per_minute: self.sql_per_minute,
            running: self.sql_running,
        }
    }
}

/// What the HTTP server's connections, dashboards and embeds may take.
#[derive(Debug, Args)]
pub(crate) struct HttpLimitArgs {
    /// Seconds a client has to send a request's headers (also how long an idle kept-alive
    /// connection stays open).
    #[arg(long, env = "PARWATCH_HTTP_HEADER_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub(crate) http_header_timeout: Duration,
    /// Seconds a connection may move no byte either way (a slow body, a client that stops
    /// reading) before it is closed; must be longer than --sql-timeout.
    #[arg(long, env = "PARWATCH_HTTP_IDLE_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub(crate) http_idle_timeout: Duration,
    /// Most HTTP connections open at once; more wait in the listen backlog.
    #[arg(long, env = "PARWATCH_HTTP_MAX_CONNECTIONS", default_value_t = 512, value_parser = at_least_one)]
    pub(crate) http_max_connections: usize,
    /// Dashboard panel requests one viewer's token may make per minute.
    #[arg(long, env = "PARWATCH_PANELS_PER_MINUTE", default_value_t = std::num::NonZeroU32::new(1200).expect("non-zero"))]
    pub(crate) panels_per_minute: std::num::NonZeroU32,
    /// Panel requests one embed token may make per minute, all its visitors together.
    #[arg(long, env = "PARWATCH_EMBED_TOKEN_PER_MINUTE", default_value_t = std::num::NonZeroU32::new(12_000).expect("non-zero"))]
    pub(crate) embed_token_per_minute: std::num::NonZeroU32,
    /// Requests one client address may make to /embed/api per minute.
    #[arg(long, env = "PARWATCH_EMBED_CLIENT_PER_MINUTE", default_value_t = std::num::NonZeroU32::new(600).expect("non-zero"))]
    pub(crate) embed_client_per_minute: std::num::NonZeroU32,
    /// Behind a reverse proxy on this host (TLS): count a request from loopback against the
    /// client address the proxy appended last to X-Forwarded-For.
    #[arg(long, env = "PARWATCH_HTTP_FORWARDED_FOR")]
    pub(crate) http_forwarded_for: bool,
}

impl HttpLimitArgs {
    /// The connection limits, checked against the SQL time limit: a query's response may be
    /// silent while it runs, so the idle timeout must outlast it.
    pub(crate) fn connections(
        &self,
        sql_timeout: Duration,
    ) -> Result<parwatch_api::HttpLimits, String> {
        if self.http_idle_timeout <= sql_timeout {
            return Err(format!(
                "--http-idle-timeout ({} s) must be longer than --sql-timeout ({} s)",
                self.http_idle_timeout.as_secs_f64(),
                sql_timeout.as_secs_f64()
            ));
        }
        Ok(parwatch_api::HttpLimits {
            header_timeout: self.http_header_timeout,
            idle_timeout: self.http_idle_timeout,
            max_connections: self.http_max_connections,
        })
    }

    /// What SQL and dashboard work is admitted.
    pub(crate) fn admission(&self) -> parwatch_api::AdmissionLimits {
        parwatch_api::AdmissionLimits {
            viewer_panels_per_minute: self.panels_per_minute,
            embed_token_per_minute: self.embed_token_per_minute,
            embed_client_per_minute: self.embed_client_per_minute,
            forwarded_for: self.http_forwarded_for,
        }
    }
}

/// Who may come in: open mode, the HTTP server's host names, the PostgreSQL endpoint's
/// connection caps.
#[derive(Debug, Args)]
pub(crate) struct AccessArgs {
    /// Run open, for local use: a caller without a token is an unscoped admin (a token sent is
    /// still checked). Loopback addresses only; decided at start, whatever the token file
    /// holds later. `up --demo` on loopback sets it.
    #[arg(long, env = "PARWATCH_OPEN")]
    pub(crate) open: bool,
    /// Host names the HTTP server answers to (the `Host` header, port ignored), besides
    /// localhost and IP addresses; comma-separated. Others get 421 (DNS rebinding).
    #[arg(
        long = "allowed-host",
        env = "PARWATCH_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub(crate) allowed_hosts: Vec<String>,
    /// Most PostgreSQL connections open at once; one more gets SQLSTATE 53300.
    #[arg(long, env = "PARWATCH_PG_MAX_CONNECTIONS", default_value_t = 64, value_parser = at_least_one)]
    pub(crate) pg_max_connections: usize,
    /// Most PostgreSQL connections open at once from one client address.
    #[arg(long, env = "PARWATCH_PG_MAX_CONNECTIONS_PER_PEER", default_value_t = 16, value_parser = at_least_one)]
    pub(crate) pg_max_connections_per_peer: usize,
    /// Seconds a PostgreSQL connection has to log in before it is closed.
    #[arg(long, env = "PARWATCH_PG_LOGIN_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub(crate) pg_login_timeout: Duration,
}

impl AccessArgs {
    /// Open mode and host names, as the gate takes them.
    pub(crate) fn gate(&self) -> parwatch_auth::GateConfig {
        parwatch_auth::GateConfig {
            open: self.open,
            allowed_hosts: self.allowed_hosts.clone(),
        }
    }

    /// The PostgreSQL endpoint's connection caps.
    pub(crate) fn pg(&self) -> parwatch_pg::ConnectionLimits {
        parwatch_pg::ConnectionLimits {
            max_connections: self.pg_max_connections,
            per_peer: self.pg_max_connections_per_peer,
            login_timeout: self.pg_login_timeout,
        }
    }
}

/// `parwatch embed-revoke`.
#[derive(Debug, Args)]
pub(crate) struct EmbedRevokeArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    /// The embed token's id (printed when it was minted), or the token itself.
    pub(crate) id: String,
}

/// `parwatch token`: API tokens for the HTTP API and the PostgreSQL endpoint.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    #[command(subcommand)]
    pub(crate) action: TokenAction,
}

/// What to do with tokens.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenAction {
    /// Mints a token and prints it once (only its SHA-256 digest is stored).
    Create {
        /// viewer (dashboards, metrics), analyst (+ SQL, PostgreSQL), admin (+ embed tokens).
        #[arg(long)]
        role: parwatch_auth::Role,
        /// Restrict the token to one agency's rows (its code, e.g. SO-TP).
        #[arg(long)]
        agency: Option<String>,
        /// Who or what the token is for.
        #[arg(long)]
        note: Option<String>,
    },
    /// Lists tokens (ids, roles, scopes; never the tokens).
    List,
    /// Revokes a token by id; servers stop accepting it at once.
    Revoke {
        /// The token's id (the part after `pwt_`).
        id: String,
    },
}

/// The PAR Index.
#[derive(Debug, Args)]
pub(crate) struct ParArgs {
    /// Directory of PAR Index scoring models, `<kind>/<year>.toml` as in deploy/par-model;
    /// without it, the models built into the binary (deploy/par-model at build time).
    #[arg(long, env = "PARWATCH_PAR_MODELS")]
    pub(crate) par_models: Option<PathBuf>,
    /// Directory of 766 service index rubrics, `<valid-from-date>.toml` as in
    /// deploy/index-766; without it, the rubrics built into the binary.
    #[arg(long = "index-766", env = "PARWATCH_INDEX_766")]
    pub(crate) index_766: Option<PathBuf>,
}

/// The periodic reports' definitions.
#[derive(Debug, Args)]
pub(crate) struct ReportsArgs {
    /// Directory of report definitions (*.toml), each checked at start: a broken one stops
    /// the command, naming the file and the problem. Default: the definitions built into the
    /// binary (reports/ at build time).
    #[arg(long, env = "PARWATCH_REPORTS", global = true)]
    pub(crate) reports: Option<PathBuf>,
}

impl ReportsArgs {
    /// The definitions, checked.
    pub(crate) fn catalogue(&self) -> anyhow::Result<parwatch_reports::Catalogue> {
        use anyhow::Context as _;
        let dir = self.reports.as_deref();
        parwatch_reports::Catalogue::open(dir).with_context(|| match dir {
            Some(dir) => format!("loading report definitions from {}", dir.display()),
            None => "loading the built-in report definitions".to_owned(),
        })
    }
}

/// Dashboards and the secret of embed tokens.
#[derive(Debug, Args)]
pub(crate) struct DashboardArgs {
    /// Directory of dashboard files (*.toml), re-read when one changes. Default: ./dashboards
    /// when it exists, else the definitions built into the binary.
    #[arg(long, env = "PARWATCH_DASHBOARDS")]
    pub(crate) dashboards: Option<PathBuf>,
    /// Secret that signs embed tokens (at least 32 characters). Default: <data-dir>/embed.key,
    /// generated once (mode 0600). Changing it invalidates every token minted before.
    #[arg(long, env = "PARWATCH_EMBED_SECRET", hide_env_values = true)]
    pub(crate) embed_secret: Option<String>,
}

/// The web UI of the HTTP server.
#[derive(Debug, Args)]
pub(crate) struct WebArgs {
    #[command(flatten)]
    pub(crate) dashboards: DashboardArgs,
    /// Origins allowed to show embedded dashboards in a frame, comma-separated (e.g.
    /// https://sotuphap.example.gov.vn); the pages' Content-Security-Policy frame-ancestors.
    #[arg(long, env = "PARWATCH_EMBED_ORIGINS", value_delimiter = ',')]
    pub(crate) embed_origins: Vec<String>,
    /// Embeds are public: a panel's point (or ranking row) of fewer dossiers than this is
    /// withheld, with those that would give it back through the range's total.
    #[arg(long, env = "PARWATCH_EMBED_MIN_DOSSIERS", default_value_t = parwatch_reports::MIN_DOSSIERS,
        value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub(crate) embed_min_dossiers: u32,
}

impl DashboardArgs {
    pub(crate) fn config(
        &self,
        data_dir: &std::path::Path,
        embed_origins: Vec<String>,
    ) -> anyhow::Result<WebConfig> {
        Ok(WebConfig {
            dashboards: self.dashboards.clone(),
            embed_key: EmbedKey::resolve(self.embed_secret.as_deref(), data_dir)?,
            embed_origins,
            embed_min_dossiers: parwatch_reports::MIN_DOSSIERS,
        })
    }
}

impl WebArgs {
    pub(crate) fn config(&self, data_dir: &std::path::Path) -> anyhow::Result<WebConfig> {
        Ok(WebConfig {
            embed_min_dossiers: self.embed_min_dossiers,
            ..self
                .dashboards
                .config(data_dir, self.embed_origins.clone())?
        })
    }
}

/// `parwatch embed-token`.
#[derive(Debug, Args)]
pub(crate) struct EmbedTokenArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    #[command(flatten)]
    pub(crate) dashboards: DashboardArgs,
    /// The dashboard to embed (its file name without .toml, e.g. province).
    #[arg(long)]
    pub(crate) dashboard: String,
    /// Lock the embed to this agency (its code); without it, the whole province.
    #[arg(long)]
    pub(crate) agency: Option<String>,
    /// How long the token is valid, e.g. 1h, 30d, 1year.
    #[arg(long, default_value = "1h", value_parser = positive_duration)]
    pub(crate) ttl: Duration,
}

/// The worker's production settings ([`IngestConfig::new`]): the flags' defaults.
fn worker_default() -> IngestConfig {
    IngestConfig::new("")
}

/// Tuning of the ingest worker; each flag defaults to [`worker_default`]'s value.
#[derive(Debug, Args)]
pub(crate) struct IngestTuning {
    /// Flush to the lake when this many messages are pending.
    #[arg(long, env = "PARWATCH_FLUSH_EVENTS", default_value_t = worker_default().flush_events, value_parser = at_least_one)]
    pub(crate) flush_events: usize,
    /// Flush when the oldest pending message is this many milliseconds old (freshness).
    #[arg(long, env = "PARWATCH_FLUSH_INTERVAL_MS", default_value_t = worker_default().flush_interval.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) flush_interval_ms: u64,
    /// Messages requested from JetStream per pull.
    #[arg(long, env = "PARWATCH_PULL_BATCH", default_value_t = worker_default().pull_batch, value_parser = at_least_one)]
    pub(crate) pull_batch: usize,
    /// Seconds the broker waits for an ack before redelivering.
    #[arg(long, env = "PARWATCH_ACK_WAIT_SECS", default_value_t = worker_default().ack_wait.as_secs())]
    pub(crate) ack_wait_secs: u64,
    /// Seconds between compaction passes (small files merged, replaced files vacuumed).
    #[arg(long, env = "PARWATCH_COMPACT_EVERY_SECS", default_value_t = worker_default().compact_every.as_secs())]
    pub(crate) compact_every_secs: u64,
    /// Compact a table once it has this many small files.
    #[arg(long, env = "PARWATCH_COMPACT_MAX_FILES", default_value_t = worker_default().compaction.max_files, value_parser = at_least_two)]
    pub(crate) compact_max_files: usize,
    /// Compact a table of two or more small files after this many seconds without a new file.
    #[arg(long, env = "PARWATCH_COMPACT_IDLE_SECS", default_value_t = worker_default().compaction.idle.as_secs())]
    pub(crate) compact_idle_secs: u64,
    /// Hours files replaced by compaction are kept (time travel reads versions this old;
    /// longer than any query runs).
    #[arg(long, env = "PARWATCH_VACUUM_RETENTION_HOURS", default_value_t = worker_default().compaction.retention.as_secs() / 3600)]
    pub(crate) vacuum_retention_hours: u64,
    /// Tests and benchmark only: `crash-after-write` aborts after a lake write, before its ack;
    /// `discard-after-receive`, `-validate`, `-layout` acknowledge without storing (loses data).
    #[arg(long, env = "PARWATCH_FAILPOINT", hide = true)]
    pub(crate) failpoint: Option<Failpoint>,
    /// Who may publish what: the publishers file. Default: <data-dir>/publishers.toml (no
    /// file: nobody; `up --demo` adds its own publisher).
    #[arg(long, env = "PARWATCH_PUBLISHERS")]
    pub(crate) publishers: Option<PathBuf>,
    /// Flush when the pending messages hold this many MiB (also bounds each pull).
    #[arg(long, env = "PARWATCH_FLUSH_MB", default_value_t = worker_default().flush_bytes >> 20, value_parser = at_least_one)]
    pub(crate) flush_mb: usize,
    /// Earliest accepted occurred_at (YYYY-MM-DD, UTC); earlier events are rejected.
    #[arg(long, env = "PARWATCH_OCCURRED_AFTER", default_value_t = worker_default().occurred_after.date_naive())]
    pub(crate) occurred_after: chrono::NaiveDate,
    /// Latest accepted occurred_at, in days from now; later events are rejected.
    #[arg(long, env = "PARWATCH_OCCURRED_AHEAD_DAYS", default_value_t = worker_default().occurred_ahead.num_days() as u32)]
    pub(crate) occurred_ahead_days: u32,
    /// The stream's largest message, in KiB (the contract's limit is 64).
    #[arg(long, env = "PARWATCH_STREAM_MAX_MSG_KB", default_value_t = worker_default().stream_limits.max_msg_size as u32 / 1024, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) stream_max_msg_kb: u32,
    /// Most GiB the stream keeps (the oldest messages are dropped first).
    #[arg(long, env = "PARWATCH_STREAM_MAX_GB", default_value_t = (worker_default().stream_limits.max_bytes >> 30) as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) stream_max_gb: u32,
    /// Copies of each message a NATS cluster keeps (3 on a three-node cluster: a node may be
    /// lost); 1 on one server.
    #[arg(long, env = "PARWATCH_STREAM_REPLICAS", default_value_t = worker_default().stream_limits.replicas as u8, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub(crate) stream_replicas: u8,
    /// Days the stream keeps a message.
    #[arg(long, env = "PARWATCH_STREAM_MAX_AGE_DAYS", default_value_t = (worker_default().stream_limits.max_age.as_secs() / 86_400) as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) stream_max_age_days: u32,
}

/// `parwatch ingest`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    #[command(flatten)]
    pub(crate) tuning: IngestTuning,
    #[command(flatten)]
    pub(crate) split: SplitArgs,
    /// Serve the worker's /healthz, /readyz and /metrics on this address (for a load
    /// balancer's checks and Prometheus); none by default.
    #[arg(long, env = "PARWATCH_WORKER_HTTP")]
    pub(crate) http: Option<SocketAddr>,
}

/// How many partitions the stream is split into.
#[derive(Debug, Args)]
pub(crate) struct PartitionsArg {
    /// Partitions of the stream (1–64). With more than one, the streams are PAR_EVENTS_<k>, the
    /// broker's accounts map subjects to them (`parwatch publisher nats-config --partitions`),
    /// and any number of workers share them, one per partition at a time, under leases; API
    /// nodes report each partition's position and completeness.
    #[arg(long, env = "PARWATCH_PARTITIONS", default_value_t = 1)]
    pub(crate) partitions: u32,
}

/// How the stream is split among workers.
#[derive(Debug, Args)]
pub(crate) struct SplitArgs {
    #[command(flatten)]
    pub(crate) partitions: PartitionsArg,
    /// How long a partition's lease lasts without renewal: the longest a dead worker's
    /// partitions wait for another worker.
    #[arg(long, env = "PARWATCH_LEASE_TTL_SECS", default_value_t = 10)]
    pub(crate) lease_ttl_secs: u64,
}

impl NatsArgs {
    /// The URL given, or the local default `nats://127.0.0.1:4222`.
    pub(crate) fn url_or_default(&self) -> String {
        self.nats_url
            .clone()
            .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned())
    }
}

impl WorkerArgs {
    /// The worker's settings: its key from --nats-nkey, the publishers from their file.
    pub(crate) fn config(&self, nats_url: String) -> anyhow::Result<IngestConfig> {
        let file = self.tuning.publishers_file(&self.lake.data_dir);
        let publishers = parwatch_ingest::Publishers::load(&file)?;
        Ok(IngestConfig {
            partitions: parwatch_ingest::Partitions::new(self.split.partitions.partitions)?,
            lease_ttl: Duration::from_secs(self.split.lease_ttl_secs.max(1)),
            ..self.tuning.config(
                nats_url,
                self.nats.backoff(),
                self.nats.identity()?,
                publishers,
            )
        })
    }
}

impl IngestTuning {
    /// The publishers file: --publishers, else <data-dir>/publishers.toml.
    pub(crate) fn publishers_file(&self, data_dir: &std::path::Path) -> PathBuf {
        self.publishers
            .clone()
            .unwrap_or_else(|| data_dir.join("publishers.toml"))
    }

    /// The stream's limits.
    pub(crate) fn stream_limits(&self) -> parwatch_ingest::StreamLimits {
        parwatch_ingest::StreamLimits {
            max_msg_size: (self.stream_max_msg_kb * 1024) as i32,
            max_bytes: i64::from(self.stream_max_gb) << 30,
            max_age: Duration::from_secs(u64::from(self.stream_max_age_days) * 24 * 3600),
            replicas: usize::from(self.stream_replicas),
        }
    }

    /// The worker's settings, connecting as `identity` (its start retried by `start_retry`)
    /// and authorising by `publishers`.
    pub(crate) fn config(
        &self,
        nats_url: String,
        start_retry: parwatch_ingest::Backoff,
        identity: Option<parwatch_ingest::Identity>,
        publishers: parwatch_ingest::Publishers,
    ) -> IngestConfig {
        IngestConfig {
            identity,
            publishers,
            stream_limits: self.stream_limits(),
            flush_bytes: self.flush_mb << 20,
            occurred_after: self
                .occurred_after
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
            occurred_ahead: chrono::Duration::days(i64::from(self.occurred_ahead_days)),
            pull_batch: self.pull_batch,
            flush_events: self.flush_events,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            ack_wait: Duration::from_secs(self.ack_wait_secs),
            failpoint: self.failpoint,
            compaction: CompactionPolicy {
                max_files: self.compact_max_files,
                idle: Duration::from_secs(self.compact_idle_secs),
                retention: Duration::from_secs(self.vacuum_retention_hours * 3600),
            },
            compact_every: Duration::from_secs(self.compact_every_secs.max(1)),
            start_retry,
            ..IngestConfig::new(nats_url)
        }
    }
}

/// `parwatch up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) worker: IngestTuning,
    #[command(flatten)]
    pub(crate) par: ParArgs,
    #[command(flatten)]
    pub(crate) reports: ReportsArgs,
    /// Also fill the lake with a simulated province: about two years of history, then live
    /// events, so the dashboards fill in and move.
    #[arg(long, env = "PARWATCH_DEMO")]
    pub(crate) demo: bool,
    /// Demo: dossiers received on an ordinary working day.
    #[arg(long, env = "PARWATCH_DEMO_SCALE", default_value_t = 1_000)]
    pub(crate) demo_scale: u32,
    /// Demo: live events per second after the history.
    #[arg(long, env = "PARWATCH_DEMO_RATE", default_value_t = 20.0)]
    pub(crate) demo_rate: f64,
    /// Demo with --nats-url: the nkey seed file of the publisher the demo publishes as.
    /// Without --nats-url, the private server gets a publisher `demo` of its own.
    #[arg(long, env = "PARWATCH_DEMO_NKEY")]
    pub(crate) demo_nkey: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) web: WebArgs,
}

/// How `simulate` shows progress.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ProgressArg {
    /// A bar when stderr is a terminal, else log lines.
    Auto,
    /// A progress bar (events, rate, ETA).
    Bar,
    /// A log line every 10 s.
    Log,
    /// Nothing.
    Quiet,
}

/// `parwatch simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    /// Seed of the province and of every choice: the same seed and options publish the same
    /// events (same ids).
    #[arg(long, env = "PARWATCH_SIM_SEED", default_value_t = 1)]
    pub(crate) seed: u64,
    /// Dossiers received on an ordinary working day.
    #[arg(long, env = "PARWATCH_SIM_SCALE", default_value_t = 2_000)]
    pub(crate) scale: u32,
    /// Share of malformed events of varied faults, to exercise rejection (0–0.5).
    #[arg(long, env = "PARWATCH_SIM_INVALID_SHARE", default_value_t = 0.0)]
    pub(crate) invalid_share: f64,
    /// Publish the history from --from to --to as fast as possible instead of live events.
    #[arg(long, env = "PARWATCH_SIM_BACKFILL", requires = "from")]
    pub(crate) backfill: bool,
    /// Backfill: first local date (YYYY-MM-DD).
    #[arg(long, env = "PARWATCH_SIM_FROM")]
    pub(crate) from: Option<chrono::NaiveDate>,
    /// Backfill: last local date (YYYY-MM-DD); without it, until --count events.
    #[arg(long, env = "PARWATCH_SIM_TO")]
    pub(crate) to: Option<chrono::NaiveDate>,
    /// Live: events per second.
    #[arg(long, env = "PARWATCH_SIM_RATE", default_value_t = 100.0)]
    pub(crate) rate: f64,
    /// Live: seconds to run.
    #[arg(long, env = "PARWATCH_SIM_DURATION", default_value_t = 60)]
    pub(crate) duration: u64,
    /// Stop after this many events.
    #[arg(long, env = "PARWATCH_SIM_COUNT")]
    pub(crate) count: Option<u64>,
    /// Progress display.
    #[arg(long, env = "PARWATCH_SIM_PROGRESS", value_enum, default_value_t = ProgressArg::Auto)]
    pub(crate) progress: ProgressArg,
    /// Also write the simulated province's agency names to this CSV file (for `--agencies`
    /// of `parwatch serve`/`up`, or <data-dir>/agencies.csv).
    #[arg(long, env = "PARWATCH_SIM_AGENCIES_OUT")]
    pub(crate) agencies_out: Option<PathBuf>,
}

/// `parwatch serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    /// The broker, watched only when given: `/api/v1/status` then says how far each partition
    /// lags behind the lake.
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) par: ParArgs,
    #[command(flatten)]
    pub(crate) reports: ReportsArgs,
    #[command(flatten)]
    pub(crate) web: WebArgs,
    #[command(flatten)]
    pub(crate) partitions: PartitionsArg,
}

fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "expected a positive number of seconds, got {text:?}"
        )),
    }
}

fn at_least(min: usize, text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least {min}, got {text:?}"
        )),
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    at_least(1, text)
}

fn at_least_two(text: &str) -> Result<usize, String> {
    at_least(2, text)
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d >= Duration::from_secs(1) => Ok(d),
        Ok(_) => Err("expected at least one second".to_owned()),
        Err(e) => Err(format!("{e} (e.g. 1h, 30d, 1year)")),
    }
}
