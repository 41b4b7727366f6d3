//! Per-day, per-agency counters and each dossier's contribution to them.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, NaiveDate};
use parwatch_proto::{ActivityStatus, Channel, ServiceMode, local_date};

use crate::facts::Facts;
use crate::governance::{Activity, Task};
use crate::histogram::Histogram;
use crate::roles::DossierRole;

/// Counters of one local day for one agency. Every metric of any bucket is computed from sums
/// of these (the median from the processing-days histograms kept beside them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
        self.plan_due += o.plan_due;
        self.plan_done += o.plan_done;
        self.tasks_due += o.tasks_due;
        self.tasks_on_time += o.tasks_on_time;
    }

    /// Whether anything happened.
    pub fn is_empty(&self) -> bool {
        *self == DayStats::default()
    }

    /// Dossiers that became overdue less those that stopped being overdue.
    pub(crate) fn overdue_change(&self) -> i64 {
        self.overdue_entered - self.overdue_left
    }
}

/// One agency's counters of one calendar month: each day's, their total, and the histograms
/// of processing days likewise. The total makes month, quarter and year buckets cost one
/// read per month.
#[derive(Debug, Clone, Default)]
struct Month {
    days: [DayStats; 31],
    total: DayStats,
    durations: [Histogram; 31],
    durations_total: Histogram,
}

/// A month's key: months since year 0, so keys order as months do.
fn month_key(day: NaiveDate) -> i32 {
    day.year() * 12 + day.month0() as i32
}

/// The first day of the month of `key`.
fn month_start(key: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(key.div_euclid(12), key.rem_euclid(12) as u32 + 1, 1)
        .expect("a month of a stored day")
}

/// Per-day, per-agency counters, by agency id and month. Months are shared, copy-on-write,
/// between the projection being folded and the [`crate::Rollups`] published from it: a
/// published version costs a copy of the month maps, and the fold copies a month the first
/// time it changes it afterwards.
///
/// The counters are those of the competent agencies; beside them, one view per other role of
/// an agency on a dossier ([`DossierRole`]) counts every dossier under its receiving point or
/// its commune area, and the agencies' own work as the competent view does. A view is made,
/// as a copy sharing every month, when the first dossier names an agency of that role other
/// than its competent one; until then the role reads the competent counters (they are the
/// same), so a province whose publishers never name one pays nothing for it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Daily {
    agencies: Vec<BTreeMap<i32, Arc<Month>>>,
    /// The receiving and area views ([`DossierRole::view`]); never nested.
    roles: [Option<Box<Daily>>; 2],
}

/// Sums of counters over a range of days, with the processing-days histogram when asked.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sums {
    /// The counters' sums.
    pub(crate) stats: DayStats,
    /// The processing days of the dossiers resolved in the range.
    pub(crate) durations: Histogram,
}

impl Daily {
    /// The counters with each dossier under its agency of `role`.
    pub(crate) fn role(&self, role: DossierRole) -> &Daily {
        role.view()
            .and_then(|i| self.roles[i].as_deref())
            .unwrap_or(self)
    }

    /// Moves a dossier of the competent agency `agency` from the counters of `before` to those
    /// of `after`, in every view (each under the dossier's agency of its role).
    pub(crate) fn change(&mut self, before: &Facts, after: &Facts, agency: u32) {
        for role in [DossierRole::Receiving, DossierRole::Area] {
            let i = role.view().expect("a view");
            let named = |f: &Facts| {
                f.received
                    .is_some_and(|r| r.roles.agency(role, agency) != agency)
            };
            if self.roles[i].is_none() && (named(before) || named(after)) {
                // What the role reads until now: the competent counters, before this change.
                let view = Daily {
                    agencies: self.agencies.clone(),
                    roles: [None, None],
                };
                self.roles[i] = Some(Box::new(view));
            }
        }
        contribute(before, -1, agency, self);
        contribute(after, 1, agency, self);
        for (role, view) in [DossierRole::Receiving, DossierRole::Area]
            .into_iter()
            .zip(&mut self.roles)
        {
            if let Some(view) = view {
                let agency_of =
                    |f: &Facts| f.received.map_or(agency, |r| r.roles.agency(role, agency));
                contribute(before, -1, agency_of(before), view);
                contribute(after, 1, agency_of(after), view);
            }
        }
    }

    /// Changes one day's counters of the agencies' own work in every view: it is the same in
    /// every role.
    fn update_work(&mut self, agency: u32, day: NaiveDate, change: impl Fn(&mut DayStats)) {
        self.update(agency, day, &change);
        for view in self.roles.iter_mut().flatten() {
            view.update(agency, day, &change);
        }
    }

    fn month_mut(&mut self, agency: u32, day: NaiveDate) -> &mut Month {
        let index = agency as usize;
        if self.agencies.len() <= index {
            self.agencies.resize_with(index + 1, BTreeMap::new);
        }
        Arc::make_mut(self.agencies[index].entry(month_key(day)).or_default())
    }

    /// Changes one day's counters (and its month's total) by `change`.
    fn update(&mut self, agency: u32, day: NaiveDate, change: impl Fn(&mut DayStats)) {
        let month = self.month_mut(agency, day);
        change(&mut month.days[day.day0() as usize]);
        change(&mut month.total);
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one processing time, in days.
    fn add_duration(&mut self, agency: u32, day: NaiveDate, days: f64, sign: i64) {
        let month = self.month_mut(agency, day);
        month.durations[day.day0() as usize].add(days, sign);
        month.durations_total.add(days, sign);
    }

    /// Agency ids with counters.
    pub(crate) fn agency_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.agencies.len() as u32).filter(|&a| !self.agencies[a as usize].is_empty())
    }

    /// Whether `agency` has counters on a day up to `to`.
    pub(crate) fn active_by(&self, agency: u32, to: NaiveDate) -> bool {
        let Some(months) = self.agencies.get(agency as usize) else {
            return false;
        };
        let key = month_key(to);
        months.range(..=key).any(|(&k, m)| {
            let days = if k == key {
                &m.days[..=to.day0() as usize]
            } else {
                &m.days[..]
            };
            days.iter().any(|d| !d.is_empty())
        })
    }

    /// Every day with counters: (day, agency id, counters, median processing days), by
    /// agency and day.
    pub(crate) fn days(&self) -> impl Iterator<Item = (NaiveDate, u32, &DayStats, Option<f64>)> {
        self.agencies
            .iter()
            .enumerate()
            .flat_map(|(agency, months)| {
                months.iter().flat_map(move |(&key, month)| {
                    let start = month_start(key);
                    month
                        .days
                        .iter()
                        .zip(&month.durations)
                        .enumerate()
                        .filter(|(_, (stats, _))| !stats.is_empty())
                        .map(move |(i, (stats, durations))| {
                            let day = start + Days::new(i as u64);
                            (day, agency as u32, stats, durations.median())
                        })
                })
            })
    }

    /// `agency`'s sums over the days `[from, to]`, adding into `sums`; the histogram too when
    /// `durations`.
    pub(crate) fn add_sums(
        &self,
        agency: u32,
        from: NaiveDate,
        to: NaiveDate,
        durations: bool,
        sums: &mut Sums,
    ) {
        let Some(months) = self.agencies.get(agency as usize) else {
            return;
        };
        let (first_key, last_key) = (month_key(from), month_key(to));
        // Whether `to` ends its month: its last month is then whole too.
        let to_ends_month = to.succ_opt().is_none_or(|next| next.day() == 1);
        for (&key, month) in months.range(first_key..=last_key) {
            let first = if key == first_key { from.day0() } else { 0 } as usize;
            let last = if key == last_key { to.day0() } else { 30 } as usize;
            let whole = first == 0 && (key != last_key || to_ends_month);
            if whole {
                sums.stats.merge(&month.total);
                if durations {
                    sums.durations.merge(&month.durations_total);
                }
            } else {
                for i in first..=last {
                    sums.stats.merge(&month.days[i]);
                    if durations {
                        sums.durations.merge(&month.durations[i]);
                    }
                }
            }
        }
    }

    /// `agency`'s dossiers overdue at the end of `day`: the running sum of
    /// [`DayStats::overdue_change`] over every day up to it.
    pub(crate) fn overdue_at(&self, agency: u32, day: NaiveDate) -> i64 {
        let Some(months) = self.agencies.get(agency as usize) else {
            return 0;
        };
        let key = month_key(day);
        let before: i64 = months
            .range(..key)
            .map(|(_, m)| m.total.overdue_change())
            .sum();
        let within: i64 = months.get(&key).map_or(0, |m| {
            m.days[..=day.day0() as usize]
                .iter()
                .map(DayStats::overdue_change)
                .sum()
        });
        before + within
    }
}

pub(crate) fn day_of(micros: i64) -> NaiveDate {
    local_date(DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// Adds (`sign` = 1) or removes (`sign` = -1) a dossier's contribution to the counters of one
/// view, under `agency` (see [`Daily::change`]).
fn contribute(facts: &Facts, sign: i64, agency: u32, daily: &mut Daily) {
    if let Some(r) = facts.received {
        let online = r.channel == Channel::Online;
        let full = online && r.online_mode == Some(ServiceMode::Full);
        let postal = r.channel == Channel::Postal;
        daily.update(agency, day_of(r.at), |d| {
            d.received += sign;
            d.online += sign * i64::from(online);
            d.full_online += sign * i64::from(full);
            d.postal += sign * i64::from(postal);
        });
    }
    if let Some(s) = facts.resolved {
        let day = day_of(s.at);
        let digitized = s.digitized == Some(true);
        let received = facts.received;
        daily.update(agency, day, |d| {
            d.resolved += sign;
            d.digitized += sign * i64::from(digitized);
            if let Some(r) = received {
                d.resolved_with_received += sign;
                d.on_time += sign * i64::from(s.at <= r.due_at);
            }
        });
        if let Some(r) = received {
            daily.add_duration(agency, day, (s.at - r.at) as f64 / MICROS_PER_DAY, sign);
        }
    }
    if let Some(l) = facts.late {
        let apology = facts.apology_at;
        daily.update(agency, day_of(l.at), |d| {
            d.late_files += sign;
            if let Some(apology) = apology {
                d.late_apologised += sign;
                d.late_apology_timely += sign * i64::from(apology <= l.due_at);
            }
        });
    }
    // Overdue at the end E of a day: received before E, due before E, not resolved before E.
    // It enters on the day of max(received, due) and leaves on the day of its resolution if that
    // is later (a dossier resolved before it is due enters and leaves on the same day: net 0).
    if let Some(r) = facts.received {
        let enters = day_of(r.at.max(r.due_at));
        daily.update(agency, enters, |d| d.overdue_entered += sign);
        if let Some(s) = facts.resolved {
            let leaves = enters.max(day_of(s.at));
            daily.update(agency, leaves, |d| d.overdue_left += sign);
        }
    }
}

/// Adds (`sign` = 1) or removes (`sign` = -1) a plan activity's contribution: counted on the day
/// it is due unless cancelled, done or not.
pub(crate) fn contribute_activity(a: &Activity, sign: i64, agency: u32, daily: &mut Daily) {
    if a.status == ActivityStatus::Cancelled {
        return;
    }
    let done = a.status == ActivityStatus::Done;
    daily.update_work(agency, day_of(a.due_at), |d| {
        d.plan_due += sign;
        d.plan_done += sign * i64::from(done);
    });
}

/// Adds or removes a task's contribution: counted on the day it is due, on time when completed
/// by then.
pub(crate) fn contribute_task(t: &Task, sign: i64, agency: u32, daily: &mut Daily) {
    let Some(due) = t.due_at() else {
        return;
    };
    let on_time = t.on_time() == Some(true);
    daily.update_work(agency, day_of(due), |d| {
        d.tasks_due += sign;
        d.tasks_on_time += sign * i64::from(on_time);
    });
}
