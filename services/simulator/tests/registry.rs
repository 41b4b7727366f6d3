//! The 2025 reorganisation as registry events: published when decided, before they take effect,
//! the same in every run, and folded by the metrics into a registry whose units of each date
//! are the simulated province's agencies of that date, with mergers and partial splits, and the
//! province's merger into Ho Chi Minh City under the city's codes.

use std::collections::BTreeSet;

use parwatch_metrics::{Bucket, metric};
use parwatch_proto::{AgencyKind, EventData, EventType, local_date, validate};
use parwatch_simulator::{Generator, SimOptions};

use crate::sample::{date, folded};

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
    // The model: 7 departments merged into others (2 of them new); 112 old communes merged into
    // 40 new ones, 10 of them split between two (groups of 3: the last of every fourth group of
    // the 38 but the last); 8 districts abolished, each split between its area's new communes;
    // on 1 July the 13 departments left merged into the city's 13, registered that day, and
    // the province's people's committee and service centre into the city's, registered too.
    let province = Generator::new(&options).unwrap().province().clone();
    let agencies = province.agencies();
    let split = agencies.iter().filter(|a| a.split_to.is_some()).count();
    assert_eq!(split, 10);
    assert_eq!(count(EventType::AgencySplit), split + 8);
    assert_eq!(count(EventType::AgencyMerged), 7 + 8 * 14 - split + 13 + 2);
    assert_eq!(count(EventType::AgencyDissolved), 0);
    assert_eq!(count(EventType::AgencyRegistered), 2 + 40 + 13 + 2);
    assert_eq!(registry.len(), 7 + 112 + 8 + 42 + 2 * 13 + 4);
    let [(province_code, ..), (city, ..)] = province.province_level();
    // The city's units name the city as their parent, and rest on the resolution.
    for event in &registry {
        if let EventData::AgencyRegistered { parent, basis, .. } = &event.data
            && event.agency_code.ends_with(".H29")
            && event.agency_code != city
        {
            assert_eq!(parent.as_deref(), Some(city), "{}", event.agency_code);
            let department = event.agency_code.starts_with("000.00.");
            let expected = if department {
                "202/2025/QH15"
            } else {
                "1656/NQ-UBTVQH15"
            };
            assert_eq!(basis, expected, "{}", event.agency_code);
        }
    }
    for event in &registry {
        let effective = match &event.data {
            EventData::AgencyRegistered { effective_date, .. }
            | EventData::AgencyMerged { effective_date, .. }
            | EventData::AgencySplit { effective_date, .. }
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
    let (_tmp, projector) = folded(&events);
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
        let people_committee = if day < date(2025, 7, 1) {
            province_code
        } else {
            city
        };
        // The service centre receiving for the departments then (named by receipts only).
        let centre = province.service_centres()[usize::from(day >= date(2025, 7, 1))].0;
        let model: Vec<&str> = agencies
            .iter()
            .filter(|a| a.is_active(day) && named.contains(a.code.as_str()))
            .map(|a| a.code.as_str())
            .chain([people_committee, centre])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(rollups.units_on(day), model, "{day}");
    }
    // A split commune gives two edges, 0.6 to its own successor and 0.4 to the next; a district
    // one edge per new commune its communes went to, with estimated weights summing to 1.
    let lineage = rollups.lineage();
    let weights: Vec<f64> = lineage
        .iter()
        .filter(|e| e.kind == "split" && !e.estimated)
        .filter_map(|e| e.weight)
        .collect();
    assert_eq!(weights.len(), 2 * split);
    assert!(weights.chunks(2).all(|w| w == [0.6, 0.4]), "{weights:?}");
    let mut district_edges = 0;
    for district in agencies.iter().filter(|a| a.kind == AgencyKind::District) {
        let area: BTreeSet<&str> = agencies
            .iter()
            .filter(|a| a.district.as_ref() == Some(&district.code))
            .flat_map(|a| a.successor.iter().chain(a.split_to.iter().map(|(c, _)| c)))
            .map(String::as_str)
            .collect();
        let edges: Vec<_> = lineage
            .iter()
            .filter(|e| e.agency_code == district.code)
            .collect();
        let targets: BTreeSet<&str> = edges
            .iter()
            .filter_map(|e| e.successor_code.as_deref())
            .collect();
        assert_eq!(targets, area, "{}", district.code);
        assert!(edges.iter().all(|e| e.estimated && e.weight > Some(0.0)));
        let sum: f64 = edges.iter().filter_map(|e| e.weight).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{}: {sum}", district.code);
        district_edges += edges.len();
    }
    assert!(district_edges >= 8 * 4, "{district_edges}");
    assert_eq!(lineage.len(), 7 + 112 + split + district_edges + 13 + 2);

    // Nothing is dissolved without successor: restated to the units of August, the first
    // half-year's dossiers are all still there, shared out between the new units.
    let received = metric("received").unwrap();
    let total = |restated: bool| {
        let (from, to) = (date(2025, 1, 1), date(2025, 6, 30));
        let series = match restated {
            true => rollups.restated_series(
                received,
                from,
                to,
                Bucket::Year,
                None,
                false,
                date(2025, 8, 1),
            ),
            false => rollups.series(received, from, to, Bucket::Year, None, false),
        };
        series.unwrap()[0].points[0].numerator
    };
    assert!(total(false).is_some_and(|n| n > 300), "{:?}", total(false));
    assert_eq!(total(true), total(false));

    // From 1 July the province's dossiers are received under the city's codes: restated to the
    // units of 2026, the departments ranked are the city's and take the whole year's dossiers
    // of the province's departments.
    let department_codes: BTreeSet<&str> = agencies
        .iter()
        .filter(|a| a.kind == AgencyKind::Department)
        .map(|a| a.code.as_str())
        .collect();
    let department_received = |code: &str| department_codes.contains(code);
    let after: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.event_type() == EventType::DossierReceived)
        .filter(|e| local_date(e.occurred_at) >= date(2025, 7, 1))
        .map(|e| &*e.agency_code)
        .filter(|c| department_received(c))
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|c| c.ends_with(".H29")),
        "{after:?}"
    );
    let year = (date(2025, 1, 1), date(2025, 12, 31));
    let ranking = rollups
        .restated_ranking(received, year.0, year.1, date(2026, 1, 1))
        .unwrap();
    let departments: Vec<_> = ranking
        .rows
        .iter()
        .filter(|r| department_received(&r.agency_code))
        .collect();
    assert_eq!(departments.len(), 13);
    assert!(departments.iter().all(|r| r.agency_code.ends_with(".H29")));
    let restated: i64 = departments.iter().filter_map(|r| r.numerator).sum();
    let recorded: i64 = rollups
        .ranking(received, year.0, year.1)
        .unwrap()
        .rows
        .iter()
        .filter(|r| department_received(&r.agency_code))
        .filter_map(|r| r.numerator)
        .sum();
    assert_eq!(restated, recorded);

    // The roles (issue #23): every district's receipt names a commune of its district, and by
    // area the first half-year's dossiers restated to August are all still there (a district's
    // through its communes); departments' dossiers handed in at a counter name the centre.
    for e in events
        .iter()
        .filter(|e| e.event_type() == EventType::DossierReceived)
    {
        let EventData::DossierReceived {
            channel,
            receiving_agency_code,
            area_code,
            ..
        } = &e.data
        else {
            unreachable!()
        };
        let agency = agencies.iter().find(|a| a.code == *e.agency_code).unwrap();
        let area = area_code
            .as_ref()
            .map(|code| agencies.iter().find(|a| &a.code == code).unwrap());
        match agency.kind {
            AgencyKind::District => {
                assert_eq!(area.unwrap().district.as_ref(), Some(&agency.code));
            }
            AgencyKind::Department => assert!(area.unwrap().kind == AgencyKind::Commune),
            AgencyKind::Commune => assert!(area.is_none()),
        }
        if let Some(code) = receiving_agency_code {
            let centres = province.service_centres().map(|c| c.0);
            assert!(agency.kind == AgencyKind::Department && centres.contains(&code.as_str()));
            assert_ne!(*channel, parwatch_proto::Channel::Online);
        }
    }
    let by_area = rollups.in_role(parwatch_metrics::DossierRole::Area);
    let half = (date(2025, 1, 1), date(2025, 6, 30));
    let area_total = by_area
        .restated_series(
            received,
            half.0,
            half.1,
            Bucket::Year,
            None,
            false,
            date(2025, 8, 1),
        )
        .unwrap()[0]
        .points[0]
        .numerator;
    assert_eq!(area_total, total(false));
    let at_centre = rollups
        .in_role(parwatch_metrics::DossierRole::Receiving)
        .summary(
            received,
            half.0,
            half.1,
            Some(province.service_centres()[0].0),
        )
        .unwrap()
        .numerator;
    assert!(at_centre.is_some_and(|n| n > 0), "{at_centre:?}");
}
