//! The filter tree: paths and methods, with state injected.

use std::convert::Infallible;

use warp::{Filter, Reply};

use crate::AppState;
use crate::auth::principal;
use crate::error::handle_rejection;
use crate::handlers::{self, SqlParams};
use crate::metrics::{self, MetricParams};

/// The OpenAPI description of this API.
const OPENAPI: &str = include_str!("../assets/openapi.json");

/// Largest accepted SQL request body.
const MAX_SQL_BODY: u64 = 1024 * 1024;

pub(crate) fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Every route of the API, with errors rendered as JSON.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(handlers::healthz);
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(handlers::readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(handlers::prometheus);
    let openapi = warp::path!("api" / "v1" / "openapi.json")
        .and(warp::get())
        .map(|| warp::reply::with_header(OPENAPI, "content-type", "application/json"));
    let catalogue = warp::path!("api" / "v1" / "metrics")
        .and(warp::get())
        .map(metrics::catalogue);
    let series = warp::path!("api" / "v1" / "metrics" / String)
        .and(warp::get())
        .and(warp::query::<MetricParams>())
        .and(principal(state.clone()))
        .and(with_state(state.clone()))
        .and_then(metrics::series);
    let ranking = warp::path!("api" / "v1" / "ranking")
        .and(warp::get())
        .and(warp::query::<MetricParams>())
        .and(principal(state.clone()))
        .and(with_state(state.clone()))
        .and_then(metrics::ranking);
    let par = crate::par::routes(state.clone());
    let sql = warp::path!("api" / "v1" / "sql")
        .and(warp::post())
        .and(principal(state.clone()))
        .and(warp::query::<SqlParams>())
        .and(warp::body::content_length_limit(MAX_SQL_BODY))
        .and(warp::body::bytes())
        .and(with_state(state.clone()))
        .and_then(handlers::sql);
    // The Host check answers first: a request for another name reaches no route.
    crate::auth::foreign_host(state.clone())
        .or(healthz)
        .or(readyz)
        .or(metrics)
        .or(sql)
        .or(openapi)
        .or(catalogue)
        .or(series)
        .or(ranking)
        .or(par)
        .or(crate::web::routes(state))
        .recover(handle_rejection)
        .with(warp::trace(request_span))
}

/// The span of a request: its method and path only. Not the query string (an embed's token
/// is there), not the Referer (the embed's URL) nor any credential header.
fn request_span(info: warp::trace::Info<'_>) -> tracing::Span {
    tracing::info_span!("request", method = %info.method(), path = %info.path())
}
