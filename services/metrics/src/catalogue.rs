//! The metric catalogue of metrics-v1, evaluated over the daily rollups, and the ranking.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Days, NaiveDate};
use parwatch_scoring::Input;
use serde::Serialize;

use crate::agencies::Agencies;
use crate::bucket::Bucket;
use crate::rollup::{Daily, DayStats, Sums};
use crate::service_index::{Measured, ServiceCounts, ServiceWork};

/// Unit of a metric's value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A number of dossiers.
    Dossiers,
    /// A share between 0 and 1.
    Ratio,
    /// A number of days.
    Days,
}

/// Which direction is better.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Higher values are better.
    Higher,
    /// Lower values are better.
    Lower,
    /// Neither (volumes).
    Neither,
}

/// How a metric is computed from summed daily counters.
#[derive(Debug, Clone, Copy)]
enum Formula {
    Count(fn(&DayStats) -> i64),
    Rate(fn(&DayStats) -> i64, fn(&DayStats) -> i64),
    /// As of the end of the bucket: a running sum over all history.
    Backlog,
    Median,
    /// An input of the 766 service index, counted by whole months.
    Service(Input),
}

/// One metric of the catalogue.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MetricDef {
    /// Name used in the API.
    pub name: &'static str,
    /// What it measures.
    pub description: &'static str,
    /// Unit of the value.
    pub unit: Unit,
    /// Better direction.
    pub better: Better,
    #[serde(skip)]
    formula: Formula,
}

const fn def(
    name: &'static str,
    description: &'static str,
    unit: Unit,
    better: Better,
    formula: Formula,
) -> MetricDef {
    MetricDef {
        name,
        description,
        unit,
        better,
        formula,
    }
}

/// Every metric: those of metrics-v1, then one per input of the 766 service index
/// (`index_766_<input>`, by month, quarter or year).
pub static METRICS: LazyLock<Vec<MetricDef>> = LazyLock::new(|| {
    let service = Input::ALL.iter().map(|&input| {
        let (numerator, denominator) = input.describe();
        def(
            format!("index_766_{input}").leak(),
            format!(
                "766 service index input, by whole months (stocks at the bucket's end): {numerator} over {denominator}."
            )
            .leak(),
            Unit::Ratio,
            Better::Higher,
            Formula::Service(input),
        )
    });
    DOSSIER_METRICS.iter().copied().chain(service).collect()
});

/// The metrics of metrics-v1, counted by day.
const DOSSIER_METRICS: &[MetricDef] = &[
    def(
        "received",
        "Dossiers received (first dossier.received in the bucket).",
        Unit::Dossiers,
        Better::Neither,
        Formula::Count(|d| d.received),
    ),
    def(
        "online_uptake",
        "Share of received dossiers that came online.",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.online, |d| d.received),
    ),
    def(
        "full_online_share",
        "Share of received dossiers that came online with mode full (toàn trình).",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.full_online, |d| d.received),
    ),
    def(
        "postal_share",
        "Share of received dossiers that came by public postal service.",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.postal, |d| d.received),
    ),
    def(
        "resolved",
        "Dossiers resolved (first dossier.resolved in the bucket).",
        Unit::Dossiers,
        Better::Neither,
        Formula::Count(|d| d.resolved),
    ),
    def(
        "on_time_rate",
        "Of dossiers resolved in the bucket that have a receipt: resolved by the receipt's due_at.",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.on_time, |d| d.resolved_with_received),
    ),
    def(
        "late_files",
        "Dossiers with a late file (first dossier.late in the bucket).",
        Unit::Dossiers,
        Better::Lower,
        Formula::Count(|d| d.late_files),
    ),
    def(
        "apology_rate",
        "Of dossiers late in the bucket: those with a written apology (any time).",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.late_apologised, |d| d.late_files),
    ),
    def(
        "apology_timely_rate",
        "Of dossiers late in the bucket with an apology: first apology by the missed due_at.",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.late_apology_timely, |d| d.late_apologised),
    ),
    def(
        "digitized_share",
        "Of dossiers resolved in the bucket: result digitised.",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.digitized, |d| d.resolved),
    ),
    def(
        "overdue_backlog",
        "At the end of the bucket: received, past due, not resolved.",
        Unit::Dossiers,
        Better::Lower,
        Formula::Backlog,
    ),
    def(
        "processing_days_p50",
        "Median days from receipt to resolution of dossiers resolved in the bucket (within 1%).",
        Unit::Days,
        Better::Lower,
        Formula::Median,
    ),
    def(
        "plan_completion",
        "Of PAR plan activities (not cancelled) due in the bucket: done (any time).",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.plan_done, |d| d.plan_due),
    ),
    def(
        "tasks_on_time",
        "Of tasks from superiors due in the bucket: completed by their due date.",
        Unit::Ratio,
        Better::Higher,
        Formula::Rate(|d| d.tasks_on_time, |d| d.tasks_due),
    ),
];

/// The metric of a 766 input.
pub(crate) fn service_metric(input: Input) -> &'static MetricDef {
    METRICS
        .iter()
        .find(|m| matches!(m.formula, Formula::Service(i) if i == input))
        .expect("every input has its metric")
}

/// Looks a metric up by name.
pub fn metric(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// A request the catalogue cannot answer; each is the client's mistake (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// No metric of that name.
    #[error("unknown metric {0:?}; GET /api/v1/metrics lists them")]
    UnknownMetric(String),
    /// No bucket of that name.
    #[error("unknown bucket {0:?}: expected day, week, month, quarter or year")]
    UnknownBucket(String),
    /// A date that is not YYYY-MM-DD.
    #[error("{field}: {value:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        /// The parameter.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// A date outside [`FIRST_DATE`]..=[`LAST_DATE`].
    #[error("{field}: {value} is outside the dates ParWatch serves ({FIRST_DATE} to {LAST_DATE})")]
    OutOfRange {
        /// The parameter.
        field: &'static str,
        /// What was given.
        value: NaiveDate,
    },
    /// `from` after `to`.
    #[error("from {from} is after to {to}")]
    ReversedRange {
        /// Start given.
        from: NaiveDate,
        /// End given.
        to: NaiveDate,
    },
    /// More buckets than a chart can use.
    #[error("{0} buckets requested; at most 10000: use a wider bucket")]
    TooManyBuckets(usize),
    /// An unknown grouping.
    #[error("unknown group_by {0:?}: expected agency")]
    UnknownGroup(String),
    /// A 766 input asked by day or week: it is counted by month.
    #[error("{0} is counted by whole months: ask bucket month, quarter or year")]
    MonthlyOnly(&'static str),
    /// A median asked restated across a split: a median does not divide by weight.
    #[error(
        "{0} cannot be restated to units a split made (a median does not divide by weight); ask it as recorded"
    )]
    NotRestatable(&'static str),
}

/// One value of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Start date of the bucket.
    pub bucket: NaiveDate,
    /// The metric's value; null for a rate over nothing.
    pub value: Option<f64>,
    /// Numerator (the count, for count metrics).
    pub numerator: Option<i64>,
    /// Denominator; null for count metrics.
    pub denominator: Option<i64>,
}

/// One series: a group (agency or everything) and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The agency, when grouped by agency.
    pub agency_code: Option<String>,
    /// One point per bucket, empty buckets included.
    pub points: Vec<Point>,
}

/// A row of a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RankRow {
    /// The agency.
    pub agency_code: String,
    /// Standard competition rank; null when unranked (nothing to measure).
    pub rank: Option<u32>,
    /// Value over the period.
    pub value: Option<f64>,
    /// Numerator over the period.
    pub numerator: Option<i64>,
    /// Denominator over the period.
    pub denominator: Option<i64>,
    /// Rank in the previous period of the same length.
    pub previous_rank: Option<u32>,
    /// Places gained (positive) or lost against the previous period.
    pub change: Option<i64>,
}

/// A ranking of agencies on one metric over one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The previous period: same length, just before.
    pub previous: (NaiveDate, NaiveDate),
    /// Ranked agencies best first, then the unranked.
    pub rows: Vec<RankRow>,
}

/// Sums of one group over one bucket, plus the overdue backlog at its end.
#[derive(Debug, Default, Clone)]
pub(crate) struct Acc {
    sums: Sums,
    backlog: i64,
    /// A 766 input's numerator and denominator.
    service: (i64, i64),
}

impl MetricDef {
    pub(crate) fn point(&self, bucket: NaiveDate, acc: &Acc) -> Point {
        let s = &acc.sums.stats;
        let count = |n: i64| Point {
            bucket,
            value: Some(n as f64),
            numerator: Some(n),
            denominator: None,
        };
        match self.formula {
            Formula::Count(f) => count(f(s)),
            Formula::Backlog => count(acc.backlog),
            Formula::Rate(..) | Formula::Service(_) => {
                let (n, d) = match self.formula {
                    Formula::Rate(num, den) => (num(s), den(s)),
                    _ => acc.service,
                };
                Point {
                    bucket,
                    value: (d != 0).then(|| n as f64 / d as f64),
                    numerator: Some(n),
                    denominator: Some(d),
                }
            }
            Formula::Median => Point {
                bucket,
                value: acc.sums.durations.median(),
                numerator: None,
                denominator: Some(acc.sums.durations.count()),
            },
        }
    }

    /// Whether a group had anything to measure: a rate's denominator, or any activity.
    pub(crate) fn measurable(&self, acc: &Acc, point: &Point) -> bool {
        match self.formula {
            Formula::Rate(..) | Formula::Median | Formula::Service(_) => {
                point.denominator.unwrap_or(0) > 0
            }
            Formula::Count(_) | Formula::Backlog => !acc.sums.stats.is_empty() || acc.backlog != 0,
        }
    }

    /// The finest bucket the metric is counted by: a day, or a month for the 766 inputs.
    pub fn finest_bucket(&self) -> Bucket {
        match self.formula {
            Formula::Service(_) => Bucket::Month,
            _ => Bucket::Day,
        }
    }

    /// `bucket` if the metric can be counted by it.
    pub(crate) fn check_bucket(&self, bucket: Bucket) -> Result<Bucket, MetricError> {
        if self.finest_bucket() == Bucket::Month && matches!(bucket, Bucket::Day | Bucket::Week) {
            return Err(MetricError::MonthlyOnly(self.name));
        }
        Ok(bucket)
    }

    /// The sums of `agencies` over `[from, to]` this metric reads: the histogram for a
    /// median, the backlog at the end of `to` for counts (whether they are measurable); for a
    /// 766 input, its flows over the months `from` and `to` fall in, stocks at the end of `to`.
    pub(crate) fn acc(
        &self,
        c: &Counters<'_>,
        agencies: &[u32],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Acc {
        let mut acc = Acc::default();
        if let Formula::Service(input) = self.formula {
            for &agency in agencies {
                let ratio =
                    Measured::of((c.service, c.service_work), agency, (from, to), to).ratio(input);
                acc.service.0 += ratio.numerator;
                acc.service.1 += ratio.denominator;
            }
            return acc;
        }
        let (daily, durations) = (c.daily, matches!(self.formula, Formula::Median));
        for &agency in agencies {
            daily.add_sums(agency, from, to, durations, &mut acc.sums);
            if matches!(self.formula, Formula::Count(_) | Formula::Backlog) {
                acc.backlog += daily.overdue_at(agency, to);
            }
        }
        acc
    }
}

/// Checks a range and counts its buckets.
/// The first date a metric can be asked about.
pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
/// The last date a metric can be asked about. With [`FIRST_DATE`], every date arithmetic on a
/// range (the period before it, the day after it) stays far inside what dates can hold.
pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");

/// `date` when it lies in [`FIRST_DATE`]..=[`LAST_DATE`].
pub fn check_date(field: &'static str, date: NaiveDate) -> Result<NaiveDate, MetricError> {
    if (FIRST_DATE..=LAST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(MetricError::OutOfRange { field, value: date })
    }
}

/// A range the projections can answer: both ends served, in order.
fn check_bounds(from: NaiveDate, to: NaiveDate) -> Result<(), MetricError> {
    check_date("from", from)?;
    check_date("to", to)?;
    if from > to {
        return Err(MetricError::ReversedRange { from, to });
    }
    Ok(())
}

pub(crate) fn check_range(
    from: NaiveDate,
    to: NaiveDate,
    bucket: Bucket,
) -> Result<(), MetricError> {
    check_bounds(from, to)?;
    let mut n = 0;
    let mut b = bucket.start(from);
    while b <= to {
        n += 1;
        if n > 10_000 {
            return Err(MetricError::TooManyBuckets(n));
        }
        b = bucket.next(b);
    }
    Ok(())
}

/// What metrics are computed from: the daily counters of the projections, with the agencies
/// their ids stand for. [`crate::Projection`] answers series, summaries and rankings through it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counters<'a> {
    /// Counters per (day, agency id).
    pub(crate) daily: &'a Daily,
    /// The agencies of the ids.
    pub(crate) agencies: &'a Agencies,
    /// The 766 index's counters per agency and month.
    pub(crate) service: &'a ServiceCounts,
    /// The agencies' petitions and procedure catalogue (766 index).
    pub(crate) service_work: &'a ServiceWork,
}

impl Counters<'_> {
    /// The agencies with counters on a day up to `to`, in code order: the groups of a
    /// grouped series, and the agencies a period's values are given for.
    fn agencies_by(&self, to: NaiveDate) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .daily
            .agency_ids()
            .filter(|&a| self.daily.active_by(a, to))
            .collect();
        ids.sort_by_key(|&id| &self.agencies.codes()[id as usize]);
        ids
    }

    /// Each agency's values of `metrics` over the whole of `[from, to]`, by agency id (agencies
    /// with no counters up to `to` are left out).
    pub(crate) fn period_points(
        &self,
        metrics: &[&MetricDef],
        from: NaiveDate,
        to: NaiveDate,
    ) -> BTreeMap<u32, Vec<Point>> {
        self.agencies_by(to)
            .into_iter()
            .map(|id| {
                let points = metrics
                    .iter()
                    .map(|m| m.point(from, &m.acc(self, &[id], from, to)))
                    .collect();
                (id, points)
            })
            .collect()
    }

    /// The series of a metric: one point per bucket in `[from, to]`, one series overall or one
    /// per agency.
    pub(crate) fn series(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        bucket: Bucket,
        agency: Option<&str>,
        by_agency: bool,
    ) -> Result<Vec<Series>, MetricError> {
        check_range(from, to, metric.check_bucket(bucket)?)?;
        let filter = match agency {
            Some(code) => match self.agencies.id(code) {
                Some(id) => Some(id),
                // An agency with no events: every bucket empty.
                None => Some(u32::MAX),
            },
            None => None,
        };
        let groups: Vec<Vec<u32>> = match (by_agency, filter) {
            (true, _) => self
                .agencies_by(to)
                .into_iter()
                .filter(|&id| filter.is_none_or(|f| f == id))
                .map(|id| vec![id])
                .collect(),
            (false, Some(id)) => vec![vec![id]],
            (false, None) => vec![self.daily.agency_ids().collect()],
        };
        Ok(groups
            .into_iter()
            .map(|ids| {
                let mut points = Vec::new();
                let mut b = bucket.start(from);
                while b <= to {
                    let next = bucket.next(b);
                    let (first, last) = (b.max(from), (next - Days::new(1)).min(to));
                    points.push(metric.point(b, &metric.acc(self, &ids, first, last)));
                    b = next;
                }
                Series {
                    agency_code: by_agency.then(|| self.agencies.codes()[ids[0] as usize].clone()),
                    points,
                }
            })
            .collect())
    }

    /// The value of `metric` over the whole of `[from, to]` (one bucket spanning the range),
    /// for every agency or one.
    pub(crate) fn summary(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        agency: Option<&str>,
    ) -> Result<Point, MetricError> {
        check_bounds(from, to)?;
        // An agency with no events matches nothing.
        let ids: Vec<u32> = match agency {
            Some(code) => vec![self.agencies.id(code).unwrap_or(u32::MAX)],
            None => self.daily.agency_ids().collect(),
        };
        Ok(metric.point(from, &metric.acc(self, &ids, from, to)))
    }

    /// Ranks every agency on `metric` over `[from, to]`, with places gained or lost against
    /// the previous period of the same length.
    pub(crate) fn ranking(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Ranking, MetricError> {
        rank_periods(metric, from, to, |from, to| {
            Ok((0..self.agencies.codes().len() as u32)
                .map(|id| {
                    let acc = metric.acc(self, &[id], from, to);
                    let point = metric.point(from, &acc);
                    let measurable = metric.measurable(&acc, &point) && point.value.is_some();
                    (
                        self.agencies.codes()[id as usize].clone(),
                        point,
                        measurable,
                    )
                })
                .collect())
        })
    }
}

/// A ranking on `metric` over `[from, to]` against the previous period of the same length;
/// `measure(from, to)` gives each unit's (code, point, whether it has something to rank).
pub(crate) fn rank_periods(
    metric: &MetricDef,
    from: NaiveDate,
    to: NaiveDate,
    measure: impl Fn(NaiveDate, NaiveDate) -> Result<Vec<(String, Point, bool)>, MetricError>,
) -> Result<Ranking, MetricError> {
    check_bounds(from, to)?;
    let days = (to - from).num_days() as u64 + 1;
    let before_from = |n| {
        from.checked_sub_days(Days::new(n))
            .ok_or(MetricError::OutOfRange {
                field: "from",
                value: from,
            })
    };
    let previous = (before_from(days)?, before_from(1)?);
    let current = rank(metric, measure(from, to)?);
    let before: BTreeMap<String, Option<u32>> = rank(metric, measure(previous.0, previous.1)?)
        .into_iter()
        .map(|(code, _, rank)| (code, rank))
        .collect();
    let rows = current
        .into_iter()
        .map(|(agency_code, point, rank)| {
            let previous_rank = before.get(&agency_code).copied().flatten();
            RankRow {
                agency_code,
                rank,
                value: point.value,
                numerator: point.numerator,
                denominator: point.denominator,
                previous_rank,
                change: rank
                    .zip(previous_rank)
                    .map(|(now, then)| i64::from(then) - i64::from(now)),
            }
        })
        .collect();
    Ok(Ranking { previous, rows })
}

/// `rows` (code, point, measurable) ranked best first, unranked last, by code among equals;
/// equal values share a rank (1, 2, 2, 4).
fn rank(
    metric: &MetricDef,
    mut rows: Vec<(String, Point, bool)>,
) -> Vec<(String, Point, Option<u32>)> {
    let key = |p: &Point| {
        let v = p.value.unwrap_or(0.0);
        if metric.better == Better::Lower {
            v
        } else {
            -v
        }
    };
    rows.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(key(&a.1).total_cmp(&key(&b.1)))
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut ranked = Vec::with_capacity(rows.len());
    let mut last: Option<(f64, u32)> = None;
    for (position, (code, point, measurable)) in rows.into_iter().enumerate() {
        let rank = measurable.then(|| {
            let v = key(&point);
            match last {
                Some((prev, r)) if prev == v => r,
                _ => {
                    let r = position as u32 + 1;
                    last = Some((v, r));
                    r
                }
            }
        });
        ranked.push((code, point, rank));
    }
    ranked
}
