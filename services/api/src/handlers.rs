//! Request handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parwatch_auth::{Audit, Principal, Role};
use serde::Deserialize;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

use crate::AppState;
use crate::auth;
use crate::encode::{self, Finish, Format};
use crate::error::ApiError;

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

/// How the audit trail names this entry point.
const VIA: &str = "http";

pub(crate) async fn sql(
    principal: Principal,
    params: SqlParams,
    body: bytes::Bytes,
    state: AppState,
) -> Result<Response, Rejection> {
    principal
        .require(Role::Analyst, "run SQL")
        .map_err(|e| warp::reject::custom(ApiError::from(e)))?;
    // Any content type: scripts often post JSON without saying so.
    let body: SqlBody = serde_json::from_slice(&body).map_err(|e| {
        warp::reject::custom(ApiError::BadRequest(format!(
            "body must be JSON {{\"sql\": \"SELECT ...\"}}: {e}"
        )))
    })?;
    let format = Format::parse(params.format.as_deref())
        .map_err(|message| warp::reject::custom(ApiError::BadRequest(message)))?;
    let started = Instant::now();
    let mut audit = Audit::start(&principal, VIA, body.sql.clone());
    let running = async {
        let permit = state.budgets.admit(&principal.token_id)?;
        let slot = state.budgets.running_slot().await?;
        let session = state.engine.session(&auth::scope(&principal))?;
        let plan = session.plan_sql(&body.sql).await?;
        let rows = session.execute(plan).await?;
        Ok::<_, ApiError>((permit, slot, rows))
    }
    .await;
    match running {
        Ok((permit, slot, rows)) => {
            let finish = Finish {
                audit,
                permit: Some(permit),
                slot: Some(slot),
                telemetry: Arc::clone(&state.telemetry),
                started,
            };
            Ok(encode::respond(rows, format, finish))
        }
        Err(e) => {
            let telemetry = &state.telemetry;
            telemetry.queries_failed.fetch_add(1, Ordering::Relaxed);
            telemetry
                .query_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            audit.fail(&e.to_string());
            Err(warp::reject::custom(e))
        }
    }
}
