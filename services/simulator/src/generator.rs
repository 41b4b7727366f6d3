//! The event generator: creates dossiers day by day (backfill) or at a steady rate (live), plans
//! their lifecycles and their events of the 766 index into a priority queue, plans each year's
//! PAR work of the agencies, their petitions and the registry events of its reorganisation as
//! the stream reaches it (and, for a backfill, the procedure catalogue's facts at its start),
//! and yields all these events in time order, rendered.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use parwatch_proto::{Channel, local_date};
use parwatch_scoring::Models;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dossier::{self, Dossier, Pending, What, local_midnight, office_time};
use crate::governance::{self, Planned};
use crate::invalid::Malformation;
use crate::model::{self, Sampler};
use crate::province::Province;
use crate::render::{self, LOCAL_OFFSET_SECS};
use crate::subject::subject_of;
use crate::{Error, Result};
use crate::{catalogue, index766, petition, registry};

/// How far before receipt a backfilled dossier's first event may lie (online applications made
/// over a weekend, dossiers in the post).
const BACKFILL_MAX_LEAD: i64 = 3 * 86_400;
/// The same for live dossiers, which start "now".
const LIVE_MAX_LEAD: i64 = 60;
const SECS_PER_DAY: i64 = 86_400;
/// Capacity of each block of the render buffer; events are split off it.
const BUFFER_BLOCK: usize = 256 * 1024;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Every event of dossiers received from `from` to `to` (inclusive, local dates) that
    /// happened within those days, as fast as possible; without `to`, without end. Dossiers
    /// still open at the end yield no later events.
    Backfill {
        /// First local day.
        from: NaiveDate,
        /// Last local day, or `None` for no end (bound it with [`SimOptions::limit`]).
        to: Option<NaiveDate>,
    },
    /// Dossiers arriving steadily from `start` for `duration`, at about `rate` events per
    /// second counting the events of the first minutes of each dossier (application, receipt);
    /// their later events come when their time comes, if still within `duration`. The
    /// publisher paces the events by wall-clock time.
    Live {
        /// When the first dossier arrives.
        start: DateTime<Utc>,
        /// Events per second (approximately).
        rate: f64,
        /// How long to generate for.
        duration: Duration,
    },
}

/// Options of a simulation run. The same options always give the same events.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seed of the province and of every random choice.
    pub seed: u64,
    /// Dossiers received on an ordinary working day (the province's volume).
    pub scale: u32,
    /// Share of malformed events, in `[0, 0.5]`.
    pub invalid_share: f64,
    /// Stop after this many events.
    pub limit: Option<u64>,
    /// Backfill or live.
    pub mode: Mode,
}

impl SimOptions {
    /// Default volume of a province: dossiers per working day (~500,000 a year).
    pub const DEFAULT_SCALE: u32 = 2_000;

    /// Backfill options for `[from, to]` with default volume and no malformed events.
    pub fn backfill(seed: u64, from: NaiveDate, to: NaiveDate) -> Self {
        SimOptions {
            seed,
            scale: Self::DEFAULT_SCALE,
            invalid_share: 0.0,
            limit: None,
            mode: Mode::Backfill { from, to: Some(to) },
        }
    }

    fn check(&self) -> Result<()> {
        let invalid =
            |name: &'static str, reason: String| Err(Error::InvalidOption { name, reason });
        if !(0.0..=0.5).contains(&self.invalid_share) {
            return invalid(
                "invalid_share",
                format!("must be within [0, 0.5], got {}", self.invalid_share),
            );
        }
        if self.scale == 0 {
            return invalid("scale", "must be at least 1 dossier per day".into());
        }
        match self.mode {
            Mode::Backfill { from, to: Some(to) } if to < from => {
                invalid("to", format!("{to} is before from {from}"))
            }
            Mode::Live { rate, .. } if !(rate > 0.0 && rate.is_finite()) => invalid(
                "rate",
                format!("must be a positive number of events per second, got {rate}"),
            ),
            _ => Ok(()),
        }
    }
}

/// One generated event, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// NATS subject, `par.events.v1.<type>` (or what a malformation implies).
    pub subject: &'static str,
    /// The event's id, also its `Nats-Msg-Id` (malformed events get their own).
    pub event_id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The JSON body.
    pub body: Bytes,
    /// How the event is broken, for the intended invalid ones.
    pub malformation: Option<Malformation>,
}

/// The next event to yield.
enum Item {
    Dossier(Pending),
    Governance(Planned),
}

/// Where new dossiers come from.
#[derive(Debug)]
enum Arrivals {
    /// Day by day, following the calendar.
    Daily {
        next: NaiveDate,
        last: Option<NaiveDate>,
    },
    /// Evenly spaced, `interval` seconds apart, until `end`.
    Steady { next: f64, interval: f64, end: f64 },
}

/// Generates the events of a simulated province, in time order. An [`Iterator`] of
/// [`SimEvent`]s; see [`SimOptions`] and [`Mode`].
#[derive(Debug)]
pub struct Generator {
    province: Province,
    sampler: Sampler,
    /// Scoring models: which agencies do PAR work each year and which criteria get scores.
    models: Models,
    /// The seed as given: the PAR work of a year is the same in every run.
    base_seed: u64,
    seed: u64,
    scale: u32,
    /// Threshold on a 64-bit hash that makes an event be preceded by a malformed one.
    invalid_threshold: u64,
    remaining: Option<u64>,
    rng: ChaCha8Rng,
    arrivals: Arrivals,
    max_lead: i64,
    /// Events outside `[window_start, window_end)` (unix seconds) are dropped.
    window_start: i64,
    window_end: i64,
    queue: BinaryHeap<Reverse<Pending>>,
    /// Planned events of agencies rather than dossiers: PAR work (plan activities, tasks,
    /// scores), petitions, registry and catalogue facts.
    governance: BinaryHeap<Reverse<Planned>>,
    /// The next year whose PAR work is to be planned, and the last one in the window.
    next_year: i32,
    last_year: i32,
    /// A valid event (with its id and body) held back while the malformed copy made from it
    /// goes first.
    held: Option<(Pending, String, Bytes)>,
    next_seq: u64,
    /// Per agency dossier numbers of `numbers_day` (local days since 1970-01-01).
    numbers: Vec<u32>,
    numbers_day: i64,
    buf: BytesMut,
    /// Receipt times of one day's dossiers, reused.
    day_times: Vec<i64>,
}

impl Generator {
    /// A generator for `options`.
    pub fn new(options: &SimOptions) -> Result<Self> {
        options.check()?;
        let province = Province::new(options.seed);
        let sampler = Sampler::new(&province);
        let share = options.invalid_share;
        // A malformed event precedes a valid one with probability p / (1 - p): p of all events.
        let invalid_threshold = (share / (1.0 - share) * u64::MAX as f64) as u64;
        let (arrivals, max_lead, window_start, window_end) = match options.mode {
            Mode::Backfill { from, to } => (
                Arrivals::Daily {
                    next: from,
                    last: to,
                },
                BACKFILL_MAX_LEAD,
                local_midnight(from),
                to.and_then(|to| to.checked_add_days(Days::new(1)))
                    .map_or(i64::MAX, local_midnight),
            ),
            Mode::Live {
                start,
                rate,
                duration,
            } => {
                let t = model::year_fraction(parwatch_proto::local_date(start));
                let events_per_dossier = 1.0 + model::online_share(t) + model::postal_share(t);
                let start = start.timestamp() as f64;
                let end = start + duration.as_secs_f64();
                // Dossiers received up to a lead after the end have events before it.
                (
                    Arrivals::Steady {
                        next: start,
                        interval: events_per_dossier / rate,
                        end: end + LIVE_MAX_LEAD as f64,
                    },
                    LIVE_MAX_LEAD,
                    start as i64,
                    end.ceil() as i64,
                )
            }
        };
        let year_of = |unix_secs: i64| {
            local_date(DateTime::from_timestamp(unix_secs, 0).unwrap_or_default()).year()
        };
        // A backfill states the catalogue as it stands at its start; a live run follows one.
        let catalogue = match options.mode {
            Mode::Backfill { from, to } => catalogue::events(&province, options.seed, from, to),
            Mode::Live { .. } => Vec::new(),
        };
        Ok(Generator {
            numbers: vec![0; province.agencies().len()],
            province,
            sampler,
            models: Models::builtin(),
            base_seed: options.seed,
            next_year: year_of(window_start),
            // An endless backfill plans years as it reaches them, up to the contract's last.
            last_year: if window_end == i64::MAX {
                2100
            } else {
                year_of(window_end - 1)
            },
            // Live runs of one seed at different times must not reuse each other's ids.
            seed: match options.mode {
                Mode::Live { start, .. } => options.seed ^ render::mix(start.timestamp() as u64),
                Mode::Backfill { .. } => options.seed,
            },
            scale: options.scale,
            invalid_threshold,
            remaining: options.limit,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            arrivals,
            max_lead,
            window_start,
            window_end,
            queue: BinaryHeap::new(),
            governance: catalogue.into_iter().map(Reverse).collect(),
            held: None,
            next_seq: 0,
            numbers_day: i64::MIN,
            buf: BytesMut::with_capacity(BUFFER_BLOCK),
            day_times: Vec::new(),
        })
    }

    /// The simulated province.
    pub fn province(&self) -> &Province {
        &self.province
    }

    /// A rough number of events this generator will yield, for progress bars; `None` when
    /// unbounded.
    pub fn estimated_len(&self) -> Option<u64> {
        // Receipt, resolution and about half an event more (applications, late, post), and
        // the 766 index's (components, sync, result, fee, rating, supplements): 6.52 measured
        // over six years at 7,661 dossiers a working day (86.9M events, 13.3M dossiers).
        const EVENTS_PER_DOSSIER: f64 = 6.5;
        let estimate = match self.arrivals {
            Arrivals::Daily {
                next,
                last: Some(last),
            } => {
                let days = next.iter_days().take_while(|d| *d <= last);
                let dossiers: f64 = days
                    .map(|d| model::volume_factor(&self.province, d))
                    .sum::<f64>()
                    * f64::from(self.scale);
                Some((dossiers * EVENTS_PER_DOSSIER) as u64)
            }
            Arrivals::Daily { last: None, .. } => None,
            Arrivals::Steady {
                next,
                interval,
                end,
            } => Some(((end - next) / interval) as u64),
        };
        match (estimate, self.remaining) {
            (Some(e), Some(limit)) => Some(e.min(limit)),
            (e, limit) => e.or(limit),
        }
    }

    /// Creates dossiers until every event earlier than the queue's head has been planned.
    fn refill(&mut self) {
        loop {
            let head = self.queue.peek().map_or(i64::MAX, |Reverse(p)| p.at);
            match self.arrivals {
                Arrivals::Daily { next, last } => {
                    if last.is_some_and(|last| next > last)
                        || local_midnight(next) - self.max_lead > head
                    {
                        return;
                    }
                    self.create_day(next);
                    let Some(following) = next.succ_opt() else {
                        return;
                    };
                    self.arrivals = Arrivals::Daily {
                        next: following,
                        last,
                    };
                }
                Arrivals::Steady {
                    next,
                    interval,
                    end,
                } => {
                    if next >= end || next as i64 - self.max_lead > head {
                        return;
                    }
                    self.create_dossier(next as i64);
                    self.arrivals = Arrivals::Steady {
                        next: next + interval,
                        interval,
                        end,
                    };
                }
            }
        }
    }

    fn create_day(&mut self, date: NaiveDate) {
        let factor = model::volume_factor(&self.province, date);
        if factor == 0.0 {
            return;
        }
        let noise = self.rng.random_range(0.85..1.15);
        let count = (f64::from(self.scale) * factor * noise).round() as usize;
        let midnight = local_midnight(date);
        let mut times = std::mem::take(&mut self.day_times);
        times.clear();
        times.extend((0..count).map(|_| midnight + office_time(&mut self.rng)));
        // In time order, so that each agency's dossier numbers increase through the day.
        times.sort_unstable();
        for &at in &times {
            self.create_dossier(at);
        }
        self.day_times = times;
    }

    fn create_dossier(&mut self, received_at: i64) {
        let local_day = (received_at + LOCAL_OFFSET_SECS).div_euclid(SECS_PER_DAY);
        let date = NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|epoch| epoch.checked_add_days(Days::new(local_day as u64)))
            .expect("simulated dates are after 1970");
        if local_day != self.numbers_day {
            self.numbers.fill(0);
            self.numbers_day = local_day;
        }
        let (procedure, agency) = self.sampler.pick(&self.province, date, &mut self.rng);
        self.numbers[agency] += 1;
        let dossier = Dossier {
            seq: self.next_seq,
            agency: agency as u16,
            procedure: procedure as u16,
            local_day,
            number: self.numbers[agency],
        };
        self.next_seq += 1;
        let queue = &mut self.queue;
        let course = dossier::plan(
            &self.province,
            dossier,
            date,
            received_at,
            self.max_lead,
            self.seed,
            &mut self.rng,
            |p| queue.push(Reverse(p)),
        );
        let diligence = index766::Diligence::of(self.base_seed, agency);
        index766::plan(
            &self.province,
            dossier,
            &course,
            &diligence,
            self.seed,
            |p| queue.push(Reverse(p)),
        );
    }

    /// Plans the PAR work of every year that starts before `frontier` (unix seconds): all of
    /// a year's events lie within it, so none can come before an event already yielded.
    fn plan_governance(&mut self, frontier: i64) {
        while self.next_year <= self.last_year {
            let Some(first_day) = NaiveDate::from_ymd_opt(self.next_year, 1, 1) else {
                return;
            };
            if local_midnight(first_day) > frontier {
                return;
            }
            let year = governance::year_events(
                &self.province,
                &self.models,
                self.base_seed,
                self.next_year,
            );
            let registry = registry::year_events(&self.province, self.next_year);
            let petitions = petition::year_events(&self.province, self.base_seed, self.next_year);
            self.governance.extend(
                year.into_iter()
                    .chain(registry)
                    .chain(petitions)
                    .map(Reverse),
            );
            self.next_year += 1;
        }
    }

    /// The next valid event in the window, in time order: a dossier's or the PAR work's.
    fn next_item(&mut self) -> Option<Item> {
        loop {
            self.refill();
            let dossier_at = self.queue.peek().map(|Reverse(p)| p.at);
            self.plan_governance(dossier_at.unwrap_or(self.window_end).min(self.window_end));
            let governance_at = self.governance.peek().map(|Reverse(p)| p.at);
            let item = match (dossier_at, governance_at) {
                (_, Some(g)) if dossier_at.is_none_or(|d| g < d) => {
                    let Reverse(planned) = self.governance.pop()?;
                    Item::Governance(planned)
                }
                (Some(_), _) => {
                    let Reverse(pending) = self.queue.pop()?;
                    Item::Dossier(pending)
                }
                (None, _) => return None,
            };
            let at = match &item {
                Item::Dossier(p) => p.at,
                Item::Governance(p) => p.at,
            };
            if at >= self.window_end {
                self.queue.clear();
                self.governance.clear();
                return None;
            }
            if at >= self.window_start {
                return Some(item);
            }
        }
    }

    /// Writes the JSON body of `pending` into the buffer and splits it off.
    fn render(&mut self, pending: &Pending, event_id: &str) -> Bytes {
        let province = &self.province;
        let agency = &province.agencies()[usize::from(pending.dossier.agency)];
        let procedure = &province.procedures()[usize::from(pending.dossier.procedure)];
        let event_type = pending.what.event_type();
        let buf = &mut self.buf;
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(BUFFER_BLOCK);
        }
        buf.put_slice(b"{\"event_id\":\"");
        buf.put_slice(event_id.as_bytes());
        buf.put_slice(b"\",\"type\":\"");
        buf.put_slice(event_type.as_str().as_bytes());
        buf.put_slice(b"\",\"schema_version\":1,\"occurred_at\":\"");
        render::put_timestamp(buf, pending.at);
        buf.put_slice(b"\",\"source\":\"");
        match pending.what {
            // Citizens apply, pay online and rate on the portal.
            What::Online { .. } | What::Rated(_) | What::FeePaid { online: true, .. } => {
                buf.put_slice(b"dvc-portal")
            }
            What::Postal(_) => buf.put_slice(b"vnpost"),
            _ => {
                buf.put_slice(b"motcua-");
                buf.put_slice(province.slug.as_bytes());
            }
        }
        buf.put_slice(b"\",\"agency_code\":\"");
        buf.put_slice(agency.code.as_bytes());
        buf.put_slice(b"\",\"dossier_id\":\"");
        buf.put_slice(agency.code.as_bytes());
        render::put_dossier_suffix(buf, pending.dossier.local_day, pending.dossier.number);
        buf.put_slice(b"\",\"procedure_code\":\"");
        buf.put_slice(procedure.code.as_bytes());
        buf.put_slice(b"\",\"data\":{");
        match pending.what {
            What::Online { mode, portal } => {
                buf.put_slice(b"\"mode\":\"");
                buf.put_slice(mode.as_str().as_bytes());
                buf.put_slice(b"\",\"portal\":\"");
                buf.put_slice(portal.as_str().as_bytes());
                buf.put_u8(b'"');
            }
            What::Postal(kind) => {
                buf.put_slice(b"\"kind\":\"");
                buf.put_slice(kind.as_str().as_bytes());
                buf.put_u8(b'"');
            }
            What::Received {
                channel,
                mode,
                due_at,
                receiving,
                area,
            } => {
                buf.put_slice(b"\"channel\":\"");
                buf.put_slice(channel.as_str().as_bytes());
                if let (Channel::Online, Some(mode)) = (channel, mode) {
                    buf.put_slice(b"\",\"online_mode\":\"");
                    buf.put_slice(mode.as_str().as_bytes());
                }
                buf.put_slice(b"\",\"due_at\":\"");
                render::put_timestamp(buf, due_at);
                if let Some(code) = receiving {
                    buf.put_slice(b"\",\"receiving_agency_code\":\"");
                    buf.put_slice(code.as_bytes());
                }
                if let Some(area) = area {
                    buf.put_slice(b"\",\"area_code\":\"");
                    buf.put_slice(province.agencies()[usize::from(area)].code.as_bytes());
                }
                buf.put_u8(b'"');
            }
            What::Late { due_at } => {
                buf.put_slice(b"\"due_at\":\"");
                render::put_timestamp(buf, due_at);
                buf.put_u8(b'"');
            }
            What::Apology {
                new_due_at,
                letter_no,
            } => {
                buf.put_slice(b"\"new_due_at\":\"");
                render::put_timestamp(buf, new_due_at);
                buf.put_slice(b"\",\"letter_no\":\"");
                render::put_uint(buf, letter_no);
                buf.put_slice(b"/XL\"");
            }
            What::Resolved { outcome, digitized } => {
                buf.put_slice(b"\"outcome\":\"");
                buf.put_slice(outcome.as_str().as_bytes());
                buf.put_slice(if digitized {
                    b"\",\"digitized\":true"
                } else {
                    b"\",\"digitized\":false"
                });
            }
            What::SupplementRequested { reason } => {
                buf.put_slice(b"\"reason\":\"");
                buf.put_slice(reason.as_bytes());
                buf.put_u8(b'"');
            }
            What::SupplementProvided { new_due_at } => {
                if let Some(new_due_at) = new_due_at {
                    buf.put_slice(b"\"new_due_at\":\"");
                    render::put_timestamp(buf, new_due_at);
                    buf.put_u8(b'"');
                }
            }
            What::FeeRequested { amount_vnd } => {
                buf.put_slice(b"\"amount_vnd\":");
                render::put_uint(buf, amount_vnd);
            }
            What::FeePaid {
                amount_vnd,
                online,
                gateway,
            } => {
                buf.put_slice(b"\"amount_vnd\":");
                render::put_uint(buf, amount_vnd);
                buf.put_slice(if online {
                    b",\"online\":true"
                } else {
                    b",\"online\":false"
                });
                if let Some(gateway) = gateway {
                    buf.put_slice(b",\"gateway\":\"");
                    buf.put_slice(gateway.as_bytes());
                    buf.put_u8(b'"');
                }
            }
            What::Digitised { component, reused } => {
                buf.put_slice(b"\"component\":\"");
                buf.put_slice(component.as_bytes());
                buf.put_slice(if reused {
                    b"\",\"reused\":true"
                } else {
                    b"\",\"reused\":false"
                });
            }
            What::ResultIssued { electronic } => buf.put_slice(if electronic {
                b"\"electronic\":true"
            } else {
                b"\"electronic\":false"
            }),
            What::Synced(portal) => {
                buf.put_slice(b"\"portal\":\"");
                buf.put_slice(portal.as_str().as_bytes());
                buf.put_u8(b'"');
            }
            What::Rated(rating) => {
                buf.put_slice(b"\"rating\":\"");
                buf.put_slice(rating.as_str().as_bytes());
                buf.put_u8(b'"');
            }
        }
        buf.put_slice(b"}}");
        buf.split().freeze()
    }
}

fn sim_event(
    pending: &Pending,
    subject: &'static str,
    event_id: String,
    body: Bytes,
    malformation: Option<Malformation>,
) -> SimEvent {
    SimEvent {
        subject,
        event_id,
        occurred_at: DateTime::from_timestamp(pending.at, 0).unwrap_or_default(),
        body,
        malformation,
    }
}

impl Iterator for Generator {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        if self.remaining == Some(0) {
            return None;
        }
        let event = if let Some((pending, event_id, body)) = self.held.take() {
            sim_event(
                &pending,
                subject_of(pending.what.event_type()),
                event_id,
                body,
                None,
            )
        } else {
            let pending = match self.next_item()? {
                Item::Dossier(pending) => pending,
                Item::Governance(planned) => {
                    let (event_id, body) = planned.render(&self.province, self.base_seed);
                    return Some(self.count(SimEvent {
                        subject: subject_of(planned.event_type),
                        event_id,
                        occurred_at: DateTime::from_timestamp(planned.at, 0).unwrap_or_default(),
                        body,
                        malformation: None,
                    }));
                }
            };
            let event_id = render::event_id(self.seed, pending.key);
            let body = self.render(&pending, &event_id);
            let event_type = pending.what.event_type();
            // Decided by a hash of the event, so the same events are broken on every run.
            let bad_key = pending.key | (1 << 63);
            let roll = render::mix(self.seed ^ render::mix(bad_key));
            if roll < self.invalid_threshold {
                let malformation =
                    Malformation::ALL[(roll % Malformation::ALL.len() as u64) as usize];
                let bad_id = render::event_id(self.seed, bad_key);
                let (subject, bad_body) = malformation.apply(event_type, &body, &bad_id);
                self.held = Some((pending, event_id, body));
                sim_event(&pending, subject, bad_id, bad_body, Some(malformation))
            } else {
                sim_event(&pending, subject_of(event_type), event_id, body, None)
            }
        };
        Some(self.count(event))
    }
}

impl Generator {
    /// Counts an event against the limit.
    fn count(&mut self, event: SimEvent) -> SimEvent {
        if let Some(remaining) = &mut self.remaining {
            *remaining -= 1;
        }
        event
    }
}
