//! `/api/v1/index-766/reconcile`: the 766 index of a month as ParWatch computes it beside the
//! figures the national portal published (imported by `parwatch index-766 import`), per agency
//! and indicator, with the difference and a link to the items behind ours.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use parwatch_auth::Principal;
use parwatch_reports::PortalShelf;
use parwatch_scoring::Span;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::Reply;
use warp::reply::Response;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::handlers::index_766::{parse_period, scored};
use crate::params::{self, today};
use crate::reply::Json;

/// The portal's name for an agency's total.
const TOTAL: &str = "total";

/// Query string of the reconciliation.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReconcileQuery {
    /// The month, `2025-03` (the portal publishes months); this month by default.
    #[param(example = "2025-03")]
    period: Option<String>,
    /// One agency's code; a scoped token's own by default, and another is refused (403).
    agency: Option<String>,
}

/// One agency's indicator (or total): ours, the portal's, the difference.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReconcileRow {
    /// The agency.
    agency_code: String,
    /// The indicator's code, or `total`.
    indicator: String,
    /// Our points; null when we have none (no data, or an indicator we do not score).
    ours: Option<f64>,
    /// The portal's points; null when it published none.
    portal: Option<f64>,
    /// `ours − portal`, three decimals; null unless both are there.
    difference: Option<f64>,
    /// Our input's numerator and denominator (null for the total or an indicator we lack).
    numerator: Option<i64>,
    /// See `numerator`.
    denominator: Option<i64>,
    /// The items that cost our points: `/api/v1/index-766/{agency}/lost?period=&indicator=`.
    lost: Option<String>,
}

/// The reconciliation of one month.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReconcileBody {
    /// The month.
    period: String,
    /// The date the rubric used is in force from.
    rubric: NaiveDate,
    /// When the portal's figures were imported.
    imported_at: DateTime<Utc>,
    /// The file they came from.
    source: String,
    /// By agency; each agency's total first, then its indicators in rubric order, then what
    /// only the portal has.
    rows: Vec<ReconcileRow>,
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The month's index beside the portal's published figures.
#[utoipa::path(get, path = "/api/v1/index-766/reconcile", operation_id = "index_766_reconcile",
    tag = "par", params(ReconcileQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Ours, the portal's and the difference", body = ReconcileBody),
        (status = 400, description = "A bad period, or not a month", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's", body = ErrorBody),
        (status = 404, description = "No portal figures imported for the month", body = ErrorBody)))]
pub(crate) async fn reconcile(
    query: ReconcileQuery,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    let agency = params::agency(&principal, query.agency.as_deref())?;
    let today = today();
    let period = parse_period(query.period.as_deref(), today)?;
    if period.span() != Span::Month {
        return Err(ApiError::BadRequest(format!(
            "period {period}: the portal's figures are monthly"
        )));
    }
    let lake = state.lake.clone();
    let shelf = tokio::task::spawn_blocking(move || PortalShelf::open(&lake))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let portal = shelf.get(&period.to_string()).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no portal figures imported for {period} (parwatch index-766 import)"
        ))
    })?;
    let index = scored(&state.projector.rollups(), &state.index_766, period, today)?;
    let wanted = |code: &str| agency.as_deref().is_none_or(|a| a == code);
    let mut published: BTreeMap<(&str, &str), f64> = portal
        .figures
        .iter()
        .filter(|f| wanted(&f.agency_code))
        .map(|f| ((f.agency_code.as_str(), f.indicator.as_str()), f.points))
        .collect();
    let link = |code: &str, indicator: Option<&str>| {
        let mut link = format!("/api/v1/index-766/{code}/lost?period={period}");
        if let Some(indicator) = indicator {
            link.push_str(&format!("&indicator={indicator}"));
        }
        link
    };
    let row = |code: &str, indicator: &str, ours: Option<f64>, portal: Option<f64>| ReconcileRow {
        agency_code: code.to_owned(),
        indicator: indicator.to_owned(),
        ours,
        portal,
        difference: ours.zip(portal).map(|(a, b)| round(a - b)),
        numerator: None,
        denominator: None,
        lost: None,
    };
    let mut rows = Vec::new();
    let mut ours: Vec<_> = index
        .agencies
        .iter()
        .filter(|a| wanted(&a.agency_code))
        .collect();
    ours.sort_by(|a, b| a.agency_code.cmp(&b.agency_code));
    for a in ours {
        let code = a.agency_code.as_str();
        rows.push(ReconcileRow {
            lost: Some(link(code, None)),
            ..row(code, TOTAL, a.total, published.remove(&(code, TOTAL)))
        });
        for i in a.groups.iter().flat_map(|g| &g.indicators) {
            let theirs = published.remove(&(code, i.code.as_str()));
            rows.push(ReconcileRow {
                numerator: Some(i.numerator),
                denominator: Some(i.denominator),
                lost: Some(link(code, Some(&i.code))),
                ..row(code, &i.code, i.points, theirs)
            });
        }
    }
    rows.extend(
        published
            .into_iter()
            .map(|((code, indicator), points)| row(code, indicator, None, Some(points))),
    );
    let body = ReconcileBody {
        period: period.to_string(),
        rubric: index.rubric,
        imported_at: portal.imported_at,
        source: portal.source,
        rows,
    };
    Ok(Json::ok(body).into_response())
}
