//! The events of a dossier that the national service index (Decision 766/QĐ-TTg) reads, planned
//! around its lifecycle (`dossier.rs`): the sync to the national portal, the fee and its
//! payment, the components digitised or reused at receipt, requests to supplement the dossier
//! and the citizen's supplements, the result issued (electronically or not) and the citizen's
//! rating, at the magnitudes of `model.rs`.
//!
//! They draw from a random stream of their own per dossier, derived from the run's seed and the
//! dossier's number, and take keys of their own ([`key`]): the lifecycle's events stay exactly
//! as they were without them. Agencies are not equally diligent at this work ([`Diligence`]):
//! the province's trends are its average, and some agencies lag it, so that their index spreads
//! around the province's order of magnitude (80–95) instead of all scoring near full marks.

use chrono::NaiveDate;
use parwatch_proto::{Channel, Outcome, Portal, Rating};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calendar::OFFICE_CLOSES;
use crate::catalogue::{self, unit};
use crate::dossier::{Dossier, Pending, What, local_midnight};
use crate::model;
use crate::province::Province;
use crate::render::{LOCAL_OFFSET_SECS, mix};

/// Mixed into the seed of each dossier's stream.
const SALT: u64 = 0x3736_3620_494e_4458;
/// Mixed into the seed of each agency's [`Diligence`].
const DILIGENCE_SALT: u64 = 0x4449_4c49_4745_4e43;

/// Share of dossiers the agency asks to supplement, among those whose handling leaves room for
/// it (the longer procedures, where supplements are common): 5–10% of all dossiers.
const SUPPLEMENT_SHARE: f64 = 0.14;
/// Share of supplemented dossiers asked twice (late under 766 whatever their dates).
const TWICE_SHARE: f64 = 0.12;
/// Share of withdrawn dossiers that waited on a supplement never provided.
const ABANDONED_SHARE: f64 = 0.3;
/// Shortest handling (receipt to result, seconds) that leaves room for a supplement.
const SUPPLEMENT_ROOM: i64 = 36 * 3600;

/// Reasons the agency gives for a supplement request.
const REASONS: [&str; 4] = [
    "Thiếu thành phần hồ sơ theo quy định",
    "Bản sao chưa được chứng thực",
    "Thông tin trên tờ khai không khớp với giấy tờ kèm theo",
    "Bản vẽ chưa đúng tỷ lệ quy định",
];

/// Payment gateways of online payments, with their shares.
const GATEWAYS: [(&str, f64); 3] = [
    ("national_payment_platform", 0.65),
    ("provincial", 0.2),
    ("bank", 0.15),
];

/// How diligent an agency is at the work the 766 index measures, relative to the province's
/// trends (`model.rs`): each habit is a factor on the province's share, drawn between a lagging
/// and a leading agency's, from one draw the agency shares across its habits (a careful agency
/// tends to be careful throughout) and one of the habit's own. The same in every run of a seed,
/// backfill or live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Diligence {
    /// Multiplies the share of dossiers with components digitised at receipt.
    digitised: f64,
    /// Multiplies the share of digitised components reused from existing data.
    reused: f64,
    /// Multiplies the share of fees paid online.
    paid_online: f64,
    /// Multiplies the share of results issued electronically.
    electronic: f64,
    /// Multiplies the share of dossiers not synced to the national portal.
    unsynced: f64,
    /// Multiplies the share of dissatisfied ratings.
    dissatisfied: f64,
    /// Share of petitions answered in time.
    pub(crate) petitions_on_time: f64,
    /// Share of its catalogued procedures publicised (when published).
    pub(crate) publicised: f64,
    /// Share of its catalogued procedures whose publicised facts are complete.
    pub(crate) complete: f64,
}

impl Diligence {
    /// The diligence of agency `agency` (its index in the province) under `seed`.
    pub(crate) fn of(seed: u64, agency: usize) -> Self {
        let h = mix(seed ^ DILIGENCE_SALT ^ mix(agency as u64));
        let common = unit(h);
        // From `lagging` at the least diligent to `leading` at the most.
        let habit = |k: u64, lagging: f64, leading: f64| {
            let x = 0.7 * common + 0.3 * unit(mix(h ^ k));
            lagging + (leading - lagging) * x
        };
        Diligence {
            digitised: habit(1, 0.74, 1.16),
            reused: habit(2, 0.25, 1.2),
            paid_online: habit(3, 0.32, 1.22),
            electronic: habit(4, 0.5, 1.2),
            unsynced: habit(5, 2.2, 0.4),
            dissatisfied: habit(6, 5.0, 0.5),
            petitions_on_time: habit(7, 0.68, 0.97),
            publicised: habit(8, 0.85, 0.995),
            complete: habit(9, 0.8, 0.99),
        }
    }
}

/// Order of a dossier's 766 events at the same second, and the low bits of their keys.
#[derive(Clone, Copy)]
enum Step {
    Synced = 0,
    FeeRequested = 1,
    FeePaid = 2,
    /// Components (one to four) take this step and the three after it.
    Digitised = 3,
    /// A request and its supplement take this step and the one after it; a second request the
    /// two after them.
    Supplement = 8,
    ResultIssued = 12,
    Rated = 13,
}

/// The key of the 766 event at `step` of dossier `seq`: a bit of their own above the
/// lifecycle's `seq * 8 + step` keys (and below the malformed events' bit 63).
pub(crate) fn key(seq: u64, step: u64) -> u64 {
    (1 << 62) | (seq << 5) | step
}

/// What the lifecycle decided of a dossier, which its 766 events follow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Course {
    /// Time of receipt as a fractional year (`model::year_fraction`).
    pub(crate) t: f64,
    pub(crate) channel: Channel,
    /// Receipt, appointment and result, unix seconds.
    pub(crate) received_at: i64,
    pub(crate) due_at: i64,
    pub(crate) resolved_at: i64,
    /// Whether the result came after the appointment.
    pub(crate) late: bool,
    pub(crate) outcome: Outcome,
}

/// Plans the 766 events of `dossier`, whose lifecycle is `course`, at an agency of `diligence`,
/// handing each to `emit`.
pub(crate) fn plan(
    province: &Province,
    dossier: Dossier,
    course: &Course,
    diligence: &Diligence,
    seed: u64,
    mut emit: impl FnMut(Pending),
) {
    let rng = &mut ChaCha8Rng::seed_from_u64(mix(seed ^ SALT ^ mix(dossier.seq)));
    let procedure = &province.procedures()[usize::from(dossier.procedure)];
    let Course {
        t,
        channel,
        received_at,
        resolved_at,
        late,
        outcome,
        ..
    } = *course;
    let mut push = |at: i64, step: u64, what: What| {
        emit(Pending {
            at,
            key: key(dossier.seq, step),
            dossier,
            what,
        })
    };
    // Steps of the first hour after receipt stay within its first half of the handling.
    let early = |rng: &mut ChaCha8Rng, from: i64, to: i64| {
        let end = received_at + to.min((resolved_at - received_at) / 2);
        rng.random_range(received_at + from..end.max(received_at + from + 1))
    };

    let national =
        rng.random::<f64>() >= (1.0 - model::national_sync_share(t)) * diligence.unsynced;
    if national || rng.random::<bool>() {
        let portal = if national {
            Portal::National
        } else {
            Portal::Provincial
        };
        push(
            early(rng, 60, 3600),
            Step::Synced as u64,
            What::Synced(portal),
        );
    }

    let fee = catalogue::fee_vnd(procedure);
    let exempt = fee > 0 && rng.random::<f64>() < 0.04;
    if fee > 0 || rng.random::<f64>() < 0.02 {
        let amount_vnd = if exempt { 0 } else { fee };
        let requested_at = early(rng, 60, 900);
        push(
            requested_at,
            Step::FeeRequested as u64,
            What::FeeRequested { amount_vnd },
        );
        let pays = outcome != Outcome::Withdrawn || rng.random::<bool>();
        if amount_vnd > 0 && pays && rng.random::<f64>() < 0.99 {
            // Paying online is likelier for a dossier filed online.
            let share = model::online_payment_share(t) * diligence.paid_online;
            let online = rng.random::<f64>()
                < match channel {
                    Channel::Online => (1.3 * share).min(0.98),
                    _ => (0.7 * share).min(0.9),
                };
            let (gateway, wait) = if online {
                (Some(pick_gateway(rng)), rng.random_range(120..6 * 3600))
            } else {
                (None, rng.random_range(60..1_200))
            };
            let latest = resolved_at - 60;
            push(
                (requested_at + wait).min(latest).max(requested_at + 1),
                Step::FeePaid as u64,
                What::FeePaid {
                    amount_vnd,
                    online,
                    gateway,
                },
            );
        }
    }

    if rng.random::<f64>() < (model::components_digitised_share(t) * diligence.digitised).min(0.97)
    {
        let reuse = (model::component_reuse_share(t) * diligence.reused).min(0.9);
        let mut at = early(rng, 30, 600);
        for (k, component) in catalogue::components(procedure).enumerate() {
            push(
                at,
                Step::Digitised as u64 + k as u64,
                What::Digitised {
                    component,
                    reused: rng.random::<f64>() < reuse,
                },
            );
            at += rng.random_range(10..120);
        }
    }

    supplements(province, rng, course, &mut push);

    if outcome == Outcome::Approved {
        let before = rng
            .random_range(300..7_200)
            .min((resolved_at - received_at) / 2);
        push(
            resolved_at - before.max(1),
            Step::ResultIssued as u64,
            What::ResultIssued {
                electronic: rng.random::<f64>()
                    < (model::electronic_result_share(t) * diligence.electronic).min(0.97),
            },
        );
    }

    if outcome != Outcome::Withdrawn && rng.random::<f64>() < model::rated_share(t) {
        let dissatisfied = (if late { 0.15 } else { 0.025 }) * diligence.dissatisfied;
        let rating = match rng.random::<f64>() {
            x if x < dissatisfied => Rating::Dissatisfied,
            x if x < dissatisfied + (1.0 - dissatisfied) * 0.55 => Rating::VerySatisfied,
            _ => Rating::Satisfied,
        };
        push(
            resolved_at + rng.random_range(600..3 * 86_400),
            Step::Rated as u64,
            What::Rated(rating),
        );
    }
}

fn pick_gateway(rng: &mut impl Rng) -> &'static str {
    let mut x = rng.random::<f64>();
    for (gateway, share) in GATEWAYS {
        if x < share {
            return gateway;
        }
        x -= share;
    }
    GATEWAYS[0].0
}

/// Requests to supplement the dossier and the citizen's supplements, between receipt and
/// result: a few days each (they may cross a month's end), twice now and then. A late dossier's
/// supplements take less than half its delay, so that it stays late once their time is
/// excluded; a withdrawn one may have waited on a supplement that never came.
fn supplements(
    province: &Province,
    rng: &mut ChaCha8Rng,
    course: &Course,
    push: &mut impl FnMut(i64, u64, What),
) {
    let start = course.received_at + 1_800;
    let end = course.resolved_at - 1_800;
    let reason = |rng: &mut ChaCha8Rng| REASONS[rng.random_range(0..REASONS.len())];
    let step = Step::Supplement as u64;
    if course.outcome == Outcome::Withdrawn {
        if end - start >= 3_600 && rng.random::<f64>() < ABANDONED_SHARE {
            let at = rng.random_range(start..end);
            push(
                at,
                step,
                What::SupplementRequested {
                    reason: reason(rng),
                },
            );
        }
        return;
    }
    if course.resolved_at - course.received_at < SUPPLEMENT_ROOM
        || rng.random::<f64>() >= SUPPLEMENT_SHARE
    {
        return;
    }
    let room = end - start;
    let mut pause = ((1.0 + rng.random::<f64>().powi(2) * 7.0) * 86_400.0) as i64;
    pause = pause.min(room * 4 / 5);
    if course.late {
        pause = pause.min((course.resolved_at - course.due_at) / 2);
    }
    if pause < 3_600 {
        return;
    }
    let twice = rng.random::<f64>() < TWICE_SHARE;
    let pauses = if twice {
        [pause * 3 / 5, pause * 2 / 5]
    } else {
        [pause, 0]
    };
    // Requests start in the first half of the room left: both supplements and a gap of up to
    // a tenth of the room between them fit before the result.
    let mut at = start + rng.random_range(0..=(room - pause) / 2);
    let mut waited = 0;
    let due_date = local_day(course.due_at);
    for (i, pause) in pauses.into_iter().filter(|&p| p > 0).enumerate() {
        let step = step + 2 * i as u64;
        push(
            at,
            step,
            What::SupplementRequested {
                reason: reason(rng),
            },
        );
        waited += pause;
        // Mostly, the appointment is re-set by the days the citizen took.
        let new_due_at = (rng.random::<f64>() < 0.7).then(|| {
            let days = (waited as u64).div_ceil(86_400) as u32;
            local_midnight(province.calendar().add_working_days(due_date, days)) + OFFICE_CLOSES
        });
        push(
            at + pause,
            step + 1,
            What::SupplementProvided { new_due_at },
        );
        at += pause + rng.random_range(600..3_600).min(room / 10);
    }
}

/// The local date of `unix_secs`.
fn local_day(unix_secs: i64) -> NaiveDate {
    let days = (unix_secs + LOCAL_OFFSET_SECS).div_euclid(86_400);
    NaiveDate::default() + chrono::Days::new(days as u64)
}
