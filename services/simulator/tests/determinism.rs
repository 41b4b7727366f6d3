//! The same seed and options give byte-identical events; another seed gives others.

use parwatch_simulator::{Generator, Mode, SimEvent, SimOptions};

use crate::sample::date;

fn run(seed: u64) -> Vec<SimEvent> {
    let options = SimOptions {
        seed,
        scale: 300,
        invalid_share: 0.05,
        limit: Some(30_000),
        mode: Mode::Backfill {
            from: date(2024, 1, 1),
            to: None,
        },
    };
    Generator::new(&options).unwrap().collect()
}

#[test]
fn same_seed_same_bytes() {
    let (a, b) = (run(11), run(11));
    assert_eq!(a.len(), 30_000);
    assert_eq!(a, b);
}

#[test]
fn other_seed_other_events() {
    let (a, b) = (run(11), run(12));
    let same_ids = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.event_id == y.event_id)
        .count();
    assert_eq!(same_ids, 0);
    assert_ne!(
        a.iter().map(|e| &e.body).collect::<Vec<_>>(),
        b.iter().map(|e| &e.body).collect::<Vec<_>>()
    );
}

#[test]
fn ids_are_unique() {
    let events = run(13);
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
}
