//! `parwatch`: the one binary of ParWatch. Thin: parses the command line (the only place config
//! is read), sets up logging and shutdown signals, and composes the library crates —
//! `parwatch-ingest` (JetStream → lake), `parwatch-api` (HTTP), `parwatch-pg` (PostgreSQL wire),
//! `parwatch-auth` (tokens) — into the commands of api-v1.

mod cli;
mod index_766;
mod migrate;
mod publishers;
mod report;
mod simulate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use parwatch_api::{Access, AgencyNames, AppState};
use parwatch_auth::{Budgets, Gate, TokenStore};
use parwatch_ingest::IngestStatus;
use parwatch_lake::Lake;
use parwatch_pg::PgServer;
use tokio::sync::watch;
use tracing::info;

use crate::cli::{
    Cli, Command, EmbedRevokeArgs, EmbedTokenArgs, LakeArgs, LakeCommand, LogFormat, ParArgs,
    ServeArgs, ServerArgs, TokenAction, TokenArgs, UpArgs, WorkerArgs,
};

/// glibc's allocator spent a quarter of the ingest worker's CPU time (profiled with `perf`).
/// Without transparent huge pages (`no_thp`): with them, memory freed between flushes stayed
/// resident in 2 MiB pages, and the worker's peak RSS with a 2,000,000-event backlog was 271 MiB
/// instead of 208 MiB, for no gain in speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The agency directory in the data directory, read when `--agencies` is not given.
const AGENCY_NAMES_FILE: &str = "agencies.csv";

/// How long freed memory stays with the process before it goes back to the OS (mimalloc's
/// default: 10 ms). Each flush frees buffers of megabytes and the next allocates them again;
/// zeroing the pages afresh each time cost the ingest worker about 10% of its CPU. With 300 ms
/// its peak RSS is 20–40 MiB higher: 192 MiB with a 2,000,000-event backlog (ingest bench).
const PURGE_DELAY_MS: std::ffi::c_long = 300;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3); libmimalloc-sys has no name for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> anyhow::Result<()> {
    // An operator's own setting (read by mimalloc at start) wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it whenever it next purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    // What ParWatch writes (the lake's files, snapshots, tokens) is closed to other users: the
    // object store writes files with the process's default modes.
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe { libc::umask(0o027) };
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let done = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up(*args).await,
            Command::Publisher(args) => publishers::publisher(args),
            Command::Ingest(args) => ingest(args).await,
            Command::Serve(args) => serve(args).await,
            Command::Simulate(args) => simulate::simulate(args).await,
            Command::Rebuild(args) => rebuild(args).await,
            Command::Token(args) => token(args),
            Command::EmbedToken(args) => embed_token(args).await,
            Command::EmbedRevoke(args) => embed_revoke(args),
            Command::Report(args) => report::report(args).await,
            Command::Index766(args) => index_766::index_766(args).await,
            Command::Lake(LakeCommand::Migrate(args)) => {
                tokio::task::spawn_blocking(move || migrate::migrate(args)).await?
            }
        }
    });
    // Every command has finished what it must (the worker flushed and acknowledged, the
    // projections' snapshot is saved). What still runs is background upkeep in a blocking task,
    // a compaction's rewrite above all: it ends in one atomic commit or leaves nothing the log
    // names, so it is abandoned. Dropping the runtime would wait for it, tens of seconds after
    // SIGTERM while the demo's history lands.
    runtime.shutdown_background();
    done
}

fn init_logging(format: LogFormat) {
    // The Delta kernel logs every snapshot it builds at info: one line per query is noise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,buoyant_kernel=warn,deltalake_core=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Folds every file not yet folded in, with a progress bar named `what`, and saves the
/// projections' snapshot. Blocking.
pub(crate) fn catch_up_with_bar(
    projector: &parwatch_metrics::Projector,
    what: &str,
) -> anyhow::Result<()> {
    let template =
        format!("{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} files, {{elapsed}} (ETA {{eta}})");
    let bar = indicatif::ProgressBar::new(0)
        .with_style(indicatif::ProgressStyle::with_template(&template)?);
    projector.catch_up(&mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    projector.save()?;
    Ok(())
}

/// A shutdown signal many tasks can wait on: set on Ctrl-C or SIGTERM, or by [`Shutdown::trigger`].
#[derive(Clone)]
struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    fn on_signals() -> Self {
        let (tx, _) = watch::channel(false);
        let shutdown = Self(tx);
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => info!("Ctrl-C: shutting down"),
                _ = term.recv() => info!("SIGTERM: shutting down"),
            }
            trigger.trigger();
        });
        shutdown
    }

    fn trigger(&self) {
        self.0.send_replace(true);
    }

    fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} server to {addr}"))?;
    info!(addr = %listener.local_addr()?, "{what} listening");
    Ok(listener)
}

/// Where the lake's events come from, as the server reports it.
enum Ingest {
    /// The worker runs in this process (`up`): its counters.
    InProcess(Arc<IngestStatus>),
    /// Workers run elsewhere, on a stream of `partitions` partitions (`serve`), whose lags
    /// the server watches when it is given the broker.
    Elsewhere {
        partitions: u32,
        lags: Option<Arc<parwatch_ingest::PartitionLags>>,
    },
}

/// The HTTP server (and the PostgreSQL endpoint unless disabled) over `lake`, running until
/// `shutdown`; returns the HTTP address and a task ending when both have stopped.
async fn start_servers(
    args: &ServerArgs,
    data_dir: &std::path::Path,
    lake: Lake,
    ingest: Ingest,
    (models, index_766, reports): (
        parwatch_scoring::Models,
        parwatch_scoring::ServiceRubrics,
        parwatch_reports::Catalogue,
    ),
    web: parwatch_api::WebConfig,
    shutdown: &Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let mut addrs = vec![args.http];
    if !args.no_pg {
        addrs.push(args.pg);
    }
    let gate = Gate::new(
        TokenStore::in_data_dir(data_dir),
        &addrs,
        args.access.gate(),
    )
    .map_err(anyhow::Error::msg)?;
    let access = Access {
        gate: Arc::new(gate),
        budgets: Arc::new(Budgets::new(args.budget())),
        limits: args.limits(),
    };
    let connections = args
        .http_limits
        .connections(args.sql_timeout)
        .map_err(anyhow::Error::msg)?;
    let (status, partitions, lags) = match ingest {
        Ingest::InProcess(status) => (Some(status), 1, None),
        Ingest::Elsewhere { partitions, lags } => (None, partitions, lags),
    };
    let mut state = AppState::new(lake, status, access.clone())?
        .with_partitions(partitions)
        .with_admission(args.http_limits.admission())
        .with_par_models(models)
        .with_index_766(index_766)?
        .with_reports(reports)
        .with_web(web)
        .await?;
    let default_names = data_dir.join(AGENCY_NAMES_FILE);
    let names = match &args.agencies {
        Some(path) => Some(path.as_path()),
        None => default_names.exists().then_some(default_names.as_path()),
    };
    if let Some(path) = names {
        state = state.with_agency_names(AgencyNames::load(path)?)?;
    }
    if let Some(lags) = lags {
        state = state.with_lags(lags);
    }
    let http = bind("http", args.http).await?;
    let addr = http.local_addr()?;
    let pg = if args.no_pg {
        None
    } else {
        let listener = bind("pg", args.pg).await?;
        let server = PgServer::new(
            state.engine.clone(),
            access.gate,
            access.budgets,
            args.access.pg(),
        );
        Some(tokio::spawn(server.serve(listener, shutdown.wait())))
    };
    let http = tokio::spawn(parwatch_api::serve(
        http,
        state,
        connections,
        shutdown.wait(),
    ));
    let both = tokio::spawn(async move {
        let _ = http.await;
        if let Some(pg) = pg {
            let _ = pg.await;
        }
    });
    Ok((addr, both))
}

/// The 766 service index's rubrics: from the directory given, else built in; checked now so a
/// broken file stops the start naming it.
fn index_766(args: &ParArgs) -> anyhow::Result<parwatch_scoring::ServiceRubrics> {
    match args.index_766.as_deref() {
        Some(dir) => parwatch_scoring::ServiceRubrics::load(dir)
            .with_context(|| format!("loading 766 index rubrics from {}", dir.display())),
        None => Ok(parwatch_scoring::ServiceRubrics::builtin()),
    }
}

/// The PAR Index's scoring models: from the directory given, else built in; checked now so a
/// broken file stops the start with its reason.
fn par_models(args: &ParArgs) -> anyhow::Result<parwatch_scoring::Models> {
    let dir = args.par_models.as_deref();
    parwatch_metrics::load_models(dir).with_context(|| match dir {
        Some(dir) => format!("loading PAR Index scoring models from {}", dir.display()),
        None => "loading the built-in PAR Index scoring models".to_owned(),
    })
}

async fn up(mut args: UpArgs) -> anyhow::Result<()> {
    let models = par_models(&args.par)?;
    let index_766 = index_766(&args.par)?;
    let reports = args.reports.catalogue()?;
    // The demo is for trying ParWatch on this machine: open, when nothing else can reach it.
    let loopback = args.server.http.ip().is_loopback()
        && (args.server.no_pg || args.server.pg.ip().is_loopback());
    if args.demo && loopback && !args.server.access.open {
        info!("demo on loopback: running open (as with --open)");
        args.server.access.open = true;
    }
    let shutdown = Shutdown::on_signals();
    let data_dir = &args.lake.data_dir;
    let broker = publishers::Broker::for_up(&args)?;
    let nats_url = broker.url.clone();
    let lake = args.lake.open()?;
    let names = data_dir.join(AGENCY_NAMES_FILE);
    if args.demo && args.server.agencies.is_none() && !names.exists() {
        simulate::write_agency_names(simulate::DEMO_SEED, &names)?;
    }
    let status = Arc::new(IngestStatus::default());
    let (addr, server) = start_servers(
        &args.server,
        data_dir,
        lake.clone(),
        Ingest::InProcess(Arc::clone(&status)),
        (models, index_766, reports),
        args.web.config(data_dir)?,
        &shutdown,
    )
    .await?;
    println!(
        "ParWatch is up: http://{addr}  (SQL: POST /api/v1/sql; NATS {nats_url}; data {})",
        data_dir.display()
    );
    // A demo that cannot publish stops everything: a server running empty would look like a
    // ParWatch without data, not like a broker that does not answer.
    let demo = args.demo.then(|| {
        let demo = simulate::Demo {
            nats_url: nats_url.clone(),
            identity: broker.demo.clone(),
            backfill: !lake_has_events(&lake),
            scale: args.demo_scale,
            rate: args.demo_rate,
            retry: args.nats.backoff(),
        };
        let stop = shutdown.wait();
        let failed = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = demo.run() => {
                    if let Err(e) = &result {
                        tracing::error!(error = %format!("{e:#}"), "demo publisher stopped: shutting down");
                        failed.trigger();
                    }
                    result
                },
                _ = stop => Ok(()),
            }
        })
    });
    let config = args.worker.config(
        nats_url,
        args.nats.backoff(),
        broker.worker.clone(),
        broker.publishers.clone(),
    );
    let worked = parwatch_ingest::run(config, lake, status, shutdown.wait()).await;
    shutdown.trigger();
    let demoed = match demo {
        Some(demo) => demo.await.context("demo task")?,
        None => Ok(()),
    };
    server.await.context("HTTP server task")?;
    drop(broker);
    worked.context("ingest worker")?;
    demoed.context("the demo could not publish to NATS")
}

async fn ingest(args: WorkerArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals();
    let lake = args.lake.open()?;
    let url = args.nats.url_or_default();
    let status = Arc::new(IngestStatus::default());
    let probes = match args.http {
        Some(addr) => {
            let listener = bind("http", addr).await?;
            info!(addr = %listener.local_addr()?, "worker probes listening");
            let (status, stop) = (Arc::clone(&status), shutdown.wait());
            Some(tokio::spawn(parwatch_api::serve_worker(
                listener, status, stop,
            )))
        }
        None => None,
    };
    let worked = parwatch_ingest::run(args.config(url)?, lake, status, shutdown.wait()).await;
    shutdown.trigger();
    if let Some(probes) = probes {
        probes.await.context("worker probes")?;
    }
    worked.context("ingest worker")
}

async fn serve(args: Box<ServeArgs>) -> anyhow::Result<()> {
    let models = par_models(&args.par)?;
    let index_766 = index_766(&args.par)?;
    let reports = args.reports.catalogue()?;
    let shutdown = Shutdown::on_signals();
    let data_dir = &args.lake.data_dir;
    let lake = args.lake.open()?;
    let (_, servers) = start_servers(
        &args.server,
        data_dir,
        lake,
        Ingest::Elsewhere {
            partitions: args.partitions.partitions,
            lags: match &args.nats.nats_url {
                Some(url) => Some(parwatch_ingest::PartitionLags::watch(
                    url.clone(),
                    args.nats.identity()?,
                    parwatch_ingest::Partitions::new(args.partitions.partitions)?,
                )),
                None => None,
            },
        },
        (models, index_766, reports),
        args.web.config(data_dir)?,
        &shutdown,
    )
    .await?;
    servers.await.context("servers")
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let store = TokenStore::in_data_dir(&args.lake.data_dir);
    match args.action {
        TokenAction::Create { role, agency, note } => {
            let (record, token) = store.create(role, agency, note)?;
            let scope = record.agency.as_deref().unwrap_or("all agencies");
            eprintln!(
                "token {} ({}, {scope}) stored in {}; it is shown once, keep it secret:",
                record.id,
                record.role,
                store.path().display()
            );
            println!("{token}");
        }
        TokenAction::List => {
            for t in store.list()?.iter() {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role,
                    t.agency.as_deref().unwrap_or("*"),
                    t.created_at.format("%Y-%m-%d %H:%M UTC"),
                    t.note.as_deref().unwrap_or("")
                );
            }
        }
        TokenAction::Revoke { id } => {
            anyhow::ensure!(store.revoke(&id)?, "no token with id {id}");
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}

async fn embed_token(args: EmbedTokenArgs) -> anyhow::Result<()> {
    let data_dir = &args.lake.data_dir;
    let lake = args.lake.open()?;
    // The dashboards are checked as the server checks them; the projections' tables need to
    // exist for that, not their contents.
    let engine = parwatch_lake::QueryEngine::new(&lake)?;
    parwatch_metrics::register_tables(&engine, Arc::new(parwatch_metrics::Projector::new(lake)))?;
    let web = parwatch_api::Web::new(args.dashboards.config(data_dir, Vec::new())?, engine).await?;
    let token = web
        .mint(&args.dashboard, args.agency.as_deref(), args.ttl)
        .await?;
    println!("{token}");
    if let Some(id) = parwatch_api::embed::token_id(&token) {
        eprintln!("id {id} (revoke it with `parwatch embed-revoke {id}`)");
    }
    eprintln!(
        "valid for {}; embed with <iframe src=\"http://HOST/embed/{}?token=...\">",
        humantime::format_duration(args.ttl),
        args.dashboard
    );
    Ok(())
}

fn embed_revoke(args: EmbedRevokeArgs) -> anyhow::Result<()> {
    let id = parwatch_api::embed::revocation_id(&args.id)?;
    let list = parwatch_auth::EmbedRevocations::in_data_dir(&args.lake.data_dir);
    if list.revoke(&id)? {
        eprintln!("embed token {id} revoked");
    } else {
        eprintln!("embed token {id} was already revoked");
    }
    Ok(())
}

fn lake_has_events(lake: &Lake) -> bool {
    lake.stats(parwatch_lake::EVENTS_TABLE).files > 0
}

async fn rebuild(args: LakeArgs) -> anyhow::Result<()> {
    let lake = args.open()?;
    let started = std::time::Instant::now();
    let projector = tokio::task::spawn_blocking(move || {
        parwatch_metrics::Projector::discard_snapshot(&lake)?;
        let projector = parwatch_metrics::Projector::new(lake);
        catch_up_with_bar(&projector, "rebuilding projections")?;
        anyhow::Ok(projector)
    })
    .await??;
    let projection = projector.read();
    println!(
        "projections rebuilt from {} events: {} dossiers, {} agencies, in {:.1} s",
        projection.rollups().event_count(),
        projection.dossier_count(),
        projection.rollups().agencies().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
