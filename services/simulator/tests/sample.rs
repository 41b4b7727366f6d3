//! Generated samples shared by the tests, validated once.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::NaiveDate;
use parwatch_proto::{Event, validate};
use parwatch_simulator::{Generator, Malformation, Mode, SimEvent, SimOptions};

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A generated sample: the raw events, and the valid ones parsed by the contract's validator.
pub(crate) struct Sample {
    pub(crate) raw: Vec<SimEvent>,
    pub(crate) events: Vec<Event<'static>>,
    pub(crate) generator: Generator,
}

impl Sample {
    fn generate(options: SimOptions) -> Sample {
        let raw: Vec<SimEvent> = Generator::new(&options).unwrap().collect();
        let events = raw
            .iter()
            .filter(|e| e.malformation.is_none())
            .map(|e| {
                validate(e.subject, &e.body)
                    .unwrap_or_else(|r| panic!("{r}: {}", String::from_utf8_lossy(&e.body)))
                    .into_owned()
            })
            .collect();
        Sample {
            generator: Generator::new(&options).unwrap(),
            raw,
            events,
        }
    }

    /// Valid dossier events grouped by dossier, in time order.
    pub(crate) fn dossiers(&self) -> HashMap<&str, Vec<&Event<'_>>> {
        let mut dossiers: HashMap<&str, Vec<&Event<'_>>> = HashMap::new();
        for event in &self.events {
            if let Some(dossier) = event.dossier_id.as_deref() {
                dossiers.entry(dossier).or_default().push(event);
            }
        }
        dossiers
    }
}

/// Two years (2023–2024) at a small scale with 2% malformed events: ~150,000 events.
pub(crate) fn two_years() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        Sample::generate(SimOptions {
            seed: 2024,
            scale: 120,
            invalid_share: 0.02,
            limit: None,
            mode: Mode::Backfill {
                from: date(2023, 1, 1),
                to: Some(date(2024, 12, 31)),
            },
        })
    })
}

/// One whole year at a small scale, no malformed events.
pub(crate) fn year(year: i32) -> Sample {
    Sample::generate(SimOptions {
        scale: 80,
        ..SimOptions::backfill(7, date(year, 1, 1), date(year, 12, 31))
    })
}

/// Malformations of a sample, counted.
pub(crate) fn malformations(sample: &Sample) -> HashMap<Malformation, usize> {
    let mut counts = HashMap::new();
    for event in &sample.raw {
        if let Some(m) = event.malformation {
            *counts.entry(m).or_default() += 1;
        }
    }
    counts
}

/// `events` stored in a lake (commits of 50,000, in order) and folded by the metrics: the
/// projector, and the lake's folder (kept while it lives).
pub(crate) fn folded(
    events: &[Event<'static>],
) -> (tempfile::TempDir, parwatch_metrics::Projector) {
    use parwatch_lake::{Commit, Lake, LakeLocation, StoredEvent};
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    let stored: Vec<StoredEvent<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, event)| StoredEvent {
            event: event.clone(),
            stream_seq: i as u64 + 1,
        })
        .collect();
    for chunk in stored.chunks(50_000) {
        let commit = Commit {
            events: chunk.to_vec(),
            rejected: vec![],
        };
        lake.write(&commit, chrono::Utc::now(), &mut Default::default())
            .unwrap();
    }
    let projector = parwatch_metrics::Projector::new(lake);
    projector.catch_up(&mut |_, _| {}).unwrap();
    (tmp, projector)
}
