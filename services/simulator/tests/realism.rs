//! Aggregate shares of whole simulated years fall within the configured bands.

use std::collections::{HashMap, HashSet};

use parwatch_proto::{Channel, EventData, local_date};
use parwatch_simulator::AgencyKind;

use crate::sample::{Sample, date, two_years, year};

struct Shares {
    received: usize,
    online: f64,
    postal: f64,
    late: f64,
    apologised: f64,
    commune: f64,
}

fn shares(sample: &Sample) -> Shares {
    let kinds: HashMap<&str, AgencyKind> = sample
        .generator
        .province()
        .agencies()
        .iter()
        .map(|a| (a.code.as_str(), a.kind))
        .collect();
    let (mut received, mut online, mut postal, mut commune) = (0, 0, 0, 0);
    let mut late = HashSet::new();
    let mut apologised = HashSet::new();
    for event in &sample.events {
        let Some(dossier) = event.dossier_id.as_deref() else {
            continue;
        };
        match event.data {
            EventData::DossierReceived { channel, .. } => {
                received += 1;
                online += usize::from(channel == Channel::Online);
                postal += usize::from(channel == Channel::Postal);
                commune += usize::from(kinds[&*event.agency_code] == AgencyKind::Commune);
            }
            EventData::DossierLate { .. } => {
                late.insert(dossier);
            }
            EventData::DossierApology { .. } => {
                apologised.insert(dossier);
            }
            _ => {}
        }
    }
    let of = |n: usize, d: usize| n as f64 / d as f64;
    Shares {
        received,
        online: of(online, received),
        postal: of(postal, received),
        late: of(late.len(), received),
        apologised: of(apologised.intersection(&late).count(), late.len()),
        commune: of(commune, received),
    }
}

#[test]
fn shares_of_2019_and_2025_are_in_band() {
    let (old, new) = (shares(&year(2019)), shares(&year(2025)));
    assert!(old.received > 15_000 && new.received > 15_000);
    assert!(old.online < 0.10, "2019 online {}", old.online);
    assert!(new.online > 0.50, "2025 online {}", new.online);
    for s in [&old, &new] {
        assert!((0.005..=0.03).contains(&s.postal), "postal {}", s.postal);
        assert!(
            (0.30..=0.90).contains(&s.apologised),
            "apologised {}",
            s.apologised
        );
    }
    assert!((0.07..=0.17).contains(&old.late), "2019 late {}", old.late);
    assert!((0.01..=0.05).contains(&new.late), "2025 late {}", new.late);
    assert!(
        (0.60..=0.70).contains(&old.commune),
        "2019 commune share {}",
        old.commune
    );
}

#[test]
fn late_share_differs_by_agency() {
    let sample = two_years();
    let mut per_agency: HashMap<&str, (usize, usize)> = HashMap::new();
    for event in &sample.events {
        let entry = per_agency.entry(&*event.agency_code).or_default();
        match event.data {
            EventData::DossierReceived { .. } => entry.0 += 1,
            EventData::DossierLate { .. } => entry.1 += 1,
            _ => {}
        }
    }
    let rates: Vec<f64> = per_agency
        .values()
        .filter(|(n, _)| *n > 500)
        .map(|&(n, l)| l as f64 / n as f64)
        .collect();
    let (lo, hi) = rates
        .iter()
        .fold((1.0f64, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    assert!(hi > 3.0 * lo, "late shares per agency span only {lo}..{hi}");
}

#[test]
fn reorganisation_of_2025_moves_dossiers() {
    let sample = year(2025);
    let province = sample.generator.province();
    let agency = |code: &str| province.agencies().iter().find(|a| a.code == code).unwrap();
    let mut after_merger_by_merged = 0;
    let mut successor_after = 0;
    for event in &sample.events {
        let EventData::DossierReceived { .. } = event.data else {
            continue;
        };
        let a = agency(&event.agency_code);
        let day = local_date(event.occurred_at);
        assert!(
            a.is_active(day),
            "{} received a dossier on {day} outside its life",
            a.code
        );
        if day >= date(2025, 7, 1) {
            assert_ne!(a.kind, AgencyKind::District);
        }
        // Merged in March (the others merged into the city's in July).
        let merged_in_march = a.active_until == Some(date(2025, 2, 28));
        if merged_in_march && a.kind == AgencyKind::Department && day >= date(2025, 3, 1) {
            after_merger_by_merged += 1;
        }
        successor_after += usize::from(a.active_from.is_some() && a.kind == AgencyKind::Department);
        // From 1 July the province's dossiers are received under the city's codes.
        if day >= date(2025, 7, 1) {
            assert!(a.code.ends_with(".H29"), "{} on {day}", a.code);
        }
    }
    assert_eq!(after_merger_by_merged, 0);
    assert!(
        successor_after > 100,
        "new departments got {successor_after} dossiers"
    );
}
