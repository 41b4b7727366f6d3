//! The 2025 reorganisation as registry events: published when decided, before they take effect,
//! the same in every run, and folded by the metrics into a registry whose units of each date
//! are the simulated province's agencies of that date.

use std::collections::BTreeSet;

use parwatch_lake::{Commit, Lake, StoredEvent};
use parwatch_metrics::Projector;
use parwatch_proto::{AgencyKind, EventData, EventType, local_date, validate};
use parwatch_simulator::{Generator, SimOptions};

use crate::sample::date;

#[test]
fn the_reorganisation_is_published_as_registry_events() {
    let options = SimOptions {
        scale: 5,
        ..SimOptions::backfill(7, date(2025, 1, 1), date(2025, 12, 31))
    };
    let raw: Vec<_> = Generator::new(&options).unwrap().collect();
    let again: Vec<_> = Generator::new(&options).unwrap().collect();
    assert_eq!(raw, again, "the same events in every run");
    let events: Vec<_> = raw
        .iter()
        .map(|e| validate(e.subject, &e.body).unwrap().into_owned())
        .collect();
    let registry: Vec<_> = events
        .iter()
        .filter(|e| e.event_type().is_registry())
        .collect();
    let count = |ty: EventType| registry.iter().filter(|e| e.event_type() == ty).count();
    // The model: 7 departments merged into others (2 of them new), 8 districts abolished, 112
    // old communes merged into 40 new ones.
    let province = Generator::new(&options).unwrap().province().clone();
    let agencies = province.agencies();
    let ended = |kind, successor: bool| {
        agencies
            .iter()
            .filter(|a| {
                a.kind == kind && a.active_until.is_some() && a.successor.is_some() == successor
            })
            .count()
    };
    assert_eq!(
        count(EventType::AgencyMerged),
        ended(AgencyKind::Department, true) + ended(AgencyKind::Commune, true)
    );
    assert_eq!(count(EventType::AgencyMerged), 7 + 8 * 14);
    assert_eq!(count(EventType::AgencyDissolved), 8);
    assert_eq!(count(EventType::AgencyRegistered), 2 + 40);
    assert_eq!(registry.len(), 7 + 112 + 8 + 42);
    for event in &registry {
        let effective = match &event.data {
            EventData::AgencyRegistered { effective_date, .. }
            | EventData::AgencyMerged { effective_date, .. }
            | EventData::AgencyDissolved { effective_date, .. } => *effective_date,
            other => panic!("not a type of the reorganisation: {other:?}"),
        };
        assert!(
            local_date(event.occurred_at) < effective,
            "decided before it takes effect"
        );
        assert!([date(2025, 3, 1), date(2025, 7, 1)].contains(&effective));
    }

    // Folded by the metrics, the units of each date are the model's agencies of that date that
    // the events name.
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&parwatch_lake::LakeLocation::local(tmp.path()).unwrap()).unwrap();
    let stored: Vec<StoredEvent<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, event)| StoredEvent {
            event: event.clone(),
            stream_seq: i as u64 + 1,
        })
        .collect();
    let commit = Commit {
        events: stored,
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();
    let projector = Projector::new(lake);
    projector.catch_up(&mut |_, _| {}).unwrap();
    let rollups = projector.rollups();
    let named: BTreeSet<&str> = events
        .iter()
        .flat_map(|e| std::iter::once(&*e.agency_code).chain(e.data.named_agencies()))
        .collect();
    for day in [
        date(2025, 2, 28),
        date(2025, 3, 1),
        date(2025, 6, 30),
        date(2025, 7, 1),
    ] {
        let model: Vec<&str> = agencies
            .iter()
            .filter(|a| a.is_active(day) && named.contains(a.code.as_str()))
            .map(|a| a.code.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(rollups.units_on(day), model, "{day}");
    }
    let lineage = rollups.lineage();
    assert_eq!(lineage.len(), 7 + 112 + 8);
    assert!(lineage.iter().all(|e| !e.estimated));
}
