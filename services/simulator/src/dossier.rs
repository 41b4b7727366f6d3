//! One dossier's lifecycle, planned at once when it is created: the times and contents of its
//! events, kept compact until they are due to be written out.

use std::cmp::Ordering;

use chrono::NaiveDate;
use parwatch_proto::{Channel, EventType, Outcome, Portal, PostalKind, Rating, ServiceMode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calendar::{OFFICE_CLOSES, OFFICE_OPENS};
use crate::index766::Course;
use crate::model;
use crate::province::Province;
use crate::render::{LOCAL_OFFSET_SECS, mix};

/// Salt of the draws of a dossier's roles (their own stream: the lifecycle's draws stay as
/// they were before dossiers named them).
const ROLES_SALT: u64 = 0x726f_6c65_735f_3233;

/// Relative receipt volume per half hour of office time from 07:30 to 17:00: a morning peak,
/// a lunch dip and a smaller afternoon peak.
const HALF_HOUR_PROFILE: [f64; 19] = [
    3.0, 6.0, 8.0, 9.0, 9.0, 8.0, 5.0, 1.5, 1.0, 1.0, 2.0, 5.0, 7.0, 7.5, 7.0, 6.0, 5.0, 3.0, 1.5,
];

/// Unix seconds of local midnight starting `date`.
pub(crate) fn local_midnight(date: NaiveDate) -> i64 {
    let utc_midnight = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp();
    utc_midnight - LOCAL_OFFSET_SECS
}

/// A random time of day within office hours, in seconds after local midnight, following the
/// receipt profile.
pub(crate) fn office_time(rng: &mut impl Rng) -> i64 {
    let total: f64 = HALF_HOUR_PROFILE.iter().sum();
    let mut x = rng.random::<f64>() * total;
    let mut slot = 0;
    while slot + 1 < HALF_HOUR_PROFILE.len() && x >= HALF_HOUR_PROFILE[slot] {
        x -= HALF_HOUR_PROFILE[slot];
        slot += 1;
    }
    OFFICE_OPENS + slot as i64 * 1800 + rng.random_range(0..1800)
}

/// The identity of a dossier, shared by its events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dossier {
    /// Global creation number, unique per generator run: the basis of event ids.
    pub(crate) seq: u64,
    pub(crate) agency: u16,
    pub(crate) procedure: u16,
    /// Local day of receipt, as days since 1970-01-01.
    pub(crate) local_day: i64,
    /// Per agency and day number.
    pub(crate) number: u32,
}

/// What an event says, beyond its dossier.
#[derive(Debug, Clone, Copy)]
pub(crate) enum What {
    Online {
        mode: ServiceMode,
        portal: Portal,
    },
    Postal(PostalKind),
    Received {
        channel: Channel,
        mode: Option<ServiceMode>,
        due_at: i64,
        /// The service centre that received it, when not the competent agency.
        receiving: Option<&'static str>,
        /// The applicant's commune (an agency index), when not the competent agency.
        area: Option<u16>,
    },
    Late {
        due_at: i64,
    },
    Apology {
        new_due_at: i64,
        letter_no: u32,
    },
    Resolved {
        outcome: Outcome,
        digitized: bool,
    },
    SupplementRequested {
        reason: &'static str,
    },
    SupplementProvided {
        new_due_at: Option<i64>,
    },
    FeeRequested {
        amount_vnd: u32,
    },
    FeePaid {
        amount_vnd: u32,
        online: bool,
        gateway: Option<&'static str>,
    },
    Digitised {
        component: &'static str,
        reused: bool,
    },
    ResultIssued {
        electronic: bool,
    },
    Synced(Portal),
    Rated(Rating),
}

impl What {
    pub(crate) fn event_type(&self) -> EventType {
        match self {
            What::Online { .. } => EventType::OnlineApplication,
            What::Postal(_) => EventType::PostalSubmission,
            What::Received { .. } => EventType::DossierReceived,
            What::Late { .. } => EventType::DossierLate,
            What::Apology { .. } => EventType::DossierApology,
            What::Resolved { .. } => EventType::DossierResolved,
            What::SupplementRequested { .. } => EventType::SupplementRequested,
            What::SupplementProvided { .. } => EventType::SupplementProvided,
            What::FeeRequested { .. } => EventType::FeeRequested,
            What::FeePaid { .. } => EventType::FeePaid,
            What::Digitised { .. } => EventType::ComponentDigitised,
            What::ResultIssued { .. } => EventType::ResultIssued,
            What::Synced(_) => EventType::DossierSynced,
            What::Rated(_) => EventType::DossierRated,
        }
    }
}

/// One planned event, ordered by time, then by dossier and step (deterministic ties).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) at: i64,
    /// `dossier.seq * 8 + step`, or for the events of the 766 index
    /// [`crate::index766::key`]: unique per event, the key of its id.
    pub(crate) key: u64,
    pub(crate) dossier: Dossier,
    pub(crate) what: What,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.key) == (other.at, other.key)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.key).cmp(&(other.at, other.key))
    }
}

/// Order of the events of one dossier, for ties at the same second.
#[derive(Clone, Copy)]
enum Step {
    BeforeReceipt = 0,
    Received = 1,
    TimelyApology = 2,
    Late = 3,
    LateApology = 4,
    Resolved = 5,
    ResultByPost = 6,
}

/// Shortens a lead time that exceeds `max_lead` to a random one between half of it and all.
fn clip_lead(lead: i64, max_lead: i64, rng: &mut impl Rng) -> i64 {
    if lead <= max_lead {
        lead
    } else {
        rng.random_range(max_lead / 2..=max_lead)
    }
}

/// Plans every event of one dossier's lifecycle received at `received_at` (unix seconds) on
/// local `date`, handing each to `emit`, and returns its course for the events of the 766 index
/// (`index766::plan`). Events before receipt lie at most `max_lead` seconds earlier. Its roles
/// (receiving point, area) are drawn from a stream of `seed` and the dossier of their own.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    province: &Province,
    dossier: Dossier,
    date: NaiveDate,
    received_at: i64,
    max_lead: i64,
    seed: u64,
    rng: &mut impl Rng,
    mut emit: impl FnMut(Pending),
) -> Course {
    let calendar = province.calendar();
    let t = model::year_fraction(date);
    let agency = &province.agencies()[usize::from(dossier.agency)];
    let procedure = &province.procedures()[usize::from(dossier.procedure)];
    let perf = agency.performance;
    let mut push = |at: i64, step: Step, what: What| {
        emit(Pending {
            at,
            key: dossier.seq * 8 + step as u64,
            dossier,
            what,
        });
    };

    let channel = if rng.random::<f64>() < model::postal_share(t) {
        Channel::Postal
    } else if rng.random::<f64>() < (model::online_share(t) * perf.online_factor).min(0.95) {
        Channel::Online
    } else {
        Channel::Counter
    };
    let mode = (channel == Channel::Online).then(|| {
        if rng.random::<f64>() < model::full_online_share(t) {
            ServiceMode::Full
        } else {
            ServiceMode::Partial
        }
    });
    match (channel, mode) {
        (Channel::Online, Some(mode)) => {
            // Most apply shortly before receipt; some the evening or weekend before.
            let lead = if rng.random::<f64>() < 0.7 {
                rng.random_range(120..3 * 3600)
            } else {
                rng.random_range(3 * 3600..3 * 86_400)
            };
            let portal = if rng.random::<f64>() < model::national_portal_share(t) {
                Portal::National
            } else {
                Portal::Provincial
            };
            push(
                received_at - clip_lead(lead, max_lead, rng),
                Step::BeforeReceipt,
                What::Online { mode, portal },
            );
        }
        (Channel::Postal, _) => {
            let lead = rng.random_range(86_400..3 * 86_400);
            push(
                received_at - clip_lead(lead, max_lead, rng),
                Step::BeforeReceipt,
                What::Postal(PostalKind::Dossier),
            );
        }
        _ => {}
    }

    let due_date = calendar.add_working_days(date, procedure.working_days);
    let due_at = local_midnight(due_date) + OFFICE_CLOSES;
    let roles = &mut ChaCha8Rng::seed_from_u64(mix(seed ^ ROLES_SALT ^ mix(dossier.seq)));
    let (receiving, area) = province.roles_of(
        usize::from(dossier.agency),
        date,
        channel,
        (roles.random(), roles.random()),
    );
    push(
        received_at,
        Step::Received,
        What::Received {
            channel,
            mode,
            due_at,
            receiving,
            area,
        },
    );

    let slip = if t > 2022.0 {
        (perf.late_trend * (t - 2022.0)).exp()
    } else {
        1.0
    };
    let late = rng.random::<f64>() < (model::late_share(t) * perf.late_factor * slip).min(0.6);
    let (resolved_date, resolved_at) = if late {
        // Mostly a few days late, now and then weeks.
        let delay = 1 + (rng.random::<f64>().powi(3) * 15.0) as u32;
        let day = calendar.add_working_days(due_date, delay);
        (day, local_midnight(day) + office_time(rng))
    } else {
        let days = rng.random_range(0..=procedure.working_days);
        let earliest_same_day = received_at - local_midnight(date) + 15 * 60;
        if days == 0 && earliest_same_day < OFFICE_CLOSES {
            (
                date,
                local_midnight(date) + rng.random_range(earliest_same_day..OFFICE_CLOSES),
            )
        } else {
            let day = calendar.add_working_days(date, days.max(1));
            (day, local_midnight(day) + office_time(rng))
        }
    };

    if late {
        push(due_at, Step::Late, What::Late { due_at });
        if rng.random::<f64>() < perf.apology_rate {
            let letter_no = rng.random_range(1..1_000);
            let new_due_date = calendar.add_working_days(resolved_date, rng.random_range(0..=2));
            let new_due_at = local_midnight(new_due_date) + OFFICE_CLOSES;
            // Most apologies come in time, before the appointment is missed; some after.
            if rng.random::<f64>() < 0.7 {
                let day = if procedure.working_days >= 2 && rng.random::<bool>() {
                    calendar.add_working_days(date, procedure.working_days - 1)
                } else {
                    due_date
                };
                let at = local_midnight(day) + office_time(rng);
                push(
                    at,
                    Step::TimelyApology,
                    What::Apology {
                        new_due_at,
                        letter_no,
                    },
                );
            } else {
                let at = due_at + rng.random_range(60..(resolved_at - due_at).max(61));
                push(
                    at,
                    Step::LateApology,
                    What::Apology {
                        new_due_at,
                        letter_no,
                    },
                );
            }
        }
    }

    let outcome = match rng.random::<f64>() {
        x if x < 0.93 => Outcome::Approved,
        x if x < 0.975 => Outcome::Rejected,
        _ => Outcome::Withdrawn,
    };
    let digitized = rng.random::<f64>() < model::digitized_share(t);
    push(
        resolved_at,
        Step::Resolved,
        What::Resolved { outcome, digitized },
    );

    let by_post = match channel {
        Channel::Postal => rng.random::<f64>() < 0.9,
        _ => rng.random::<f64>() < model::result_by_post_share(t),
    };
    if by_post && outcome != Outcome::Withdrawn {
        let at = resolved_at + rng.random_range(1_800..2 * 86_400);
        push(at, Step::ResultByPost, What::Postal(PostalKind::Result));
    }

    Course {
        t,
        channel,
        received_at,
        due_at,
        resolved_at,
        late,
        outcome,
    }
}
