//! Live mode: dossiers arrive steadily from "now" at about the requested rate.

use std::time::Duration;

use chrono::{DateTime, Utc};
use parwatch_simulator::{Generator, Mode, SimOptions};

use crate::sample::date;

#[test]
fn live_events_stay_in_their_window_at_the_rate() {
    let start: DateTime<Utc> = "2025-03-04T02:00:00Z".parse().unwrap();
    let options = SimOptions {
        mode: Mode::Live {
            start,
            rate: 500.0,
            duration: Duration::from_secs(60),
        },
        ..SimOptions::backfill(5, date(2025, 1, 1), date(2025, 1, 1))
    };
    let events: Vec<_> = Generator::new(&options).unwrap().collect();
    let end = start + chrono::Duration::seconds(60);
    assert!(
        events
            .iter()
            .all(|e| e.occurred_at >= start && e.occurred_at < end)
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at)
    );
    let rate = events.len() as f64 / 60.0;
    assert!((400.0..=600.0).contains(&rate), "{rate} events/s");
}

#[test]
fn live_runs_started_at_different_times_share_no_event_id() {
    let run = |start: &str| {
        let options = SimOptions {
            mode: Mode::Live {
                start: start.parse().unwrap(),
                rate: 200.0,
                duration: Duration::from_secs(10),
            },
            ..SimOptions::backfill(5, date(2025, 1, 1), date(2025, 1, 1))
        };
        Generator::new(&options)
            .unwrap()
            .map(|e| e.event_id)
            .collect::<std::collections::HashSet<_>>()
    };
    let (a, b) = (run("2025-03-04T02:00:00Z"), run("2025-03-04T02:05:00Z"));
    assert!(!a.is_empty() && a.is_disjoint(&b));
}
