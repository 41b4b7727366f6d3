//! `POST /api/v1/sql`: read-only SQL over the lake, streamed as JSON, CSV, Arrow or Parquet.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parwatch_auth::{Audit, Principal};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use warp::reply::Response;

use crate::AppState;
use crate::auth;
use crate::encode::{self, Finish, Format, SqlResult};
use crate::error::{ApiError, ErrorBody};
use crate::params;

/// Body of `POST /api/v1/sql`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SqlRequest {
    /// One read-only statement.
    #[schema(example = "SELECT agency_code, count(*) FROM events GROUP BY 1")]
    sql: String,
}

/// Query string of `POST /api/v1/sql`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SqlQuery {
    /// `json` (default), `csv`, `arrow` (Arrow IPC stream) or `parquet`.
    format: Option<String>,
}

/// The formats of a query's result.
const FORMATS: [Format; 4] = [Format::Json, Format::Csv, Format::Arrow, Format::Parquet];

/// How the audit trail names this entry point.
const VIA: &str = "http";

/// Runs one read-only statement in the caller's scope, within its budget.
#[utoipa::path(post, path = "/api/v1/sql", tag = "sql", params(SqlQuery),
    request_body(content = SqlRequest, description = "Any content type: the body is read as JSON"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The result, streamed", content(
            (SqlResult = "application/json"), (String = "text/csv"),
            (String = "application/vnd.apache.arrow.stream"),
            (String = "application/vnd.apache.parquet"))),
        (status = 400, description = "Not JSON, an unknown format, or SQL that does not plan", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an analyst's token, or not a query", body = ErrorBody),
        (status = 411, description = "No Content-Length", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A limit reached (time, memory, rows, size)", body = ErrorBody),
        (status = 429, description = "The token's budget or the server's running statements are spent", body = ErrorBody)))]
pub(crate) async fn sql(
    query: SqlQuery,
    principal: Principal,
    body: bytes::Bytes,
    state: AppState,
) -> Result<Response, ApiError> {
    // Any content type: scripts often post JSON without saying so.
    let body: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body must be JSON {{\"sql\": \"SELECT ...\"}}: {e}"
        ))
    })?;
    let format = params::format(query.format.as_deref(), &FORMATS)?;
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
            Err(e)
        }
    }
}
