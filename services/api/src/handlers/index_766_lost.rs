//! `/api/v1/index-766/{agency}/lost`: where one agency's 766 points are lost in a period: each
//! indicator's points against its maximum, and the dossiers, petitions and procedures in an
//! indicator's denominator but not its numerator (docs/index-766.md, "Where the points are
//! lost"), as JSON or CSV, at most [`MAX_LIMIT`] items an answer, paged by a cursor. The JSON
//! says whether the portal's figures of the month were imported, so that a page asks for the
//! reconciliation only when there is one.

use chrono::{DateTime, NaiveDate, Utc};
use parwatch_auth::Principal;
use parwatch_metrics::{LostAsk, LostItem, LostReason, LostSubject, lost_points};
use parwatch_reports::PortalShelf;
use parwatch_scoring::{IndexPeriod, IndicatorScore, Input, Span};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::Reply;
use warp::http::header;
use warp::reply::Response;

use crate::AppState;
use crate::encode::{Cell, Csv, Format};
use crate::error::{ApiError, ErrorBody};
use crate::handlers::index_766::{parse_period, scored};
use crate::params::{self, today};
use crate::reply::Json;

/// Items an answer lists by default (JSON).
const DEFAULT_LIMIT: usize = 1_000;
/// Items an answer lists at most, and by default as CSV: a month of a big agency can have tens
/// of thousands of dossiers; the rest follow with `after`.
pub(crate) const MAX_LIMIT: usize = 50_000;
const FORMATS: [Format; 2] = [Format::Json, Format::Csv];

/// Query string of the lost points.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LostQuery {
    /// The period: a month `2025-03`, a quarter `2025-Q1` or a year `2025`; this month by
    /// default.
    #[param(example = "2025-03")]
    period: Option<String>,
    /// Only this indicator's items (its code, e.g. `on_time`); every indicator by default.
    #[param(example = "on_time")]
    indicator: Option<String>,
    /// At most this many items (1 to 50000; 1000 by default, 50000 as CSV).
    limit: Option<usize>,
    /// The items after this cursor: the `next` of the previous page.
    after: Option<String>,
    /// `json` (default) or `csv` (a download).
    format: Option<String>,
}

/// One indicator with its points and what was lost.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LostIndicator {
    /// Its score in the index (points, numerator, denominator...).
    #[serde(flatten)]
    score: IndicatorScore,
    /// Points lost: `max − points`; null when missing.
    lost_points: Option<f64>,
    /// Items that cost points: `denominator − numerator` (all, however many are listed).
    lost: i64,
}

/// One item that cost points.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LostRow {
    /// The indicator's code.
    indicator: String,
    /// What it is: `dossier`, `petition` or `procedure`.
    #[schema(value_type = String, example = "dossier")]
    subject: LostSubject,
    /// Dossier id, petition id or procedure code.
    id: String,
    /// Why: `late`, `second_supplement`, `open_late`, `not_synced`, `not_online`,
    /// `not_digitised`, `not_reused`, `not_electronic`, `paid_offline`, `dissatisfied`,
    /// `answered_late`, `overdue`, `not_published`, `not_publicised`, `incomplete`.
    #[schema(value_type = String, example = "late")]
    reason: LostReason,
    /// When it counted; null for what is counted at the period's end.
    at: Option<DateTime<Utc>>,
    /// Its appointment or deadline, for the indicators about time.
    due_at: Option<DateTime<Utc>>,
}

/// The portal's figures imported for the month (`parwatch index-766 import`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LostPortal {
    /// The file they came from.
    source: String,
    /// When they were imported.
    imported_at: DateTime<Utc>,
    /// Them beside ours: `/api/v1/index-766/reconcile?period=&agency=`.
    reconcile: String,
}

/// Where one agency's points are lost in one period.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LostBody {
    /// The period.
    period: String,
    /// Its first day.
    from: NaiveDate,
    /// Its last day.
    to: NaiveDate,
    /// The day stocks and the catalogue are counted at.
    as_of: NaiveDate,
    /// The date the rubric used is in force from.
    rubric: NaiveDate,
    /// The agency.
    agency_code: String,
    /// Its total (of 100), null without data.
    total: Option<f64>,
    /// Its points and the maximum of its indicators with data.
    points: f64,
    /// The maximum of its indicators with data.
    max_with_data: f64,
    /// Every indicator (or the one asked), in rubric order.
    indicators: Vec<LostIndicator>,
    /// The items, by indicator (input order) and id.
    items: Vec<LostRow>,
    /// The cursor of the next page (`after`), null on the last.
    next: Option<String>,
    /// The portal's figures of the month, when imported; null otherwise (and for a quarter or
    /// a year: the portal publishes months).
    portal: Option<LostPortal>,
}

/// The cursor after an item: `<input>/<id>`.
fn cursor(item: &LostItem) -> String {
    format!("{}/{}", item.input.as_str(), item.id)
}

fn parse_cursor(text: &str) -> Result<(Input, String), ApiError> {
    text.split_once('/')
        .and_then(|(input, id)| Some((Input::parse(input)?, id.to_owned())))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "after {:?}: expected the next of a previous answer",
                text.chars().take(40).collect::<String>()
            ))
        })
}

/// Where an agency's 766 points are lost in a period: indicators against their maxima and the
/// items that cost points.
#[utoipa::path(get, path = "/api/v1/index-766/{agency}/lost", operation_id = "index_766_lost",
    tag = "par", params(("agency" = String, Path, description = "The agency's code"), LostQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The indicators and the items that cost points",
            content((LostBody = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad period, indicator, limit, cursor or format", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's", body = ErrorBody),
        (status = 404, description = "The agency has no 766 index in the period", body = ErrorBody)))]
pub(crate) async fn lost(
    agency: String,
    query: LostQuery,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    let agency = params::agency(&principal, Some(&agency))?
        .ok_or_else(|| ApiError::BadRequest("agency: a code is needed".to_owned()))?;
    let today = today();
    let period = parse_period(query.period.as_deref(), today)?;
    let format = params::format(query.format.as_deref(), &FORMATS)?;
    let default = if format == Format::Csv {
        MAX_LIMIT
    } else {
        DEFAULT_LIMIT
    };
    let limit = query.limit.unwrap_or(default);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit}: from 1 to {MAX_LIMIT}"
        )));
    }
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let indicator = query.indicator.filter(|i| !i.is_empty());
    // A scan of every dossier, as costly as a query: it counts against the caller's SQL
    // budget (rate and concurrency), so nobody can keep the projection's lock held.
    let permit = state.budgets.admit(&principal.token_id)?;
    let lake = state.lake.clone();
    let mut body = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // One read of the projection: the index and the items agree.
        let projection = state.projector.read();
        let index = scored(projection.rollups(), &state.index_766, period, today)?;
        let scored = index.agency(&agency).ok_or_else(|| {
            ApiError::NotFound(format!("agency {agency} has no 766 index in {period}"))
        })?;
        let mut scores: Vec<IndicatorScore> = scored
            .groups
            .iter()
            .flat_map(|g| g.indicators.iter().cloned())
            .collect();
        if let Some(code) = &indicator {
            let codes: Vec<&str> = scores.iter().map(|s| s.code.as_str()).collect();
            if !codes.contains(&code.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "indicator {:?}: expected one of {}",
                    code.chars().take(40).collect::<String>(),
                    codes.join(", ")
                )));
            }
            scores.retain(|s| &s.code == code);
        }
        let ask = LostAsk {
            agency: &agency,
            period,
            today,
            inputs: scores.iter().map(|s| s.input).collect(),
            after,
            limit,
        };
        let lost = lost_points(&projection, &ask).map_err(|e| ApiError::Internal(e.to_string()))?;
        drop(projection);
        let indicator_of = |input: Input| {
            scores
                .iter()
                .find(|s| s.input == input)
                .map_or_else(String::new, |s| s.code.clone())
        };
        let next = lost.more.then(|| lost.items.last().map(cursor)).flatten();
        let items = lost
            .items
            .into_iter()
            .map(|i| LostRow {
                indicator: indicator_of(i.input),
                subject: i.subject,
                id: i.id,
                reason: i.reason,
                at: i.at,
                due_at: i.due_at,
            })
            .collect();
        let indicators = scores
            .into_iter()
            .map(|score| LostIndicator {
                lost_points: score
                    .points
                    .map(|p| ((score.max - p) * 1000.0).round() / 1000.0),
                lost: lost.counts.get(&score.input).copied().unwrap_or(0),
                score,
            })
            .collect();
        Ok(LostBody {
            period: period.to_string(),
            from: period.first_day(),
            to: period.last_day(),
            as_of: period.last_day().min(today),
            rubric: index.rubric,
            agency_code: scored.agency_code.clone(),
            total: scored.total,
            points: scored.points,
            max_with_data: scored.max_with_data,
            indicators,
            items,
            next,
            portal: None,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    match format {
        Format::Csv => csv(&body),
        _ => {
            body.portal = portal(lake, period, &body.agency_code).await?;
            Ok(Json::ok(body).into_response())
        }
    }
}

/// The import of the portal's figures for `period` when it is a month and has one.
async fn portal(
    lake: parwatch_lake::Lake,
    period: IndexPeriod,
    agency: &str,
) -> Result<Option<LostPortal>, ApiError> {
    if period.span() != Span::Month {
        return Ok(None);
    }
    let shelf = tokio::task::spawn_blocking(move || PortalShelf::open(&lake))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(shelf.get(&period.to_string()).await?.map(|f| LostPortal {
        source: f.source,
        imported_at: f.imported_at,
        reconcile: format!("/api/v1/index-766/reconcile?period={period}&agency={agency}"),
    }))
}

/// A unit enum's name as serialized.
fn name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The items as CSV, a download; the next page's cursor, if any, in `X-ParWatch-Next`.
fn csv(body: &LostBody) -> Result<Response, ApiError> {
    let internal = |e: datafusion::arrow::error::ArrowError| ApiError::Internal(e.to_string());
    let mut csv = Csv::default();
    csv.header([
        "agency_code",
        "period",
        "indicator",
        "subject",
        "id",
        "reason",
        "at",
        "due_at",
    ])
    .map_err(internal)?;
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for item in &body.items {
        let cells = [
            body.agency_code.clone(),
            body.period.clone(),
            item.indicator.clone(),
            name(&item.subject),
            item.id.clone(),
            name(&item.reason),
            time(item.at),
            time(item.due_at),
        ];
        csv.record(cells.iter().map(|c| Cell::Text(c)))
            .map_err(internal)?;
    }
    let mut response = Response::new(csv.take().into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let filename = format!(
        "attachment; filename=\"index-766-{}-{}-lost.csv\"",
        body.agency_code, body.period
    );
    if let Ok(value) = header::HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(next) = body
        .next
        .as_deref()
        .and_then(|n| header::HeaderValue::from_str(n).ok())
    {
        headers.insert("x-parwatch-next", next);
    }
    Ok(response)
}
