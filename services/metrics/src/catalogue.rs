//! The metric catalogue of metrics-v1, evaluated over the daily rollups, and the ranking.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::agencies::Agencies;
use crate::bucket::Bucket;
use crate::rollup::{Daily, DayStats};

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

/// Every metric of metrics-v1.
pub const METRICS: &[MetricDef] = &[
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
struct Acc {
    stats: DayStats,
    backlog: i64,
}

impl MetricDef {
    fn point(&self, bucket: NaiveDate, acc: &Acc) -> Point {
        let s = &acc.stats;
        let count = |n: i64| Point {
            bucket,
            value: Some(n as f64),
            numerator: Some(n),
            denominator: None,
        };
        match self.formula {
            Formula::Count(f) => count(f(s)),
            Formula::Backlog => count(acc.backlog),
            Formula::Rate(num, den) => {
                let (n, d) = (num(s), den(s));
                Point {
                    bucket,
                    value: (d != 0).then(|| n as f64 / d as f64),
                    numerator: Some(n),
                    denominator: Some(d),
                }
            }
            Formula::Median => Point {
                bucket,
                value: s.processing_days_p50(),
                numerator: None,
                denominator: Some(s.processing_days_count()),
            },
        }
    }

    /// Whether a group had anything to measure: a rate's denominator, or any activity.
    fn measurable(&self, acc: &Acc, point: &Point) -> bool {
        match self.formula {
            Formula::Rate(..) | Formula::Median => point.denominator.unwrap_or(0) > 0,
            Formula::Count(_) | Formula::Backlog => !acc.stats.is_empty() || acc.backlog != 0,
        }
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
}

impl Counters<'_> {
    /// Sums per (bucket start, group) over days in `[from, to]`, with the backlog at each
    /// bucket's end (the next bucket's start, or the day after `to` for the last one).
    fn aggregate(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        bucket: Option<Bucket>,
        agency: Option<u32>,
        by_agency: bool,
    ) -> BTreeMap<(NaiveDate, Option<u32>), Acc> {
        let bucket_of = |d: NaiveDate| bucket.map_or(from, |b| b.start(d));
        let group_of = |a: u32| by_agency.then_some(a);
        let mut out: BTreeMap<(NaiveDate, Option<u32>), Acc> = BTreeMap::new();
        let mut running: BTreeMap<Option<u32>, i64> = BTreeMap::new();
        // Bucket ends, in order: the last day whose end closes each bucket.
        let mut ends = Vec::new();
        let mut start = bucket_of(from);
        while start <= to {
            let next = bucket.map_or(to + Days::new(1), |b| b.next(start));
            ends.push((start, (next - Days::new(1)).min(to)));
            start = next;
        }
        let mut ends = ends.into_iter().peekable();
        for (&(day, a), stats) in self.daily {
            if day > to {
                break;
            }
            if agency.is_some_and(|want| want != a) {
                continue;
            }
            // Close every bucket that ended before this day.
            while let Some(&(b, last)) = ends.peek() {
                if last >= day {
                    break;
                }
                for (&g, &n) in &running {
                    out.entry((b, g)).or_default().backlog = n;
                }
                ends.next();
            }
            *running.entry(group_of(a)).or_default() += stats.overdue_entered - stats.overdue_left;
            if day >= from {
                out.entry((bucket_of(day), group_of(a)))
                    .or_default()
                    .stats
                    .merge(stats);
            }
        }
        for (b, _) in ends {
            for (&g, &n) in &running {
                out.entry((b, g)).or_default().backlog = n;
            }
        }
        out
    }

    /// Each agency's values of `metrics` over the whole of `[from, to]`, by agency id (agencies
    /// with no activity in the period are left out).
    pub(crate) fn period_points(
        &self,
        metrics: &[&MetricDef],
        from: NaiveDate,
        to: NaiveDate,
    ) -> BTreeMap<u32, Vec<Point>> {
        self.aggregate(from, to, None, None, true)
            .into_iter()
            .filter_map(|((_, group), acc)| {
                let points = metrics.iter().map(|m| m.point(from, &acc)).collect();
                Some((group?, points))
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
        check_range(from, to, bucket)?;
        let filter = match agency {
            Some(code) => match self.agencies.id(code) {
                Some(id) => Some(id),
                // An agency with no events: every bucket empty.
                None => Some(u32::MAX),
            },
            None => None,
        };
        let sums = self.aggregate(from, to, Some(bucket), filter, by_agency);
        let mut groups: Vec<Option<u32>> = if by_agency {
            let mut ids: Vec<u32> = sums.keys().filter_map(|(_, g)| *g).collect();
            ids.sort_by_key(|&id| &self.agencies.codes()[id as usize]);
            ids.dedup();
            ids.into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        groups.retain(|g| g.is_none_or(|id| filter.is_none_or(|f| f == id)));
        let empty = Acc::default();
        Ok(groups
            .into_iter()
            .map(|g| {
                let mut points = Vec::new();
                let mut b = bucket.start(from);
                while b <= to {
                    points.push(metric.point(b, sums.get(&(b, g)).unwrap_or(&empty)));
                    b = bucket.next(b);
                }
                Series {
                    agency_code: g.map(|id| self.agencies.codes()[id as usize].clone()),
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
        let filter = agency.map(|code| self.agencies.id(code).unwrap_or(u32::MAX));
        let sums = self.aggregate(from, to, None, filter, false);
        Ok(metric.point(from, sums.get(&(from, None)).unwrap_or(&Acc::default())))
    }

    /// Ranks every agency on `metric` over `[from, to]`, with places gained or lost against
    /// the previous period of the same length.
    pub(crate) fn ranking(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
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
        let current = self.rank(metric, from, to);
        let before = self.rank(metric, previous.0, previous.1);
        let rows = current
            .into_iter()
            .map(|(id, point, rank)| {
                let previous_rank = before.iter().find(|(p, ..)| *p == id).and_then(|r| r.2);
                RankRow {
                    agency_code: self.agencies.codes()[id as usize].clone(),
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

    /// (agency id, point, rank) for every agency, ranked best first, unranked last.
    fn rank(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(u32, Point, Option<u32>)> {
        let sums = self.aggregate(from, to, None, None, true);
        let empty = Acc::default();
        let mut rows: Vec<(u32, Point, bool)> = (0..self.agencies.codes().len() as u32)
            .map(|id| {
                let acc = sums.get(&(from, Some(id))).unwrap_or(&empty);
                let point = metric.point(from, acc);
                let measurable = metric.measurable(acc, &point) && point.value.is_some();
                (id, point, measurable)
            })
            .collect();
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
                .then_with(|| {
                    self.agencies.codes()[a.0 as usize].cmp(&self.agencies.codes()[b.0 as usize])
                })
        });
        let mut ranked = Vec::with_capacity(rows.len());
        let mut last: Option<(f64, u32)> = None;
        for (position, (id, point, measurable)) in rows.into_iter().enumerate() {
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
            ranked.push((id, point, rank));
        }
        ranked
    }
}
