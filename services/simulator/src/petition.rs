//! Complaints and petitions about administrative procedures (phản ánh, kiến nghị: PAKN), a
//! few per agency and month: each handled within ten working days, most answered in time (68–97%
//! by agency), some late, a few months late (`petition.received`, `petition.answered`). Many
//! name the procedure they concern. Like the PAR work (`governance.rs`), a year's petitions are planned at once from a
//! random stream of their own per agency and year, and keep their ids in every run of a seed.

use chrono::{Datelike, NaiveDate};
use parwatch_proto::EventType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::calendar::OFFICE_CLOSES;
use crate::catalogue;
use crate::dossier::{local_midnight, office_time};
use crate::governance::{Planned, timestamp};
use crate::index766::Diligence;
use crate::province::{AgencyKind, Province};

/// Mixed into the seed of petitions.
const SALT: u64 = 0x5041_4b4e_5041_4b4e;

/// Keys of petitions: these bits, then the year, the agency and a serial.
const KEY_BITS: u64 = 0b11 << 58;

/// Working days an agency has to handle a petition.
const HANDLING_DAYS: u32 = 10;

/// Share of the petitions an agency answers late that it answers within eight working days
/// after the deadline; the rest are answered much later (forgotten for a month or three, then
/// put right). The share answered in time is the agency's ([`Diligence`]).
const SOON_AFTER: f64 = 0.7;

/// Every petition event of `year`, for each agency in the months it exists.
pub(crate) fn year_events(province: &Province, seed: u64, year: i32) -> Vec<Planned> {
    let calendar = province.calendar();
    let mut out = Vec::new();
    for (index, agency) in province.agencies().iter().enumerate() {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ SALT ^ ((year as u64) << 40) ^ ((index as u64) << 8));
        let on_time = Diligence::of(seed, index).petitions_on_time;
        let soon_after = on_time + SOON_AFTER * (1.0 - on_time);
        let mut serial: u64 = 0;
        for month in 1..=12 {
            let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
                continue;
            };
            let count = match agency.kind {
                AgencyKind::Department => rng.random_range(2..=6),
                AgencyKind::District => rng.random_range(2..=5),
                AgencyKind::Commune => rng.random_range(1..=3),
            };
            for _ in 0..count {
                let day = first.with_day(rng.random_range(1..=28)).unwrap_or(first);
                if !calendar.is_working_day(day) || !agency.is_active(day) {
                    continue;
                }
                serial += 1;
                let key = KEY_BITS | ((year as u64) << 40) | ((index as u64) << 24) | (serial * 2);
                let received_at = local_midnight(day) + office_time(&mut rng);
                let due_day = calendar.add_working_days(day, HANDLING_DAYS);
                let due_at = local_midnight(due_day) + OFFICE_CLOSES;
                let petition_id = format!("PAKN-{year}-{serial:04}");
                let procedure = (rng.random::<f64>() < 0.6)
                    .then(|| {
                        let handled = catalogue::handled(province, index, day);
                        (!handled.is_empty()).then(|| handled[rng.random_range(0..handled.len())])
                    })
                    .flatten();
                let event = |at: i64, key: u64, event_type: EventType, data: serde_json::Value| {
                    let planned = Planned::new(at, key, event_type, index, data);
                    match procedure {
                        Some(p) => planned.with_procedure(p),
                        None => planned,
                    }
                };
                out.push(event(
                    received_at,
                    key,
                    EventType::PetitionReceived,
                    json!({"petition_id": petition_id, "due_at": timestamp(due_at)}),
                ));
                let fate = rng.random::<f64>();
                let answer_day = if fate < on_time {
                    calendar.add_working_days(day, rng.random_range(1..=HANDLING_DAYS))
                } else if fate < soon_after {
                    calendar.add_working_days(due_day, rng.random_range(1..=8))
                } else {
                    calendar.add_working_days(due_day, rng.random_range(20..=60))
                };
                out.push(event(
                    local_midnight(answer_day) + office_time(&mut rng),
                    key + 1,
                    EventType::PetitionAnswered,
                    json!({ "petition_id": petition_id }),
                ));
            }
        }
    }
    out
}
