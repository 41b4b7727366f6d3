//! `/api/v1/par-index` and `/api/v1/par-index/history`: the PAR Index (Chỉ số CCHC) as it
//! builds up during the year, from the projections and the scoring models, as recorded or
//! restated to the units of a date (`units`, `units_date`, as the metrics).

use chrono::{Datelike, NaiveDate};
use parwatch_auth::Principal;
use parwatch_scoring::AgencyIndex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::handlers::metrics::{Figures, UnitsBody};
use crate::params::{self, today};
use warp::http::StatusCode;
use warp::reply::Response;

/// Query string of the PAR Index endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ParQuery {
    /// The year scored (this year by default); not before the first scoring model's.
    #[param(example = 2024)]
    year: Option<String>,
    /// One agency's code (required by the history); a scoped token's own by default, and
    /// another is refused (403).
    #[param(example = "000.00.16.H02")]
    agency: Option<String>,
    /// `as_recorded` (default): each agency's own index; `restated`: the units existing on
    /// `units_date` only (`agency` is then one of them), each scored from the agencies it
    /// takes through the registry's lineage (docs/par-index.md) and ranked among them.
    #[param(example = "restated")]
    units: Option<String>,
    /// With `units=restated`: the date whose units are scored, `YYYY-MM-DD`; today by default.
    #[param(example = "2026-01-01")]
    units_date: Option<String>,
}

impl ParQuery {
    /// The agency filter: absent or empty is none; a scoped token's own whatever it asks.
    fn agency(&self, principal: &Principal) -> Result<Option<String>, ApiError> {
        params::agency(principal, self.agency.as_deref())
    }

    /// The view: `None` as recorded, `Some(date)` restated to the units of `date`.
    fn units(&self) -> Result<Option<NaiveDate>, ApiError> {
        params::units(self.units.as_deref(), self.units_date.as_deref())
    }

    /// `year`, refused before every scoring model.
    fn year(&self, state: &AppState) -> Result<i32, ApiError> {
        let year = params::year(self.year.as_deref())?;
        match state.par_models.first_year() {
            Some(first) if year >= first => Ok(year),
            first => Err(ApiError::BadRequest(format!(
                "no PAR Index scoring model for {year}: models start in {}",
                first.map_or("no year".to_owned(), |y| y.to_string())
            ))),
        }
    }
}

/// One year's PAR Index.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParIndex {
    /// The year.
    year: i32,
    /// Last day of the live metrics counted: the year's end, or today while it runs; null
    /// for a year still to come.
    as_of: Option<NaiveDate>,
    /// The agency asked for, or null.
    agency: Option<String>,
    /// By kind, then rank.
    agencies: Vec<AgencyIndex>,
    /// The units scored, and the structural breaks of the year.
    units: UnitsBody,
}

/// One year's PAR Index of every agency (or one), so far.
#[utoipa::path(get, path = "/api/v1/par-index", operation_id = "par_index", tag = "par", params(ParQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The index", body = ParIndex),
        (status = 400, description = "A bad year, one before every scoring model, or bad units", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's", body = ErrorBody)))]
pub(crate) async fn index(
    query: ParQuery,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    let agency = query.agency(&principal)?;
    let today = today();
    let year = query.year(&state)?;
    let units = query.units()?;
    let key = format!("par-index {year} {today} {agency:?} {units:?}");
    let answer = state.cached(key, |p| {
        let figures = Figures::new(p, units);
        let mut index = figures.view().par_index(&state.par_models, year, today);
        if let Some(code) = &agency {
            index.agencies.retain(|a| &a.agency_code == code);
        }
        let (from, to) = year_range(year, year)?;
        Ok(ParIndex {
            year,
            as_of: parwatch_metrics::as_of(year, today),
            agency: agency.clone(),
            agencies: index.agencies,
            units: figures.units(from, to, agency.as_deref()),
        })
    })?;
    Ok(answer.reply(StatusCode::OK, None, principal.agency.is_none()))
}

/// One agency's PAR Index, year by year.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParHistory {
    /// The agency.
    agency: String,
    /// Today.
    as_of: NaiveDate,
    /// Each year with a scoring model, oldest first.
    years: Vec<AgencyIndex>,
    /// The units scored, and the structural breaks of the years.
    units: UnitsBody,
}

/// One agency's PAR Index in every year with a scoring model.
#[utoipa::path(get, path = "/api/v1/par-index/history", operation_id = "par_history", tag = "par", params(ParQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agency's years", body = ParHistory),
        (status = 400, description = "No agency, or bad units", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's", body = ErrorBody)))]
pub(crate) async fn history(
    query: ParQuery,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    let agency = query.agency(&principal)?;
    let agency = params::required("agency", agency.as_deref(), "000.00.16.H02")?.to_owned();
    let today = today();
    let units = query.units()?;
    let key = format!("par-history {today} {agency:?} {units:?}");
    let answer = state.cached(key, |p| {
        let figures = Figures::new(p, units);
        let models = &state.par_models;
        let years = figures.view().par_history(models, &agency, today);
        let first = models.first_year().unwrap_or(today.year());
        let (from, to) = year_range(first, today.year())?;
        Ok(ParHistory {
            years,
            units: figures.units(from, to, Some(&agency)),
            agency: agency.clone(),
            as_of: today,
        })
    })?;
    Ok(answer.reply(StatusCode::OK, None, principal.agency.is_none()))
}

/// From 1 January of `first` to 31 December of `last`.
fn year_range(first: i32, last: i32) -> Result<(NaiveDate, NaiveDate), ApiError> {
    NaiveDate::from_ymd_opt(first, 1, 1)
        .zip(NaiveDate::from_ymd_opt(last, 12, 31))
        .ok_or_else(|| ApiError::BadRequest(format!("no such years: {first}–{last}")))
}
