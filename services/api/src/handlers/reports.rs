//! `/api/v1/reports…`: periodic CCHC reports (`parwatch-reports`). The definitions, a preview
//! of a period's figures now, publishing (admin: the figures, the lake version read and the
//! definition frozen in the lake's object store, shared by every node over the lake), and the
//! published reports: list, read, export (JSON, XLSX), reproduce at their version, and what
//! changed since with the late events that caused it. A token scoped to one agency sees that
//! agency's reports only.

use std::sync::Arc;

use parwatch_auth::Principal;
use parwatch_reports::{
    Ask, Catalogue, Comparison, Figures, Lang, Period, Published, Shelf, Subject, Summary,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use utoipa::{IntoParams, ToSchema};
use warp::Reply as _;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::params;
use crate::reply::Json;

/// The report definitions in service and the shelf of published reports.
#[derive(Debug, Clone)]
pub(crate) struct Reports {
    catalogue: Arc<Catalogue>,
    shelf: Arc<OnceCell<Shelf>>,
}

impl Reports {
    /// The definitions built into the binary, checked now (a broken one stops the server).
    pub(crate) fn builtin() -> Self {
        let catalogue =
            Catalogue::builtin().unwrap_or_else(|e| panic!("built-in report definitions: {e}"));
        Self::new(catalogue)
    }

    /// The definitions of `catalogue`.
    pub(crate) fn new(catalogue: Catalogue) -> Self {
        Self {
            catalogue: Arc::new(catalogue),
            shelf: Arc::default(),
        }
    }

    async fn shelf(&self, state: &AppState) -> Result<&Shelf, ApiError> {
        self.shelf
            .get_or_try_init(|| {
                let lake = state.lake.clone();
                blocking(move || Shelf::open(&lake))
            })
            .await
    }
}

impl From<parwatch_reports::Error> for ApiError {
    fn from(e: parwatch_reports::Error) -> Self {
        match e {
            parwatch_reports::Error::UnknownReport(_)
            | parwatch_reports::Error::NotPublished(_) => ApiError::NotFound(e.to_string()),
            e if e.is_client_error() => ApiError::BadRequest(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

/// Runs blocking report work (folding a version, reading the lake) off the request threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> parwatch_reports::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??)
}

/// A report definition as the pages list it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportDefinition {
    /// Id.
    #[schema(example = "province")]
    id: String,
    /// Title, `{"vi": ..., "en": ...}`.
    #[schema(value_type = Object)]
    title: parwatch_reports::Text,
    /// `province` (every agency) or `agency` (one agency, given when run).
    #[schema(value_type = String, example = "province")]
    subject: Subject,
    /// Its tables' ids, in order.
    tables: Vec<String>,
    /// Public: every output suppresses cells of fewer than `min_dossiers` dossiers (and those
    /// that would give them back), marked in `suppressed`.
    public: bool,
    /// A public report's threshold; null for an internal report.
    #[schema(example = 5)]
    min_dossiers: Option<u32>,
}

/// The report definitions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportList {
    /// By id.
    reports: Vec<ReportDefinition>,
}

/// The report definitions in service.
#[utoipa::path(get, path = "/api/v1/reports", operation_id = "reports_list", tag = "reports",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The definitions", body = ReportList),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn list(
    _caller: Principal,
    reports: Reports,
) -> Result<Json<ReportList>, ApiError> {
    let reports = reports
        .catalogue
        .iter()
        .map(|d| ReportDefinition {
            id: d.id.clone(),
            title: d.title.clone(),
            subject: d.subject,
            tables: d.tables().map(|t| t.id.clone()).collect(),
            public: d.public.is_some(),
            min_dossiers: d.public,
        })
        .collect();
    Ok(Json::ok(ReportList { reports }))
}

/// Query string of a preview and of publishing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunQuery {
    /// The period: a year (`2024`), half (`2024-H1`), quarter (`2024-Q1`) or month
    /// (`2024-03`).
    #[param(example = "2024-Q1")]
    period: Option<String>,
    /// The agency of an agency report; a scoped token's own by default, another refused.
    #[param(example = "000.00.16.H02")]
    agency: Option<String>,
    /// `json` (the default), `xlsx` or `pdf` (preview only; publishing answers JSON).
    format: Option<String>,
    /// Language of an export: `vi` (the default) or `en`.
    lang: Option<String>,
}

impl RunQuery {
    /// The period and agency asked, checked against the report and the caller's scope.
    fn ask(&self, principal: &Principal, reports: &Reports, id: &str) -> Result<Ask, ApiError> {
        let definition = reports.catalogue.get(id)?;
        let period = params::required("period", self.period.as_deref(), "2024-Q1")?;
        let period: Period = period.parse()?;
        let agency = params::agency(principal, self.agency.as_deref())?;
        if definition.subject == Subject::Province
            && let Some(own) = &principal.agency
        {
            return Err(ApiError::Forbidden(format!(
                "report {id} covers the whole province; this token sees agency {own} only"
            )));
        }
        Ok(Ask { period, agency })
    }
}

/// The language of an export.
fn lang(text: Option<&str>) -> Result<Lang, ApiError> {
    match text {
        None | Some("" | "vi") => Ok(Lang::Vi),
        Some("en") => Ok(Lang::En),
        Some(other) => Err(ApiError::BadRequest(format!(
            "lang {:?}: expected vi or en",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

/// A report's figures for a period as they stand now (not published).
#[utoipa::path(get, path = "/api/v1/reports/{id}/preview", operation_id = "report_preview", tag = "reports",
    params(("id" = String, Path, description = "A report's id", example = "province"), RunQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures (JSON), the workbook (`format=xlsx`) or the document (`format=pdf`)", content(
            (Object = "application/json"),
            (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "application/pdf"))),
        (status = 400, description = "A bad period, agency or format", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A province report asked by a scoped token, or another agency", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody)))]
pub(crate) async fn preview(
    id: String,
    query: RunQuery,
    principal: Principal,
    state: AppState,
    reports: Reports,
) -> Result<Response, ApiError> {
    let ask = query.ask(&principal, &reports, &id)?;
    let format = query.format.as_deref().unwrap_or("json");
    let lang = lang(query.lang.as_deref())?;
    let figures = figures_now(&state, &reports, &id, ask).await?;
    let name = format!("{id}-{}", figures.ask.period);
    let definition = reports.catalogue.get(&id)?;
    export(definition, &figures, format, lang, None, &name)
}

/// Renders report `id` for `ask` from the projections as they stand now.
async fn figures_now(
    state: &AppState,
    reports: &Reports,
    id: &str,
    ask: Ask,
) -> Result<Figures, ApiError> {
    let definition = reports.catalogue.get(id)?.clone();
    let (projector, models) = (Arc::clone(&state.projector), Arc::clone(&state.par_models));
    blocking(move || parwatch_reports::run(&definition, &ask, &projector, None, &models)).await
}

/// `figures` in `format`: JSON, or an XLSX or PDF file named `name`.
fn export(
    definition: &parwatch_reports::Definition,
    figures: &Figures,
    format: &str,
    lang: Lang,
    published: Option<&Published>,
    name: &str,
) -> Result<Response, ApiError> {
    let (bytes, content_type, extension) = match format {
        "json" => {
            return Ok(match published {
                Some(p) => warp::reply::json(p).into_response(),
                None => warp::reply::json(figures).into_response(),
            });
        }
        "xlsx" => {
            let stamp = published.map(|p| (p.id.as_str(), p.published_at.date_naive()));
            (
                parwatch_reports::xlsx(figures, lang, stamp)?,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            )
        }
        "pdf" => {
            let date = published.map(|p| p.published_at.date_naive());
            (
                parwatch_reports::pdf(definition, figures, lang, date)?,
                "application/pdf",
                "pdf",
            )
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {:?}: expected json, xlsx or pdf",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    let mut response = Response::new(bytes.into());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{name}.{extension}\"");
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// A published report as lists show it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PublishedList {
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    published: Vec<Summary>,
}

/// Publishes a report: renders the period's figures now and freezes them with the lake
/// version read and the definition, once; the record never changes.
#[utoipa::path(post, path = "/api/v1/reports/{id}/publish", operation_id = "report_publish", tag = "reports",
    params(("id" = String, Path, description = "A report's id", example = "province"), RunQuery),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Published: the record as lists show it", body = Object),
        (status = 400, description = "A bad period or agency", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin, or outside the token's scope", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody)))]
pub(crate) async fn publish(
    id: String,
    query: RunQuery,
    principal: Principal,
    state: AppState,
    reports: Reports,
) -> Result<Json<Summary>, ApiError> {
    let ask = query.ask(&principal, &reports, &id)?;
    let figures = figures_now(&state, &reports, &id, ask).await?;
    let source = reports.catalogue.get(&id)?.source.clone();
    let published = Published::new(figures, &source, &principal.token_id, chrono::Utc::now())?;
    reports.shelf(&state).await?.put(&published).await?;
    tracing::info!(report = %published.id, version = published.figures.lake_version, by = %principal.token_id, "report published");
    Ok(Json::with_status(published.summary(), StatusCode::CREATED))
}

/// Query string of the published reports' list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PublishedQuery {
    /// Only this report's.
    #[param(example = "province")]
    report: Option<String>,
}

/// The published reports the caller may see (a scoped token: its agency's), newest first.
#[utoipa::path(get, path = "/api/v1/reports/published", operation_id = "reports_published", tag = "reports", params(PublishedQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The published reports", body = PublishedList),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn published(
    query: PublishedQuery,
    principal: Principal,
    state: AppState,
    reports: Reports,
) -> Result<Json<PublishedList>, ApiError> {
    let shelf = reports.shelf(&state).await?;
    let published = shelf
        .list(principal.agency.as_deref(), query.report.as_deref())
        .await?;
    Ok(Json::ok(PublishedList { published }))
}

/// Query string of a published report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `json` (the default: the whole record), `xlsx` or `pdf`.
    format: Option<String>,
    /// Language of an export: `vi` (the default) or `en`.
    lang: Option<String>,
}

/// A published report, whole (JSON) or exported (`format=xlsx`, `format=pdf`), from its
/// frozen figures and the definition it was published with.
#[utoipa::path(get, path = "/api/v1/reports/published/{id}", operation_id = "report_published", tag = "reports",
    params(("id" = String, Path, description = "A published report's id"), ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record (JSON), the workbook (`format=xlsx`) or the document (`format=pdf`)", content(
            (Object = "application/json"),
            (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "application/pdf"))),
        (status = 400, description = "A bad format", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such published report in the token's scope", body = ErrorBody)))]
pub(crate) async fn read(
    id: String,
    query: ExportQuery,
    principal: Principal,
    state: AppState,
    reports: Reports,
) -> Result<Response, ApiError> {
    let lang = lang(query.lang.as_deref())?;
    let published = get(&id, &principal, &state, &reports).await?;
    let definition = parwatch_reports::parse(
        &published.figures.report,
        &published.id,
        &published.definition,
    )?;
    export(
        &definition,
        &published.figures,
        query.format.as_deref().unwrap_or("json"),
        lang,
        Some(&published),
        &published.id,
    )
}

async fn get(
    id: &str,
    principal: &Principal,
    state: &AppState,
    reports: &Reports,
) -> Result<Published, ApiError> {
    let shelf = reports.shelf(state).await?;
    Ok(shelf.get(principal.agency.as_deref(), id).await?)
}

/// A published report run again at its recorded version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Reproduction {
    /// The published report.
    id: String,
    /// The version read, as recorded.
    lake_version: u64,
    /// Fingerprint of the figures as published.
    published_digest: String,
    /// Fingerprint of the figures run again.
    digest: String,
    /// Whether the figures are byte-identical: the digest of the run equals the one recorded
    /// when the report was published.
    identical: bool,
}

/// Runs a published report again from its recorded definition at its recorded lake version
/// and says whether the figures are byte-identical (they are, while the version's files are
/// retained).
#[utoipa::path(get, path = "/api/v1/reports/published/{id}/reproduce", operation_id = "report_reproduce", tag = "reports",
    params(("id" = String, Path, description = "A published report's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures compared", body = Reproduction),
        (status = 400, description = "The version is no longer readable (vacuumed)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such published report in the token's scope", body = ErrorBody),
        (status = 429, description = "The token's budget is spent for now", body = ErrorBody)))]
pub(crate) async fn reproduce(
    id: String,
    principal: Principal,
    state: AppState,
    reports: Reports,
) -> Result<Json<Reproduction>, ApiError> {
    let published = get(&id, &principal, &state, &reports).await?;
    // Folding a past version is as costly as a query: it counts against the budget.
    let _permit = state.budgets.admit(&principal.token_id)?;
    let (projector, models) = (Arc::clone(&state.projector), Arc::clone(&state.par_models));
    let record = published.clone();
    let again = blocking(move || parwatch_reports::reproduce(&record, &projector, &models)).await?;
    Ok(Json::ok(Reproduction {
        id: published.id,
        lake_version: published.figures.lake_version,
        identical: again.digest() == published.digest,
        digest: again.digest(),
        published_digest: published.digest,
    }))
}

/// A published report's figures now beside the published ones, and for each difference the
/// events ingested after publication that caused it, with their dossiers.
#[utoipa::path(get, path = "/api/v1/reports/published/{id}/changes", operation_id = "report_changes", tag = "reports",
    params(("id" = String, Path, description = "A published report's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The differences: `differences` (table, row, column, published, now, and the events ingested since that caused each, with their dossiers), `events_since`, `now`", body = Object),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such published report in the token's scope", body = ErrorBody)))]
pub(crate) async fn changes(
    id: String,
    principal: Principal,
    state: AppState,
    reports: Reports,
) -> Result<Json<Comparison>, ApiError> {
    let published = get(&id, &principal, &state, &reports).await?;
    let definition = parwatch_reports::parse(
        &published.figures.report,
        &published.id,
        &published.definition,
    )?;
    let (projector, models) = (Arc::clone(&state.projector), Arc::clone(&state.par_models));
    let lake = state.lake.clone();
    let comparison = blocking(move || {
        let ask = published.figures.ask.clone();
        let now = parwatch_reports::run(&definition, &ask, &projector, None, &models)?;
        parwatch_reports::compare(&published, now, &lake)
    })
    .await?;
    Ok(Json::ok(comparison))
}
