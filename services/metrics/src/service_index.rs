//! The inputs of the national real-time service index (Decision 766), folded from the events:
//! per dossier the facts of its supplement requests, fee, digitised components, result, sync and
//! rating ([`ServiceFacts`], packed beside the other dossier facts and evicted with them), per
//! agency its petitions and procedure catalogue ([`ServiceWork`]), and per agency and month the
//! counters every input is summed from ([`ServiceCounts`]). The scoring models of
//! `parwatch-scoring` turn the inputs into points.
//!
//! Counting (docs/index-766.md says why):
//! - a dossier counts only once its `dossier.received` is known; received-month inputs (online,
//!   synced, digitised, reused) count it in the month of its receipt; resolved-month inputs
//!   (on time, electronic result) in the month of its resolution; its fee in the month it was
//!   paid; its rating in the month of its latest rating;
//! - on time (766): resolved by the appointment pushed back by the supplement time (each
//!   `supplement.provided` minus the request before it; a request unanswered at the end counts
//!   until the end); a second supplement request makes it late;
//! - dossiers open and late at a period's end (past the pushed-back appointment, or after a
//!   second request, and not waiting on the citizen) and petitions open past their deadline are
//!   stocks: counted at the period's end (or today, for a period not over), never summed over
//!   months; flows (resolved, answered, received, ...) are summed over the period's months.
//!
//! Times of these facts are kept to the second (`u32` seconds since 2000-01-01 UTC, the contract's
//! earliest time), so a dossier's facts stay small.

mod lost;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int32Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Int32Type, TimeUnit, TimestampMicrosecondType,
};
use parwatch_proto::{AgencyKind, AgencyLevel, EventData, Portal, Rating, ServiceMode};
use parwatch_scoring::{IndexPeriod, Input, Ratio, ServiceInputs};
use serde::{Deserialize, Serialize};

use crate::agencies::Agencies;
use crate::catalogue::service_metric;
use crate::facts::Facts;
use crate::restate::restated_point;
use crate::rollup::day_of;
use crate::rollups::Rollups;

pub use lost::{LostAsk, LostItem, LostPoints, LostReason, LostSubject, lost_points};

/// 2000-01-01T00:00:00Z in seconds since 1970: stamps count from it.
const STAMP_EPOCH: i64 = 946_684_800;

/// A time to the second since 2000-01-01 UTC; 0 is "none".
fn stamp(micros: i64) -> u32 {
    (micros.div_euclid(1_000_000) - STAMP_EPOCH).clamp(1, i64::from(u32::MAX)) as u32
}

/// A stamp back in UTC microseconds.
fn micros(stamp: u32) -> i64 {
    (i64::from(stamp) + STAMP_EPOCH) * 1_000_000
}

/// Adds `value` to a sorted pair of the two smallest values kept (0 = empty); returns whether
/// a value (it or one kept before) fell out.
fn keep_two(pair: &mut [u32; 2], value: u32) -> bool {
    match *pair {
        [0, _] => {
            pair[0] = value;
            false
        }
        [a, 0] => {
            *pair = [a.min(value), a.max(value)];
            false
        }
        [a, b] if value < b => {
            *pair = [a.min(value), a.max(value)];
            true
        }
        _ => true,
    }
}

/// One event of the index about a dossier, reduced to what its facts need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceEvent {
    SupplementRequested,
    SupplementProvided,
    /// `fee.requested`; whether the amount is over 0.
    FeeRequested(bool),
    /// `fee.paid`; whether online.
    FeePaid(bool),
    /// `component.digitised`; whether reused.
    Digitised(bool),
    /// `result.issued`; whether electronic.
    ResultIssued(bool),
    /// `dossier.synced`; whether to the national portal.
    Synced(bool),
    Rated(Rating),
}

impl ServiceEvent {
    /// The event of a dossier type's data; `None` for other types.
    pub(crate) fn of(data: &EventData) -> Option<Self> {
        Some(match data {
            EventData::SupplementRequested { .. } => ServiceEvent::SupplementRequested,
            EventData::SupplementProvided { .. } => ServiceEvent::SupplementProvided,
            EventData::FeeRequested { amount_vnd } => ServiceEvent::FeeRequested(*amount_vnd > 0),
            EventData::FeePaid { online, .. } => ServiceEvent::FeePaid(*online),
            EventData::ComponentDigitised { reused, .. } => ServiceEvent::Digitised(*reused),
            EventData::ResultIssued { electronic } => ServiceEvent::ResultIssued(*electronic),
            EventData::DossierSynced { portal } => {
                ServiceEvent::Synced(*portal == Portal::National)
            }
            EventData::DossierRated { rating } => ServiceEvent::Rated(*rating),
            _ => return None,
        })
    }
}

/// What a dossier's index events say, merged independently of arrival order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceFacts {
    /// The two earliest supplement requests (stamps, 0 for none), ascending.
    pub(crate) requests: [u32; 2],
    /// Whether there were more than two requests.
    pub(crate) more_requests: bool,
    /// The two earliest `supplement.provided`, ascending.
    pub(crate) provided: [u32; 2],
    /// `None` without `fee.requested`; whether one asked more than 0 VND.
    pub(crate) fee_charged: Option<bool>,
    /// The earliest payment (stamp) and whether it was online (at one instant, offline first).
    pub(crate) paid: Option<(u32, bool)>,
    /// Whether a component was digitised (scanned or reused).
    pub(crate) digitised: bool,
    /// Whether a component was reused.
    pub(crate) reused: bool,
    /// `None` without `result.issued`; whether a result was electronic.
    pub(crate) electronic: Option<bool>,
    /// Whether it was synced to the national portal.
    pub(crate) synced_national: bool,
    /// The latest rating (stamp, rating; at one instant the best).
    pub(crate) rated: Option<(u32, Rating)>,
}

/// Bytes of [`ServiceFacts`] packed.
pub(crate) const SERVICE_BYTES: usize = 26;

const MORE_REQUESTS: u16 = 1;
const FEE_REQUESTED: u16 = 1 << 1;
const FEE_CHARGED: u16 = 1 << 2;
const PAID: u16 = 1 << 3;
const PAID_ONLINE: u16 = 1 << 4;
const DIGITISED: u16 = 1 << 5;
const REUSED: u16 = 1 << 6;
const ISSUED: u16 = 1 << 7;
const ELECTRONIC: u16 = 1 << 8;
const SYNCED: u16 = 1 << 9;
const RATED: u16 = 1 << 10;
const RATING_SHIFT: u16 = 11;

impl ServiceFacts {
    /// Merges one event at `at` (UTC microseconds); returns whether the facts changed.
    pub(crate) fn apply(&mut self, at: i64, event: ServiceEvent) -> bool {
        let before = *self;
        let at = stamp(at);
        match event {
            ServiceEvent::SupplementRequested => {
                self.more_requests |= keep_two(&mut self.requests, at);
            }
            ServiceEvent::SupplementProvided => {
                keep_two(&mut self.provided, at);
            }
            ServiceEvent::FeeRequested(charged) => {
                self.fee_charged = Some(self.fee_charged.unwrap_or(false) | charged);
            }
            ServiceEvent::FeePaid(online) => {
                if self.paid.is_none_or(|p| (at, online) < p) {
                    self.paid = Some((at, online));
                }
            }
            ServiceEvent::Digitised(reused) => {
                self.digitised = true;
                self.reused |= reused;
            }
            ServiceEvent::ResultIssued(electronic) => {
                self.electronic = Some(self.electronic.unwrap_or(false) | electronic);
            }
            ServiceEvent::Synced(national) => self.synced_national |= national,
            ServiceEvent::Rated(rating) => {
                // Best first in contract order: very satisfied is the smallest.
                let rank = |r: Rating| std::cmp::Reverse(r);
                if self
                    .rated
                    .is_none_or(|(t, r)| (at, rank(rating)) > (t, rank(r)))
                {
                    self.rated = Some((at, rating));
                }
            }
        }
        *self != before
    }

    /// The latest time among the facts (UTC microseconds), `None` when there is none.
    pub(crate) fn last_event(&self) -> Option<i64> {
        let stamps = [
            self.requests[1].max(self.requests[0]),
            self.provided[1].max(self.provided[0]),
            self.paid.map_or(0, |p| p.0),
            self.rated.map_or(0, |r| r.0),
        ];
        stamps.into_iter().filter(|&s| s > 0).max().map(micros)
    }

    /// The facts in [`SERVICE_BYTES`] bytes: six stamps (two requests, two provided, the
    /// payment, the rating) and two bytes of flags.
    pub(crate) fn to_bytes(self) -> [u8; SERVICE_BYTES] {
        let mut flags = 0_u16;
        for (bit, on) in [
            (MORE_REQUESTS, self.more_requests),
            (FEE_REQUESTED, self.fee_charged.is_some()),
            (FEE_CHARGED, self.fee_charged == Some(true)),
            (PAID, self.paid.is_some()),
            (PAID_ONLINE, self.paid.is_some_and(|p| p.1)),
            (DIGITISED, self.digitised),
            (REUSED, self.reused),
            (ISSUED, self.electronic.is_some()),
            (ELECTRONIC, self.electronic == Some(true)),
            (SYNCED, self.synced_national),
            (RATED, self.rated.is_some()),
        ] {
            if on {
                flags |= bit;
            }
        }
        if let Some((_, rating)) = self.rated {
            let i = Rating::ALL.iter().position(|r| *r == rating).unwrap_or(0) as u16;
            flags |= i << RATING_SHIFT;
        }
        let stamps = [
            self.requests[0],
            self.requests[1],
            self.provided[0],
            self.provided[1],
            self.paid.map_or(0, |p| p.0),
            self.rated.map_or(0, |r| r.0),
        ];
        let mut out = [0; SERVICE_BYTES];
        for (slot, s) in out.chunks_exact_mut(4).zip(stamps) {
            slot.copy_from_slice(&s.to_le_bytes());
        }
        out[24..].copy_from_slice(&flags.to_le_bytes());
        out
    }

    /// Reads [`ServiceFacts::to_bytes`] back.
    pub(crate) fn from_bytes(bytes: &[u8; SERVICE_BYTES]) -> Self {
        let stamp = |i: usize| {
            u32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        };
        let flags = u16::from_le_bytes([bytes[24], bytes[25]]);
        let on = |bit: u16| flags & bit != 0;
        let rating = Rating::ALL[usize::from(flags >> RATING_SHIFT).min(Rating::ALL.len() - 1)];
        Self {
            requests: [stamp(0), stamp(1)],
            more_requests: on(MORE_REQUESTS),
            provided: [stamp(2), stamp(3)],
            fee_charged: on(FEE_REQUESTED).then_some(on(FEE_CHARGED)),
            paid: on(PAID).then_some((stamp(4), on(PAID_ONLINE))),
            digitised: on(DIGITISED),
            reused: on(REUSED),
            electronic: on(ISSUED).then_some(on(ELECTRONIC)),
            synced_national: on(SYNCED),
            rated: on(RATED).then_some((stamp(5), rating)),
        }
    }
}

impl ServiceFacts {
    /// When the dossier waited on the citizen: [request, first `supplement.provided` at or after
    /// it), merged, in UTC microseconds; an end of `None` while unanswered. From the third
    /// request on, waits are not kept (the dossier is late by then anyway).
    fn waiting(&self) -> Vec<(i64, Option<i64>)> {
        let provided: Vec<i64> = self
            .provided
            .iter()
            .filter(|&&p| p > 0)
            .map(|&p| micros(p))
            .collect();
        let mut waits: Vec<(i64, Option<i64>)> = Vec::with_capacity(2);
        for r in self.requests.iter().filter(|&&r| r > 0).map(|&r| micros(r)) {
            let end = provided.iter().copied().find(|&p| p >= r);
            match waits.last_mut() {
                // A request while still waiting on the previous one extends that wait.
                Some(last) if last.1.is_none_or(|e| r <= e) => {
                    last.1 = last.1.zip(end).map(|(a, b)| a.max(b));
                }
                _ => waits.push((r, end)),
            }
        }
        waits
    }

    /// Whether a second supplement request was made by `t`.
    fn second_request_by(&self, t: i64) -> bool {
        self.requests[1] > 0 && micros(self.requests[1]) <= t
    }

    /// Whether a dossier due at `due` and resolved at `end` is on time under 766: no second
    /// supplement request by then, and resolved by the appointment pushed back by the time it
    /// waited on the citizen (a wait still open at the end counts until the end).
    pub(crate) fn on_time(&self, due: i64, end: i64) -> bool {
        if self.second_request_by(end) {
            return false;
        }
        let waited: i64 = self
            .waiting()
            .iter()
            .filter(|(from, _)| *from <= end)
            .map(|(from, to)| to.unwrap_or(end).min(end) - from)
            .sum();
        end <= due.saturating_add(waited)
    }

    /// When a dossier received at `received`, due at `due` and resolved at `resolved` (if ever)
    /// is open and late: not waiting on the citizen, and past the appointment pushed back by the
    /// waits so far (or after a second request). Intervals [from, to), `to` `None`: still.
    pub(crate) fn late_open(
        &self,
        received: i64,
        due: i64,
        resolved: Option<i64>,
    ) -> Vec<(i64, Option<i64>)> {
        let end = resolved.unwrap_or(i64::MAX);
        // Stretches not waiting: (from, to, waited before).
        let mut stretches = Vec::with_capacity(3);
        let (mut from, mut waited) = (received, 0_i64);
        for (wait_from, wait_to) in self.waiting() {
            let wait_from = wait_from.max(from);
            if wait_from >= end {
                break;
            }
            stretches.push((from, wait_from, waited));
            let wait_to = wait_to.unwrap_or(i64::MAX).min(end).max(wait_from);
            waited = waited.saturating_add(wait_to - wait_from);
            from = wait_to;
        }
        stretches.push((from, end, waited));
        stretches
            .into_iter()
            .filter_map(|(from, to, waited)| {
                let late_from = if self.second_request_by(from) {
                    from
                } else {
                    from.max(due.saturating_add(waited))
                };
                (late_from < to).then_some((late_from, (to != i64::MAX).then_some(to)))
            })
            .collect()
    }
}

/// Counters of one agency's month that are summed over a period's months.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flows {
    /// Dossiers received.
    pub(crate) received: i64,
    /// Of those, online.
    pub(crate) online: i64,
    /// Of those, synced to the national portal.
    pub(crate) synced: i64,
    /// Of those, with a component digitised or reused.
    pub(crate) digitised: i64,
    /// Of those, with a component reused.
    pub(crate) reused: i64,
    /// Dossiers resolved.
    pub(crate) resolved: i64,
    /// Of those, on time (766).
    pub(crate) on_time: i64,
    /// Of those, with an electronic result.
    pub(crate) electronic: i64,
    /// Dossiers whose fee (over 0 VND) was paid.
    pub(crate) fees_paid: i64,
    /// Of those, online.
    pub(crate) fees_online: i64,
    /// Dossiers whose latest rating was given.
    pub(crate) rated: i64,
    /// Of those, satisfied or very satisfied.
    pub(crate) satisfied: i64,
    /// Petitions answered.
    pub(crate) answered: i64,
    /// Of those, by their deadline.
    pub(crate) answered_on_time: i64,
}

impl Flows {
    fn merge(&mut self, o: &Flows) {
        self.received += o.received;
        self.online += o.online;
        self.synced += o.synced;
        self.digitised += o.digitised;
        self.reused += o.reused;
        self.resolved += o.resolved;
        self.on_time += o.on_time;
        self.electronic += o.electronic;
        self.fees_paid += o.fees_paid;
        self.fees_online += o.fees_online;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.answered += o.answered;
        self.answered_on_time += o.answered_on_time;
    }
}

/// A stock counted at a period's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stock {
    /// Dossiers open and late.
    LateOpen,
    /// Petitions open past their deadline.
    OverduePetitions,
}

/// One agency's month: its flows, and each day's change of the stocks.
#[derive(Debug, Clone, Default)]
struct ServiceMonth {
    flows: Flows,
    /// Change of each stock per day of the month, and over the month.
    stocks: [([i32; 31], i64); 2],
}

/// Months since year 0.
fn month_key(day: NaiveDate) -> i32 {
    day.year() * 12 + day.month0() as i32
}

/// Per agency id and month, the counters of the index's inputs; months shared copy-on-write
/// between the projection being folded and the rollups published from it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceCounts {
    agencies: Vec<BTreeMap<i32, Arc<ServiceMonth>>>,
}

impl ServiceCounts {
    fn month_mut(&mut self, agency: u32, day: NaiveDate) -> &mut ServiceMonth {
        let i = agency as usize;
        if self.agencies.len() <= i {
            self.agencies.resize_with(i + 1, BTreeMap::new);
        }
        Arc::make_mut(self.agencies[i].entry(month_key(day)).or_default())
    }

    fn flow(&mut self, agency: u32, day: NaiveDate, change: impl FnOnce(&mut Flows)) {
        change(&mut self.month_mut(agency, day).flows);
    }

    fn stock(&mut self, agency: u32, at: i64, stock: Stock, sign: i64) {
        let day = day_of(at);
        let (days, total) = &mut self.month_mut(agency, day).stocks[stock as usize];
        days[day.day0() as usize] += sign as i32;
        *total += sign;
    }

    /// Adds a stretch [from, to) of a stock (`to` `None`: still) with `sign`.
    fn stretch(&mut self, agency: u32, (from, to): (i64, Option<i64>), stock: Stock, sign: i64) {
        self.stock(agency, from, stock, sign);
        if let Some(to) = to {
            self.stock(agency, to, stock, -sign);
        }
    }

    /// `agency`'s flows summed over the months from `first`'s to `last`'s, whole.
    fn flows(&self, agency: u32, first: NaiveDate, last: NaiveDate) -> Flows {
        let mut sum = Flows::default();
        if let Some(months) = self.agencies.get(agency as usize) {
            let range = month_key(first)..=month_key(last);
            for month in months.range(range).map(|(_, m)| m) {
                sum.merge(&month.flows);
            }
        }
        sum
    }

    /// `agency`'s stock at the end of `day`.
    fn stock_at(&self, agency: u32, stock: Stock, day: NaiveDate) -> i64 {
        let Some(months) = self.agencies.get(agency as usize) else {
            return 0;
        };
        let key = month_key(day);
        let before: i64 = months
            .range(..key)
            .map(|(_, m)| m.stocks[stock as usize].1)
            .sum();
        let within: i64 = months.get(&key).map_or(0, |m| {
            m.stocks[stock as usize].0[..=day.day0() as usize]
                .iter()
                .map(|&c| i64::from(c))
                .sum()
        });
        before + within
    }

    fn agency_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.agencies.len() as u32).filter(|&a| !self.agencies[a as usize].is_empty())
    }

    /// The first day of the earliest month with counters.
    pub(crate) fn first_month(&self) -> Option<NaiveDate> {
        let key = self.agencies.iter().filter_map(|m| m.keys().next()).min()?;
        NaiveDate::from_ymd_opt(key.div_euclid(12), key.rem_euclid(12) as u32 + 1, 1)
    }
}

/// Adds (`sign` = 1) or removes (`sign` = -1) a dossier's contribution to the counters.
pub(crate) fn contribute_service(f: &Facts, sign: i64, agency: u32, counts: &mut ServiceCounts) {
    let Some(r) = f.received else {
        return;
    };
    let s = &f.service;
    let one = |yes: bool| sign * i64::from(yes);
    counts.flow(agency, day_of(r.at), |m| {
        m.received += sign;
        m.online += one(r.channel == parwatch_proto::Channel::Online);
        m.synced += one(s.synced_national);
        m.digitised += one(s.digitised);
        m.reused += one(s.reused);
    });
    if let Some(z) = f.resolved {
        counts.flow(agency, day_of(z.at), |m| {
            m.resolved += sign;
            m.on_time += one(s.on_time(r.due_at, z.at));
            m.electronic += one(s.electronic == Some(true));
        });
    }
    if let (Some(true), Some((at, online))) = (s.fee_charged, s.paid) {
        counts.flow(agency, day_of(micros(at)), |m| {
            m.fees_paid += sign;
            m.fees_online += one(online);
        });
    }
    if let Some((at, rating)) = s.rated {
        counts.flow(agency, day_of(micros(at)), |m| {
            m.rated += sign;
            m.satisfied += one(rating != Rating::Dissatisfied);
        });
    }
    for stretch in s.late_open(r.at, r.due_at, f.resolved.map(|z| z.at)) {
        counts.stretch(agency, stretch, Stock::LateOpen, sign);
    }
}

/// A petition (PAKN): its earliest receipt (time, deadline) and earliest answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Petition {
    received: Option<(i64, i64)>,
    answered: Option<i64>,
}

impl Petition {
    /// Adds or removes its contribution: answered in the month of its answer, on time by its
    /// deadline; open past the deadline from then until answered.
    fn contribute(&self, sign: i64, agency: u32, counts: &mut ServiceCounts) {
        let Some((at, due)) = self.received else {
            return;
        };
        if let Some(answered) = self.answered {
            counts.flow(agency, day_of(answered), |m| {
                m.answered += sign;
                m.answered_on_time += sign * i64::from(answered <= due);
            });
        }
        let overdue = at.max(due);
        if self.answered.is_none_or(|a| a > overdue) {
            counts.stretch(
                agency,
                (overdue, self.answered),
                Stock::OverduePetitions,
                sign,
            );
        }
    }
}

/// A procedure's catalogue facts as of one `procedure.catalogued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Catalogued {
    at: i64,
    published: bool,
    publicised: bool,
    complete: bool,
    online: bool,
}

/// An agency-level event of the index: a petition's receipt or answer, a procedure's catalogue
/// facts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ServiceWorkFact {
    PetitionReceived {
        id: Box<str>,
        at: i64,
        due: i64,
    },
    PetitionAnswered {
        id: Box<str>,
        at: i64,
    },
    Catalogued {
        procedure: Box<str>,
        facts: Catalogued,
    },
}

impl ServiceWorkFact {
    /// The fact of a petition or catalogue event at `at` (`procedure`: its procedure code);
    /// `None` for other data.
    pub(crate) fn of(at: i64, procedure: Option<&str>, data: &EventData) -> Option<Self> {
        Some(match data {
            EventData::PetitionReceived {
                petition_id,
                due_at,
            } => ServiceWorkFact::PetitionReceived {
                id: petition_id.as_str().into(),
                at,
                due: due_at.timestamp_micros(),
            },
            EventData::PetitionAnswered { petition_id } => ServiceWorkFact::PetitionAnswered {
                id: petition_id.as_str().into(),
                at,
            },
            EventData::ProcedureCatalogued {
                published,
                publicised,
                complete,
                online_mode,
                ..
            } => ServiceWorkFact::Catalogued {
                procedure: procedure?.into(),
                facts: Catalogued {
                    at,
                    published: *published,
                    publicised: *publicised,
                    complete: *complete,
                    online: matches!(online_mode, Some(ServiceMode::Full | ServiceMode::Partial)),
                },
            },
            _ => return None,
        })
    }
}

/// Every agency's petitions and procedure catalogue, by agency id.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceWork {
    petitions: BTreeMap<(u32, Box<str>), Petition>,
    /// Each procedure's catalogue events, ascending.
    catalogue: BTreeMap<(u32, Box<str>), Vec<Catalogued>>,
}

/// [`ServiceWork`] by agency code, for a snapshot's metadata.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WorkText {
    petitions: Vec<(String, String, Petition)>,
    catalogue: Vec<(String, String, Vec<Catalogued>)>,
}

impl ServiceWork {
    /// Folds one fact of agency `id` in; counters move when a petition changes.
    pub(crate) fn apply(&mut self, id: u32, fact: ServiceWorkFact, counts: &mut ServiceCounts) {
        match fact {
            ServiceWorkFact::Catalogued { procedure, facts } => {
                let history = self.catalogue.entry((id, procedure)).or_default();
                if let Err(i) = history.binary_search(&facts) {
                    history.insert(i, facts);
                }
            }
            ServiceWorkFact::PetitionReceived { id: p, at, due } => {
                self.petition(id, p, counts, |x| {
                    if x.received.is_none_or(|r| (at, due) < r) {
                        x.received = Some((at, due));
                    }
                });
            }
            ServiceWorkFact::PetitionAnswered { id: p, at } => {
                self.petition(id, p, counts, |x| {
                    if x.answered.is_none_or(|a| at < a) {
                        x.answered = Some(at);
                    }
                });
            }
        }
    }

    fn petition(
        &mut self,
        agency: u32,
        id: Box<str>,
        counts: &mut ServiceCounts,
        change: impl FnOnce(&mut Petition),
    ) {
        let petition = self.petitions.entry((agency, id)).or_default();
        let before = *petition;
        change(petition);
        if *petition != before {
            before.contribute(-1, agency, counts);
            petition.contribute(1, agency, counts);
        }
    }

    /// Numbers of procedures of `agency` catalogued at the end of `day`: (catalogued,
    /// published, publicised with complete information, offered online).
    fn catalogue_at(&self, agency: u32, day: NaiveDate) -> [i64; 4] {
        let mut out = [0; 4];
        let range = (agency, Box::<str>::from(""))..;
        for ((a, _), history) in self.catalogue.range(range) {
            if *a != agency {
                break;
            }
            if let Some(c) = history.iter().rev().find(|c| day_of(c.at) <= day) {
                for (slot, yes) in
                    out.iter_mut()
                        .zip([true, c.published, c.publicised && c.complete, c.online])
                {
                    *slot += i64::from(yes);
                }
            }
        }
        out
    }

    fn agency_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.catalogue.keys().map(|(a, _)| *a)
    }

    /// The local date of the earliest catalogue event.
    pub(crate) fn first_day(&self) -> Option<NaiveDate> {
        self.catalogue
            .values()
            .filter_map(|h| h.first())
            .map(|c| day_of(c.at))
            .min()
    }

    /// The petitions and catalogue as JSON text, by agency code.
    pub(crate) fn to_text(&self, agencies: &Agencies) -> String {
        let code = |a: &u32| agencies.codes()[*a as usize].clone();
        let text = WorkText {
            petitions: self
                .petitions
                .iter()
                .map(|((a, id), p)| (code(a), id.to_string(), *p))
                .collect(),
            catalogue: self
                .catalogue
                .iter()
                .map(|((a, p), h)| (code(a), p.to_string(), h.clone()))
                .collect(),
        };
        serde_json::to_string(&text).unwrap_or_default()
    }

    /// Reads [`ServiceWork::to_text`] back, interning agency codes with `intern`, with the
    /// petitions' contributions to `counts`; `None` when the text does not read.
    pub(crate) fn from_text(
        text: &str,
        mut intern: impl FnMut(&str) -> u32,
        counts: &mut ServiceCounts,
    ) -> Option<Self> {
        let text: WorkText = serde_json::from_str(text).ok()?;
        let mut work = ServiceWork::default();
        for (agency, id, petition) in text.petitions {
            let agency = intern(&agency);
            petition.contribute(1, agency, counts);
            work.petitions.insert((agency, id.into()), petition);
        }
        for (agency, procedure, history) in text.catalogue {
            work.catalogue
                .insert((intern(&agency), procedure.into()), history);
        }
        Some(work)
    }
}

/// What one agency's inputs are counted from: its flows over whole months, its stocks and its
/// procedure catalogue at the end of a day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    flows: Flows,
    late_open: i64,
    overdue: i64,
    /// Procedures catalogued, published, publicised complete, online.
    catalogue: [i64; 4],
}

impl Measured {
    /// `agency`'s flows over the months from `first`'s to `last`'s, its stocks and catalogue at
    /// the end of `end`.
    pub(crate) fn of(
        (counts, work): (&ServiceCounts, &ServiceWork),
        agency: u32,
        (first, last): (NaiveDate, NaiveDate),
        end: NaiveDate,
    ) -> Self {
        Measured {
            flows: counts.flows(agency, first, last),
            late_open: counts.stock_at(agency, Stock::LateOpen, end),
            overdue: counts.stock_at(agency, Stock::OverduePetitions, end),
            catalogue: work.catalogue_at(agency, end),
        }
    }

    /// The numerator and denominator of `input` (docs/index-766.md).
    pub(crate) fn ratio(&self, input: Input) -> Ratio {
        let (f, [catalogued, published, publicised, online]) = (&self.flows, self.catalogue);
        let (numerator, denominator) = match input {
            Input::ProceduresPublished => (published, catalogued),
            Input::ProceduresPublicised => (publicised, catalogued),
            Input::DossiersSynced => (f.synced, f.received),
            Input::DossiersOnTime => (f.on_time, f.resolved + self.late_open),
            Input::ProceduresOnline => (online, catalogued),
            Input::DossiersOnline => (f.online, f.received),
            Input::FeesPaidOnline => (f.fees_online, f.fees_paid),
            Input::RatingsSatisfied => (f.satisfied, f.rated),
            Input::PetitionsOnTime => (f.answered_on_time, f.answered + self.overdue),
            Input::DossiersDigitised => (f.digitised, f.received),
            Input::DossiersReused => (f.reused, f.digitised),
            Input::ResultsElectronic => (f.electronic, f.resolved),
        };
        Ratio {
            numerator,
            denominator,
        }
    }
}

/// Who is scored in a period and among which kind: an agency's kind is its level in the
/// registry, else the kind its latest `par.score` (by year up to the period's, then time)
/// names (as the PAR Index reads it), else a department.
struct Kinds<'a> {
    scored: BTreeMap<&'a str, ((i32, i64), AgencyKind)>,
    levels: BTreeMap<String, AgencyLevel>,
    /// Whether every registry period of the agency ended by the period's first day.
    ended: BTreeMap<String, bool>,
}

impl<'a> Kinds<'a> {
    fn of(r: &'a Rollups, period: IndexPeriod) -> Self {
        let mut scored: BTreeMap<&str, ((i32, i64), AgencyKind)> = BTreeMap::new();
        for (agency, (year, ..), facts) in r.work.scores(&r.agencies) {
            let facts = [&facts.official, &facts.self_assessed];
            for fact in facts.into_iter().flatten() {
                if let Some(kind) = fact
                    .agency_kind
                    .filter(|_| *year <= period.first_day().year())
                {
                    let latest = scored.entry(agency).or_insert(((*year, fact.at), kind));
                    if (*year, fact.at) > latest.0 {
                        *latest = ((*year, fact.at), kind);
                    }
                }
            }
        }
        let mut levels = BTreeMap::new();
        let mut ended: BTreeMap<String, bool> = BTreeMap::new();
        for p in r.registry.periods(&r.agencies) {
            let gone = p.valid_to.is_some_and(|to| to <= period.first_day());
            *ended.entry(p.agency_code.clone()).or_insert(true) &= gone;
            if let Some(level) = p.level {
                levels.insert(p.agency_code, level);
            }
        }
        Kinds {
            scored,
            levels,
            ended,
        }
    }

    fn kind(&self, code: &str) -> AgencyKind {
        match self.levels.get(code) {
            Some(AgencyLevel::Commune) => AgencyKind::Commune,
            Some(AgencyLevel::District) => AgencyKind::District,
            Some(AgencyLevel::Department) => AgencyKind::Department,
            _ => self
                .scored
                .get(code)
                .map_or(AgencyKind::Department, |k| k.1),
        }
    }

    /// `code`'s inputs, unless it has nothing to measure.
    fn scored(&self, code: String, inputs: BTreeMap<Input, Ratio>) -> Option<ServiceInputs> {
        if inputs.values().all(|r| r.denominator == 0) {
            return None;
        }
        Some(ServiceInputs {
            kind: self.kind(&code),
            agency_code: code,
            inputs,
        })
    }
}

/// The inputs of every agency with something to measure in `period`, as of `today` (stocks
/// and the catalogue at the period's end, or today while it runs), but those the registry says
/// no longer existed by the period's first day (merged, split or dissolved before: their open
/// items and catalogue are not scored); each of its kind ([`Kinds`]).
pub(crate) fn service_inputs(
    r: &Rollups,
    period: IndexPeriod,
    today: NaiveDate,
) -> Vec<ServiceInputs> {
    let (counts, work) = (&r.service, &*r.service_work);
    let end = period.last_day().min(today);
    let kinds = Kinds::of(r, period);
    let mut ids: Vec<u32> = counts.agency_ids().chain(work.agency_ids()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let code = r.agencies.codes()[id as usize].clone();
            if kinds.ended.get(&code) == Some(&true) {
                return None;
            }
            let measured = Measured::of(
                (counts, work),
                id,
                (period.first_day(), period.last_day()),
                end,
            );
            let inputs = Input::ALL
                .iter()
                .map(|&input| (input, measured.ratio(input)))
                .collect();
            kinds.scored(code, inputs)
        })
        .collect()
}

/// [`service_inputs`] restated to the units of `units`: every unit existing on that date with
/// something to measure, each input the sums of the agencies its lineage reaches back to,
/// weighted (as the `index_766_*` metrics restate them; shown rounded to whole dossiers).
pub(crate) fn restated_service_inputs(
    r: &Rollups,
    period: IndexPeriod,
    today: NaiveDate,
    units: NaiveDate,
) -> Vec<ServiceInputs> {
    let end = period.last_day().min(today);
    let (kinds, counters) = (Kinds::of(r, period), r.counters());
    r.restatement(units)
        .units
        .into_iter()
        .filter_map(|(unit, parts)| {
            let inputs = Input::ALL
                .iter()
                .map(|&input| {
                    let point = restated_point(
                        service_metric(input),
                        &counters,
                        &parts,
                        period.first_day(),
                        period.first_day(),
                        // (A period not begun yet: its first day.)
                        end.max(period.first_day()),
                    )
                    .expect("a rate restates through any lineage")
                    .0;
                    let ratio = Ratio {
                        numerator: point.numerator.unwrap_or(0),
                        denominator: point.denominator.unwrap_or(0),
                    };
                    (input, ratio)
                })
                .collect();
            kinds.scored(unit, inputs)
        })
        .collect()
}

/// The columns of [`ServiceFacts`] in the `dossiers` table (and its snapshot), after the other
/// facts' columns: built row by row, read back by name.
#[derive(Debug, Default)]
pub(crate) struct ServiceColumns {
    requests: Int32Builder,
    times: [TimestampMicrosecondBuilder; 6],
    flags: [BooleanBuilder; 6],
    rating: StringBuilder,
}

/// Names of the timestamp columns, in [`ServiceColumns::times`] order.
const TIME_COLUMNS: [&str; 6] = [
    "supplement_requested_at",
    "supplement_requested_2_at",
    "supplement_provided_at",
    "supplement_provided_2_at",
    "fee_paid_at",
    "rated_at",
];

/// Names of the boolean columns, in [`ServiceColumns::flags`] order: nullable ones first.
const FLAG_COLUMNS: [(&str, bool); 6] = [
    ("fee_charged", true),
    ("fee_paid_online", true),
    ("result_electronic", true),
    ("components_digitised", false),
    ("components_reused", false),
    ("synced_national", false),
];

impl ServiceColumns {
    /// The columns' fields.
    pub(crate) fn fields() -> Vec<Field> {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let mut fields = vec![Field::new("supplement_requests", DataType::Int32, false)];
        fields.extend(TIME_COLUMNS.map(|n| Field::new(n, utc.clone(), true)));
        fields.extend(FLAG_COLUMNS.map(|(n, null)| Field::new(n, DataType::Boolean, null)));
        fields.push(Field::new("rating", DataType::Utf8, true));
        fields
    }

    /// Appends one dossier's facts.
    pub(crate) fn append(&mut self, s: &ServiceFacts) {
        let requests = s.requests.iter().filter(|&&r| r > 0).count() + usize::from(s.more_requests);
        self.requests.append_value(requests as i32);
        let stamps = [
            s.requests[0],
            s.requests[1],
            s.provided[0],
            s.provided[1],
            s.paid.map_or(0, |p| p.0),
            s.rated.map_or(0, |r| r.0),
        ];
        for (builder, stamp) in self.times.iter_mut().zip(stamps) {
            builder.append_option((stamp > 0).then(|| micros(stamp)));
        }
        let flags = [
            s.fee_charged,
            s.paid.map(|p| p.1),
            s.electronic,
            Some(s.digitised),
            Some(s.reused),
            Some(s.synced_national),
        ];
        for (builder, flag) in self.flags.iter_mut().zip(flags) {
            builder.append_option(flag);
        }
        self.rating.append_option(s.rated.map(|r| r.1.as_str()));
    }

    /// The finished columns, in [`ServiceColumns::fields`] order.
    pub(crate) fn finish(mut self) -> Vec<ArrayRef> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.requests.finish())];
        for builder in &mut self.times {
            columns.push(Arc::new(builder.finish().with_timezone("UTC")));
        }
        for builder in &mut self.flags {
            columns.push(Arc::new(builder.finish()));
        }
        columns.push(Arc::new(self.rating.finish()));
        columns
    }

    /// Reads the facts of every row of `batch` back, in row order.
    pub(crate) fn read(batch: &RecordBatch) -> Result<Vec<ServiceFacts>, String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("missing column {name}"))
        };
        let requests = column("supplement_requests")?
            .as_primitive_opt::<Int32Type>()
            .ok_or("supplement_requests is not an integer")?;
        let mut times = Vec::new();
        for name in TIME_COLUMNS {
            times.push(
                column(name)?
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(|| format!("{name} is not a timestamp"))?,
            );
        }
        let mut flags = Vec::new();
        for (name, _) in FLAG_COLUMNS {
            flags.push(
                column(name)?
                    .as_boolean_opt()
                    .ok_or_else(|| format!("{name} is not a boolean"))?,
            );
        }
        let rating = column("rating")?
            .as_string_opt::<i32>()
            .ok_or("rating is not text")?;
        (0..batch.num_rows())
            .map(|i| {
                let time = |c: usize| (!times[c].is_null(i)).then(|| stamp(times[c].value(i)));
                let flag = |c: usize| (!flags[c].is_null(i)).then(|| flags[c].value(i));
                let rated = match (time(5), (!rating.is_null(i)).then(|| rating.value(i))) {
                    (Some(at), Some(text)) => Some((
                        at,
                        Rating::parse(text).ok_or_else(|| format!("unknown rating {text:?}"))?,
                    )),
                    _ => None,
                };
                Ok(ServiceFacts {
                    requests: [time(0).unwrap_or(0), time(1).unwrap_or(0)],
                    more_requests: requests.value(i) > 2,
                    provided: [time(2).unwrap_or(0), time(3).unwrap_or(0)],
                    fee_charged: flag(0),
                    paid: time(4).map(|at| (at, flag(1).unwrap_or(false))),
                    electronic: flag(2),
                    digitised: flag(3).unwrap_or(false),
                    reused: flag(4).unwrap_or(false),
                    synced_national: flag(5).unwrap_or(false),
                    rated,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;
    /// 2025-03-01T00:00:00Z.
    const MARCH: i64 = 1_740_787_200_000_000;

    fn facts(events: &[(i64, ServiceEvent)]) -> ServiceFacts {
        let mut s = ServiceFacts::default();
        for &(at, e) in events {
            s.apply(at, e);
        }
        s
    }

    #[test]
    fn supplement_time_pushes_the_appointment_back() {
        use ServiceEvent::{SupplementProvided as P, SupplementRequested as R};
        let due = MARCH + 10 * DAY;
        // Waited 3 days (day 2 → day 5): due on day 13.
        let once = facts(&[(MARCH + 5 * DAY, P), (MARCH + 2 * DAY, R)]);
        assert!(once.on_time(due, MARCH + 13 * DAY));
        assert!(!once.on_time(due, MARCH + 13 * DAY + HOUR));
        // A second request is late whatever the dates.
        let twice = facts(&[
            (MARCH + 2 * DAY, R),
            (MARCH + 3 * DAY, P),
            (MARCH + 4 * DAY, R),
            (MARCH + 5 * DAY, P),
        ]);
        assert!(!twice.on_time(due, MARCH + 6 * DAY));
        // A request unanswered at the end counts until the end: requested before the
        // appointment, on time.
        let waiting = facts(&[(MARCH + 9 * DAY, R)]);
        assert!(waiting.on_time(due, MARCH + 20 * DAY));
        assert!(!facts(&[(MARCH + 11 * DAY, R)]).on_time(due, MARCH + 20 * DAY));
        // Nothing at all: the appointment itself.
        assert!(ServiceFacts::default().on_time(due, due));
        assert!(!ServiceFacts::default().on_time(due, due + 1_000_000));
    }

    #[test]
    fn open_and_late_stretches_skip_the_waits() {
        use ServiceEvent::{SupplementProvided as P, SupplementRequested as R};
        let (received, due) = (MARCH, MARCH + 10 * DAY);
        assert_eq!(
            ServiceFacts::default().late_open(received, due, None),
            [(due, None)]
        );
        assert_eq!(
            ServiceFacts::default().late_open(received, due, Some(due)),
            []
        );
        // Waited days 2–5: late from day 13 until resolved on day 15.
        let once = facts(&[(MARCH + 2 * DAY, R), (MARCH + 5 * DAY, P)]);
        assert_eq!(
            once.late_open(received, due, Some(MARCH + 15 * DAY)),
            [(MARCH + 13 * DAY, Some(MARCH + 15 * DAY))]
        );
        // Late from day 10, waiting from day 12 (not counted), back on day 14 and still late.
        let after = facts(&[(MARCH + 12 * DAY, R), (MARCH + 14 * DAY, P)]);
        assert_eq!(
            after.late_open(received, due, None),
            [(due, Some(MARCH + 12 * DAY)), (MARCH + 14 * DAY, None)]
        );
        // Still waiting: never late.
        assert_eq!(
            facts(&[(MARCH + 2 * DAY, R)]).late_open(received, due, None),
            []
        );
        // A second request: late as soon as the citizen answers it.
        let twice = facts(&[
            (MARCH + DAY, R),
            (MARCH + 2 * DAY, P),
            (MARCH + 3 * DAY, R),
            (MARCH + 4 * DAY, P),
        ]);
        assert_eq!(
            twice.late_open(received, due, None),
            [(MARCH + 4 * DAY, None)]
        );
    }

    #[test]
    fn facts_merge_in_any_order_and_pack_in_26_bytes() {
        use ServiceEvent::*;
        let events = [
            (MARCH + 3 * DAY, SupplementRequested),
            (MARCH + DAY, SupplementRequested),
            (MARCH + 5 * DAY, SupplementRequested),
            (MARCH + 2 * DAY, SupplementProvided),
            (MARCH, FeeRequested(false)),
            (MARCH, FeeRequested(true)),
            (MARCH + 4 * DAY, FeePaid(true)),
            (MARCH + 4 * DAY, FeePaid(false)),
            (MARCH, Digitised(false)),
            (MARCH, Digitised(true)),
            (MARCH, ResultIssued(true)),
            (MARCH, Synced(false)),
            (MARCH + 9 * DAY, Rated(Rating::Dissatisfied)),
            (MARCH + 8 * DAY, Rated(Rating::VerySatisfied)),
        ];
        let forward = facts(&events);
        let mut backward = events;
        backward.reverse();
        assert_eq!(facts(&backward), forward);
        assert_eq!(
            forward.requests,
            [stamp(MARCH + DAY), stamp(MARCH + 3 * DAY)]
        );
        assert!(forward.more_requests && forward.reused && !forward.synced_national);
        assert_eq!(forward.fee_charged, Some(true));
        assert_eq!(
            forward.paid,
            Some((stamp(MARCH + 4 * DAY), false)),
            "offline first at one instant"
        );
        assert_eq!(
            forward.rated,
            Some((stamp(MARCH + 9 * DAY), Rating::Dissatisfied)),
            "the latest"
        );
        assert_eq!(ServiceFacts::from_bytes(&forward.to_bytes()), forward);
        assert_eq!(
            ServiceFacts::from_bytes(&ServiceFacts::default().to_bytes()),
            ServiceFacts::default()
        );
        assert_eq!(forward.last_event(), Some(MARCH + 9 * DAY));
    }

    #[test]
    fn petitions_answer_in_their_month_and_stay_overdue_until_answered() {
        let mut counts = ServiceCounts::default();
        let mut work = ServiceWork::default();
        let day = |d: u32| NaiveDate::from_ymd_opt(2025, 3, d).unwrap();
        // Received on the 1st, due on the 10th (noon, UTC+7 is still the 10th), answered on the 20th.
        let (at, due, answered) = (
            MARCH + 2 * HOUR,
            MARCH + 9 * DAY + 5 * HOUR,
            MARCH + 19 * DAY + 5 * HOUR,
        );
        work.apply(
            0,
            ServiceWorkFact::PetitionAnswered {
                id: "P1".into(),
                at: answered,
            },
            &mut counts,
        );
        assert_eq!(
            counts.stock_at(0, Stock::OverduePetitions, day(31)),
            0,
            "not received yet"
        );
        work.apply(
            0,
            ServiceWorkFact::PetitionReceived {
                id: "P1".into(),
                at,
                due,
            },
            &mut counts,
        );
        assert_eq!(counts.stock_at(0, Stock::OverduePetitions, day(9)), 0);
        assert_eq!(counts.stock_at(0, Stock::OverduePetitions, day(10)), 1);
        assert_eq!(counts.stock_at(0, Stock::OverduePetitions, day(20)), 0);
        let march = IndexPeriod::parse("2025-03").unwrap();
        let f = counts.flows(0, march.first_day(), march.last_day());
        assert_eq!((f.answered, f.answered_on_time), (1, 0));
        let text = work.to_text(&{
            let mut a = Agencies::default();
            a.intern("A");
            a
        });
        let mut again = ServiceCounts::default();
        let restored = ServiceWork::from_text(&text, |_| 0, &mut again).unwrap();
        assert_eq!(restored.petitions, work.petitions);
        assert_eq!(again.flows(0, march.first_day(), march.last_day()), f);
    }
}

#[cfg(test)]
mod cold {
    use parwatch_proto::Channel;

    use super::*;
    use crate::dossiers::Eviction;
    use crate::facts::{Fact, Received, Resolved};
    use crate::projection::Projection;

    const DAY: i64 = 86_400_000_000;
    /// 2025-01-01T00:00:00Z.
    const JANUARY: i64 = 1_735_689_600_000_000;

    /// A year of dossiers, then late events for January's (a supplement provided, a rating, a
    /// second request) after every January dossier went cold: the months they restate are the
    /// same as in a projection that never evicts.
    #[test]
    fn late_events_for_cold_dossiers_restate_old_months_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cold = Projection::new(Eviction {
            after_days: 0,
            batch: 0,
            dir: tmp.path().to_owned(),
        });
        let mut hot = Projection::new(Eviction {
            after_days: u32::MAX,
            batch: 0,
            dir: tmp.path().to_owned(),
        });
        let mut events = Vec::new();
        for n in 0..120_i64 {
            let (id, at) = (format!("D{n}"), JANUARY + n * 3 * DAY);
            let received = Received {
                at,
                channel: if n % 2 == 0 {
                    Channel::Online
                } else {
                    Channel::Counter
                },
                online_mode: None,
                due_at: at + 5 * DAY,
                roles: Default::default(),
            };
            events.push((id.clone(), Fact::Received(received)));
            events.push((
                id.clone(),
                Fact::Service(at + DAY, ServiceEvent::SupplementRequested),
            ));
            events.push((
                id.clone(),
                Fact::Resolved(Resolved {
                    at: at + 7 * DAY,
                    digitized: None,
                }),
            ));
        }
        for n in 0..10_i64 {
            let at = JANUARY + n * 3 * DAY;
            let id = format!("D{n}");
            events.push((
                id.clone(),
                Fact::Service(at + 3 * DAY, ServiceEvent::SupplementProvided),
            ));
            events.push((
                id.clone(),
                Fact::Service(at + 8 * DAY, ServiceEvent::Rated(Rating::Satisfied)),
            ));
            if n % 3 == 0 {
                events.push((
                    id,
                    Fact::Service(at + 4 * DAY, ServiceEvent::SupplementRequested),
                ));
            }
        }
        for (i, (id, fact)) in events.iter().enumerate() {
            cold.apply("A", id, *fact).unwrap();
            hot.apply("A", id, *fact).unwrap();
            if i % 50 == 0 {
                cold.evict_dossiers().unwrap();
            }
        }
        assert!(cold.hot_dossier_count() < hot.hot_dossier_count());
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let inputs = |p: &Projection, period: &str| {
            let r = p.rollups();
            service_inputs(r, IndexPeriod::parse(period).unwrap(), today)
        };
        for period in ["2025-01", "2025-02", "2025-Q1", "2025"] {
            assert_eq!(inputs(&cold, period), inputs(&hot, period), "{period}");
        }
        // January: 11 received (1st–31st, every 3 days), those resolved in January on time
        // when their supplement was answered; rated ones counted in their rating's month.
        let january = &inputs(&hot, "2025-01")[0].inputs;
        assert_eq!(
            january[&Input::DossiersOnline],
            Ratio {
                numerator: 6,
                denominator: 11
            }
        );
        assert_eq!(january[&Input::RatingsSatisfied].denominator, 8);
    }

    /// Each 766 input is a metric of the catalogue: by month and quarter the index's own
    /// numerator and denominator, per agency and restated through a merger; never by day.
    #[test]
    fn the_766_inputs_are_metrics_by_month_and_restated_by_sums() {
        use crate::bucket::Bucket;
        use crate::catalogue::{METRICS, MetricError};

        let mut p = Projection::new(Eviction::default());
        for n in 0..40_i64 {
            let (agency, at) = (["A", "B"][n as usize % 2], JANUARY + n * 2 * DAY);
            let id = format!("D{n}");
            let received = Received {
                at,
                channel: [Channel::Online, Channel::Counter, Channel::Postal][n as usize % 3],
                online_mode: None,
                due_at: at + 5 * DAY,
                roles: Default::default(),
            };
            p.apply(agency, &id, Fact::Received(received)).unwrap();
            let resolved = Resolved {
                at: at + (3 + n % 5) * DAY,
                digitized: None,
            };
            p.apply(agency, &id, Fact::Resolved(resolved)).unwrap();
        }
        let merged = EventData::AgencyMerged {
            into: "B".into(),
            effective_date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            basis: "1/QĐ-UBND".into(),
        };
        p.apply_registry(crate::registry::Change::of("A", JANUARY, merged).unwrap());
        let r = p.rollups();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let (from, to) = (
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 3, 31).unwrap(),
        );
        let ratio = |point: &crate::catalogue::Point| Ratio {
            numerator: point.numerator.unwrap(),
            denominator: point.denominator.unwrap(),
        };
        let mut compared = 0;
        for &input in Input::ALL {
            let name = format!("index_766_{input}");
            let metric = METRICS.iter().find(|m| m.name == name).unwrap();
            for (bucket, periods) in [
                (Bucket::Month, &["2025-01", "2025-02", "2025-03"][..]),
                (Bucket::Quarter, &["2025-Q1"][..]),
            ] {
                let series = r.series(metric, from, to, bucket, None, true).unwrap();
                for (i, period) in periods.iter().enumerate() {
                    let index = service_inputs(r, IndexPeriod::parse(period).unwrap(), today);
                    // (A is not scored in March, merged into B on the 1st.)
                    for s in &series {
                        let code = s.agency_code.as_deref().unwrap();
                        if let Some(scored) = index.iter().find(|i| i.agency_code == code) {
                            let want = scored.inputs[&input];
                            assert_eq!(ratio(&s.points[i]), want, "{name} {period} {code}");
                            compared += usize::from(want.denominator > 0);
                        }
                    }
                }
            }
            assert_eq!(
                r.series(metric, from, to, Bucket::Week, None, false),
                Err(MetricError::MonthlyOnly(metric.name))
            );
            // Restated to the units of April, B is A and B: their sums, never a mean of rates.
            let one = |a| ratio(&r.summary(metric, from, to, Some(a)).unwrap());
            let (a, b) = (one("A"), one("B"));
            let april = NaiveDate::from_ymd_opt(2025, 4, 1).unwrap();
            let restated = r
                .restated_summary(metric, from, to, Some("B"), april)
                .unwrap();
            let both = Ratio {
                numerator: a.numerator + b.numerator,
                denominator: a.denominator + b.denominator,
            };
            assert_eq!(ratio(&restated), both, "{name} restated");
            // The restated index reads the same sums: one unit, B.
            let q1 = IndexPeriod::parse("2025-Q1").unwrap();
            let units = restated_service_inputs(r, q1, today, april);
            assert_eq!(units.len(), 1);
            assert_eq!(
                (units[0].agency_code.as_str(), units[0].inputs[&input]),
                ("B", both)
            );
        }
        assert!(compared >= 20, "{compared}");
    }

    /// An agency merged on 1 March keeps its catalogue facts but is not scored from March on.
    #[test]
    fn agencies_gone_before_a_period_are_not_scored() {
        let mut p = Projection::new(Eviction::default());
        for agency in ["OLD", "NEW"] {
            let facts = Catalogued {
                at: JANUARY,
                published: true,
                publicised: true,
                complete: true,
                online: true,
            };
            let procedure = "1.000001".into();
            p.apply_service_work(agency, ServiceWorkFact::Catalogued { procedure, facts });
        }
        let merged = EventData::AgencyMerged {
            into: "NEW".into(),
            effective_date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            basis: "1/QĐ-UBND".into(),
        };
        p.apply_registry(crate::registry::Change::of("OLD", JANUARY, merged).unwrap());
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let scored = |period: &str| {
            let r = p.rollups();
            let period = IndexPeriod::parse(period).unwrap();
            let inputs = service_inputs(r, period, today);
            inputs
                .into_iter()
                .map(|i| i.agency_code)
                .collect::<Vec<_>>()
        };
        assert_eq!(scored("2025-02"), ["OLD", "NEW"]);
        assert_eq!(
            scored("2025-Q1"),
            ["OLD", "NEW"],
            "it existed in the quarter"
        );
        assert_eq!(scored("2025-03"), ["NEW"]);

        // Without a registry level, the kind of the latest par.score counts.
        let score = crate::governance::ScoreFact {
            at: JANUARY,
            assessor: parwatch_proto::Assessor::SelfAssessment,
            score: 1.0,
            max: 1.0,
            agency_kind: Some(AgencyKind::Commune),
            evidence: None,
        };
        let key = (2025, "c".into(), "k".into());
        p.apply_governance("NEW", crate::governance::GovernanceFact::Score(key, score));
        let r = p.rollups();
        let kinds = |period: &str| {
            let inputs = service_inputs(r, IndexPeriod::parse(period).unwrap(), today);
            inputs.into_iter().map(|i| i.kind).collect::<Vec<_>>()
        };
        assert_eq!(kinds("2025-03"), [AgencyKind::Commune]);
    }
}
