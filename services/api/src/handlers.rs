//! Request handlers.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Deserialize;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

use crate::AppState;
use crate::encode::{self, Format};
use crate::error::{ApiError, error_reply};

pub(crate) fn healthz() -> impl Reply {
    warp::reply::json(&serde_json::json!({ "status": "ok" }))
}

pub(crate) fn readyz(state: AppState) -> Response {
    let lake = state.lake.is_readable();
    let projections = state.telemetry.projections_ready.load(Ordering::Relaxed);
    let worker = state
        .ingest
        .as_ref()
        .map(|s| s.ready.load(Ordering::Relaxed));
    let ready = lake && projections && worker.unwrap_or(true);
    let body = warp::reply::json(&serde_json::json!({
        "ready": ready, "lake": lake, "projections": projections, "ingest": worker,
    }));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(body, status).into_response()
}

pub(crate) fn prometheus(state: AppState) -> impl Reply {
    let text = state.telemetry.render(state.ingest.as_deref(), &state.lake);
    warp::reply::with_header(text, header::CONTENT_TYPE, "text/plain; version=0.0.4")
}

/// Body of `POST /api/v1/sql`.
#[derive(Debug, Deserialize)]
pub(crate) struct SqlBody {
    sql: String,
}

/// Query string of `POST /api/v1/sql`.
#[derive(Debug, Deserialize)]
pub(crate) struct SqlParams {
    #[serde(default)]
    format: Option<String>,
}

pub(crate) async fn sql(
    params: SqlParams,
    body: bytes::Bytes,
    state: AppState,
) -> Result<Response, Rejection> {
    // Any content type: scripts often post JSON without saying so.
    let body: SqlBody = serde_json::from_slice(&body).map_err(|e| {
        warp::reject::custom(ApiError::BadRequest(format!(
            "body must be JSON {{\"sql\": \"SELECT ...\"}}: {e}"
        )))
    })?;
    let format = match Format::parse(params.format.as_deref()) {
        Ok(f) => f,
        Err(message) => return Ok(error_reply(StatusCode::BAD_REQUEST, &message)),
    };
    let started = Instant::now();
    let result = state.engine.sql(&body.sql).await;
    let elapsed = started.elapsed();
    let telemetry = &state.telemetry;
    telemetry
        .query_micros
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    let output = match result {
        Ok(output) => output,
        Err(e) => {
            telemetry.queries_failed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(sql = %body.sql, error = %e, "query refused");
            return Err(warp::reject::custom(ApiError::from(e)));
        }
    };
    telemetry.queries_ok.fetch_add(1, Ordering::Relaxed);
    tracing::info!(sql = %body.sql, rows = output.row_count(), elapsed_ms = elapsed.as_millis() as u64, "query answered");
    encode::reply(&output, format, elapsed).map_err(warp::reject::custom)
}
