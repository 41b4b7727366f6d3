//! The ParWatch HTTP API (warp): health, read-only SQL over the lake, process metrics, and the
//! web UI (dashboards as code, embedding).
//!
//! The last stage of the pipeline (lake → DataFusion → **HTTP**). [`routes`] is the route
//! table (every path, method, authorization and handler, and the OpenAPI document generated
//! from the handlers), `handlers/` answer, the domain (`panels`, `dashboards`, `embed`, the
//! metrics and lake crates) computes; [`serve`] runs the table on a listener until shutdown;
//! [`Web`] adds the pages. Interfaces follow `shared/design/api-v1.md`; every error is JSON
//! `{"error": ...}` with a 4xx/5xx status, mapped in one place (`error.rs`).

mod admission;
mod agencies;
mod answers;
mod auth;
mod dashboards;
pub mod embed;
mod encode;
mod error;
mod freshness;
mod handlers;
mod models;
mod panels;
mod params;
mod reply;
mod routes;
mod server;
mod telemetry;
mod web;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parwatch_auth::{Budgets, Gate};
use parwatch_ingest::IngestStatus;
use parwatch_lake::{AsOf, Lake, Limits, QueryEngine};
use parwatch_metrics::{Projector, Rollups};
use serde::Serialize;

use crate::freshness::Freshness;
use crate::reply::Answer;

pub use admission::AdmissionLimits;
pub use agencies::{AgencyNames, AgencyNamesError};
pub use dashboards::DashboardError;
pub use error::ApiError;
pub use routes::routes;
pub use server::HttpLimits;
pub use telemetry::Telemetry;
pub use web::{Web, WebConfig, WebError};

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The lake the tables read.
    pub lake: Lake,
    /// SQL over the lake.
    pub engine: QueryEngine,
    /// The ingest worker's counters, when it runs in this process.
    pub ingest: Option<Arc<IngestStatus>>,
    /// Request counters of this server.
    pub telemetry: Arc<Telemetry>,
    /// Projections behind the metric catalogue.
    pub projector: Arc<Projector>,
    /// Authenticates callers.
    pub gate: Arc<Gate>,
    /// Per-token SQL budgets (shared with the PostgreSQL endpoint).
    pub budgets: Arc<Budgets>,
    /// Scoring models of the PAR Index.
    pub par_models: Arc<parwatch_scoring::Models>,
    /// Rubrics of the 766 service index.
    pub index_766: Arc<parwatch_scoring::ServiceRubrics>,
    /// The web UI, when served (see [`AppState::with_web`]).
    pub web: Option<Arc<Web>>,
    /// Agencies' names (see [`AppState::with_agency_names`]).
    pub agency_names: Arc<AgencyNames>,
    /// The report definitions in service (see [`AppState::with_reports`]).
    reports: handlers::reports::Reports,
    /// What SQL and dashboard work is admitted (see [`AppState::with_admission`]).
    admission: Arc<admission::Admission>,
    /// Keys the data version shown to embeds, so it tells when data changed and nothing more.
    version_key: std::hash::RandomState,
    /// Answers of the current version of `events`, by request.
    answers: Arc<answers::Answers>,
    /// Partitions of the stream (see [`AppState::with_partitions`]).
    partitions: u32,
    /// How complete the lake is, as of the last version the background refresh saw.
    freshness: Arc<std::sync::RwLock<Arc<Freshness>>>,
    /// Each partition's lag, when this node watches the broker.
    lags: Option<Arc<parwatch_ingest::PartitionLags>>,
}

/// Access control and SQL limits of a server.
#[derive(Debug, Clone)]
pub struct Access {
    /// Authenticates callers.
    pub gate: Arc<Gate>,
    /// Per-token SQL budgets.
    pub budgets: Arc<Budgets>,
    /// What one query may take.
    pub limits: Limits,
}

impl AppState {
    /// State for a server over `lake`, with the worker's status when it runs alongside.
    ///
    /// The projections start from the lake's snapshot; [`serve`] folds in the files landed
    /// since before reporting ready.
    pub fn new(
        lake: Lake,
        ingest: Option<Arc<IngestStatus>>,
        access: Access,
    ) -> parwatch_metrics::Result<Self> {
        let engine = QueryEngine::with_limits(&lake, access.limits)?;
        let projector = Arc::new(Projector::load(lake.clone())?);
        parwatch_metrics::register_tables(&engine, Arc::clone(&projector))?;
        let agency_names = Arc::new(AgencyNames::default());
        agency_names.register(&engine)?;
        Ok(Self {
            engine,
            lake,
            ingest,
            telemetry: Arc::default(),
            projector,
            gate: access.gate,
            budgets: access.budgets,
            par_models: Arc::new(parwatch_scoring::Models::builtin()),
            index_766: Arc::new(parwatch_scoring::ServiceRubrics::builtin()),
            web: None,
            agency_names,
            reports: handlers::reports::Reports::builtin(),
            admission: Arc::new(admission::Admission::new(AdmissionLimits::default())),
            version_key: std::hash::RandomState::new(),
            answers: Arc::default(),
            partitions: 1,
            freshness: Arc::default(),
            lags: None,
        })
    }

    /// The same state for a stream split into `partitions` (the workers' `--partitions`):
    /// freshness then tells each partition's position and completeness.
    pub fn with_partitions(self, partitions: u32) -> Self {
        Self {
            partitions: partitions.max(1),
            ..self
        }
    }

    /// The same state reporting how far each partition of the stream lags
    /// (`/api/v1/status`), as `lags` reads it from the broker.
    pub fn with_lags(self, lags: Arc<parwatch_ingest::PartitionLags>) -> Self {
        Self {
            lags: Some(lags),
            ..self
        }
    }

    /// How complete the lake is, as of the last version the background refresh saw.
    pub(crate) fn freshness(&self) -> Arc<Freshness> {
        Arc::clone(&self.freshness.read().expect("freshness lock"))
    }

    /// Reads the freshness of the lake's current version when it moved since `seen`; returns
    /// the version read.
    async fn refresh_freshness(&self, seen: Option<u64>) -> Option<u64> {
        let version = self.lake.stats(parwatch_lake::EVENTS_TABLE).version;
        if seen == Some(version) {
            return seen;
        }
        let (lake, partitions) = (self.lake.clone(), self.partitions);
        match tokio::task::spawn_blocking(move || Freshness::read(&lake, partitions)).await {
            Ok(Ok(fresh)) => {
                *self.freshness.write().expect("freshness lock") = Arc::new(fresh);
                Some(version)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the partitions' positions");
                seen
            }
            Err(e) => {
                tracing::warn!(error = %e, "freshness task failed");
                seen
            }
        }
    }

    /// The same state naming agencies by `names`: in the web UI and as the SQL table
    /// `agencies`.
    pub fn with_agency_names(self, names: AgencyNames) -> parwatch_lake::Result<Self> {
        names.register(&self.engine)?;
        tracing::info!(agencies = names.len(), "agency names loaded");
        Ok(Self {
            agency_names: Arc::new(names),
            ..self
        })
    }

    /// The same state admitting SQL and dashboard work within `limits`.
    pub fn with_admission(self, limits: AdmissionLimits) -> Self {
        Self {
            admission: Arc::new(admission::Admission::new(limits)),
            ..self
        }
    }

    /// The same state scoring the PAR Index with `models` instead of the built-in ones.
    pub fn with_par_models(self, models: parwatch_scoring::Models) -> Self {
        Self {
            par_models: Arc::new(models),
            ..self
        }
    }

    /// The same state scoring the 766 service index (its endpoint and SQL tables) by
    /// `rubrics` instead of the built-in ones.
    pub fn with_index_766(
        self,
        rubrics: parwatch_scoring::ServiceRubrics,
    ) -> parwatch_lake::Result<Self> {
        let rubrics = Arc::new(rubrics);
        parwatch_metrics::register_index_766(
            &self.engine,
            Arc::clone(&self.projector),
            Arc::clone(&rubrics),
        )?;
        Ok(Self {
            index_766: rubrics,
            ..self
        })
    }

    /// The same state serving the report definitions of `catalogue` (checked when loaded)
    /// instead of the built-in ones.
    pub fn with_reports(self, catalogue: parwatch_reports::Catalogue) -> Self {
        Self {
            reports: handlers::reports::Reports::new(catalogue),
            ..self
        }
    }

    /// Adds the web UI: pages, dashboards (checked here) and embedding.
    pub async fn with_web(mut self, config: WebConfig) -> Result<Self, WebError> {
        self.web = Some(Arc::new(Web::new(config, self.engine.clone()).await?));
        Ok(self)
    }

    /// Stores the projections' snapshot so the next start does not refold every event.
    async fn save_snapshot(&self) {
        let projector = Arc::clone(&self.projector);
        match tokio::task::spawn_blocking(move || projector.save()).await {
            Ok(Ok(())) => tracing::debug!("projection snapshot saved"),
            Ok(Err(e)) => tracing::warn!(error = %e, "projection snapshot not saved"),
            Err(e) => tracing::warn!(error = %e, "projection snapshot task failed"),
        }
    }

    /// Folds newly landed event files into the projections and publishes their rollups.
    async fn refresh(&self) -> Result<(), ApiError> {
        let projector = Arc::clone(&self.projector);
        tokio::task::spawn_blocking(move || projector.catch_up(&mut |_, _| {}))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(())
    }

    /// `ask`'s answer, serialized, from the rollups last published (the background refresh
    /// keeps them up to date; a request never folds) or from those of `as_of`. An answer of
    /// the current version is kept by `key`, which must name everything the answer depends on
    /// besides the version (the caller's scope included). A request `as_of` a past moment may
    /// fold a whole version: it counts against the caller's SQL budget.
    pub(crate) async fn answer<T: Serialize>(
        &self,
        caller: &parwatch_auth::Principal,
        as_of: Option<AsOf>,
        key: String,
        ask: impl FnOnce(&Rollups) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<Arc<Answer>, ApiError> {
        let Some(at) = as_of else {
            return self.cached(key, ask);
        };
        let _permit = self.budgets.admit(&caller.token_id)?;
        let projector = Arc::clone(&self.projector);
        let rollups = tokio::task::spawn_blocking(move || projector.at(at))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
        let stamp = self.freshness().headers(rollups.version());
        Ok(Arc::new(Answer::of(&ask(&rollups)?)?.stamped(stamp)))
    }

    /// `ask`'s answer from the rollups last published, serialized; kept by `key` (everything
    /// the answer depends on besides the version, the caller's scope included) until the
    /// version moves.
    pub(crate) fn cached<T: Serialize>(
        &self,
        key: String,
        ask: impl FnOnce(&Rollups) -> Result<T, ApiError>,
    ) -> Result<Arc<Answer>, ApiError> {
        let rollups = self.projector.rollups();
        let version = rollups.version();
        if let Some(kept) = version.and_then(|v| self.answers.get(v, &key)) {
            return Ok(kept);
        }
        let stamp = self.freshness().headers(version);
        let answer = Arc::new(Answer::of(&ask(&rollups)?)?.stamped(stamp));
        if let Some(version) = version {
            self.answers.put(version, key, Arc::clone(&answer));
        }
        Ok(answer)
    }
}

/// Serves an ingest-only process's probes on `listener` until `shutdown`: `/healthz` (the
/// process runs), `/readyz` (200 while the worker consumes or holds its leases, else 503) and
/// `/metrics` (the worker's counters in Prometheus text), so that every process of a cluster
/// is watched the same way.
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    status: Arc<IngestStatus>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use warp::Filter as _;
    use warp::http::StatusCode;
    let healthz =
        warp::path!("healthz").map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let ready = Arc::clone(&status);
    let readyz = warp::path!("readyz").map(move || {
        let ready = ready.ready.load(Ordering::Relaxed);
        let code = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        warp::reply::with_status(
            warp::reply::json(&serde_json::json!({"ready": ready})),
            code,
        )
    });
    let metrics = warp::path!("metrics").map(move || {
        let mut text = String::new();
        status.render(&mut text);
        warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4")
    });
    let routes = warp::get().and(
        healthz
            .map(warp::Reply::into_response)
            .or(readyz.map(warp::Reply::into_response))
            .unify()
            .or(metrics.map(warp::Reply::into_response))
            .unify(),
    );
    server::run(
        listener,
        warp::service(routes),
        HttpLimits::default(),
        shutdown,
    )
    .await;
}

/// How often the projections look for newly landed files.
const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// How often, at most, the projections' snapshot is rewritten while events arrive.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);

/// How often the rate limiters forget callers whose budgets are full again.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Serves the API on `listener`, its connections bounded by `limits`, until `shutdown`
/// resolves, keeping the projections up to date with the lake in the background.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let refresher = state.clone();
    let refreshing = tokio::spawn(async move {
        let mut saved = refresher.projector.rollups().event_count();
        let mut last_save = Instant::now();
        let mut last_forget = Instant::now();
        let mut fresh = None;
        loop {
            let read = refresher.refresh().await;
            let telemetry = &refresher.telemetry;
            telemetry
                .lake_readable
                .store(read.is_ok(), Ordering::Relaxed);
            match read {
                Ok(()) => telemetry.projections_ready.store(true, Ordering::Relaxed),
                Err(e) => tracing::error!(error = %e, "projections could not fold in new files"),
            }
            fresh = refresher.refresh_freshness(fresh).await;
            let events = refresher.projector.rollups().event_count();
            if events != saved && last_save.elapsed() >= SNAPSHOT_EVERY {
                refresher.save_snapshot().await;
                (saved, last_save) = (events, Instant::now());
            }
            if last_forget.elapsed() >= FORGET_EVERY {
                refresher.admission.forget_idle();
                last_forget = Instant::now();
            }
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    });
    let service = warp::service(routes(state.clone()));
    server::run(listener, service, limits, shutdown).await;
    refreshing.abort();
    let _ = refreshing.await;
    state.save_snapshot().await;
}
