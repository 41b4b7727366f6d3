//! Liveness, readiness, the Prometheus counters and the OpenAPI document.

use std::sync::atomic::Ordering;

use serde::Serialize;
use utoipa::ToSchema;
use warp::Reply;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use crate::AppState;
use crate::error::ApiError;
use crate::reply::Json;

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process runs.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process runs", body = Health)))]
pub(crate) async fn healthz() -> Result<Json<Health>, ApiError> {
    Ok(Json::ok(Health { status: "ok" }))
}

/// What readiness waits for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// Whether the server answers queries: the lake readable, the projections folded once,
    /// and the ingest worker (when it runs in this process) connected.
    ready: bool,
    /// The lake was readable at the background refresh's last reading (every 250 ms).
    lake: bool,
    /// The projections have folded in the lake at least once.
    projections: bool,
    /// The worker is connected; null when it does not run in this process.
    ingest: Option<bool>,
}

/// Ready to answer: 200, else 503 with what is missing.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "Not ready yet", body = Readiness)))]
pub(crate) async fn readyz(state: AppState) -> Result<Json<Readiness>, ApiError> {
    // As the background refresh last read it: a probe costs no read of the store.
    let lake = state.telemetry.lake_readable.load(Ordering::Relaxed);
    let projections = state.telemetry.projections_ready.load(Ordering::Relaxed);
    let ingest = state
        .ingest
        .as_ref()
        .map(|s| s.ready.load(Ordering::Relaxed));
    let ready = lake && projections && ingest.unwrap_or(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready,
        lake,
        projections,
        ingest,
    };
    Ok(Json::with_status(body, status))
}

/// The process's counters in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus exposition text", body = String,
     content_type = "text/plain")))]
pub(crate) async fn prometheus(state: AppState) -> Result<Response, ApiError> {
    let text = state.telemetry.render(
        state.ingest.as_deref(),
        &state.lake,
        &state.projector.read(),
    );
    Ok(
        warp::reply::with_header(text, header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .into_response(),
    )
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses(
    (status = 200, description = "The OpenAPI 3.1 description of this API", body = Object)))]
pub(crate) async fn openapi(document: bytes::Bytes) -> Result<Response, ApiError> {
    let mut response = Response::new(document.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
