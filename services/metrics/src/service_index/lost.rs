//! Where an agency's 766 points are lost: the dossiers, petitions and procedures that are in
//! an input's denominator but not its numerator for a period (late, not synced, paid offline,
//! not digitised, answered late, not published...).
//!
//! Nothing here decides what counts: each dossier's (petition's, procedure's) contribution is
//! folded alone into scratch counters by the very functions that fold the index's counters
//! ([`contribute_service`], [`Petition::contribute`], [`ServiceWork::catalogue_at`]), and an
//! item is listed for an input when its own denominator exceeds its own numerator. So the
//! number of items listed for an input is the index's denominator minus its numerator, by
//! construction; the reason shown is read from the facts afterwards.
//!
//! A scan reads every dossier of the projection (cold ones from their segments) and keeps the
//! counts whole but at most `limit` items, the first after a cursor in (input, id) order, so a
//! month of a big agency costs one pass and bounded memory.

use std::collections::{BTreeMap, BinaryHeap};

use chrono::{DateTime, NaiveDate, Utc};
use parwatch_scoring::{IndexPeriod, Input};
use serde::Serialize;

use super::{Catalogued, ServiceCounts, ServiceWork, Stock, contribute_service, micros};
use crate::facts::Facts;
use crate::projection::Projection;
use crate::rollup::day_of;

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostSubject {
    /// A dossier (`dossier_id`).
    Dossier,
    /// A petition (`petition_id`).
    Petition,
    /// A procedure of the catalogue (`procedure_code`).
    Procedure,
}

/// Why an item is in its input's denominator but not its numerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    /// Resolved after its appointment pushed back by the supplement time.
    Late,
    /// Resolved after a second supplement request (late whatever the dates).
    SecondSupplement,
    /// Open and late at the period's end.
    OpenLate,
    /// Not synced to the national portal.
    NotSynced,
    /// Received at the counter or by post (dossiers), not offered online (procedures).
    NotOnline,
    /// No component digitised.
    NotDigitised,
    /// Digitised, no component reused.
    NotReused,
    /// No electronic result issued.
    NotElectronic,
    /// Its fee paid offline.
    PaidOffline,
    /// Rated dissatisfied.
    Dissatisfied,
    /// A petition answered after its deadline.
    AnsweredLate,
    /// A petition open past its deadline at the period's end.
    Overdue,
    /// A procedure not published.
    NotPublished,
    /// A procedure not publicised.
    NotPublicised,
    /// A procedure publicised with incomplete information.
    Incomplete,
}

/// One item that cost points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostItem {
    /// The input it is counted in.
    pub input: Input,
    /// What it is.
    pub subject: LostSubject,
    /// Its id: dossier id, petition id or procedure code.
    pub id: String,
    /// Why.
    pub reason: LostReason,
    /// When it counted (received, resolved, paid, rated, answered, catalogued); null for a stock
    /// counted at the period's end (open late, overdue).
    pub at: Option<DateTime<Utc>>,
    /// Its appointment (dossiers, the one given at receipt) or deadline (petitions), when the
    /// input is about time.
    pub due_at: Option<DateTime<Utc>>,
}

impl LostItem {
    fn key(&self) -> (Input, &str) {
        (self.input, &self.id)
    }
}

/// An item ordered by its (input, id) key alone: unique among one answer's items.
#[derive(Debug)]
struct Keyed(LostItem);

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key().cmp(&other.0.key())
    }
}

/// What to list.
#[derive(Debug, Clone)]
pub struct LostAsk<'a> {
    /// The agency's code.
    pub agency: &'a str,
    /// The period.
    pub period: IndexPeriod,
    /// Today: stocks and the catalogue are counted at the period's end or today, the earlier.
    pub today: NaiveDate,
    /// Only these inputs; every input when empty.
    pub inputs: Vec<Input>,
    /// Only items after this (input, id), in that order.
    pub after: Option<(Input, String)>,
    /// At most this many items.
    pub limit: usize,
}

/// The items of one agency and period that cost points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LostPoints {
    /// Per input asked, how many items cost points (all of them, however many are listed):
    /// its denominator minus its numerator.
    pub counts: BTreeMap<Input, i64>,
    /// The first `limit` items after the cursor, in (input, id) order.
    pub items: Vec<LostItem>,
    /// Whether more items follow the last listed.
    pub more: bool,
}

/// Keeps the smallest `limit` items after the cursor, counting every item.
struct Collector<'a> {
    ask: &'a LostAsk<'a>,
    counts: BTreeMap<Input, i64>,
    /// A max-heap: the largest kept item is dropped first.
    kept: BinaryHeap<Keyed>,
    more: bool,
}

impl Collector<'_> {
    fn wants(&self, input: Input) -> bool {
        self.ask.inputs.is_empty() || self.ask.inputs.contains(&input)
    }

    fn add(&mut self, item: LostItem) {
        if !self.wants(item.input) {
            return;
        }
        *self.counts.entry(item.input).or_default() += 1;
        if let Some((input, id)) = &self.ask.after
            && item.key() <= (*input, id.as_str())
        {
            return;
        }
        if self.kept.len() < self.ask.limit {
            self.kept.push(Keyed(item));
        } else {
            self.more = true;
            if self.kept.peek().is_some_and(|top| item.key() < top.0.key()) {
                self.kept.pop();
                self.kept.push(Keyed(item));
            }
        }
    }
}

fn time(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

/// The items of `ask.agency` that cost points in `ask.period`, from the projection as it is.
pub fn lost_points(p: &Projection, ask: &LostAsk<'_>) -> std::io::Result<LostPoints> {
    let mut out = Collector {
        ask,
        counts: ask.inputs.iter().map(|&i| (i, 0)).collect(),
        kept: BinaryHeap::new(),
        more: false,
    };
    if ask.inputs.is_empty() {
        out.counts = Input::ALL.iter().map(|&i| (i, 0)).collect();
    }
    let rollups = p.rollups();
    if let Some(agency) = rollups.agencies.id(ask.agency) {
        let end = ask.period.last_day().min(ask.today);
        for row in p.try_dossiers() {
            let (code, id, facts) = row?;
            if code == ask.agency {
                dossier(&id, &facts, ask.period, end, &mut out);
            }
        }
        petitions(&rollups.service_work, agency, ask.period, end, &mut out);
        procedures(&rollups.service_work, agency, end, &mut out);
    }
    Ok(LostPoints {
        counts: out.counts,
        items: out
            .kept
            .into_sorted_vec()
            .into_iter()
            .map(|k| k.0)
            .collect(),
        more: out.more,
    })
}

/// Whether a dossier can count in `period` (stocks at `end`): not when every time it has is
/// after the period (an open stretch starts at receipt or later), nor when every time is before
/// the period and it was resolved by `end` (its stretches ended by then). Saves the scratch
/// counters of most dossiers of other periods; what counts is decided by the counters alone.
fn may_count(f: &Facts, period: IndexPeriod, end: NaiveDate) -> bool {
    let Some(r) = f.received else {
        return false;
    };
    let s = &f.service;
    let times = [
        Some(r.at),
        f.resolved.map(|z| z.at),
        s.paid.map(|p| micros(p.0)),
        s.rated.map(|r| micros(r.0)),
    ];
    let days = times.into_iter().flatten().map(day_of);
    let (first, last) = days.fold((NaiveDate::MAX, NaiveDate::MIN), |(a, b), d| {
        (a.min(d), b.max(d))
    });
    let before = last < period.first_day() && f.resolved.is_some_and(|z| day_of(z.at) <= end);
    !(first > period.last_day() || before)
}

/// A dossier's own contribution to the counters of `period`: each input where it is in the
/// denominator and not in the numerator.
fn dossier(id: &str, f: &Facts, period: IndexPeriod, end: NaiveDate, out: &mut Collector<'_>) {
    if !may_count(f, period, end) {
        return;
    }
    let mut own = ServiceCounts::default();
    contribute_service(f, 1, 0, &mut own);
    let flows = own.flows(0, period.first_day(), period.last_day());
    let late_open = own.stock_at(0, Stock::LateOpen, end);
    let (Some(r), s) = (f.received, &f.service) else {
        return;
    };
    let resolved = f.resolved.map(|z| z.at);
    let item = |input, reason, at: Option<i64>, due: Option<i64>| LostItem {
        input,
        subject: LostSubject::Dossier,
        id: id.to_owned(),
        reason,
        at: at.and_then(time),
        due_at: due.and_then(time),
    };
    let late = if resolved.is_some_and(|z| s.second_request_by(z)) {
        LostReason::SecondSupplement
    } else {
        LostReason::Late
    };
    let paid = s.paid.map(|p| micros(p.0));
    let rated = s.rated.map(|r| micros(r.0));
    let lost = [
        (
            Input::DossiersSynced,
            flows.received - flows.synced,
            LostReason::NotSynced,
            Some(r.at),
            None,
        ),
        (
            Input::DossiersOnline,
            flows.received - flows.online,
            LostReason::NotOnline,
            Some(r.at),
            None,
        ),
        (
            Input::DossiersDigitised,
            flows.received - flows.digitised,
            LostReason::NotDigitised,
            Some(r.at),
            None,
        ),
        (
            Input::DossiersReused,
            flows.digitised - flows.reused,
            LostReason::NotReused,
            Some(r.at),
            None,
        ),
        (
            Input::DossiersOnTime,
            flows.resolved - flows.on_time,
            late,
            resolved,
            Some(r.due_at),
        ),
        (
            Input::DossiersOnTime,
            late_open,
            LostReason::OpenLate,
            None,
            Some(r.due_at),
        ),
        (
            Input::ResultsElectronic,
            flows.resolved - flows.electronic,
            LostReason::NotElectronic,
            resolved,
            None,
        ),
        (
            Input::FeesPaidOnline,
            flows.fees_paid - flows.fees_online,
            LostReason::PaidOffline,
            paid,
            None,
        ),
        (
            Input::RatingsSatisfied,
            flows.rated - flows.satisfied,
            LostReason::Dissatisfied,
            rated,
            None,
        ),
    ];
    for (input, n, reason, at, due) in lost {
        if n > 0 {
            out.add(item(input, reason, at, due));
        }
    }
}

/// Each petition's own contribution: answered late in the period, or overdue at its end.
fn petitions(
    work: &ServiceWork,
    agency: u32,
    period: IndexPeriod,
    end: NaiveDate,
    out: &mut Collector<'_>,
) {
    if !out.wants(Input::PetitionsOnTime) {
        return;
    }
    let range = (agency, Box::<str>::from(""))..;
    for ((a, id), petition) in work.petitions.range(range) {
        if *a != agency {
            break;
        }
        let mut own = ServiceCounts::default();
        petition.contribute(1, 0, &mut own);
        let flows = own.flows(0, period.first_day(), period.last_day());
        let overdue = own.stock_at(0, Stock::OverduePetitions, end);
        let due = petition.received.map(|(_, due)| due).and_then(time);
        for (n, reason, at) in [
            (
                flows.answered - flows.answered_on_time,
                LostReason::AnsweredLate,
                petition.answered,
            ),
            (overdue, LostReason::Overdue, None),
        ] {
            if n > 0 {
                out.add(LostItem {
                    input: Input::PetitionsOnTime,
                    subject: LostSubject::Petition,
                    id: id.to_string(),
                    reason,
                    at: at.and_then(time),
                    due_at: due,
                });
            }
        }
    }
}

/// Each procedure's own contribution to the catalogue at `end`.
fn procedures(work: &ServiceWork, agency: u32, end: NaiveDate, out: &mut Collector<'_>) {
    let range = (agency, Box::<str>::from(""))..;
    for ((a, code), history) in work.catalogue.range(range) {
        if *a != agency {
            break;
        }
        let own = ServiceWork {
            catalogue: BTreeMap::from([((0, code.clone()), history.clone())]),
            ..ServiceWork::default()
        };
        let [catalogued, published, publicised, online] = own.catalogue_at(0, end);
        let Some(latest) = history.iter().rev().find(|c| day_of(c.at) <= end) else {
            continue;
        };
        let Catalogued { at, .. } = *latest;
        let publicity = if latest.publicised {
            LostReason::Incomplete
        } else {
            LostReason::NotPublicised
        };
        for (input, n, reason) in [
            (
                Input::ProceduresPublished,
                catalogued - published,
                LostReason::NotPublished,
            ),
            (
                Input::ProceduresPublicised,
                catalogued - publicised,
                publicity,
            ),
            (
                Input::ProceduresOnline,
                catalogued - online,
                LostReason::NotOnline,
            ),
        ] {
            if n > 0 {
                out.add(LostItem {
                    input,
                    subject: LostSubject::Procedure,
                    id: code.to_string(),
                    reason,
                    at: time(at),
                    due_at: None,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use parwatch_proto::{Channel, Rating};

    use super::*;
    use crate::dossiers::Eviction;
    use crate::facts::{Fact, Received, Resolved};
    use crate::service_index::{ServiceEvent, ServiceWorkFact, service_inputs};

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;
    /// 2025-01-01T00:00:00Z.
    const JANUARY: i64 = 1_735_689_600_000_000;

    /// A small deterministic generator (xorshift), so the mix of cases is wide but fixed.
    struct Draw(u64);

    impl Draw {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.next(100) < percent
        }
    }

    /// Two agencies' dossiers over four months with every kind of fact (several supplement
    /// requests, answered or not, across month ends; zero and real fees paid either way; ratings;
    /// open ones), petitions and catalogue facts; dossiers evicted to cold storage as they go.
    fn projection(dir: &std::path::Path) -> Projection {
        let mut p = Projection::new(Eviction {
            after_days: 10,
            batch: 20,
            dir: dir.to_owned(),
        });
        let mut d = Draw(0x05ee_d766);
        for n in 0..400_i64 {
            let agency = if n % 3 == 0 { "B" } else { "A" };
            let id = format!("D{n:03}");
            let at = JANUARY + (n * 7 * HOUR) + d.next(20) as i64 * HOUR;
            let due = at + (2 + d.next(8) as i64) * DAY;
            let mut facts = vec![Fact::Received(Received {
                at,
                channel: [Channel::Online, Channel::Counter, Channel::Postal][d.next(3) as usize],
                online_mode: None,
                due_at: due,
                roles: Default::default(),
            })];
            let mut t = at + HOUR;
            for _ in 0..d.next(4) {
                if d.chance(50) {
                    facts.push(Fact::Service(t, ServiceEvent::SupplementRequested));
                    t += d.next(6) as i64 * DAY + HOUR;
                    if d.chance(80) {
                        facts.push(Fact::Service(t, ServiceEvent::SupplementProvided));
                    }
                }
            }
            for (percent, event) in [
                (90, ServiceEvent::Synced(d.chance(80))),
                (70, ServiceEvent::Digitised(d.chance(40))),
                (40, ServiceEvent::FeeRequested(d.chance(70))),
            ] {
                if d.chance(percent) {
                    facts.push(Fact::Service(at + HOUR, event));
                }
            }
            if d.chance(35) {
                facts.push(Fact::Service(
                    at + d.next(5) as i64 * DAY,
                    ServiceEvent::FeePaid(d.chance(50)),
                ));
            }
            if d.chance(85) {
                let resolved = due + (d.next(9) as i64 - 5) * DAY;
                facts.push(Fact::Resolved(Resolved {
                    at: resolved.max(at + HOUR),
                    digitized: None,
                }));
                if d.chance(80) {
                    facts.push(Fact::Service(
                        resolved,
                        ServiceEvent::ResultIssued(d.chance(60)),
                    ));
                }
                for _ in 0..d.next(3) {
                    let rating = Rating::ALL[d.next(3) as usize];
                    let when = resolved + d.next(40) as i64 * DAY;
                    facts.push(Fact::Service(when, ServiceEvent::Rated(rating)));
                }
            }
            // Events in any order.
            if d.chance(50) {
                facts.reverse();
            }
            for fact in facts {
                p.apply(agency, &id, fact).unwrap();
            }
            if n % 25 == 0 {
                p.evict_dossiers().unwrap();
            }
        }
        for n in 0..40_i64 {
            let agency = if n % 4 == 0 { "B" } else { "A" };
            let id: Box<str> = format!("PK{n:02}").into();
            let at = JANUARY + n * 2 * DAY;
            let due = at + (3 + d.next(10) as i64) * DAY;
            p.apply_service_work(
                agency,
                ServiceWorkFact::PetitionReceived {
                    id: id.clone(),
                    at,
                    due,
                },
            );
            if d.chance(75) {
                let answered = due + (d.next(12) as i64 - 8) * DAY;
                p.apply_service_work(
                    agency,
                    ServiceWorkFact::PetitionAnswered { id, at: answered },
                );
            }
        }
        for n in 0..12_i64 {
            for version in 0..2 {
                let flags = [d.chance(70), d.chance(60), d.chance(60), d.chance(50)];
                let fact = ServiceWorkFact::Catalogued {
                    procedure: format!("1.00{n:02}").into(),
                    facts: Catalogued {
                        at: JANUARY + (version * 50 + n) * DAY,
                        published: flags[0],
                        publicised: flags[1],
                        complete: flags[2],
                        online: flags[3],
                    },
                };
                p.apply_service_work(if n % 2 == 0 { "A" } else { "B" }, fact);
            }
        }
        p
    }

    fn ask<'a>(agency: &'a str, period: &str, today: NaiveDate) -> LostAsk<'a> {
        LostAsk {
            agency,
            period: IndexPeriod::parse(period).unwrap(),
            today,
            inputs: Vec::new(),
            after: None,
            limit: 10_000,
        }
    }

    /// For every agency, input and period (ended or running), as many items as the index's
    /// denominator minus its numerator; every reason an input can have occurs.
    #[test]
    fn the_items_are_what_the_index_misses() {
        let tmp = tempfile::tempdir().unwrap();
        let p = projection(tmp.path());
        assert!(p.hot_dossier_count() < p.dossier_count(), "some are cold");
        let r = p.rollups();
        let mut reasons = std::collections::BTreeSet::new();
        let mut checked = 0;
        for today in [
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(2025, 2, 14).unwrap(),
        ] {
            for period in [
                "2025-01", "2025-02", "2025-03", "2025-04", "2025-Q1", "2025",
            ] {
                let inputs = service_inputs(r, IndexPeriod::parse(period).unwrap(), today);
                for agency in ["A", "B"] {
                    let lost = lost_points(&p, &ask(agency, period, today)).unwrap();
                    let index = inputs.iter().find(|i| i.agency_code == agency);
                    for &input in Input::ALL {
                        let expected = index.map_or(0, |i| {
                            i.inputs[&input].denominator - i.inputs[&input].numerator
                        });
                        let listed = lost.items.iter().filter(|i| i.input == input).count();
                        assert_eq!(
                            (lost.counts[&input], listed as i64),
                            (expected, expected),
                            "{agency} {period} {today} {input:?}"
                        );
                        checked += expected;
                    }
                    assert!(!lost.more);
                    reasons.extend(lost.items.iter().map(|i| format!("{:?}", i.reason)));
                }
            }
        }
        assert!(checked > 1000, "{checked}");
        assert_eq!(reasons.len(), 15, "{reasons:?}");
    }

    /// Pages of a few items in (input, id) order, each after the last one's key, list every
    /// item once; the counts are whole on every page.
    #[test]
    fn pages_follow_the_cursor_and_keep_whole_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let p = projection(tmp.path());
        let today = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        let whole = lost_points(&p, &ask("A", "2025-Q1", today)).unwrap();
        let mut page_ask = ask("A", "2025-Q1", today);
        page_ask.inputs = vec![Input::DossiersOnTime, Input::PetitionsOnTime];
        page_ask.limit = 7;
        let mut seen = Vec::new();
        loop {
            let page = lost_points(&p, &page_ask).unwrap();
            assert_eq!(
                page.counts.keys().collect::<Vec<_>>(),
                [&Input::DossiersOnTime, &Input::PetitionsOnTime]
            );
            assert_eq!(
                page.counts[&Input::DossiersOnTime],
                whole.counts[&Input::DossiersOnTime]
            );
            assert!(page.items.len() <= 7);
            seen.extend(page.items.iter().cloned());
            match page.items.last() {
                Some(last) if page.more => page_ask.after = Some((last.input, last.id.clone())),
                _ => break,
            }
        }
        let expected: Vec<LostItem> = whole
            .items
            .into_iter()
            .filter(|i| page_ask.inputs.contains(&i.input))
            .collect();
        assert!(expected.len() > 14, "{}", expected.len());
        assert_eq!(seen, expected);
    }
}
