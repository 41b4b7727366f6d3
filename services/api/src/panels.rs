//! The data of one dashboard panel, as JSON for the pages or as CSV: the same answer for the
//! app and for an embed, except that an embed's dashboard and agency come from its token.

use std::time::Instant;

use chrono::{Days, NaiveDate};
use datafusion::common::ScalarValue;
use parwatch_auth::{Audit, Principal, Role};
use parwatch_metrics::{Better, Bucket, DossierRole, MetricDef, MetricError, Point, Series, Unit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::StatusCode;
use warp::http::header;
use warp::reply::Response;

use crate::AppState;
use crate::dashboards::{AgencyFilter, Chart, Dashboard, Panel, Source, Target};
use crate::embed::EmbedClaims;
use crate::encode::{self, Cell, Csv, Finish, Format, SqlResult};
use crate::error::ApiError;
use crate::handlers::metrics::{Figures, UnitsBody};
use crate::models::{Period, PointBody, RankRowBody};
use crate::params::{self, Dates, View, today};

/// Most agencies one chart compares.
const MAX_COMPARE: usize = 8;

/// The formats of panel data.
const FORMATS: [Format; 2] = [Format::Json, Format::Csv];

/// `compare` and `format` of a panel request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PanelQuery {
    /// Agencies to draw beside the main series, comma-separated (at most 8; metric charts
    /// over time only; not for an agency's token nor an embed).
    #[param(example = "000.00.16.H02,000.00.17.H02")]
    compare: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
    /// `as_recorded` (default) or `restated`: a metric panel's figures restated to the units
    /// of `units_date` through the registry's lineage, as `/api/v1/metrics/{name}` restates
    /// them (a ranking then ranks only the units of that date). SQL panels are as their SQL
    /// says; an embed is as recorded only.
    #[param(example = "restated")]
    units: Option<String>,
    /// With `units=restated`: the date whose units figures are restated to, `YYYY-MM-DD`;
    /// today by default.
    #[param(example = "2025-07-01")]
    units_date: Option<String>,
    /// `competent` (default), `receiving` or `area`: a metric panel's dossiers each under that
    /// agency of the dossier, as `/api/v1/metrics/{name}` counts them. An embed is competent
    /// only.
    #[param(example = "area")]
    role: Option<String>,
}

/// Everything a panel request asks: range, bucket and agency, comparisons, format.
#[derive(Debug)]
pub(crate) struct PanelAsk {
    /// `from`, `to`.
    pub(crate) dates: Dates,
    /// `bucket`, `agency`.
    pub(crate) view: View,
    /// `compare`, `format`.
    pub(crate) query: PanelQuery,
}

/// Who asks: the app for a token's holder (free to choose agencies unless the token is
/// scoped to one), or an embed, held to its token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    App(&'a Principal),
    Embed(&'a EmbedClaims),
}

impl Scope<'_> {
    /// Whether the caller may see province-wide facts of the lake (its version, its newest
    /// event): an unscoped token, not an embed nor an agency's token.
    fn sees_the_whole_lake(&self) -> bool {
        matches!(self, Scope::App(p) if p.agency.is_none())
    }

    /// Who the audit trail names for a panel's SQL.
    fn principal(&self) -> Principal {
        match self {
            Scope::App(principal) => (*principal).clone(),
            Scope::Embed(claims) => Principal {
                token_id: format!("embed:{}", claims.dashboard),
                role: Role::Viewer,
                agency: claims.agency.clone(),
            },
        }
    }
}

/// A checked panel request.
#[derive(Debug)]
struct Request {
    from: NaiveDate,
    to: NaiveDate,
    bucket: Bucket,
    agency: Option<String>,
    compare: Vec<String>,
    csv: bool,
    /// Restated to the units of this date; `None`: as recorded.
    units: Option<NaiveDate>,
    /// Under which agency of each dossier it is counted.
    role: DossierRole,
    /// A public embed's disclosure threshold: points of fewer dossiers are withheld; `None`
    /// for the app.
    min_dossiers: Option<u32>,
}

fn request(
    dashboard: &Dashboard,
    panel: &Panel,
    ask: &PanelAsk,
    scope: Scope<'_>,
) -> Result<Request, ApiError> {
    let (default_from, default_to) = dashboard.default_range.resolve(today());
    let (from, to) = ask.dates.resolve(default_to, |to| default_from.min(to))?;
    let bucket = ask.view.bucket(panel.bucket)?;
    let asked = ask.view.asked_agency()?;
    let mut compare: Vec<String> = ask
        .query
        .compare
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let mut seen = std::collections::HashSet::new();
    compare.retain(|c| seen.insert(c.clone()));
    let agency = match scope {
        Scope::App(principal) => {
            // A scoped token sees its agency only: not the province, nor a comparison.
            if let Some(own) = &principal.agency {
                if dashboard.agency == AgencyFilter::None {
                    return Err(ApiError::Forbidden(format!(
                        "this token sees only agency {own}; dashboard {} shows the whole province",
                        dashboard.id
                    )));
                }
                if compare.iter().any(|c| c != own) {
                    return Err(ApiError::Forbidden(format!(
                        "this token sees only agency {own}; it cannot compare agencies"
                    )));
                }
            }
            params::agency(principal, asked)?
        }
        // An embed shows what its token says: a different agency, or any comparison, is
        // refused rather than silently replaced, so a tampered URL is visible as such.
        Scope::Embed(claims) => {
            if asked.is_some() && asked != claims.agency.as_deref() {
                return Err(ApiError::Forbidden(match &claims.agency {
                    Some(lock) => format!("this embed is locked to agency {lock}"),
                    None => "this embed shows the whole province; it cannot be narrowed".to_owned(),
                }));
            }
            if !compare.is_empty() {
                return Err(ApiError::Forbidden(
                    "an embed cannot compare agencies".to_owned(),
                ));
            }
            claims.agency.clone()
        }
    };
    match (dashboard.agency, &agency) {
        (AgencyFilter::None, Some(_)) => {
            return Err(ApiError::BadRequest(format!(
                "dashboard {} cannot be narrowed to one agency",
                dashboard.id
            )));
        }
        (AgencyFilter::Required, None) => {
            return Err(ApiError::BadRequest(format!(
                "dashboard {} shows one agency: add ?agency=CODE",
                dashboard.id
            )));
        }
        _ => {}
    }
    let comparable = matches!(panel.chart, Chart::Line | Chart::Bar)
        && matches!(panel.source, Source::Metric(_));
    if !compare.is_empty() && !comparable {
        return Err(ApiError::BadRequest(format!(
            "compare: panel {} is not a metric chart over time",
            panel.id
        )));
    }
    // The main series already shows the chosen agency.
    compare.retain(|c| Some(c) != agency.as_ref());
    if compare.len() > MAX_COMPARE {
        return Err(ApiError::BadRequest(format!(
            "compare: at most {MAX_COMPARE} agencies"
        )));
    }
    let csv = params::format(ask.query.format.as_deref(), &FORMATS)? == Format::Csv;
    let units = params::units(ask.query.units.as_deref(), ask.query.units_date.as_deref())?;
    // An embed's figures are as recorded: restated ones beside them could give back what its
    // disclosure control withholds (the few dossiers of an agency dissolved without successor
    // are the difference between the province's totals in the two views).
    if matches!(scope, Scope::Embed(_)) && units.is_some() {
        return Err(ApiError::Forbidden(
            "an embed shows figures as recorded; it cannot restate them".to_owned(),
        ));
    }
    // Likewise its dossiers are its own: another role's figures beside them would move
    // dossiers between agencies under its disclosure control.
    let role = params::role(ask.query.role.as_deref())?;
    if matches!(scope, Scope::Embed(_)) && role != DossierRole::Competent {
        return Err(ApiError::Forbidden(
            "an embed counts the dossiers of its competent agency; it takes no role".to_owned(),
        ));
    }
    Ok(Request {
        from,
        to,
        bucket,
        agency,
        compare,
        csv,
        units,
        role,
        min_dossiers: None,
    })
}

/// A panel's data as JSON: a metric panel's, or a SQL panel's rows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum PanelData {
    /// A metric panel (boxed: it is far larger than the other).
    Metric(Box<MetricPanel>),
    /// A SQL panel: the rows of its query, as `POST /api/v1/sql` answers them.
    #[expect(
        dead_code,
        reason = "streamed by encode.rs; here for the OpenAPI document"
    )]
    Sql(SqlResult),
}

/// A metric panel's data.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricPanel {
    /// The panel.
    panel: String,
    /// Its metric.
    metric: &'static str,
    /// The metric's unit.
    unit: Unit,
    /// The metric's better direction.
    better: Better,
    /// First day.
    from: NaiveDate,
    /// Last day.
    to: NaiveDate,
    /// The bucket.
    bucket: &'static str,
    /// The agency shown, or null for the province.
    agency: Option<String>,
    /// The numbers, by chart kind.
    #[serde(flatten)]
    chart: ChartData,
    /// The units the figures are counted in, and the structural breaks over the range (and
    /// the previous period a stat or a ranking compares with) of the agency shown.
    units: UnitsBody,
    /// The role each dossier is counted under: `competent`, `receiving` or `area`.
    #[schema(example = "competent")]
    role: &'static str,
}

/// The numbers of a metric panel, by its chart kind.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ChartData {
    /// `stat`: the value over the range, against the previous period and the target.
    Stat {
        /// Over the range.
        value: PointBody,
        /// Over the previous period of the same length.
        previous: PreviousValue,
        /// The panel's target.
        target: Option<Target>,
        /// Whether the value meets it (null without a target or a value).
        target_met: Option<bool>,
    },
    /// `line`, `bar`, `table`: the main series, then one per compared agency.
    Series {
        /// The series.
        series: Vec<PanelSeries>,
    },
    /// `ranking`: agencies ranked over the range.
    Ranking {
        /// Best first, then the unranked; narrowed to an agency, its own row.
        rows: Vec<RankRowBody>,
        /// How many agencies have a rank.
        ranked: usize,
        /// The previous period.
        previous: Period,
    },
}

/// A stat's previous period and its value.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviousValue {
    /// First day.
    from: NaiveDate,
    /// Last day.
    to: NaiveDate,
    /// The value over it.
    value: PointBody,
}

/// One series of a chart.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PanelSeries {
    /// Its agency; null for the province.
    agency_code: Option<String>,
    /// One point per bucket.
    points: Vec<PointBody>,
}

/// The answer to `GET .../panels/{panel}` for `dashboard`'s `panel`: [`PanelData`] as JSON,
/// or CSV.
pub(crate) async fn answer(
    state: &AppState,
    dashboard: &Dashboard,
    panel: &Panel,
    ask: &PanelAsk,
    scope: Scope<'_>,
) -> Result<Response, ApiError> {
    let mut req = request(dashboard, panel, ask, scope)?;
    if let Scope::Embed(_) = scope {
        let k = state.web.as_ref().map(|w| w.embed_min_dossiers());
        req.min_dossiers = Some(k.unwrap_or(parwatch_reports::MIN_DOSSIERS));
    }
    let filename = format!("{}-{}-{}-{}.csv", dashboard.id, panel.id, req.from, req.to);
    match &panel.source {
        Source::Sql(sql) => sql_panel(state, sql, &req, &filename, scope.principal()).await,
        Source::Metric(metric) if req.csv => {
            let rollups = state.projector.rollups();
            let rollups = rollups.in_role(req.role);
            let (_, rows) = table(Figures::new(&rollups, req.units), metric, panel, &req)?;
            csv_reply(&rows, &filename)
        }
        Source::Metric(metric) => {
            // Everything the answer depends on: the panel as defined now, the checked request
            // (the scope's agency included), and the caller's scope again for good measure.
            let key = format!(
                "panel {} {panel:?} {req:?} {:?}",
                dashboard.id,
                scope.principal().agency
            );
            let answer = state.cached(key, |p| {
                let p = &*p.in_role(req.role);
                let figures = Figures::new(p, req.units);
                let (chart, _) = table(figures, metric, panel, &req)?;
                let first = match &chart {
                    ChartData::Stat { previous, .. } => previous.from,
                    ChartData::Ranking { previous, .. } => previous.from,
                    ChartData::Series { .. } => req.from,
                };
                Ok(PanelData::Metric(Box::new(MetricPanel {
                    panel: panel.id.clone(),
                    metric: metric.name,
                    unit: metric.unit,
                    better: metric.better,
                    from: req.from,
                    to: req.to,
                    bucket: req.bucket.as_str(),
                    agency: req.agency.clone(),
                    units: figures.units(first, req.to, req.agency.as_deref()),
                    chart,
                    role: req.role.as_str(),
                })))
            })?;
            Ok(answer.reply(StatusCode::OK, None, scope.sees_the_whole_lake()))
        }
    }
}

/// A metric panel's chart and CSV rows, by its kind of chart.
fn table(
    figures: Figures<'_>,
    metric: &MetricDef,
    panel: &Panel,
    req: &Request,
) -> Result<Table, ApiError> {
    match panel.chart {
        Chart::Stat => stat(figures, metric, panel, req),
        Chart::Ranking => ranking(figures, metric, req),
        Chart::Line | Chart::Bar | Chart::Table => series(figures, metric, req),
    }
}

/// A metric panel's numbers for JSON, and the same numbers as CSV rows.
type Table = (ChartData, Vec<CsvRow>);

/// One CSV line of a metric panel (empty fields where a chart kind has no such column).
#[derive(Debug, Default)]
struct CsvRow {
    period: String,
    from: String,
    to: String,
    agency_code: String,
    rank: Option<u32>,
    value: Option<f64>,
    numerator: Option<i64>,
    denominator: Option<i64>,
    change: Option<i64>,
}

/// Which of `points` an embed withholds (none for the app), each emptied for the CSV too.
fn withhold<'a>(points: impl IntoIterator<Item = &'a mut Point>, req: &Request) -> Vec<bool> {
    let mut points: Vec<&mut Point> = points.into_iter().collect();
    let Some(k) = req.min_dossiers else {
        return vec![false; points.len()];
    };
    let parts: Vec<_> = points
        .iter()
        .map(|p| (p.numerator, p.denominator))
        .collect();
    let hidden = parwatch_reports::suppress_points(&parts, k);
    for (p, hide) in points.iter_mut().zip(&hidden) {
        if *hide {
            (p.value, p.numerator, p.denominator) = (None, None, None);
        }
    }
    hidden
}

/// The value over the range and over the previous period of the same length, with the target.
fn stat(
    figures: Figures<'_>,
    metric: &MetricDef,
    panel: &Panel,
    req: &Request,
) -> Result<Table, ApiError> {
    let days = (req.to - req.from).num_days().unsigned_abs() + 1;
    let before_from = |n| {
        req.from
            .checked_sub_days(Days::new(n))
            .ok_or(MetricError::OutOfRange {
                field: "from",
                value: req.from,
            })
    };
    let (prev_from, prev_to) = (before_from(days)?, before_from(1)?);
    let agency = req.agency.as_deref();
    let mut current = figures.summary(metric, (req.from, req.to), agency)?;
    // A range reaching back to the first date served has no previous period: nothing to
    // compare with, rather than a refusal.
    let mut previous = match figures.summary(metric, (prev_from, prev_to), agency) {
        Err(MetricError::OutOfRange { .. }) => Point {
            bucket: prev_from,
            value: None,
            numerator: None,
            denominator: None,
        },
        other => other?,
    };
    // Each period alone: another panel may show either.
    let hide_current = withhold([&mut current], req)[0];
    let hide_previous = withhold([&mut previous], req)[0];
    let met = panel.target.and_then(|t| current.value.map(|v| t.met(v)));
    let row = |period: &str, from: NaiveDate, to: NaiveDate, p: &Point| CsvRow {
        period: period.to_owned(),
        from: from.to_string(),
        to: to.to_string(),
        agency_code: agency.unwrap_or_default().to_owned(),
        value: p.value,
        numerator: p.numerator,
        denominator: p.denominator,
        ..CsvRow::default()
    };
    let rows = vec![
        row("current", req.from, req.to, &current),
        row("previous", prev_from, prev_to, &previous),
    ];
    let chart = ChartData::Stat {
        value: PointBody::from(&current).withheld_if(hide_current),
        previous: PreviousValue {
            from: prev_from,
            to: prev_to,
            value: PointBody::from(&previous).withheld_if(hide_previous),
        },
        target: panel.target,
        target_met: met,
    };
    Ok((chart, rows))
}

/// The main series (province or the chosen agency), then one per compared agency.
fn series(figures: Figures<'_>, metric: &MetricDef, req: &Request) -> Result<Table, ApiError> {
    let mut all: Vec<Series> = Vec::with_capacity(1 + req.compare.len());
    let main = req.agency.iter().map(|a| Some(a.as_str()));
    for agency in main.chain(req.compare.iter().map(|a| Some(a.as_str()))) {
        let mut s = figures.series(metric, (req.from, req.to), req.bucket, agency, false)?;
        let mut one = s.remove(0);
        one.agency_code = agency.map(str::to_owned);
        all.push(one);
    }
    if req.agency.is_none() {
        let province = figures
            .series(metric, (req.from, req.to), req.bucket, None, false)?
            .remove(0);
        all.insert(0, province);
    }
    // Each series' buckets add up to the range's total, which a stat panel may show.
    let hidden: Vec<Vec<bool>> = all
        .iter_mut()
        .map(|s| withhold(&mut s.points, req))
        .collect();
    let rows = all
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|p| CsvRow {
                period: p.bucket.to_string(),
                agency_code: s.agency_code.clone().unwrap_or_default(),
                value: p.value,
                numerator: p.numerator,
                denominator: p.denominator,
                ..CsvRow::default()
            })
        })
        .collect();
    let series = all
        .into_iter()
        .zip(hidden)
        .map(|(s, hidden)| PanelSeries {
            points: s
                .points
                .iter()
                .zip(hidden)
                .map(|(p, h)| PointBody::from(p).withheld_if(h))
                .collect(),
            agency_code: s.agency_code,
        })
        .collect();
    Ok((ChartData::Series { series }, rows))
}

/// Agencies ranked over the range; narrowed to one agency, its own row (its place among all).
fn ranking(figures: Figures<'_>, metric: &MetricDef, req: &Request) -> Result<Table, ApiError> {
    let ranking = figures.ranking(metric, (req.from, req.to))?;
    let ranked = ranking.rows.iter().filter(|r| r.rank.is_some()).count();
    let mut rows: Vec<_> = ranking
        .rows
        .iter()
        .filter(|r| req.agency.as_ref().is_none_or(|a| *a == r.agency_code))
        .cloned()
        .collect();
    // The agencies add up to the province, which a stat panel may show.
    let mut points: Vec<Point> = rows
        .iter()
        .map(|r| Point {
            bucket: req.from,
            value: r.value,
            numerator: r.numerator,
            denominator: r.denominator,
        })
        .collect();
    let hidden = withhold(&mut points, req);
    for (r, p) in rows.iter_mut().zip(&points) {
        (r.value, r.numerator, r.denominator) = (p.value, p.numerator, p.denominator);
    }
    let csv_rows = rows
        .iter()
        .map(|r| CsvRow {
            period: "current".to_owned(),
            from: req.from.to_string(),
            to: req.to.to_string(),
            agency_code: r.agency_code.clone(),
            rank: r.rank,
            value: r.value,
            numerator: r.numerator,
            denominator: r.denominator,
            change: r.change,
        })
        .collect();
    let chart = ChartData::Ranking {
        rows: rows
            .iter()
            .zip(hidden)
            .map(|(r, h)| RankRowBody::from(r).withheld_if(h))
            .collect(),
        ranked,
        previous: Period {
            from: ranking.previous.0,
            to: ranking.previous.1,
        },
    };
    Ok((chart, csv_rows))
}

/// The columns of a metric panel's CSV.
const CSV_COLUMNS: [&str; 9] = [
    "period",
    "from",
    "to",
    "agency_code",
    "rank",
    "value",
    "numerator",
    "denominator",
    "change",
];

impl CsvRow {
    /// Writes the row: dates and codes as text, the figures as numbers.
    fn write(&self, csv: &mut Csv) -> Result<(), ApiError> {
        let number = |n: Option<String>| n.unwrap_or_default();
        let figures = [
            number(self.rank.map(|n| n.to_string())),
            number(self.value.map(|n| n.to_string())),
            number(self.numerator.map(|n| n.to_string())),
            number(self.denominator.map(|n| n.to_string())),
            number(self.change.map(|n| n.to_string())),
        ];
        let texts = [&self.period, &self.from, &self.to, &self.agency_code];
        let cells = texts
            .into_iter()
            .map(|t| Cell::Text(t))
            .chain(figures.iter().map(|n| Cell::Number(n)));
        csv.record(cells)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

fn csv_reply(rows: &[CsvRow], filename: &str) -> Result<Response, ApiError> {
    let mut csv = Csv::default();
    csv.header(CSV_COLUMNS)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    for row in rows {
        row.write(&mut csv)?;
    }
    let body = csv.take();
    let mut response = Response::new(body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    attachment(&mut response, filename);
    Ok(response)
}

/// Marks a CSV reply as a download named `filename` (made of ids and dates only).
fn attachment(response: &mut Response, filename: &str) {
    if let Ok(value) =
        header::HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
}

/// Days since 1970-01-01, as Arrow's Date32 (dates are bounded when parsed, so it fits).
fn date32(d: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    ScalarValue::Date32(i32::try_from(d.signed_duration_since(epoch).num_days()).ok())
}

/// Runs a panel's SQL with `$from`, `$to`, `$agency` (NULL for the province) and `$bucket`
/// bound as values, never spliced into the text. Narrowed to an agency, it runs in that
/// agency's scoped session too, so the lock holds in the plan whatever the SQL says.
async fn sql_panel(
    state: &AppState,
    sql: &str,
    req: &Request,
    filename: &str,
    principal: Principal,
) -> Result<Response, ApiError> {
    let slot = state.budgets.running_slot().await?;
    let started = Instant::now();
    let audit = Audit::start(&principal, "dashboard", sql.to_owned());
    let scope = parwatch_lake::Scope::from(req.agency.clone());
    let session = state.engine.session(&scope)?;
    let plan = session.plan_sql(sql).await?;
    let params = vec![
        ("from", date32(req.from)),
        ("to", date32(req.to)),
        ("agency", ScalarValue::Utf8(req.agency.clone())),
        (
            "bucket",
            ScalarValue::Utf8(Some(req.bucket.as_str().to_owned())),
        ),
    ];
    let plan = plan
        .with_param_values(params)
        .map_err(|e| ApiError::from(parwatch_lake::Error::Query(e)))?;
    let rows = session.execute(plan).await?;
    let format = if req.csv { Format::Csv } else { Format::Json };
    let finish = Finish {
        audit,
        permit: None,
        slot: Some(slot),
        telemetry: std::sync::Arc::clone(&state.telemetry),
        started,
    };
    let mut response = encode::respond(rows, format, finish);
    if req.csv {
        attachment(&mut response, filename);
    }
    Ok(response)
}
