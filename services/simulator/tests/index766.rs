//! The events of the 766 index come at the magnitudes of DOMAIN.md, in 2022 and in 2025, and
//! fit their dossiers' lifecycles.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use parwatch_proto::{Event, EventData, Portal, Rating, local_date};

use crate::sample::{Sample, year};

/// The 766 figures of one simulated year.
#[derive(Debug)]
struct Rates {
    /// Shares of received dossiers: supplemented (once or more), asked twice, with components
    /// digitised.
    supplemented: f64,
    twice: f64,
    digitised: f64,
    /// Median supplement time in days, and supplements crossing a month's end.
    median_supplement_days: f64,
    across_month_end: usize,
    /// Share of digitised components reused.
    reused: f64,
    /// Share of paying dossiers (amount > 0) paid online; share of procedures with a fee.
    paid_online: f64,
    procedures_with_fee: f64,
    /// Shares of approved results issued electronically, of dossiers synced to the national
    /// portal, of resolved dossiers rated, of ratings satisfied or better.
    electronic: f64,
    synced_national: f64,
    rated: f64,
    satisfied: f64,
    /// Petitions per agency and month; share answered by their due date.
    petitions_per_agency_month: f64,
    petitions_on_time: f64,
    /// Share of catalogue facts (first per agency and procedure) fully in order.
    catalogue_in_order: f64,
}

fn share(n: usize, d: usize) -> f64 {
    n as f64 / d.max(1) as f64
}

fn rates(sample: &Sample, year: i32) -> Rates {
    let mut received = 0;
    let mut requests: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    let mut supplement_days = Vec::new();
    let mut across_month_end = 0;
    let mut digitised: HashSet<&str> = HashSet::new();
    let (mut components, mut reused) = (0, 0);
    let (mut paying, mut paid_online) = (0, 0);
    let (mut results, mut electronic) = (0, 0);
    let (mut resolved, mut national) = (0, 0);
    let (mut ratings, mut satisfied) = (0, 0);
    let mut petitions: HashMap<(&str, &str), DateTime<Utc>> = HashMap::new();
    let (mut answered_on_time, mut petition_count) = (0, 0);
    let mut catalogued: HashMap<(&str, &str), bool> = HashMap::new();
    let mut fees: HashMap<&str, bool> = HashMap::new();
    for event in &sample.events {
        let dossier = event.dossier_id.as_deref().unwrap_or_default();
        match &event.data {
            EventData::DossierReceived { .. } => received += 1,
            EventData::DossierResolved { .. } => resolved += 1,
            EventData::SupplementRequested { .. } => {
                requests.entry(dossier).or_default().push(event.occurred_at)
            }
            EventData::SupplementProvided { .. } => {
                let asked = *requests[dossier].last().expect("a request before");
                assert!(asked < event.occurred_at, "{dossier}");
                supplement_days.push((event.occurred_at - asked).num_seconds() as f64 / 86_400.0);
                across_month_end +=
                    usize::from(local_date(asked).month() != local_date(event.occurred_at).month());
            }
            EventData::ComponentDigitised { reused: r, .. } => {
                digitised.insert(dossier);
                components += 1;
                reused += usize::from(*r);
            }
            EventData::FeePaid {
                amount_vnd,
                online,
                gateway,
            } => {
                assert!(*amount_vnd > 0);
                assert_eq!(gateway.is_some(), *online);
                paying += 1;
                paid_online += usize::from(*online);
            }
            EventData::ResultIssued { electronic: e } => {
                results += 1;
                electronic += usize::from(*e);
            }
            EventData::DossierSynced { portal } => {
                national += usize::from(*portal == Portal::National)
            }
            EventData::DossierRated { rating } => {
                ratings += 1;
                satisfied += usize::from(*rating != Rating::Dissatisfied);
            }
            EventData::PetitionReceived {
                petition_id,
                due_at,
            } => {
                petitions.insert((&event.agency_code, petition_id), *due_at);
                petition_count += 1;
            }
            EventData::PetitionAnswered { petition_id } => {
                let due = petitions[&(&*event.agency_code, petition_id.as_str())];
                answered_on_time += usize::from(event.occurred_at <= due);
            }
            EventData::ProcedureCatalogued {
                published,
                publicised,
                complete,
                has_fee,
                ..
            } => {
                let procedure = event.procedure_code.as_deref().unwrap();
                catalogued
                    .entry((&event.agency_code, procedure))
                    .or_insert(*published && *publicised && *complete);
                fees.insert(procedure, *has_fee);
            }
            _ => {}
        }
    }
    let twice = requests.values().filter(|r| r.len() > 1).count();
    supplement_days.sort_by(f64::total_cmp);
    // Months each agency exists in (on their 15th).
    let agency_months = sample
        .generator
        .province()
        .agencies()
        .iter()
        .map(|a| {
            (1..=12)
                .filter_map(|m| NaiveDate::from_ymd_opt(year, m, 15))
                .filter(|d| a.is_active(*d))
                .count()
        })
        .sum::<usize>();
    Rates {
        supplemented: share(requests.len(), received),
        twice: share(twice, requests.len()),
        digitised: share(digitised.len(), received),
        median_supplement_days: supplement_days[supplement_days.len() / 2],
        across_month_end,
        reused: share(reused, components),
        paid_online: share(paid_online, paying),
        procedures_with_fee: share(fees.values().filter(|f| **f).count(), fees.len()),
        electronic: share(electronic, results),
        synced_national: share(national, received),
        rated: share(ratings, resolved),
        satisfied: share(satisfied, ratings),
        petitions_per_agency_month: share(petition_count, agency_months),
        petitions_on_time: share(answered_on_time, petition_count),
        catalogue_in_order: share(
            catalogued.values().filter(|ok| **ok).count(),
            catalogued.len(),
        ),
    }
}

/// Every dossier's procedure at its agency was catalogued before the dossier came in.
fn catalogued_before_dossiers(events: &[Event<'static>]) {
    let mut catalogued: HashMap<(&str, &str), DateTime<Utc>> = HashMap::new();
    for event in events {
        let key = (
            &*event.agency_code,
            event.procedure_code.as_deref().unwrap_or_default(),
        );
        match event.data {
            EventData::ProcedureCatalogued { .. } => {
                catalogued.entry(key).or_insert(event.occurred_at);
            }
            EventData::DossierReceived { .. } => assert!(
                catalogued
                    .get(&key)
                    .is_some_and(|at| *at <= event.occurred_at),
                "{key:?} not catalogued before {:?}",
                event.dossier_id
            ),
            _ => {}
        }
    }
}

#[test]
fn the_766_events_come_at_their_magnitudes_in_2022_and_2025() {
    let (old, new) = (year(2022), year(2025));
    let (r22, r25) = (rates(&old, 2022), rates(&new, 2025));
    println!("2022: {r22:#?}\n2025: {r25:#?}");
    for r in [&r22, &r25] {
        assert!((0.05..=0.10).contains(&r.supplemented), "{r:?}");
        assert!((0.03..=0.25).contains(&r.twice), "{r:?}");
        assert!((0.5..=5.0).contains(&r.median_supplement_days), "{r:?}");
        assert!(r.across_month_end > 10, "{r:?}");
        assert!((0.2..=0.5).contains(&r.procedures_with_fee), "{r:?}");
        assert!(r.synced_national >= 0.9, "{r:?}");
        assert!((0.05..=0.4).contains(&r.rated), "{r:?}");
        assert!((0.9..=0.98).contains(&r.satisfied), "{r:?}");
        assert!((0.5..=4.0).contains(&r.petitions_per_agency_month), "{r:?}");
        assert!((0.8..=0.97).contains(&r.petitions_on_time), "{r:?}");
        assert!((0.8..1.0).contains(&r.catalogue_in_order), "{r:?}");
    }
    assert!((0.55..=0.70).contains(&r22.digitised), "{r22:?}");
    assert!((0.78..=0.88).contains(&r25.digitised), "{r25:?}");
    assert!((0.12..=0.30).contains(&r22.paid_online), "{r22:?}");
    assert!((0.50..=0.70).contains(&r25.paid_online), "{r25:?}");
    assert!((0.03..=0.12).contains(&r22.reused), "{r22:?}");
    assert!((0.2..=0.4).contains(&r25.reused), "{r25:?}");
    assert!(
        r22.electronic < 0.35 && r25.electronic > 0.6,
        "{r22:?} {r25:?}"
    );
    assert!(r25.synced_national >= 0.95, "{r25:?}");
    catalogued_before_dossiers(&old.events);
    catalogued_before_dossiers(&new.events);
}
