//! `/api/v1/metrics`, `/api/v1/metrics/{name}` and `/api/v1/ranking`.

use chrono::{Days, NaiveDate, Utc};
use parwatch_metrics::{Bucket, METRICS, MetricError, Point, RankRow, metric};
use serde::Deserialize;
use serde_json::{Value, json};
use warp::Rejection;

use parwatch_auth::{Principal, Role};

use crate::AppState;
use crate::auth::agency_filter;
use crate::error::ApiError;

/// Query string of the metric endpoints; all text so every mistake gets our own message.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetricParams {
    from: Option<String>,
    to: Option<String>,
    bucket: Option<String>,
    agency: Option<String>,
    group_by: Option<String>,
    metric: Option<String>,
}

impl From<MetricError> for ApiError {
    fn from(e: MetricError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// A `YYYY-MM-DD` parameter, refused (400) outside the dates the metrics serve
/// ([`parwatch_metrics::FIRST_DATE`] to [`parwatch_metrics::LAST_DATE`]), so no date
/// arithmetic on it can leave what dates can hold.
pub(crate) fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, MetricError> {
    let date = text.parse().map_err(|_| MetricError::BadDate {
        field,
        value: text.chars().take(40).collect(),
    })?;
    parwatch_metrics::check_date(field, date)
}

fn date(
    field: &'static str,
    value: Option<&str>,
    default: NaiveDate,
) -> Result<NaiveDate, MetricError> {
    match value {
        None | Some("") => Ok(default),
        Some(text) => parse_date(field, text),
    }
}

/// `from`/`to` with defaults: the last 365 days up to today (local).
fn range(p: &MetricParams) -> Result<(NaiveDate, NaiveDate), MetricError> {
    let today = parwatch_proto::local_date(Utc::now());
    let to = date("to", p.to.as_deref(), today)?;
    let year_before = to
        .checked_sub_days(Days::new(364))
        .unwrap_or(parwatch_metrics::FIRST_DATE)
        .max(parwatch_metrics::FIRST_DATE);
    let from = date("from", p.from.as_deref(), year_before)?;
    if from > to {
        return Err(MetricError::ReversedRange { from, to });
    }
    Ok((from, to))
}

fn point_json(p: &Point) -> Value {
    json!({
        "bucket": p.bucket.to_string(),
        "value": p.value,
        "numerator": p.numerator,
        "denominator": p.denominator,
    })
}

/// One ranked agency as api-v1 writes it.
pub(crate) fn rank_row_json(r: &RankRow) -> Value {
    json!({
        "agency_code": r.agency_code, "rank": r.rank, "value": r.value,
        "numerator": r.numerator, "denominator": r.denominator,
        "previous_rank": r.previous_rank, "change": r.change,
    })
}

pub(crate) fn catalogue() -> impl warp::Reply {
    warp::reply::json(&json!({ "metrics": METRICS }))
}

pub(crate) async fn series(
    name: String,
    params: MetricParams,
    principal: Principal,
    state: AppState,
) -> Result<warp::reply::Json, Rejection> {
    let answer = async {
        principal.require(Role::Viewer, "read metrics")?;
        let agency = agency_filter(&principal, params.agency.as_deref())?;
        let def = metric(&name).ok_or_else(|| MetricError::UnknownMetric(name.clone()))?;
        let bucket_text = params.bucket.as_deref().unwrap_or("month");
        let bucket = Bucket::parse(bucket_text)
            .ok_or_else(|| MetricError::UnknownBucket(bucket_text.to_owned()))?;
        let by_agency = match params.group_by.as_deref() {
            None | Some("") => false,
            Some("agency") => true,
            Some(other) => return Err(MetricError::UnknownGroup(other.to_owned()).into()),
        };
        let (from, to) = range(&params)?;
        state.refresh().await?;
        let series =
            state
                .projector
                .read()
                .series(def, from, to, bucket, agency.as_deref(), by_agency)?;
        let series: Vec<Value> = series
            .iter()
            .map(|s| {
                let group = match &s.agency_code {
                    Some(code) => json!({ "agency_code": code }),
                    None => json!({}),
                };
                json!({ "group": group, "points": s.points.iter().map(point_json).collect::<Vec<_>>() })
            })
            .collect();
        Ok::<_, ApiError>(json!({
            "metric": def.name,
            "bucket": bucket.as_str(),
            "tz": parwatch_proto::LOCAL_TZ_NAME,
            "from": from.to_string(),
            "to": to.to_string(),
            "agency": agency,
            "series": series,
        }))
    };
    answer
        .await
        .map(|v| warp::reply::json(&v))
        .map_err(warp::reject::custom)
}

pub(crate) async fn ranking(
    params: MetricParams,
    principal: Principal,
    state: AppState,
) -> Result<warp::reply::Json, Rejection> {
    let answer = async {
        principal.require(Role::Viewer, "read rankings")?;
        // A scoped token sees its own row: its rank, not the others' values.
        let own = agency_filter(&principal, None)?;
        let name = params.metric.as_deref().ok_or_else(|| {
            ApiError::BadRequest("metric: required (e.g. ?metric=on_time_rate)".to_owned())
        })?;
        let def = metric(name).ok_or_else(|| MetricError::UnknownMetric(name.to_owned()))?;
        let (from, to) = range(&params)?;
        state.refresh().await?;
        let ranking = state.projector.read().ranking(def, from, to)?;
        let rows: Vec<Value> = ranking
            .rows
            .iter()
            .filter(|r| own.as_deref().is_none_or(|own| r.agency_code == own))
            .map(rank_row_json)
            .collect();
        Ok::<_, ApiError>(json!({
            "metric": def.name,
            "better": def.better,
            "from": from.to_string(),
            "to": to.to_string(),
            "previous": { "from": ranking.previous.0.to_string(), "to": ranking.previous.1.to_string() },
            "rows": rows,
        }))
    };
    answer
        .await
        .map(|v| warp::reply::json(&v))
        .map_err(warp::reject::custom)
}
