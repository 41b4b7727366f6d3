//! Every generated event validates against the contract, except the intended malformed ones,
//! which are all rejected with the fault they were made to have.

use parwatch_proto::{EventType, validate};
use parwatch_simulator::{Generator, Malformation, Mode, SimOptions};

use crate::sample::{date, malformations, two_years};

#[test]
fn valid_events_validate_and_cover_every_type() {
    let sample = two_years();
    assert!(
        sample.events.len() > 100_000,
        "{} events",
        sample.events.len()
    );
    // Registry events come with the 2025 reorganisation (see `registry.rs`), after the sample.
    for &t in EventType::ALL.iter().filter(|t| !t.is_registry()) {
        assert!(
            sample.events.iter().any(|e| e.event_type() == t),
            "no {t} event"
        );
    }
    for (raw, event) in sample
        .raw
        .iter()
        .filter(|e| e.malformation.is_none())
        .zip(&sample.events)
    {
        assert_eq!(raw.event_id, event.event_id);
        assert_eq!(raw.occurred_at, event.occurred_at);
    }
}

#[test]
fn malformed_events_are_rejected_with_their_fault() {
    let sample = two_years();
    let counts = malformations(sample);
    assert_eq!(
        counts.len(),
        Malformation::ALL.len(),
        "kinds seen: {counts:?}"
    );
    for event in sample.raw.iter() {
        let Some(malformation) = event.malformation else {
            continue;
        };
        let rejection = validate(event.subject, &event.body).expect_err(&event.event_id);
        assert_eq!(
            rejection.fault,
            malformation.expected_fault(),
            "{malformation:?}: {rejection}"
        );
    }
    let share = counts.values().sum::<usize>() as f64 / sample.raw.len() as f64;
    assert!((0.017..0.023).contains(&share), "malformed share {share}");
}

#[test]
fn limit_counts_every_event() {
    let options = SimOptions {
        limit: Some(1_234),
        invalid_share: 0.1,
        mode: Mode::Backfill {
            from: date(2024, 5, 6),
            to: None,
        },
        ..SimOptions::backfill(3, date(2024, 1, 1), date(2024, 1, 1))
    };
    assert_eq!(Generator::new(&options).unwrap().count(), 1_234);
}

#[test]
fn options_out_of_range_are_refused() {
    let base = SimOptions::backfill(1, date(2024, 1, 2), date(2024, 1, 1));
    assert!(
        Generator::new(&base)
            .unwrap_err()
            .to_string()
            .contains("to")
    );
    let share = SimOptions {
        invalid_share: 0.9,
        ..SimOptions::backfill(1, date(2024, 1, 1), date(2024, 1, 2))
    };
    assert!(
        Generator::new(&share)
            .unwrap_err()
            .to_string()
            .contains("invalid_share")
    );
}
