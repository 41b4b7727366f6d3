//! What the app's pages read beside api-v1: the dashboards, a panel's data, the agencies, the
//! ranges offered, and the data version that tells them when to redraw.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use parwatch_auth::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::reply::Response;

use crate::AppState;
use crate::agencies::AgencyNames;
use crate::dashboards::{DashboardDefinition, DashboardSummary, Range, presets};
use crate::error::{ApiError, ErrorBody};
use crate::panels::{self, PanelAsk, PanelData, PanelQuery, Scope};
use crate::params::{self, Dates, View, today};
use crate::reply::Json;
use crate::web::Web;

/// The dashboards in service.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DashboardList {
    /// In menu order.
    dashboards: Vec<DashboardSummary>,
    /// Why the newest dashboard files are not in service (the previous ones are), or null.
    error: Option<String>,
}

/// The dashboards in service, in menu order.
#[utoipa::path(get, path = "/api/v1/dashboards", tag = "dashboards",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboards", body = DashboardList),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn list(
    _caller: Principal,
    web: Arc<Web>,
) -> Result<Json<DashboardList>, ApiError> {
    let (set, error) = web.dashboards().current().await;
    let mut dashboards: Vec<_> = set.values().collect();
    dashboards.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
    Ok(Json::ok(DashboardList {
        dashboards: dashboards.iter().map(|d| d.summary()).collect(),
        error,
    }))
}

/// A dashboard's definition, its default range resolved for today.
#[utoipa::path(get, path = "/api/v1/dashboards/{id}", tag = "dashboards",
    params(("id" = String, Path, description = "A dashboard's id", example = "province")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The definition", body = DashboardDefinition),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such dashboard", body = ErrorBody)))]
pub(crate) async fn definition(
    id: String,
    _caller: Principal,
    web: Arc<Web>,
) -> Result<Json<DashboardDefinition>, ApiError> {
    Ok(Json::ok(web.dashboard(&id).await?.definition(today())))
}

/// One panel's data over a range, as JSON or CSV.
#[utoipa::path(get, path = "/api/v1/dashboards/{id}/panels/{panel}", operation_id = "panel_data", tag = "dashboards",
    params(("id" = String, Path, description = "A dashboard's id", example = "province"),
        ("panel" = String, Path, description = "A panel's id in it"),
        Dates, View, PanelQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The panel's data", content(
            (PanelData = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad date, range, bucket, agency, comparison or format", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Beyond the token's agency", body = ErrorBody),
        (status = 404, description = "No such dashboard or panel", body = ErrorBody),
        (status = 422, description = "A SQL panel reached a limit", body = ErrorBody),
        (status = 429, description = "The token's panel rate, or the server's running statements, are spent", body = ErrorBody)))]
pub(crate) async fn panel(
    id: String,
    panel: String,
    ask: PanelAsk,
    principal: Principal,
    state: AppState,
    web: Arc<Web>,
) -> Result<Response, ApiError> {
    state.admission.viewer_panel(&principal.token_id)?;
    panel_data(&state, &web, &id, &panel, &ask, Scope::App(&principal)).await
}

/// `dashboard`'s `panel` for `scope`, or 404.
pub(crate) async fn panel_data(
    state: &AppState,
    web: &Web,
    dashboard: &str,
    panel: &str,
    ask: &PanelAsk,
    scope: Scope<'_>,
) -> Result<Response, ApiError> {
    let dashboard = web.dashboard(dashboard).await?;
    let found = dashboard.panel(panel).ok_or_else(|| {
        ApiError::NotFound(format!("dashboard {} has no panel {panel:?}", dashboard.id))
    })?;
    panels::answer(state, &dashboard, found, ask, scope).await
}

/// The agencies a caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Agencies {
    /// Codes of the agencies with data, or of the units of `units_date`, sorted (a scoped
    /// token's own only).
    agencies: Vec<String>,
    /// Their names, by code: the directory's, else the registry's on `units_date` (today as
    /// recorded).
    names: AgencyNames,
    /// English names the registry gives them on that date, by code (the directory has one
    /// name: `names`).
    names_en: AgencyNames,
}

/// Which agencies: those of the figures as recorded, or the units of a date.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgenciesQuery {
    /// `as_recorded` (default): every agency with events; `restated`: the units existing on
    /// `units_date` in the registry (those a restated page can be narrowed to), events or not.
    #[param(example = "restated")]
    units: Option<String>,
    /// With `units=restated`: the date, `YYYY-MM-DD`; today by default.
    #[param(example = "2025-07-01")]
    units_date: Option<String>,
}

/// The agencies with data the caller may see (or the units of a date), and their names.
#[utoipa::path(get, path = "/api/v1/agencies", tag = "dashboards",
    params(AgenciesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agencies", body = Agencies),
        (status = 400, description = "A bad units or units_date", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn agencies(
    query: AgenciesQuery,
    principal: Principal,
    state: AppState,
) -> Result<Json<Agencies>, ApiError> {
    let rollups = state.projector.rollups();
    let (date, mut codes) =
        match params::units(query.units.as_deref(), query.units_date.as_deref())? {
            None => (today(), rollups.agencies().to_vec()),
            Some(date) => (date, rollups.units_on(date)),
        };
    if let Some(own) = &principal.agency {
        codes.retain(|c| c == own);
    }
    codes.sort();
    let periods = rollups.registry_periods();
    let (names, names_en) = state
        .agency_names
        .at(codes.iter().map(String::as_str), &periods, date);
    Ok(Json::ok(Agencies {
        agencies: codes,
        names,
        names_en,
    }))
}

/// The ranges the pages offer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ranges {
    /// Today (local).
    today: NaiveDate,
    /// One-click ranges up to today.
    presets: Vec<Range>,
}

/// Today and the ranges the pages offer, resolved for today.
#[utoipa::path(get, path = "/api/v1/ranges", tag = "dashboards",
    responses((status = 200, description = "The ranges", body = Ranges)))]
pub(crate) async fn ranges() -> Result<Json<Ranges>, ApiError> {
    let today = today();
    Ok(Json::ok(Ranges {
        today,
        presets: presets(today),
    }))
}

/// A number that changes whenever data lands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DataVersion {
    /// Events folded plus rejections stored; for embeds and agencies' tokens, that number
    /// hashed with a key of the process (a string that changes when it does, and says
    /// nothing of the province's volume).
    version: VersionValue,
}

/// See [`DataVersion`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum VersionValue {
    /// The count.
    Count(u64),
    /// The count hashed, 16 hex digits.
    Opaque(String),
}

/// The data version, so pages redraw when data lands.
#[utoipa::path(get, path = "/api/v1/version", operation_id = "data_version", tag = "dashboards",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The version", body = DataVersion),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn version(
    principal: Principal,
    state: AppState,
) -> Result<Json<DataVersion>, ApiError> {
    // A token scoped to one agency is not told the province's event count.
    Ok(Json::ok(data_version(&state, principal.agency.is_some())))
}

/// The version: answered from memory, pages ask every few seconds. `opaque`: hashed.
pub(crate) fn data_version(state: &AppState, opaque: bool) -> DataVersion {
    use std::hash::BuildHasher;
    let folded = state.projector.rollups().event_count();
    let rejected = state
        .ingest
        .as_ref()
        .map_or(0, |s| s.rejected.load(Ordering::Relaxed));
    let version = folded + rejected;
    DataVersion {
        version: if opaque {
            VersionValue::Opaque(format!("{:016x}", state.version_key.hash_one(version)))
        } else {
            VersionValue::Count(version)
        },
    }
}
