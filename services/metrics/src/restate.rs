//! Figures restated to the units of a date: each unit existing then takes the rolled-up
//! counters of the agencies its lineage reaches back to, with the edges' weights (a merger
//! 1, a split its share). Counts are weighted sums; a rate is the weighted sum of its
//! numerators over the weighted sum of its denominators, never an average of rates; the
//! overdue backlog is a count. A median cannot be divided by weight: it is restated only
//! through mergers. Numerators and denominators are shown rounded to whole dossiers; values
//! are computed from the unrounded sums.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use parwatch_scoring::{AgencyIndex, IndexPeriod, Models, ServiceIndex, ServiceRubrics, YearIndex};

use crate::bucket::Bucket;
use crate::catalogue::{
    Acc, Counters, MetricDef, MetricError, Point, Ranking, Series, check_range, rank_periods,
};
use crate::registry::{Break, Edge, Period, Restatement};
use crate::rollups::Rollups;

/// What a unit is made of: (agency id, weight).
type Parts = Vec<(u32, f64)>;

/// How far a weight may be from 1 and still count as a whole agency (a median's condition).
const WHOLE: f64 = 1e-9;

impl Rollups {
    /// The registry's periods: one row per agency and name (those seen only in events too).
    pub fn registry_periods(&self) -> Vec<Period> {
        self.registry.periods(&self.agencies)
    }

    /// The lineage: one edge per merger, successor of a split and dissolution, split weights
    /// a decision does not give estimated from the dossiers (see [`Edge::estimated`]).
    pub fn lineage(&self) -> Vec<Edge> {
        self.registry.lineage(&self.agencies, &self.daily)
    }

    /// Number of registry events folded in.
    pub fn registry_event_count(&self) -> usize {
        self.registry.len()
    }

    /// The units that exist on `date`, by code.
    pub fn units_on(&self, date: NaiveDate) -> Vec<String> {
        self.registry
            .units_on(&self.agencies, date)
            .into_iter()
            .collect()
    }

    /// The structural breaks of a figure over `[from, to]` of `agency` (all: `None`): the
    /// registry's changes taking effect then. Restated to the units of `units` (`Some`), the
    /// changes up to that date count too, and those of every agency the unit takes from.
    pub fn breaks(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        agency: Option<&str>,
        units: Option<NaiveDate>,
    ) -> Vec<Break> {
        let Some(date) = units else {
            let touching = agency.map(|a| BTreeSet::from([a.to_owned()]));
            return self.registry.breaks(from, to, touching.as_ref());
        };
        let touching = agency.map(|unit| {
            let restatement = self.restatement(date);
            let codes = self.agencies.codes();
            let mut touching = BTreeSet::from([unit.to_owned()]);
            if let Some(parts) = restatement.units.get(unit) {
                touching.extend(parts.iter().map(|&(id, _)| codes[id as usize].clone()));
            }
            touching
        });
        self.registry
            .breaks(from.min(date), to.max(date), touching.as_ref())
    }

    /// [`Rollups::series`] restated to the units of `units`: `agency` is a unit of that date;
    /// grouped by agency, one series per unit with counters up to `to`.
    #[allow(clippy::too_many_arguments)]
    pub fn restated_series(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        bucket: Bucket,
        agency: Option<&str>,
        by_agency: bool,
        units: NaiveDate,
    ) -> Result<Vec<Series>, MetricError> {
        check_range(from, to, metric.check_bucket(bucket)?)?;
        let restatement = self.restatement(units);
        let groups: Vec<(Option<String>, Parts)> = match (by_agency, agency) {
            (true, _) => restatement
                .units
                .into_iter()
                .filter(|(unit, _)| agency.is_none_or(|a| a == unit))
                .filter(|(_, parts)| parts.iter().any(|&(id, _)| self.daily.active_by(id, to)))
                .map(|(unit, parts)| (Some(unit), parts))
                .collect(),
            (false, agency) => vec![(None, restatement.parts(agency))],
        };
        groups
            .into_iter()
            .map(|(agency_code, parts)| {
                let mut points = Vec::new();
                let mut b = bucket.start(from);
                while b <= to {
                    let next = bucket.next(b);
                    let (first, last) = (b.max(from), (next - Days::new(1)).min(to));
                    points
                        .push(restated_point(metric, &self.counters(), &parts, b, first, last)?.0);
                    b = next;
                }
                Ok(Series {
                    agency_code,
                    points,
                })
            })
            .collect()
    }

    /// [`Rollups::summary`] restated to the units of `units`: `agency` is a unit of that date
    /// (all: `None`).
    pub fn restated_summary(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        agency: Option<&str>,
        units: NaiveDate,
    ) -> Result<Point, MetricError> {
        // The bounds of the range (by year, a range is never too many buckets).
        check_range(from, to, Bucket::Year)?;
        let parts = self.restatement(units).parts(agency);
        Ok(restated_point(metric, &self.counters(), &parts, from, from, to)?.0)
    }

    /// [`Rollups::ranking`] restated to the units of `units`: only units existing on that
    /// date are ranked, each over its restated figures in both periods.
    pub fn restated_ranking(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        units: NaiveDate,
    ) -> Result<Ranking, MetricError> {
        let restatement = self.restatement(units);
        rank_periods(metric, from, to, |from, to| {
            restatement
                .units
                .iter()
                .map(|(unit, parts)| {
                    let (point, measurable) =
                        restated_point(metric, &self.counters(), parts, from, from, to)?;
                    let ranked = measurable && point.value.is_some();
                    Ok((unit.clone(), point, ranked))
                })
                .collect()
        })
    }

    /// [`Rollups::par_index`] restated to the units of `units`: only the units existing on
    /// that date, each scored from the agencies it takes (see `docs/par-index.md`) and ranked
    /// among units of its kind, against the previous year restated the same way.
    pub fn restated_par_index(
        &self,
        models: &Models,
        year: i32,
        today: NaiveDate,
        units: NaiveDate,
    ) -> YearIndex {
        self.par_source()
            .par_index(models, year, today, Some(&self.restatement(units)))
    }

    /// [`Rollups::par_history`] restated to the units of `units`: `agency` is a unit of that
    /// date, with its predecessors' years restated into it.
    pub fn restated_par_history(
        &self,
        models: &Models,
        agency: &str,
        today: NaiveDate,
        units: NaiveDate,
    ) -> Vec<AgencyIndex> {
        self.par_source()
            .par_history(models, agency, today, Some(&self.restatement(units)))
    }

    pub(crate) fn restatement(&self, date: NaiveDate) -> Restatement {
        let units = self.registry.units_on(&self.agencies, date);
        Restatement::to(&self.lineage(), units, &self.agencies, date)
    }
}

/// The figures of [`Rollups`] in one view: as recorded (`units` `None`) or restated to the
/// units of a date. Everything that offers both views (the API's endpoints and panels, the
/// reports) reads its figures through it.
#[derive(Debug, Clone, Copy)]
pub struct InUnits<'a> {
    rollups: &'a Rollups,
    units: Option<NaiveDate>,
}

impl Rollups {
    /// These rollups' figures as recorded (`units` `None`) or restated to the units of a date.
    pub fn in_units(&self, units: Option<NaiveDate>) -> InUnits<'_> {
        InUnits {
            rollups: self,
            units,
        }
    }
}

impl InUnits<'_> {
    /// The date whose units the figures are restated to; `None` as recorded.
    pub fn units(&self) -> Option<NaiveDate> {
        self.units
    }

    /// [`Rollups::series`], or [`Rollups::restated_series`].
    pub fn series(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        bucket: Bucket,
        agency: Option<&str>,
        by_agency: bool,
    ) -> Result<Vec<Series>, MetricError> {
        let p = self.rollups;
        match self.units {
            None => p.series(metric, from, to, bucket, agency, by_agency),
            Some(date) => p.restated_series(metric, from, to, bucket, agency, by_agency, date),
        }
    }

    /// [`Rollups::summary`], or [`Rollups::restated_summary`].
    pub fn summary(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
        agency: Option<&str>,
    ) -> Result<Point, MetricError> {
        let p = self.rollups;
        match self.units {
            None => p.summary(metric, from, to, agency),
            Some(date) => p.restated_summary(metric, from, to, agency, date),
        }
    }

    /// [`Rollups::ranking`], or [`Rollups::restated_ranking`] (only the units of the date).
    pub fn ranking(
        &self,
        metric: &MetricDef,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Ranking, MetricError> {
        let p = self.rollups;
        match self.units {
            None => p.ranking(metric, from, to),
            Some(date) => p.restated_ranking(metric, from, to, date),
        }
    }

    /// [`Rollups::par_index`], or [`Rollups::restated_par_index`].
    pub fn par_index(&self, models: &Models, year: i32, today: NaiveDate) -> YearIndex {
        let p = self.rollups;
        match self.units {
            None => p.par_index(models, year, today),
            Some(date) => p.restated_par_index(models, year, today, date),
        }
    }

    /// [`Rollups::par_history`], or [`Rollups::restated_par_history`].
    pub fn par_history(&self, models: &Models, agency: &str, today: NaiveDate) -> Vec<AgencyIndex> {
        let p = self.rollups;
        match self.units {
            None => p.par_history(models, agency, today),
            Some(date) => p.restated_par_history(models, agency, today, date),
        }
    }

    /// [`Rollups::service_index`], or [`Rollups::restated_service_index`].
    pub fn service_index(
        &self,
        rubrics: &ServiceRubrics,
        period: IndexPeriod,
        today: NaiveDate,
    ) -> Option<ServiceIndex> {
        let p = self.rollups;
        match self.units {
            None => p.service_index(rubrics, period, today),
            Some(date) => p.restated_service_index(rubrics, period, today, date),
        }
    }

    /// [`Rollups::breaks`] of figures over `[from, to]` of `agency` (all: `None`) in this view.
    pub fn breaks(&self, from: NaiveDate, to: NaiveDate, agency: Option<&str>) -> Vec<Break> {
        self.rollups.breaks(from, to, agency, self.units)
    }
}

impl Restatement {
    /// What `unit` is made of; every unit together with `None`.
    fn parts(self, unit: Option<&str>) -> Parts {
        match unit {
            Some(unit) => self.units.get(unit).cloned().unwrap_or_default(),
            None => {
                let mut all: Parts = Vec::new();
                for parts in self.units.into_values() {
                    add_parts(&mut all, &parts);
                }
                all
            }
        }
    }
}

/// Adds `parts` (agency id, weight) into `all`, summing the weights of one agency.
fn add_parts(all: &mut Vec<(u32, f64)>, parts: &[(u32, f64)]) {
    for &(id, w) in parts {
        match all.iter_mut().find(|(i, _)| *i == id) {
            Some((_, sum)) => *sum += w,
            None => all.push((id, w)),
        }
    }
}

/// The point of `metric` for bucket `bucket` over `[first, last]` of a unit made of `parts`
/// (agency id, weight), and whether it has anything to measure.
pub(crate) fn restated_point(
    metric: &MetricDef,
    counters: &Counters<'_>,
    parts: &[(u32, f64)],
    bucket: NaiveDate,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<(Point, bool), MetricError> {
    let shape = metric.point(bucket, &Acc::default());
    if shape.numerator.is_none() {
        // A median: the unit's dossiers are whole agencies' dossiers, or it cannot be told.
        if parts.iter().any(|(_, w)| (w - 1.0).abs() > WHOLE) {
            return Err(MetricError::NotRestatable(metric.name));
        }
        let ids: Vec<u32> = parts.iter().map(|&(id, _)| id).collect();
        let acc = metric.acc(counters, &ids, first, last);
        let point = metric.point(bucket, &acc);
        let measurable = metric.measurable(&acc, &point);
        return Ok((point, measurable));
    }
    let (mut numerator, mut denominator) = (0.0, shape.denominator.map(|_| 0.0));
    let mut measurable = false;
    for &(id, weight) in parts {
        let acc = metric.acc(counters, &[id], first, last);
        let point = metric.point(bucket, &acc);
        measurable |= metric.measurable(&acc, &point);
        numerator += weight * point.numerator.unwrap_or(0) as f64;
        if let (Some(sum), Some(d)) = (denominator.as_mut(), point.denominator) {
            *sum += weight * d as f64;
        }
    }
    let value = match denominator {
        Some(d) => (d > 0.0).then(|| numerator / d),
        None => Some(numerator),
    };
    let point = Point {
        bucket,
        value,
        numerator: Some(numerator.round() as i64),
        denominator: denominator.map(|d| d.round() as i64),
    };
    Ok((point, measurable))
}
