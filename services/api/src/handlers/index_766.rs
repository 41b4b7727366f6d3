//! `/api/v1/index-766`: the national real-time service index of Decision 766 per agency for a
//! month, quarter or year, from the projections and the dated rubrics (docs/index-766.md).

use chrono::NaiveDate;
use parwatch_auth::Principal;
use parwatch_metrics::{InUnits, Rollups};
use parwatch_proto::AgencyKind;
use parwatch_scoring::{AgencyServiceIndex, IndexPeriod, ServiceIndex, ServiceRubrics};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::handlers::metrics::{Figures, UnitsBody};
use crate::params::{self, today};

/// Query string of the service index.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IndexQuery {
    /// The period: a month `2025-03`, a quarter `2025-Q1` or a year `2025`; this month by
    /// default.
    #[param(example = "2025-Q1")]
    period: Option<String>,
    /// Only agencies of this kind: `department`, `district` or `commune` (ranks are among
    /// agencies of one kind anyway).
    #[param(example = "commune")]
    kind: Option<String>,
    /// One agency's code; a scoped token's own by default, and another is refused (403).
    #[param(example = "000.00.16.H02")]
    agency: Option<String>,
    /// `as_recorded` (default): each agency's own index; `restated`: the units existing on
    /// `units_date` only (`agency` is then one of them), each scored from its inputs restated
    /// through the registry's lineage (as the `index_766_*` metrics restate them).
    #[param(example = "restated")]
    units: Option<String>,
    /// With `units=restated`: the date whose units are scored, `YYYY-MM-DD`; today by default.
    #[param(example = "2025-07-01")]
    units_date: Option<String>,
}

impl IndexQuery {
    fn period(&self, today: NaiveDate) -> Result<IndexPeriod, ApiError> {
        parse_period(self.period.as_deref(), today)
    }

    fn kind(&self) -> Result<Option<AgencyKind>, ApiError> {
        match self.kind.as_deref().filter(|k| !k.is_empty()) {
            None => Ok(None),
            Some(text) => AgencyKind::parse(text).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "kind {:?}: expected department, district or commune",
                    text.chars().take(40).collect::<String>()
                ))
            }),
        }
    }
}

/// A `period` parameter: this month when absent.
pub(crate) fn parse_period(text: Option<&str>, today: NaiveDate) -> Result<IndexPeriod, ApiError> {
    match text.filter(|p| !p.is_empty()) {
        None => {
            Ok(IndexPeriod::parse(&today.format("%Y-%m").to_string()).expect("a month of today"))
        }
        Some(text) => IndexPeriod::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "period {:?}: expected a month 2025-03, a quarter 2025-Q1 or a year 2025",
                text.chars().take(40).collect::<String>()
            ))
        }),
    }
}

/// The 766 index of `period` from `rollups` as recorded: 400 when no rubric was in force on
/// its first day.
pub(crate) fn scored(
    rollups: &Rollups,
    rubrics: &ServiceRubrics,
    period: IndexPeriod,
    today: NaiveDate,
) -> Result<ServiceIndex, ApiError> {
    scored_in(rollups.in_units(None), rubrics, period, today)
}

/// [`scored`] in a view: as recorded or restated to the units of a date.
fn scored_in(
    view: InUnits<'_>,
    rubrics: &ServiceRubrics,
    period: IndexPeriod,
    today: NaiveDate,
) -> Result<ServiceIndex, ApiError> {
    view.service_index(rubrics, period, today).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "no 766 index rubric in force on {}",
            period.first_day()
        ))
    })
}

/// The service index of one period.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceIndexBody {
    /// The period, `2025-03`, `2025-Q1` or `2025`.
    #[schema(example = "2025-Q1")]
    period: String,
    /// Its first day.
    from: NaiveDate,
    /// Its last day.
    to: NaiveDate,
    /// The day stocks (open late dossiers, overdue petitions) and the catalogue are counted
    /// at: the period's last day, or today while it runs.
    as_of: NaiveDate,
    /// The period compared against (`change`, `rank_change`).
    previous_period: String,
    /// The date the rubric used is in force from.
    rubric: NaiveDate,
    /// The kind asked for, or null.
    kind: Option<String>,
    /// The agency asked for, or null.
    agency: Option<String>,
    /// By kind, then rank (agencies without any data last).
    agencies: Vec<AgencyServiceIndex>,
    /// The units scored, and the structural breaks of the period.
    units: UnitsBody,
}

/// The 766 service index of every agency (or one) for a month, quarter or year.
#[utoipa::path(get, path = "/api/v1/index-766", operation_id = "index_766", tag = "par", params(IndexQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The index", body = ServiceIndexBody),
        (status = 400, description = "A bad period, kind or units, or a period before every rubric", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's", body = ErrorBody)))]
pub(crate) async fn index(
    query: IndexQuery,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    let agency = params::agency(&principal, query.agency.as_deref())?;
    let today = today();
    let period = query.period(today)?;
    let kind = query.kind()?;
    let units = params::units(query.units.as_deref(), query.units_date.as_deref())?;
    let key = format!("index-766 {period} {today} {kind:?} {agency:?} {units:?}");
    let answer = state.cached(key, |p| {
        let figures = Figures::new(p, units);
        let index = scored_in(figures.view(), &state.index_766, period, today)?;
        let mut agencies = index.agencies;
        agencies.retain(|a| {
            kind.is_none_or(|k| a.kind == k) && agency.as_ref().is_none_or(|c| &a.agency_code == c)
        });
        Ok(ServiceIndexBody {
            period: period.to_string(),
            from: period.first_day(),
            to: period.last_day(),
            as_of: period.last_day().min(today),
            previous_period: period.previous().to_string(),
            rubric: index.rubric,
            kind: kind.map(|k| k.as_str().to_owned()),
            units: figures.units(period.first_day(), period.last_day(), agency.as_deref()),
            agency: agency.clone(),
            agencies,
        })
    })?;
    Ok(answer.reply(StatusCode::OK, None, principal.agency.is_none()))
}
