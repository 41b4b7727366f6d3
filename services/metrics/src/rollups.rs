//! [`Rollups`]: what every metric, ranking and PAR Index answer is computed from, as of one
//! version of `events`. The projector publishes one after each catch-up; requests share it and
//! never wait for a fold.

use std::sync::Arc;

use chrono::NaiveDate;
use parwatch_scoring::{
    AgencyIndex, IndexPeriod, Models, ServiceIndex, ServiceInputs, ServiceRubrics, YearIndex,
    service_index,
};

use crate::agencies::Agencies;
use crate::bucket::Bucket;
use crate::catalogue::{Counters, MetricDef, MetricError, Point, Ranking, Series};
use crate::par::ParSource;
use crate::par_work::ParWork;
use crate::registry::Registry;
use crate::rollup::Daily;
use crate::service_index::{ServiceCounts, ServiceWork, restated_service_inputs, service_inputs};

/// The agencies, their registry, their PAR work and their daily counters, as of one version
/// of `events`.
/// Immutable once published: cloning one shares its parts (the daily counters month by month),
/// and the fold copies a part the first time it changes it afterwards.
#[derive(Debug, Clone, Default)]
pub struct Rollups {
    pub(crate) agencies: Arc<Agencies>,
    pub(crate) work: Arc<ParWork>,
    /// The registry of agencies over time.
    pub(crate) registry: Arc<Registry>,
    pub(crate) daily: Daily,
    /// The 766 service index's counters per agency and month.
    pub(crate) service: ServiceCounts,
    /// The agencies' petitions and procedure catalogue (766 index).
    pub(crate) service_work: Arc<ServiceWork>,
    /// Events folded in.
    pub(crate) events: u64,
    /// The version of `events` these are of; `None` before the first catch-up.
    pub(crate) version: Option<u64>,
}

impl Rollups {
    /// The version of `events` these rollups are of (`None` before the first catch-up).
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Number of events folded in.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// Agency codes, indexed by agency id.
    pub fn agencies(&self) -> &[String] {
        self.agencies.codes()
    }

    /// The series of a metric: one point per bucket in `[from, to]`, one series overall or one
    /// per agency.
    pub fn series(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        bucket: Bucket,
        agency: Option<&str>,
        by_agency: bool,
    ) -> Result<Vec<Series>, MetricError> {
        self.counters()
            .series(metric, from, to, bucket, agency, by_agency)
    }

    /// The value of `metric` over the whole of `[from, to]` (one bucket spanning the range),
    /// for every agency or one.
    pub fn summary(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        agency: Option<&str>,
    ) -> Result<Point, MetricError> {
        self.counters().summary(metric, from, to, agency)
    }

    /// Ranks every agency on `metric` over `[from, to]`, with places gained or lost against
    /// the previous period of the same length.
    pub fn ranking(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Ranking, MetricError> {
        self.counters().ranking(metric, from, to)
    }

    /// The PAR Index of `year` on `today`: every agency with PAR work that year, ranked among
    /// agencies of its kind against the previous year's ranks.
    pub fn par_index(&self, models: &Models, year: i32, today: NaiveDate) -> YearIndex {
        self.par_source().par_index(models, year, today, None)
    }

    /// One agency's index in every year from the first scoring model to `today`'s year in which
    /// it had PAR work.
    pub fn par_history(&self, models: &Models, agency: &str, today: NaiveDate) -> Vec<AgencyIndex> {
        self.par_source().par_history(models, agency, today, None)
    }

    /// The 766 service index of `period` on `today` (stocks and the catalogue at the period's
    /// end, or today while it runs), every agency with something to measure, ranked among
    /// agencies of its kind against the previous period; `None` before every rubric.
    pub fn service_index(
        &self,
        rubrics: &ServiceRubrics,
        period: IndexPeriod,
        today: NaiveDate,
    ) -> Option<ServiceIndex> {
        scored_against_previous(rubrics, period, |period| {
            service_inputs(self, period, today)
        })
    }

    /// [`Rollups::service_index`] restated to the units of `units`: only units existing on
    /// that date, each scored from its inputs restated through the registry's lineage.
    pub fn restated_service_index(
        &self,
        rubrics: &ServiceRubrics,
        period: IndexPeriod,
        today: NaiveDate,
        units: NaiveDate,
    ) -> Option<ServiceIndex> {
        scored_against_previous(rubrics, period, |period| {
            restated_service_inputs(self, period, today, units)
        })
    }

    /// The 766 service index of every month from the first with data to `today`'s, each
    /// against the month before (what the SQL tables `index_766` and `index_766_inputs` hold).
    pub fn service_months(&self, rubrics: &ServiceRubrics, today: NaiveDate) -> Vec<ServiceIndex> {
        let first = [self.service.first_month(), self.service_work.first_day()]
            .into_iter()
            .flatten()
            .min();
        let (Some(first), Some(last)) = (
            first.and_then(|d| IndexPeriod::parse(&d.format("%Y-%m").to_string())),
            IndexPeriod::parse(&today.format("%Y-%m").to_string()),
        ) else {
            return Vec::new();
        };
        let mut months = Vec::new();
        let mut previous: Option<ServiceIndex> = None;
        let mut month = first;
        while month <= last {
            let inputs = service_inputs(self, month, today);
            let index = service_index(rubrics, month, &inputs, previous.as_ref());
            months.extend(index.clone());
            previous = index;
            month = month.next();
        }
        months
    }

    pub(crate) fn counters(&self) -> Counters<'_> {
        Counters {
            daily: &self.daily,
            agencies: &self.agencies,
            service: &self.service,
            service_work: &self.service_work,
        }
    }

    pub(crate) fn par_source(&self) -> ParSource<'_> {
        ParSource {
            work: &self.work,
            counters: self.counters(),
        }
    }
}

/// The 766 index of `period` from `inputs` of a period, ranked against the previous period.
fn scored_against_previous(
    rubrics: &ServiceRubrics,
    period: IndexPeriod,
    inputs: impl Fn(IndexPeriod) -> Vec<ServiceInputs>,
) -> Option<ServiceIndex> {
    let previous = service_index(rubrics, period.previous(), &inputs(period.previous()), None);
    service_index(rubrics, period, &inputs(period), previous.as_ref())
}
