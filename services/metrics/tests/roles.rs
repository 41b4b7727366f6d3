//! The roles of an agency on a dossier folded from real events: each dossier counted under its
//! competent agency, its receiving point or its commune area; the same whatever the arrival
//! order, after a snapshot and when dossiers went cold; the roles in SQL's `dossiers`; and no
//! change at all for receipts naming no role.
//!
//! January 2025, received on the 6th, due on the 11th:
//!
//! | dossier | competent | receiving | area | on time |
//! |---|---|---|---|---|
//! | X-0, X-1 | department X | centre S | commune A | yes, no |
//! | X-2 | department X | – (X) | commune B | yes |
//! | D-0 | district D | – (D) | commune A | no |
//! | A-0 | commune A | – | A (names itself) | yes |

use chrono::Duration;
use datafusion::arrow::array::AsArray;
use parwatch_lake::QueryEngine;
use parwatch_metrics::{
    Bucket, DossierRole, Eviction, Projector, Rollups, metric, register_tables,
};
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{Channel, Outcome};

use crate::common::{arrival_orders, date, event, lake_with, projector};

/// A dossier received on 2025-01-06 at 08:00 local (due 5 days later) naming `receiving` and
/// `area`, and resolved on time or 10 days after its due date.
fn dossier(
    agency: &str,
    id: &str,
    receiving: Option<&str>,
    area: Option<&str>,
    on_time: bool,
) -> [TestEvent; 2] {
    let at = chrono::DateTime::parse_from_rfc3339("2025-01-06T08:00:00+07:00").unwrap();
    let mut received = TestEvent::received(Channel::Counter)
        .agency(agency)
        .dossier(id)
        .at(at)
        .due(at + Duration::days(5));
    if let Some(code) = receiving {
        received = received.receiving(code);
    }
    if let Some(code) = area {
        received = received.area(code);
    }
    let resolved = TestEvent::resolved(Outcome::Approved)
        .agency(agency)
        .dossier(id)
        .at(at + Duration::days(if on_time { 2 } else { 15 }));
    [received, resolved]
}

fn case() -> Vec<TestEvent> {
    [
        dossier("X", "X-0", Some("S"), Some("A"), true),
        dossier("X", "X-1", Some("S"), Some("A"), false),
        dossier("X", "X-2", None, Some("B"), true),
        dossier("D", "D-0", Some("D"), Some("A"), false),
        dossier("A", "A-0", None, Some("A"), true),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// (agency, resolved on time, resolved with a receipt) of January in `role`, by agency.
fn on_time(p: &Rollups, role: DossierRole) -> Vec<(String, i64, i64)> {
    let p = p.in_role(role);
    let jan = (date("2025-01-01"), date("2025-01-31"));
    let series = p
        .series(
            metric("on_time_rate").unwrap(),
            jan.0,
            jan.1,
            Bucket::Month,
            None,
            true,
        )
        .unwrap();
    series
        .into_iter()
        .map(|s| {
            let point = &s.points[0];
            (
                s.agency_code.unwrap(),
                point.numerator.unwrap(),
                point.denominator.unwrap(),
            )
        })
        .filter(|(_, _, d)| *d > 0)
        .collect()
}

fn row(code: &str, n: i64, d: i64) -> (String, i64, i64) {
    (code.to_owned(), n, d)
}

#[test]
fn dossiers_are_counted_under_the_agency_of_each_role() {
    let events = case();
    for order in arrival_orders(events.len()) {
        // One commit per event: receipts and results arrive in files of their own.
        let groups = order.iter().map(|&i| vec![event(i, &events[i])]).collect();
        let (_tmp, lake) = lake_with(groups);
        let projector = projector(&lake);
        let p = projector.rollups();
        assert_eq!(
            on_time(&p, DossierRole::Competent),
            [row("A", 1, 1), row("D", 0, 1), row("X", 2, 3)],
            "{order:?}"
        );
        assert_eq!(
            on_time(&p, DossierRole::Receiving),
            [
                row("A", 1, 1),
                row("D", 0, 1),
                row("S", 1, 2),
                row("X", 1, 1)
            ],
            "{order:?}"
        );
        assert_eq!(
            on_time(&p, DossierRole::Area),
            [row("A", 2, 4), row("B", 1, 1)],
            "{order:?}"
        );
        // The agencies' own work and the volumes add up to the same in every role.
        let received = |role| {
            p.in_role(role)
                .summary(
                    metric("received").unwrap(),
                    date("2025-01-01"),
                    date("2025-01-31"),
                    None,
                )
                .unwrap()
                .numerator
        };
        assert_eq!(received(DossierRole::Area), Some(5));
        assert_eq!(received(DossierRole::Receiving), Some(5));
    }
}

#[test]
fn roles_survive_a_snapshot_and_cold_storage_and_show_in_sql() {
    let events: Vec<_> = case()
        .iter()
        .enumerate()
        .map(|(i, e)| event(i, e))
        .collect();
    let (tmp, lake) = lake_with(vec![events]);
    let cold = Projector::new(lake.clone()).with_eviction(Eviction {
        after_days: 0,
        batch: 0,
        dir: tmp.path().to_owned(),
    });
    cold.catch_up(&mut |_, _| {}).unwrap();
    assert!(cold.read().hot_dossier_count() < cold.read().dossier_count());
    let folded = projector(&lake);
    for role in DossierRole::ALL {
        assert_eq!(
            on_time(&cold.rollups(), *role),
            on_time(&folded.rollups(), *role),
            "{role:?}"
        );
    }
    folded.save().unwrap();
    let restored = Projector::load(lake.clone()).unwrap();
    assert_eq!(
        restored.catch_up(&mut |_, _| {}).unwrap(),
        0,
        "nothing refolded"
    );
    for role in DossierRole::ALL {
        assert_eq!(
            on_time(&restored.rollups(), *role),
            on_time(&folded.rollups(), *role),
            "{role:?}"
        );
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = QueryEngine::new(&lake).unwrap();
    register_tables(&engine, folded).unwrap();
    let answer = runtime
        .block_on(engine.sql(
            "SELECT dossier_id, agency_code, receiving_agency_code, area_code FROM dossiers \
             ORDER BY dossier_id",
        ))
        .unwrap();
    let batch = &answer.batches[0];
    let text = |c: usize, i: usize| batch.column(c).as_string::<i32>().value(i).to_owned();
    let rows: Vec<[String; 4]> = (0..batch.num_rows())
        .map(|i| [text(0, i), text(1, i), text(2, i), text(3, i)])
        .collect();
    let expected = [
        ["A-0", "A", "A", "A"],
        ["D-0", "D", "D", "A"],
        ["X-0", "X", "S", "A"],
        ["X-1", "X", "S", "A"],
        ["X-2", "X", "X", "B"],
    ];
    assert_eq!(rows, expected.map(|r| r.map(str::to_owned)));
}

/// A key spelled with an escape is the same key: such a receipt is read back whole.
#[test]
fn a_role_spelled_with_escapes_is_read() {
    let body = r#"{"event_id":"esc","type":"dossier.received","schema_version":1,
        "occurred_at":"2025-01-06T08:00:00+07:00","source":"s","agency_code":"D",
        "dossier_id":"D-esc","data":{"channel":"counter","due_at":"2025-01-11T08:00:00+07:00",
        "\u0061rea\u005fcode":"A"}}"#;
    let event = parwatch_proto::validate("par.events.v1.dossier.received", body.as_bytes())
        .unwrap()
        .into_owned();
    assert!(
        event.data_json.contains(r"\u0061rea"),
        "stored as published"
    );
    let stored = parwatch_lake::StoredEvent {
        event,
        stream_seq: 1,
    };
    let (_tmp, lake) = lake_with(vec![vec![stored]]);
    let projector = projector(&lake);
    let received = |role| {
        projector
            .rollups()
            .in_role(role)
            .summary(
                metric("received").unwrap(),
                date("2025-01-01"),
                date("2025-01-31"),
                Some("A"),
            )
            .unwrap()
            .numerator
    };
    assert_eq!(received(DossierRole::Area), Some(1));
    assert_eq!(received(DossierRole::Competent), Some(0));
}

#[test]
fn receipts_naming_no_role_change_nothing() {
    let events: Vec<_> = case()
        .into_iter()
        .filter(|e| !e.json()["dossier_id"].as_str().unwrap().starts_with('X'))
        .chain(dossier("X", "X-9", Some("X"), None, true))
        .enumerate()
        .map(|(i, e)| event(i, &e))
        .collect();
    let (_tmp, lake) = lake_with(vec![events]);
    let projector = projector(&lake);
    let p = projector.rollups();
    // D-0 names commune A: the area view exists and moves it.
    assert!(matches!(
        p.in_role(DossierRole::Area),
        std::borrow::Cow::Owned(_)
    ));
    // Nobody names another receiving point (X-9 names its own agency): the same rollups.
    assert!(matches!(
        p.in_role(DossierRole::Receiving),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(
        on_time(&p, DossierRole::Receiving),
        on_time(&p, DossierRole::Competent)
    );
    assert_eq!(
        on_time(&p, DossierRole::Area),
        [row("A", 1, 2), row("X", 1, 1)]
    );
}
