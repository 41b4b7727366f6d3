//! A small province worked out by hand: every metric's exact values, with the edge cases of
//! metrics-v1 (local midnight, several events of one type, resolved without received, apology
//! after due, events out of order, month/quarter/ISO-week edges).

use parwatch_metrics::{Bucket, Projection, metric};
use serde_json::json;

use crate::common::{Spec, arrival_orders, count, date, event, lake_with, projector, rate, values};

fn received(channel: &str, due: &str) -> serde_json::Value {
    match channel {
        "online-full" => json!({"channel": "online", "online_mode": "full", "due_at": due}),
        "online-partial" => json!({"channel": "online", "online_mode": "partial", "due_at": due}),
        other => json!({"channel": other, "due_at": due}),
    }
}

fn province() -> Vec<Spec<'static>> {
    let r = "dossier.received";
    vec![
        // received 31 Mar 23:30 local online/full; a later second receipt (counter) does
        // not count; resolved on time, digitised.
        (
            "A",
            "A-1",
            r,
            "2024-03-31T23:30:00+07:00",
            received("online-full", "2024-04-02T17:00:00+07:00"),
        ),
        (
            "A",
            "A-1",
            r,
            "2024-04-01T08:00:00+07:00",
            received("counter", "2024-04-05T17:00:00+07:00"),
        ),
        (
            "A",
            "A-1",
            "dossier.resolved",
            "2024-04-02T16:00:00+07:00",
            json!({"outcome": "approved", "digitized": true}),
        ),
        // received at local midnight 1 Apr; two late files; the apology that comes first
        // in time (timely) arrives last; resolved late, not digitised.
        (
            "A",
            "A-2",
            r,
            "2024-04-01T00:00:00+07:00",
            received("counter", "2024-04-03T17:00:00+07:00"),
        ),
        (
            "A",
            "A-2",
            "dossier.late",
            "2024-04-05T17:00:00+07:00",
            json!({"due_at": "2024-04-05T17:00:00+07:00"}),
        ),
        (
            "A",
            "A-2",
            "dossier.late",
            "2024-04-03T17:00:00+07:00",
            json!({"due_at": "2024-04-03T17:00:00+07:00"}),
        ),
        (
            "A",
            "A-2",
            "dossier.apology",
            "2024-04-04T09:00:00+07:00",
            json!({"new_due_at": "2024-04-08T17:00:00+07:00"}),
        ),
        (
            "A",
            "A-2",
            "dossier.resolved",
            "2024-04-08T10:00:00+07:00",
            json!({"outcome": "approved", "digitized": false}),
        ),
        (
            "A",
            "A-2",
            "dossier.apology",
            "2024-04-03T10:00:00+07:00",
            json!({"new_due_at": "2024-04-05T17:00:00+07:00"}),
        ),
        // resolved without a receipt.
        (
            "A",
            "A-3",
            "dossier.resolved",
            "2024-04-02T09:00:00+07:00",
            json!({"outcome": "rejected"}),
        ),
        // B-1: postal, late without apology, never resolved (overdue from 1 Apr).
        (
            "B",
            "B-1",
            r,
            "2024-03-30T10:00:00+07:00",
            received("postal", "2024-04-01T17:00:00+07:00"),
        ),
        (
            "B",
            "B-1",
            "dossier.late",
            "2024-04-01T17:00:00+07:00",
            json!({"due_at": "2024-04-01T17:00:00+07:00"}),
        ),
        // B-2: received on the last evening of Q2, resolved in Q3 on time.
        (
            "B",
            "B-2",
            r,
            "2024-06-30T20:00:00+07:00",
            received("online-partial", "2024-07-02T17:00:00+07:00"),
        ),
        (
            "B",
            "B-2",
            "dossier.resolved",
            "2024-07-01T08:00:00+07:00",
            json!({"outcome": "approved", "digitized": true}),
        ),
        // C, D on time in July; E on time in June, late in July.
        (
            "C",
            "C-1",
            r,
            "2024-07-01T10:00:00+07:00",
            received("counter", "2024-07-05T17:00:00+07:00"),
        ),
        (
            "C",
            "C-1",
            "dossier.resolved",
            "2024-07-03T10:00:00+07:00",
            json!({"outcome": "approved"}),
        ),
        (
            "D",
            "D-1",
            r,
            "2024-07-01T10:00:00+07:00",
            received("counter", "2024-07-05T17:00:00+07:00"),
        ),
        (
            "D",
            "D-1",
            "dossier.resolved",
            "2024-07-03T11:00:00+07:00",
            json!({"outcome": "approved"}),
        ),
        (
            "E",
            "E-0",
            r,
            "2024-06-03T10:00:00+07:00",
            received("counter", "2024-06-10T17:00:00+07:00"),
        ),
        (
            "E",
            "E-0",
            "dossier.resolved",
            "2024-06-05T10:00:00+07:00",
            json!({"outcome": "approved"}),
        ),
        (
            "E",
            "E-1",
            r,
            "2024-07-01T10:00:00+07:00",
            received("counter", "2024-07-02T17:00:00+07:00"),
        ),
        (
            "E",
            "E-1",
            "dossier.resolved",
            "2024-07-10T10:00:00+07:00",
            json!({"outcome": "approved"}),
        ),
        // ISO week and year edge: both in the week starting Monday 2024-12-30.
        (
            "B",
            "B-3",
            r,
            "2024-12-31T23:59:59+07:00",
            received("counter", "2025-01-03T17:00:00+07:00"),
        ),
        (
            "B",
            "B-4",
            r,
            "2025-01-01T00:00:00+07:00",
            received("counter", "2025-01-03T17:00:00+07:00"),
        ),
    ]
}

/// The projection, built from the events split over three files in a scrambled order.
fn projection_of(
    order: &[usize],
) -> (
    tempfile::TempDir,
    std::sync::Arc<parwatch_metrics::Projector>,
) {
    let specs = province();
    let mut events: Vec<_> = order.iter().map(|&i| event(i, &specs[i])).collect();
    // The same event (same id) twice changes nothing: folding facts is idempotent.
    events.push(event(order[0], &specs[order[0]]));
    let third = events.len() / 3;
    let groups = vec![
        events[..third].to_vec(),
        events[third..2 * third].to_vec(),
        events[2 * third..].to_vec(),
    ];
    let (tmp, lake) = lake_with(groups);
    let projector = projector(&lake);
    (tmp, projector)
}

#[test]
fn every_metric_matches_the_hand_computed_values_in_any_arrival_order() {
    let n = province().len();
    for order in arrival_orders(n) {
        let (_tmp, projector) = projection_of(&order);
        check(&projector.read());
    }
}

fn check(p: &Projection) {
    let m = Bucket::Month;
    let (from, to) = ("2024-03-01", "2024-07-31");
    assert_eq!(
        values(p, "received", from, to, m, None),
        vec![
            count("2024-03-01", 2),
            count("2024-04-01", 1),
            count("2024-05-01", 0),
            count("2024-06-01", 2),
            count("2024-07-01", 3)
        ]
    );
    assert_eq!(
        values(p, "online_uptake", from, to, m, None),
        vec![
            rate("2024-03-01", 1, 2),
            rate("2024-04-01", 0, 1),
            rate("2024-05-01", 0, 0),
            rate("2024-06-01", 1, 2),
            rate("2024-07-01", 0, 3)
        ]
    );
    assert_eq!(
        values(p, "full_online_share", from, to, m, None)[0],
        rate("2024-03-01", 1, 2)
    );
    assert_eq!(
        values(p, "full_online_share", from, to, m, None)[3],
        rate("2024-06-01", 0, 2)
    );
    assert_eq!(
        values(p, "postal_share", from, to, m, None)[0],
        rate("2024-03-01", 1, 2)
    );
    // Local midnight: A-2 at 2024-04-01T00:00+07:00 is on 1 April; A-1 at 23:30 on 31 March.
    assert_eq!(
        values(
            p,
            "received",
            "2024-03-31",
            "2024-04-01",
            Bucket::Day,
            Some("A")
        ),
        vec![count("2024-03-31", 1), count("2024-04-01", 1)]
    );
    assert_eq!(
        values(p, "resolved", from, to, m, None),
        vec![
            count("2024-03-01", 0),
            count("2024-04-01", 3),
            count("2024-05-01", 0),
            count("2024-06-01", 1),
            count("2024-07-01", 4)
        ]
    );
    // April: A-1 on time, A-2 late; A-3 has no receipt and is left out.
    assert_eq!(
        values(p, "on_time_rate", from, to, m, None)[1],
        rate("2024-04-01", 1, 2)
    );
    assert_eq!(
        values(p, "on_time_rate", from, to, m, None)[4],
        rate("2024-07-01", 3, 4)
    );
    assert_eq!(
        values(p, "digitized_share", from, to, m, None)[1],
        rate("2024-04-01", 1, 3)
    );
    // Two late files of A-2 count once, on 3 April; B-1 on 1 April.
    assert_eq!(
        values(p, "late_files", from, to, m, None)[1],
        count("2024-04-01", 2)
    );
    assert_eq!(
        values(
            p,
            "late_files",
            "2024-04-01",
            "2024-04-07",
            Bucket::Day,
            None
        )
        .iter()
        .map(|v| v.2.unwrap())
        .collect::<Vec<_>>(),
        vec![1, 0, 1, 0, 0, 0, 0]
    );
    assert_eq!(
        values(p, "apology_rate", from, to, m, None)[1],
        rate("2024-04-01", 1, 2)
    );
    assert_eq!(
        values(p, "apology_rate", from, to, m, Some("B"))[1],
        rate("2024-04-01", 0, 1)
    );
    // A-2's first apology (3 Apr 10:00) is before the missed due (3 Apr 17:00).
    assert_eq!(
        values(p, "apology_timely_rate", from, to, m, None)[1],
        rate("2024-04-01", 1, 1)
    );

    // Overdue at the end of each day.
    let backlog: Vec<i64> = values(
        p,
        "overdue_backlog",
        "2024-03-31",
        "2024-04-09",
        Bucket::Day,
        None,
    )
    .iter()
    .map(|v| v.2.unwrap())
    .collect();
    assert_eq!(backlog, vec![0, 1, 1, 2, 2, 2, 2, 2, 1, 1]);
    assert_eq!(
        values(p, "overdue_backlog", from, to, m, None)
            .iter()
            .map(|v| v.2.unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1, 1, 1, 1],
        "only B-1 is open at each month's end from April"
    );
    // A range ending inside a bucket closes that bucket at the range's end.
    assert_eq!(
        values(p, "overdue_backlog", "2024-04-01", "2024-04-05", m, None)[0],
        count("2024-04-01", 2)
    );

    // Quarter, ISO week and year edges.
    assert_eq!(
        values(
            p,
            "received",
            "2024-01-01",
            "2024-12-31",
            Bucket::Quarter,
            None
        )
        .iter()
        .map(|v| (v.0.clone(), v.2.unwrap()))
        .collect::<Vec<_>>(),
        vec![
            ("2024-01-01".into(), 2),
            ("2024-04-01".into(), 3),
            ("2024-07-01".into(), 3),
            ("2024-10-01".into(), 1)
        ]
    );
    assert_eq!(
        values(
            p,
            "received",
            "2024-12-23",
            "2025-01-05",
            Bucket::Week,
            None
        ),
        vec![count("2024-12-23", 0), count("2024-12-30", 2)]
    );
    assert_eq!(
        values(
            p,
            "received",
            "2024-01-01",
            "2025-12-31",
            Bucket::Year,
            None
        ),
        vec![count("2024-01-01", 9), count("2025-01-01", 1)]
    );
    // A bucket is named by its start even when the range starts inside it.
    assert_eq!(
        values(p, "received", "2024-03-31", "2024-04-30", m, None)[0],
        count("2024-03-01", 1)
    );

    // Median processing days in April: A-1 1.6875 d, A-2 7.4167 d.
    let p50 = values(p, "processing_days_p50", from, to, m, None)[1].clone();
    let exact = (1.6875 + (7.0 + 10.0 / 24.0)) / 2.0;
    assert!(
        (p50.1.unwrap() - exact).abs() <= exact * 0.01,
        "{p50:?} vs {exact}"
    );
    assert_eq!(p50.3, Some(2));
    assert_eq!(
        values(p, "processing_days_p50", from, to, m, None)[2].1,
        None
    );

    // Ranking: standard competition ranks, unranked last, change against the previous period.
    let ranking = p
        .ranking(
            metric("on_time_rate").unwrap(),
            date("2024-07-01"),
            date("2024-07-31"),
        )
        .unwrap();
    assert_eq!(ranking.previous, (date("2024-05-31"), date("2024-06-30")));
    let rows: Vec<_> = ranking
        .rows
        .iter()
        .map(|r| (r.agency_code.as_str(), r.rank, r.previous_rank, r.change))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("B", Some(1), None, None),
            ("C", Some(1), None, None),
            ("D", Some(1), None, None),
            ("E", Some(4), Some(1), Some(-3)),
            ("A", None, None, None),
        ]
    );
    let apology = p
        .ranking(
            metric("apology_rate").unwrap(),
            date("2024-04-01"),
            date("2024-04-30"),
        )
        .unwrap();
    assert_eq!(
        apology
            .rows
            .iter()
            .map(|r| (r.agency_code.as_str(), r.rank, r.numerator, r.denominator))
            .take(2)
            .collect::<Vec<_>>(),
        vec![
            ("A", Some(1), Some(1), Some(1)),
            ("B", Some(2), Some(0), Some(1))
        ]
    );
    let late = p
        .ranking(
            metric("late_files").unwrap(),
            date("2024-04-01"),
            date("2024-04-30"),
        )
        .unwrap();
    assert_eq!(
        late.rows[0].rank,
        Some(1),
        "lower is better: ties at one late file each"
    );
    assert_eq!(late.rows[1].rank, Some(1));
}

#[test]
fn bad_requests_are_named() {
    let (_tmp, projector) = projection_of(&[0, 1, 2]);
    let p = projector.read();
    let m = metric("received").unwrap();
    let err = p
        .series(
            m,
            date("2024-05-01"),
            date("2024-04-01"),
            Bucket::Day,
            None,
            false,
        )
        .unwrap_err();
    assert!(err.to_string().contains("after"), "{err}");
    assert!(
        p.series(
            m,
            date("1900-01-01"),
            date("2100-01-01"),
            Bucket::Day,
            None,
            false
        )
        .is_err()
    );
    assert!(Bucket::parse("fortnight").is_none());
    assert!(metric("nope").is_none());
}
