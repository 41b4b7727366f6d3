//! `/api/v1/metrics`, `/api/v1/metrics/{name}` and `/api/v1/ranking`: the metric catalogue
//! over the projections, as recorded or restated to the units of a date (`units`,
//! `units_date`; the restating itself is `parwatch_metrics`'), with each dossier under its
//! agency of one role (`role`: competent, receiving, area).

use chrono::NaiveDate;
use parwatch_auth::Principal;
use parwatch_metrics::{
    Better, Break, Bucket, InUnits, METRICS, MetricDef, MetricError, Point,
    Ranking as MetricRanking, Rollups, Series, metric,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::models::{Period, PointBody, RankRowBody};
use crate::params::{self, Dates, Travel, View};
use crate::reply::Json;
use warp::http::StatusCode;
use warp::reply::Response;

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Catalogue {
    /// Every metric: name, description, unit, better direction.
    metrics: &'static [MetricDef],
}

/// The metric catalogue.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics",
    responses((status = 200, description = "Every metric", body = Catalogue)))]
pub(crate) async fn catalogue() -> Result<Json<Catalogue>, ApiError> {
    Ok(Json::ok(Catalogue {
        metrics: METRICS.as_slice(),
    }))
}

/// `group_by` of a series, and its units.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GroupBy {
    /// `agency`: one series per agency; absent: one series for everything asked.
    #[param(example = "agency")]
    group_by: Option<String>,
    /// `as_recorded` (default): each figure under the agency that recorded it; `restated`:
    /// restated to the units of `units_date` through the registry's lineage (`agency` and the
    /// groups are then units of that date; rates are recomputed from restated numerators and
    /// denominators, shown rounded to whole dossiers; a median is restated through mergers
    /// only).
    #[param(example = "restated")]
    units: Option<String>,
    /// With `units=restated`: the date whose units figures are restated to, `YYYY-MM-DD`;
    /// today by default.
    #[param(example = "2025-07-01")]
    units_date: Option<String>,
    /// Under which agency each dossier is counted: `competent` (default: the agency of its
    /// events), `receiving` (the point that received it: `data.receiving_agency_code` of its
    /// receipt, else the competent agency) or `area` (its commune: `data.area_code`, else the
    /// competent agency). `agency`, the groups and a scoped token's own agency are then
    /// agencies of that role; restated, the role's agencies go through the lineage (a former
    /// district's dossiers through their communes). The agencies' own work (plans, tasks) is
    /// the same in every role.
    #[param(example = "area")]
    role: Option<String>,
}

/// Which units the figures of an answer are counted in, and the structural breaks: the
/// registry's changes taking effect in the dates shown (restated: up to the units' date too)
/// that concern what is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnitsBody {
    /// `as_recorded` or `restated`.
    #[schema(example = "restated")]
    view: &'static str,
    /// The date whose units the figures are restated to; null as recorded.
    date: Option<NaiveDate>,
    /// The structural breaks, by date.
    breaks: Vec<Break>,
}

/// The figures of the rollups in one view: as recorded (no units' date) or restated to the
/// units of a date. The metric, ranking and panel endpoints all read their figures through it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures<'a> {
    rollups: &'a Rollups,
    units: Option<NaiveDate>,
}

impl<'a> Figures<'a> {
    /// The figures of `rollups` as recorded (`units` `None`) or restated to the units of a date.
    pub(crate) fn new(rollups: &'a Rollups, units: Option<NaiveDate>) -> Self {
        Figures { rollups, units }
    }

    /// [`Rollups::series`], or [`Rollups::restated_series`].
    pub(crate) fn series(
        &self,
        def: &MetricDef,
        (from, to): (NaiveDate, NaiveDate),
        bucket: Bucket,
        agency: Option<&str>,
        by_agency: bool,
    ) -> Result<Vec<Series>, MetricError> {
        self.view().series(def, from, to, bucket, agency, by_agency)
    }

    /// [`Rollups::summary`], or [`Rollups::restated_summary`].
    pub(crate) fn summary(
        &self,
        def: &MetricDef,
        (from, to): (NaiveDate, NaiveDate),
        agency: Option<&str>,
    ) -> Result<Point, MetricError> {
        self.view().summary(def, from, to, agency)
    }

    /// [`Rollups::ranking`], or [`Rollups::restated_ranking`] (only the units of the date).
    pub(crate) fn ranking(
        &self,
        def: &MetricDef,
        (from, to): (NaiveDate, NaiveDate),
    ) -> Result<MetricRanking, MetricError> {
        self.view().ranking(def, from, to)
    }

    /// The rollups in this view (the PAR Index is read through it too).
    pub(crate) fn view(&self) -> InUnits<'a> {
        self.rollups.in_units(self.units)
    }

    /// The view and the structural breaks of figures over `[from, to]` of `agency` (all:
    /// `None`).
    pub(crate) fn units(&self, from: NaiveDate, to: NaiveDate, agency: Option<&str>) -> UnitsBody {
        UnitsBody {
            view: if self.units.is_some() {
                "restated"
            } else {
                "as_recorded"
            },
            date: self.units,
            breaks: self.view().breaks(from, to, agency),
        }
    }
}

/// A metric over time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricSeries {
    /// The metric.
    metric: &'static str,
    /// The bucket.
    bucket: &'static str,
    /// The time zone of dates and buckets.
    #[schema(example = "Asia/Ho_Chi_Minh")]
    tz: &'static str,
    /// First day.
    from: NaiveDate,
    /// Last day.
    to: NaiveDate,
    /// The agency asked for (a scoped token's own), or null.
    agency: Option<String>,
    /// One series (`group` `{}`), or one per agency with `group_by=agency`.
    series: Vec<GroupSeries>,
    /// The role each dossier is counted under: `competent`, `receiving` or `area`.
    #[schema(example = "competent")]
    role: &'static str,
    /// The units the figures are counted in, and the structural breaks.
    units: UnitsBody,
    /// The version of `events` the answer reflects (see `as_of`); null before the first
    /// events are folded in.
    events_version: Option<u64>,
}

/// One series of [`MetricSeries`].
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupSeries {
    /// `{"agency_code": ...}` grouped by agency, else `{}`.
    group: Group,
    /// One point per bucket, empty buckets included.
    points: Vec<PointBody>,
}

/// The group of a series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Group {
    /// The agency, when grouped by agency.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    agency_code: Option<String>,
}

/// A metric over time: one series, or one per agency.
#[utoipa::path(get, path = "/api/v1/metrics/{name}", tag = "metrics",
    params(("name" = String, Path, description = "A metric of the catalogue", example = "on_time_rate"),
        Dates, View, GroupBy, Travel, ("If-None-Match" = Option<String>, Header, description = "The `ETag` of an earlier answer: 304 while it is still the answer")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The series, with an `ETag`", body = MetricSeries),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`"),
        (status = 400, description = "An unknown metric, bucket, grouping or role, a bad date or range, or a moment the lake has no version of", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another agency than the token's", body = ErrorBody)))]
pub(crate) async fn series(
    name: String,
    dates: Dates,
    view: View,
    group_by: GroupBy,
    travel: Travel,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    let agency = view.agency(&principal)?;
    let unscoped = principal.agency.is_none();
    let def = known(&name)?;
    let bucket = view.bucket(Bucket::Month)?;
    let by_agency = match group_by.group_by.as_deref() {
        None | Some("") => false,
        Some("agency") => true,
        Some(other) => return Err(MetricError::UnknownGroup(other.to_owned()).into()),
    };
    let units = params::units(group_by.units.as_deref(), group_by.units_date.as_deref())?;
    let role = params::role(group_by.role.as_deref())?;
    let (from, to) = dates.last_year()?;
    let key = format!(
        "series {} {from} {to} {bucket:?} {agency:?} {by_agency} {units:?} {role:?}",
        def.name
    );
    let answer = state
        .answer(&principal, travel.at()?, key, move |p| {
            let p = &*p.in_role(role);
            let figures = Figures::new(p, units);
            let series = figures.series(def, (from, to), bucket, agency.as_deref(), by_agency)?;
            let series = series
                .iter()
                .map(|s| GroupSeries {
                    group: Group {
                        agency_code: s.agency_code.clone(),
                    },
                    points: s.points.iter().map(PointBody::from).collect(),
                })
                .collect();
            Ok(MetricSeries {
                metric: def.name,
                bucket: bucket.as_str(),
                tz: parwatch_proto::LOCAL_TZ_NAME,
                from,
                to,
                units: figures.units(from, to, agency.as_deref()),
                agency,
                series,
                role: role.as_str(),
                events_version: p.version(),
            })
        })
        .await?;
    Ok(answer.reply(StatusCode::OK, travel.if_none_match.as_deref(), unscoped))
}

/// The metric a name names, or 400.
fn known(name: &str) -> Result<&'static MetricDef, ApiError> {
    Ok(metric(name).ok_or_else(|| MetricError::UnknownMetric(name.to_owned()))?)
}

/// `metric` of a ranking.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RankingQuery {
    /// The metric to rank on (required).
    #[param(example = "on_time_rate")]
    metric: Option<String>,
    /// `as_recorded` (default): the agencies that recorded the figures; `restated`: only the
    /// units existing on `units_date`, each over its figures restated through the registry's
    /// lineage.
    #[param(example = "restated")]
    units: Option<String>,
    /// With `units=restated`: the date whose units are ranked, `YYYY-MM-DD`; today by default.
    #[param(example = "2025-07-01")]
    units_date: Option<String>,
    /// Under which agency each dossier is counted: `competent` (default), `receiving` or
    /// `area` (see `/api/v1/metrics/{name}`); the agencies ranked are those of that role.
    #[param(example = "receiving")]
    role: Option<String>,
}

/// Agencies ranked on a metric.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ranking {
    /// The metric.
    metric: &'static str,
    /// Which direction ranks first.
    better: Better,
    /// First day.
    from: NaiveDate,
    /// Last day.
    to: NaiveDate,
    /// The previous period of the same length, for `previous_rank` and `change`.
    previous: Period,
    /// Ranked agencies best first, then the unranked; a scoped token's own row only.
    rows: Vec<RankRowBody>,
    /// The role each dossier is counted under: `competent`, `receiving` or `area`.
    #[schema(example = "competent")]
    role: &'static str,
    /// The units ranked, and the structural breaks.
    units: UnitsBody,
    /// The version of `events` the answer reflects (see `as_of`).
    events_version: Option<u64>,
}

/// Agencies ranked on a metric over a period, against the period before.
#[utoipa::path(get, path = "/api/v1/ranking", tag = "metrics",
    params(RankingQuery, Dates, Travel, ("If-None-Match" = Option<String>, Header, description = "The `ETag` of an earlier answer: 304 while it is still the answer")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ranking, with an `ETag`", body = Ranking),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`"),
        (status = 400, description = "No or an unknown metric, an unknown role, a bad date or range, or a moment the lake has no version of", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn ranking(
    query: RankingQuery,
    dates: Dates,
    travel: Travel,
    principal: Principal,
    state: AppState,
) -> Result<Response, ApiError> {
    // A scoped token sees its own row: its rank, not the others' values.
    let own = params::agency(&principal, None)?;
    let unscoped = principal.agency.is_none();
    let def = known(params::required(
        "metric",
        query.metric.as_deref(),
        "on_time_rate",
    )?)?;
    let units = params::units(query.units.as_deref(), query.units_date.as_deref())?;
    let role = params::role(query.role.as_deref())?;
    let (from, to) = dates.last_year()?;
    let key = format!(
        "ranking {} {from} {to} {own:?} {units:?} {role:?}",
        def.name
    );
    let answer = state
        .answer(&principal, travel.at()?, key, move |p| {
            let p = &*p.in_role(role);
            let figures = Figures::new(p, units);
            let ranking = figures.ranking(def, (from, to))?;
            let rows = ranking
                .rows
                .iter()
                .filter(|r| own.as_deref().is_none_or(|own| r.agency_code == own))
                .map(RankRowBody::from)
                .collect();
            Ok(Ranking {
                metric: def.name,
                better: def.better,
                from,
                to,
                previous: Period {
                    from: ranking.previous.0,
                    to: ranking.previous.1,
                },
                rows,
                role: role.as_str(),
                units: figures.units(ranking.previous.0, to, own.as_deref()),
                events_version: p.version(),
            })
        })
        .await?;
    Ok(answer.reply(StatusCode::OK, travel.if_none_match.as_deref(), unscoped))
}
