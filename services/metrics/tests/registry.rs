//! The registry of agencies and figures restated through its lineage, on a hand-built case
//! folded from real events: two department mergers on 1 March 2025 and, on 1 July 2025, a
//! commune split by the decision's weights, a commune merger, and a split without weights
//! (estimated from the successors' dossiers). Every restated rate below is computed by hand.
//!
//! | January 2025 | resolved | on time |
//! |---|---|---|
//! | D1 (merged into D2) | 4 | 3 |
//! | D2 | 2 | 2 |
//! | C1 (split: N1 0.6, N2 0.4) | 10 | 5 |
//! | C2 (merged into N1) | 5 | 5 |
//! | C3 (split into N2, N3, no weights) | 4 | 4 |
//!
//! In August 2025 N1 resolves 2 (1 on time), N2 3 (3) and N3 1 (1): C3's split is estimated
//! from these receipts (N2 3/4, N3 1/4: neither received anything the year before).

use chrono::Duration;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use parwatch_lake::QueryEngine;
use parwatch_metrics::{Bucket, MetricError, Projector, Rollups, metric, register_tables};
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{AgencyKind, AgencyLevel, Assessor, Channel, EventData, Outcome, TaskStatus};
use parwatch_scoring::AgencyIndex;

use crate::common::{date, event, lake_with, projector};

/// The decision of the commune changes.
const RESOLUTION: &str = "1656/NQ-UBTVQH15";

/// `n` dossiers of `agency` received on `day` (local 08:00, due 5 days later) and resolved
/// 2 days later, the first `on_time` of them by their due date and the others 10 days late.
fn dossiers(agency: &str, day: &str, n: usize, on_time: usize) -> Vec<TestEvent> {
    let received = format!("{day}T08:00:00+07:00");
    let at = chrono::DateTime::parse_from_rfc3339(&received).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let dossier = format!("{agency}-{day}-{i}");
        let resolved = if i < on_time {
            at + Duration::days(2)
        } else {
            at + Duration::days(15)
        };
        out.push(
            TestEvent::received(Channel::Counter)
                .agency(agency)
                .dossier(&dossier)
                .at(at)
                .due(at + Duration::days(5)),
        );
        out.push(
            TestEvent::resolved(Outcome::Approved)
                .agency(agency)
                .dossier(&dossier)
                .at(resolved),
        );
    }
    out
}

fn commune(code: &str, name: &str) -> TestEvent {
    TestEvent::registered(name, AgencyLevel::Commune, "2025-07-01")
        .agency(code)
        .field("basis", RESOLUTION)
        .at("2025-06-16T09:00:00+07:00")
}

/// The case's events: dossiers, then the registry events.
fn case() -> Vec<TestEvent> {
    let mut events = Vec::new();
    for (agency, n, on_time) in [
        ("D1", 4, 3),
        ("D2", 2, 2),
        ("C1", 10, 5),
        ("C2", 5, 5),
        ("C3", 4, 4),
    ] {
        events.extend(dossiers(agency, "2025-01-06", n, on_time));
    }
    for (agency, n, on_time) in [("N1", 2, 1), ("N2", 3, 3), ("N3", 1, 1)] {
        events.extend(dossiers(agency, "2025-08-04", n, on_time));
    }
    let decided = "2025-02-20T10:00:00+07:00";
    events.push(
        TestEvent::merged("D2", "2025-03-01")
            .agency("D1")
            .at(decided),
    );
    events.extend([
        commune("N1", "Phường Một"),
        commune("N2", "Phường Hai"),
        commune("N3", "Xã Ba"),
    ]);
    let decided = "2025-06-16T09:00:00+07:00";
    events.push(
        TestEvent::split(&[("N1", Some(0.6)), ("N2", Some(0.4))], "2025-07-01")
            .agency("C1")
            .at(decided),
    );
    events.push(
        TestEvent::merged("N1", "2025-07-01")
            .agency("C2")
            .at(decided),
    );
    events.push(
        TestEvent::split(&[("N2", None), ("N3", None)], "2025-07-01")
            .agency("C3")
            .at(decided),
    );
    events
}

/// (value, numerator, denominator) of each monthly point of `on_time_rate`.
type Row = (Option<f64>, Option<i64>, Option<i64>);

fn restated(p: &Rollups, agency: Option<&str>, units: &str) -> Vec<Row> {
    let series = p
        .restated_series(
            metric("on_time_rate").unwrap(),
            date("2025-01-01"),
            date("2025-08-31"),
            Bucket::Month,
            agency,
            false,
            date(units),
        )
        .unwrap();
    assert_eq!(series.len(), 1);
    series[0]
        .points
        .iter()
        .map(|p| (p.value, p.numerator, p.denominator))
        .collect()
}

/// January, nothing from February to July, then August.
fn months(january: Row, august: Row) -> Vec<Row> {
    let mut rows = vec![january];
    rows.extend([(None, Some(0), Some(0)); 6]);
    rows.push(august);
    rows
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

fn the_case() -> (
    tempfile::TempDir,
    parwatch_lake::Lake,
    std::sync::Arc<Projector>,
) {
    folded(case())
}

/// A lake of `events` and a projector over it.
fn folded(
    events: Vec<TestEvent>,
) -> (
    tempfile::TempDir,
    parwatch_lake::Lake,
    std::sync::Arc<Projector>,
) {
    let (tmp, lake) = lake_with(vec![
        events
            .iter()
            .enumerate()
            .map(|(i, e)| event(i, e))
            .collect(),
    ]);
    let projector = projector(&lake);
    (tmp, lake, projector)
}

#[test]
fn restated_monthly_rates_sum_numerators_and_denominators_through_the_lineage() {
    let (_tmp, _lake, projector) = the_case();
    let p = projector.rollups();
    assert_eq!(p.registry_event_count(), 7);

    // D2 takes D1 whole: (3 + 2) / (4 + 2).
    let d2 = restated(&p, Some("D2"), "2025-08-01");
    assert!(close(d2[0].0, 5.0 / 6.0), "{d2:?}");
    assert_eq!((d2[0].1, d2[0].2), (Some(5), Some(6)));
    // N1 takes 0.6 of C1 and C2 whole: (0.6·5 + 5) / (0.6·10 + 5) = 8/11, not the mean of
    // 0.5 and 1.0; in August its own 1/2.
    let n1 = restated(&p, Some("N1"), "2025-08-01");
    assert_eq!(
        n1,
        months((n1[0].0, Some(8), Some(11)), (Some(0.5), Some(1), Some(2)))
    );
    assert!(close(n1[0].0, 8.0 / 11.0), "{n1:?}");
    // N2 takes 0.4 of C1 and an estimated 3/4 of C3: (0.4·5 + 0.75·4) / (0.4·10 + 0.75·4).
    let n2 = restated(&p, Some("N2"), "2025-08-01");
    assert!(close(n2[0].0, 5.0 / 7.0), "{n2:?}");
    assert_eq!((n2[0].1, n2[0].2), (Some(5), Some(7)));
    // N3 takes 1/4 of C3: (0.25·4) / (0.25·4).
    let n3 = restated(&p, Some("N3"), "2025-08-01");
    assert_eq!(n3[0], (Some(1.0), Some(1), Some(1)));

    // The province's total is the same in both views: every old unit is shared out whole.
    let recorded = p
        .series(
            metric("on_time_rate").unwrap(),
            date("2025-01-01"),
            date("2025-08-31"),
            Bucket::Month,
            None,
            false,
        )
        .unwrap();
    let all = restated(&p, None, "2025-08-01");
    assert_eq!((all[0].1, all[0].2), (Some(19), Some(25)));
    assert!(close(all[0].0, 19.0 / 25.0));
    assert_eq!(recorded[0].points[0].numerator, Some(19));
    assert_eq!(recorded[0].points[7].denominator, all[7].2);

    // Restated to the units of 1 February 2025 (before every change) January is as recorded,
    // and the units created in July are not shown: their August is in no unit of that date.
    let before = restated(&p, Some("C1"), "2025-02-01");
    assert_eq!(before[0], (Some(0.5), Some(5), Some(10)));
    let early = restated(&p, None, "2025-02-01");
    assert_eq!(early[7], (None, Some(0), Some(0)));
    assert_eq!(
        restated(&p, Some("N1"), "2025-02-01")[7],
        (None, Some(0), Some(0))
    );
    // As recorded, C1 keeps its own January.
    let c1 = p
        .series(
            metric("on_time_rate").unwrap(),
            date("2025-01-01"),
            date("2025-01-31"),
            Bucket::Month,
            Some("C1"),
            false,
        )
        .unwrap();
    assert_eq!(c1[0].points[0].numerator, Some(5));
}

#[test]
fn restated_rankings_compare_only_the_units_of_the_date() {
    let (_tmp, _lake, projector) = the_case();
    let p = projector.rollups();
    let on_time = metric("on_time_rate").unwrap();
    let (from, to) = (date("2025-01-01"), date("2025-01-31"));
    let ranks = |r: parwatch_metrics::Ranking| -> Vec<(String, Option<u32>)> {
        r.rows
            .into_iter()
            .map(|r| (r.agency_code, r.rank))
            .collect()
    };
    let restated = ranks(
        p.restated_ranking(on_time, from, to, date("2025-08-01"))
            .unwrap(),
    );
    let expected = [
        ("N3", Some(1)),
        ("D2", Some(2)),
        ("N1", Some(3)),
        ("N2", Some(4)),
    ];
    assert_eq!(
        restated,
        expected.map(|(c, r)| (c.to_owned(), r)),
        "N3 1.0 > D2 5/6 > N1 8/11 > N2 5/7"
    );
    // As recorded: C2, C3 and D2 tie at 1.0, then D1 0.75 and C1 0.5; the new units are
    // unranked.
    let recorded = ranks(p.ranking(on_time, from, to).unwrap());
    let ranked: Vec<_> = recorded.iter().filter(|r| r.1.is_some()).cloned().collect();
    let expected = [
        ("C2", Some(1)),
        ("C3", Some(1)),
        ("D2", Some(1)),
        ("D1", Some(4)),
        ("C1", Some(5)),
    ];
    assert_eq!(ranked, expected.map(|(c, r)| (c.to_owned(), r)));
    assert_eq!(recorded.len(), 8);

    // A median is restated through mergers only.
    let median = metric("processing_days_p50").unwrap();
    let d2 = p
        .restated_series(
            median,
            from,
            to,
            Bucket::Month,
            Some("D2"),
            false,
            date("2025-08-01"),
        )
        .unwrap();
    assert_eq!(d2[0].points[0].denominator, Some(6));
    let n1 = p.restated_series(
        median,
        from,
        to,
        Bucket::Month,
        Some("N1"),
        false,
        date("2025-08-01"),
    );
    assert_eq!(n1, Err(MetricError::NotRestatable("processing_days_p50")));
}

#[test]
fn registry_lineage_and_breaks_are_folded_from_the_events() {
    let (_tmp, lake, projector) = the_case();
    let p = projector.rollups();
    let units = |d: &str| p.units_on(date(d));
    assert_eq!(units("2025-02-28"), ["C1", "C2", "C3", "D1", "D2"]);
    assert_eq!(units("2025-03-01"), ["C1", "C2", "C3", "D2"]);
    assert_eq!(units("2025-07-01"), ["D2", "N1", "N2", "N3"]);

    let lineage: Vec<_> = p
        .lineage()
        .into_iter()
        .map(|e| {
            (
                e.agency_code,
                e.successor_code.unwrap(),
                e.date.to_string(),
                e.kind,
                e.weight.unwrap(),
                e.estimated,
            )
        })
        .collect();
    let row =
        |a: &str, s: &str, d: &str, k, w, e| (a.to_owned(), s.to_owned(), d.to_owned(), k, w, e);
    assert_eq!(
        lineage,
        [
            row("D1", "D2", "2025-03-01", "merged", 1.0, false),
            row("C1", "N1", "2025-07-01", "split", 0.6, false),
            row("C1", "N2", "2025-07-01", "split", 0.4, false),
            row("C2", "N1", "2025-07-01", "merged", 1.0, false),
            row("C3", "N2", "2025-07-01", "split", 0.75, true),
            row("C3", "N3", "2025-07-01", "split", 0.25, true),
        ]
    );

    // N1's restated history breaks on 1 July: C1's split, C2's merger, its registration (in
    // effective order: date, then recording time, then agency).
    let breaks = p.breaks(
        date("2025-01-01"),
        date("2025-08-31"),
        Some("N1"),
        Some(date("2025-08-01")),
    );
    let kinds: Vec<_> = breaks
        .iter()
        .map(|b| {
            (
                b.date.to_string(),
                b.kind,
                b.agency_code.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("2025-07-01".to_owned(), "split", "C1"),
            ("2025-07-01".to_owned(), "merged", "C2"),
            ("2025-07-01".to_owned(), "registered", "N1"),
        ]
    );
    // D2 as recorded over 2025: D1's merger names it.
    let d2 = p.breaks(date("2025-01-01"), date("2025-12-31"), Some("D2"), None);
    assert_eq!(d2.len(), 1);
    assert_eq!(
        (d2[0].kind, d2[0].successors.as_slice()),
        ("merged", &["D2".to_owned()][..])
    );
    assert!(
        p.breaks(date("2025-08-01"), date("2025-12-31"), None, None)
            .is_empty()
    );
    // Over every agency, one break per date, kind and basis, counting its changes: the
    // communes were registered on the resolution's basis, the rest on the default one.
    let summary: Vec<_> = p
        .breaks(date("2025-01-01"), date("2025-12-31"), None, None)
        .into_iter()
        .map(|b| {
            assert!(b.agency_code.is_none() && b.successors.is_empty());
            (b.date.to_string(), b.kind, b.basis, b.changes)
        })
        .collect();
    let row = |d: &str, k, b: &str, n| (d.to_owned(), k, b.to_owned(), n);
    let default = parwatch_proto::testing::DEFAULT_BASIS;
    assert_eq!(
        summary,
        [
            row("2025-03-01", "merged", default, 1),
            row("2025-07-01", "split", default, 2),
            row("2025-07-01", "merged", default, 1),
            row("2025-07-01", "registered", RESOLUTION, 3),
        ]
    );

    // A projector restored from the snapshot has the same registry.
    projector.save().unwrap();
    let restored = Projector::load(lake.clone()).unwrap();
    let r = restored.rollups();
    assert_eq!(r.registry_event_count(), 7);
    assert_eq!(r.lineage(), p.lineage());
    assert_eq!(r.registry_periods(), p.registry_periods());
}

#[tokio::test]
async fn registry_tables_answer_sql() {
    let (_tmp, lake, projector) = the_case();
    let engine = QueryEngine::new(&lake).unwrap();
    register_tables(&engine, projector).unwrap();
    let answer = engine
        .sql(
            "SELECT agency_code, name_vi, level FROM agency_registry \
             WHERE (valid_from IS NULL OR valid_from <= DATE '2025-07-01') \
             AND (valid_to IS NULL OR valid_to > DATE '2025-07-01') ORDER BY agency_code",
        )
        .await
        .unwrap();
    let batch = &answer.batches[0];
    let codes: Vec<&str> = batch
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(codes, ["D2", "N1", "N2", "N3"]);
    assert_eq!(batch.column(1).as_string::<i32>().value(1), "Phường Một");
    assert!(batch.column(2).is_null(0), "D2 was never registered");
    assert_eq!(batch.column(2).as_string::<i32>().value(3), "commune");

    // Received dossiers of January restated to the units of 1 July, one step deep, in SQL.
    let answer = engine
        .sql(
            "WITH edges AS (SELECT agency_code, successor_code, weight FROM agency_lineage \
             WHERE effective_date <= DATE '2025-07-01' AND successor_code IS NOT NULL) \
             SELECT coalesce(e.successor_code, d.agency_code) AS unit, \
             sum(d.received * coalesce(e.weight, 1)) AS received \
             FROM daily_agency_stats d LEFT JOIN edges e USING (agency_code) \
             WHERE d.day BETWEEN DATE '2025-01-01' AND DATE '2025-01-31' GROUP BY 1 ORDER BY 1",
        )
        .await
        .unwrap();
    let batch = &answer.batches[0];
    let units: Vec<&str> = batch
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    let received = batch.column(1).as_primitive::<Float64Type>();
    assert_eq!(units, ["D2", "N1", "N2", "N3"]);
    // D2 4 + 2; N1 0.6·10 + 5; N2 0.4·10 + 0.75·4; N3 0.25·4.
    let expected = [6.0, 11.0, 7.0, 1.0];
    for (i, want) in expected.iter().enumerate() {
        assert!(
            (received.value(i) - want).abs() < 1e-9,
            "{units:?} {received:?}"
        );
    }
}

#[test]
fn a_past_version_has_the_registry_of_then() {
    let events = case();
    let (dossiers, registry): (Vec<usize>, Vec<usize>) =
        (0..events.len()).partition(|&i| events[i].event_type().needs_dossier());
    let stored = |ids: &[usize]| ids.iter().map(|&i| event(i, &events[i])).collect();
    let (_tmp, lake) = lake_with(vec![stored(&dossiers), stored(&registry)]);
    let projector = projector(&lake);
    let now = projector.version().expect("caught up");
    let then = projector.at(parwatch_lake::AsOf::Version(now - 1)).unwrap();
    assert_eq!(then.registry_event_count(), 0);
    assert!(then.lineage().is_empty());
    // Before the registry events, restated is as recorded: C1's January is its own.
    let c1 = restated(&then, Some("C1"), "2025-08-01");
    assert_eq!(c1[0], (Some(0.5), Some(5), Some(10)));
    let latest = projector.at(parwatch_lake::AsOf::Version(now)).unwrap();
    assert_eq!(latest.lineage(), projector.rollups().lineage());
    assert_eq!(
        restated(&latest, Some("C1"), "2025-08-01")[0],
        (None, Some(0), Some(0))
    );
}

#[test]
fn a_restated_summary_sums_the_whole_range_through_the_lineage() {
    let (_tmp, _lake, projector) = the_case();
    let p = projector.rollups();
    let on_time = metric("on_time_rate").unwrap();
    let (from, to, units) = (date("2025-01-01"), date("2025-08-31"), date("2025-08-01"));
    // N1 over January to August: (0.6·5 + 5 + 1) / (0.6·10 + 5 + 2) = 9/13.
    let n1 = p
        .restated_summary(on_time, from, to, Some("N1"), units)
        .unwrap();
    assert!(close(n1.value, 9.0 / 13.0), "{n1:?}");
    assert_eq!((n1.numerator, n1.denominator), (Some(9), Some(13)));
    // Every unit together is the province as recorded.
    let all = p.restated_summary(on_time, from, to, None, units).unwrap();
    let recorded = p.summary(on_time, from, to, None).unwrap();
    assert_eq!(
        (all.numerator, all.denominator),
        (recorded.numerator, recorded.denominator)
    );
    assert_eq!((all.numerator, all.denominator), (Some(24), Some(31)));
    // A unit the date does not have has nothing.
    let gone = p
        .restated_summary(on_time, from, to, Some("C1"), units)
        .unwrap();
    assert_eq!((gone.value, gone.numerator), (None, Some(0)));
}

/// An appraisal of `agency`'s criterion `direction.<criterion>` in `year`.
fn appraisal(agency: &str, year: i32, criterion: &str, score: f64) -> TestEvent {
    TestEvent::of(EventData::ParScore {
        year,
        component: "direction".into(),
        criterion: criterion.into(),
        score,
        max: 1.0,
        assessor: Assessor::Appraisal,
        agency_kind: Some(AgencyKind::Department),
        evidence: None,
    })
    .agency(agency)
    .at(format!("{year}-12-15T09:00:00+07:00").as_str())
}

/// `n` tasks of `agency` due in January 2025, the first `on_time` of them done a day early,
/// the others two days late.
fn tasks(agency: &str, n: u32, on_time: u32) -> Vec<TestEvent> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("{}/UBND-VP ({agency})", 100 + i);
        let due = format!("2025-01-{:02}T17:00:00+07:00", 10 + i);
        let done = format!(
            "2025-01-{:02}T10:00:00+07:00",
            if i < on_time { 9 } else { 12 } + i
        );
        out.push(
            TestEvent::task(&id, TaskStatus::Assigned)
                .due(due.as_str())
                .agency(agency)
                .at("2025-01-02T08:00:00+07:00"),
        );
        out.push(
            TestEvent::task(&id, TaskStatus::Completed)
                .due(due.as_str())
                .completed_at(done.as_str())
                .agency(agency)
                .at(done.as_str()),
        );
    }
    out
}

fn criterion(index: &AgencyIndex, code: &str) -> Option<f64> {
    index.criteria.iter().find(|c| c.code == code)?.points
}

/// The PAR Index of the case's departments, restated: D1 merged into D2 on 1 March 2025.
///
/// | 2025 | dossiers received | `plan_issued` | `reporting` | tasks on time |
/// |---|---|---|---|---|
/// | D1 | 4 | 0.5 / 1 | — | 1 of 4 |
/// | D2 | 2 | 1 / 1 | 1 / 1 | 2 of 2 |
///
/// D1 also has a 2024 appraisal of `plan_issued`, 0.8 / 1, and no dossiers that year.
#[test]
fn restated_par_index_weights_scores_by_dossiers_and_recomputes_rates() {
    let mut events = case();
    events.extend([
        appraisal("D1", 2025, "plan_issued", 0.5),
        appraisal("D2", 2025, "plan_issued", 1.0),
        appraisal("D2", 2025, "reporting", 1.0),
        appraisal("D1", 2024, "plan_issued", 0.8),
    ]);
    events.extend(tasks("D1", 4, 1));
    events.extend(tasks("D2", 2, 2));
    let (_tmp, _lake, projector) = folded(events);
    let p = projector.rollups();
    let models = parwatch_metrics::load_models(None).unwrap();
    let today = date("2026-03-01");

    // As recorded: two departments, each with its own.
    let recorded = p.par_index(&models, 2025, today);
    let codes = |index: &[AgencyIndex]| -> Vec<String> {
        index.iter().map(|a| a.agency_code.clone()).collect()
    };
    assert_eq!(codes(&recorded.agencies), ["D2", "D1"]);
    let d1 = recorded.agency("D1").unwrap();
    assert_eq!(
        criterion(d1, "superior_tasks"),
        Some(0.5),
        "1/4 of 2 points"
    );

    // Restated to the units of 2026: D2 alone, its predecessor's year in it.
    let restated = p.restated_par_index(&models, 2025, today, date("2026-01-01"));
    assert_eq!(codes(&restated.agencies), ["D2"]);
    let d2 = &restated.agencies[0];
    // Scored by both: their shares weighted by dossiers, (4·0.5 + 2·1) / 6 = 2/3 (published
    // to the thousandth), not the mean 0.75.
    assert_eq!(criterion(d2, "plan_issued"), Some(0.667));
    // Scored by D2 only: its score as it was.
    assert_eq!(criterion(d2, "reporting"), Some(1.0));
    // Tasks: (1 + 2) / (4 + 2) of 2 points, not the mean of 1/4 and 1.
    assert_eq!(criterion(d2, "superior_tasks"), Some(1.0));
    let derived = d2
        .criteria
        .iter()
        .find(|c| c.code == "superior_tasks")
        .and_then(|c| c.derived.as_ref())
        .unwrap();
    assert_eq!((derived.numerator, derived.denominator), (3, 6));
    assert_eq!(d2.index, 2.667, "0.667 + 1 + 1");
    assert_eq!((d2.rank, d2.of), (1, 1));
    let evidence = d2
        .criteria
        .iter()
        .find(|c| c.code == "plan_issued")
        .and_then(|c| c.official.as_ref())
        .and_then(|s| s.evidence.as_deref())
        .unwrap();
    assert!(evidence.starts_with("restated: "), "{evidence}");

    // Restated to a date before the merger: the index as recorded.
    let before = p.restated_par_index(&models, 2025, today, date("2025-02-01"));
    assert_eq!(before, recorded);

    // D2's history restated: 2024 is D1's own appraisal (no dossiers: by its part, 1), 2025
    // the restated year; as recorded, D2 has 2025 only.
    let history = p.restated_par_history(&models, "D2", today, date("2026-01-01"));
    let years: Vec<(i32, Option<f64>)> = history
        .iter()
        .map(|a| (a.year, criterion(a, "plan_issued")))
        .collect();
    assert_eq!(years.len(), 2, "{years:?}");
    assert_eq!(years[0], (2024, Some(0.8)));
    assert_eq!(history[1], *d2);
    let recorded: Vec<i32> = p
        .par_history(&models, "D2", today)
        .iter()
        .map(|a| a.year)
        .collect();
    assert_eq!(recorded, [2025]);
}
