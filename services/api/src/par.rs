//! `/api/v1/par-index` and `/api/v1/par-index/history`: the PAR Index (Chỉ số CCHC) as it
//! builds up during the year, from the projections and the scoring models.

use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use warp::{Filter, Rejection, Reply};

use parwatch_auth::{Principal, Role};

use crate::AppState;
use crate::auth::{agency_filter, principal};
use crate::error::ApiError;
use crate::routes::with_state;

/// Query string of the PAR Index endpoints; all text so every mistake gets our own message.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ParParams {
    year: Option<String>,
    agency: Option<String>,
}

/// Both endpoints, with state.
pub(crate) fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let index = warp::path!("api" / "v1" / "par-index")
        .and(warp::get())
        .and(warp::query::<ParParams>())
        .and(principal(state.clone()))
        .and(with_state(state.clone()))
        .and_then(index);
    let history = warp::path!("api" / "v1" / "par-index" / "history")
        .and(warp::get())
        .and(warp::query::<ParParams>())
        .and(principal(state.clone()))
        .and(with_state(state))
        .and_then(history);
    index.or(history)
}

fn today() -> NaiveDate {
    parwatch_proto::local_date(Utc::now())
}

/// The agency filter: absent or empty is none; a scoped token's own agency whatever it asks
/// (another agency is refused).
fn agency(params: &ParParams, principal: &Principal) -> Result<Option<String>, ApiError> {
    principal.require(Role::Viewer, "read the PAR Index")?;
    agency_filter(principal, params.agency.as_deref())
}

/// The years the PAR Index can be asked about: those of the dates the metrics serve.
const FIRST_YEAR: i32 = 1900;
/// See [`FIRST_YEAR`].
const LAST_YEAR: i32 = 9999;

/// `year`, this year by default; a year before every scoring model is refused.
fn year(params: &ParParams, state: &AppState, today: NaiveDate) -> Result<i32, ApiError> {
    let year = match params.year.as_deref() {
        None | Some("") => today.year(),
        Some(text) => text
            .parse()
            .ok()
            .filter(|y| (FIRST_YEAR..=LAST_YEAR).contains(y))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "year: {:?} is not a year from {FIRST_YEAR} to {LAST_YEAR}",
                    text.chars().take(40).collect::<String>()
                ))
            })?,
    };
    match state.par_models.first_year() {
        Some(first) if year >= first => Ok(year),
        first => Err(ApiError::BadRequest(format!(
            "no PAR Index scoring model for {year}: models start in {}",
            first.map_or("no year".to_owned(), |y| y.to_string())
        ))),
    }
}

async fn index(
    params: ParParams,
    principal: Principal,
    state: AppState,
) -> Result<warp::reply::Json, Rejection> {
    let answer = async {
        let agency = agency(&params, &principal)?;
        let today = today();
        let year = year(&params, &state, today)?;
        state.refresh().await?;
        let mut index = state
            .projector
            .read()
            .par_index(&state.par_models, year, today);
        if let Some(code) = &agency {
            index.agencies.retain(|a| &a.agency_code == code);
        }
        Ok::<_, ApiError>(json!({
            "year": year,
            "as_of": parwatch_metrics::as_of(year, today).map(|d| d.to_string()),
            "agency": agency,
            "agencies": index.agencies,
        }))
    };
    answer
        .await
        .map(|v| warp::reply::json(&v))
        .map_err(warp::reject::custom)
}

async fn history(
    params: ParParams,
    principal: Principal,
    state: AppState,
) -> Result<warp::reply::Json, Rejection> {
    let answer = async {
        let code = agency(&params, &principal)?.ok_or_else(|| {
            ApiError::BadRequest("agency: required (e.g. ?agency=000.00.16.H02)".to_owned())
        })?;
        state.refresh().await?;
        let today = today();
        let years = state
            .projector
            .read()
            .par_history(&state.par_models, &code, today);
        Ok::<_, ApiError>(json!({ "agency": code, "as_of": today.to_string(), "years": years }))
    };
    answer
        .await
        .map(|v| warp::reply::json(&v))
        .map_err(warp::reject::custom)
}
