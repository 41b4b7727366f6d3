//! Per-day, per-agency counters and each dossier's contribution to them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use parwatch_proto::{ActivityStatus, Channel, ServiceMode, local_date};

use crate::facts::Facts;
use crate::governance::{Activity, Task};
use crate::histogram::Histogram;

/// Counters of one local day for one agency. Every metric of any bucket is computed from sums
/// of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayStats {
    /// Dossiers first received this day.
    pub received: i64,
    /// Of those, received online.
    pub online: i64,
    /// Of those, online with mode `full`.
    pub full_online: i64,
    /// Of those, received by post.
    pub postal: i64,
    /// Dossiers first resolved this day.
    pub resolved: i64,
    /// Of those, with a receipt (any time).
    pub resolved_with_received: i64,
    /// Of those, resolved by the receipt's `due_at`.
    pub on_time: i64,
    /// Resolved this day with a digitised result.
    pub digitized: i64,
    /// Dossiers whose first late file is this day.
    pub late_files: i64,
    /// Of those, with an apology (any time).
    pub late_apologised: i64,
    /// Of those, whose first apology came by the missed `due_at`.
    pub late_apology_timely: i64,
    /// Dossiers that became overdue (received and past due, unresolved) this day.
    pub overdue_entered: i64,
    /// Overdue dossiers resolved this day.
    pub overdue_left: i64,
    /// Processing days (resolved − received) of the dossiers resolved this day.
    pub(crate) processing_days: Histogram,
    /// Plan activities (not cancelled) due this day.
    pub plan_due: i64,
    /// Of those, done.
    pub plan_done: i64,
    /// Tasks from superiors due this day.
    pub tasks_due: i64,
    /// Of those, completed by their due date.
    pub tasks_on_time: i64,
}

impl DayStats {
    /// Adds another day's counters.
    pub(crate) fn merge(&mut self, o: &DayStats) {
        self.received += o.received;
        self.online += o.online;
        self.full_online += o.full_online;
        self.postal += o.postal;
        self.resolved += o.resolved;
        self.resolved_with_received += o.resolved_with_received;
        self.on_time += o.on_time;
        self.digitized += o.digitized;
        self.late_files += o.late_files;
        self.late_apologised += o.late_apologised;
        self.late_apology_timely += o.late_apology_timely;
        self.overdue_entered += o.overdue_entered;
        self.overdue_left += o.overdue_left;
        self.processing_days.merge(&o.processing_days);
        self.plan_due += o.plan_due;
        self.plan_done += o.plan_done;
        self.tasks_due += o.tasks_due;
        self.tasks_on_time += o.tasks_on_time;
    }

    /// Whether anything happened.
    pub fn is_empty(&self) -> bool {
        *self == DayStats::default()
    }

    /// Median processing days of this (merged) period, within 1%.
    pub fn processing_days_p50(&self) -> Option<f64> {
        self.processing_days.median()
    }

    /// Number of durations behind [`DayStats::processing_days_p50`].
    pub fn processing_days_count(&self) -> i64 {
        self.processing_days.count()
    }
}

/// Daily counters keyed by (local day, agency id).
pub(crate) type Daily = BTreeMap<(NaiveDate, u32), DayStats>;

pub(crate) fn day_of(micros: i64) -> NaiveDate {
    local_date(DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// Adds (`sign` = 1) or removes (`sign` = -1) a dossier's contribution to the counters.
pub(crate) fn contribute(facts: &Facts, sign: i64, agency: u32, daily: &mut Daily) {
    fn at(daily: &mut Daily, agency: u32, micros: i64) -> &mut DayStats {
        daily.entry((day_of(micros), agency)).or_default()
    }
    if let Some(r) = facts.received {
        let d = at(daily, agency, r.at);
        d.received += sign;
        let online = r.channel == Channel::Online;
        d.online += sign * i64::from(online);
        d.full_online += sign * i64::from(online && r.online_mode == Some(ServiceMode::Full));
        d.postal += sign * i64::from(r.channel == Channel::Postal);
    }
    if let Some(s) = facts.resolved {
        let d = at(daily, agency, s.at);
        d.resolved += sign;
        d.digitized += sign * i64::from(s.digitized == Some(true));
        if let Some(r) = facts.received {
            d.resolved_with_received += sign;
            d.on_time += sign * i64::from(s.at <= r.due_at);
            d.processing_days
                .add((s.at - r.at) as f64 / MICROS_PER_DAY, sign);
        }
    }
    if let Some(l) = facts.late {
        let d = at(daily, agency, l.at);
        d.late_files += sign;
        if let Some(apology) = facts.apology_at {
            d.late_apologised += sign;
            d.late_apology_timely += sign * i64::from(apology <= l.due_at);
        }
    }
    // Overdue at the end E of a day: received before E, due before E, not resolved before E.
    // It enters on the day of max(received, due) and leaves on the day of its resolution if that
    // is later (a dossier resolved before it is due enters and leaves on the same day: net 0).
    if let Some(r) = facts.received {
        let enters = day_of(r.at.max(r.due_at));
        daily.entry((enters, agency)).or_default().overdue_entered += sign;
        if let Some(s) = facts.resolved {
            let leaves = enters.max(day_of(s.at));
            daily.entry((leaves, agency)).or_default().overdue_left += sign;
        }
    }
}

/// Adds (`sign` = 1) or removes (`sign` = -1) a plan activity's contribution: counted on the day
/// it is due unless cancelled, done or not.
pub(crate) fn contribute_activity(a: &Activity, sign: i64, agency: u32, daily: &mut Daily) {
    if a.status == ActivityStatus::Cancelled {
        return;
    }
    let d = daily.entry((day_of(a.due_at), agency)).or_default();
    d.plan_due += sign;
    d.plan_done += sign * i64::from(a.status == ActivityStatus::Done);
}

/// Adds or removes a task's contribution: counted on the day it is due, on time when completed
/// by then.
pub(crate) fn contribute_task(t: &Task, sign: i64, agency: u32, daily: &mut Daily) {
    let Some(due) = t.due_at() else {
        return;
    };
    let d = daily.entry((day_of(due), agency)).or_default();
    d.tasks_due += sign;
    d.tasks_on_time += sign * i64::from(t.on_time() == Some(true));
}
