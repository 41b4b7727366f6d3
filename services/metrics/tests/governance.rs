//! Plan activities and tasks from superiors worked out by hand: `plan_completion` and
//! `tasks_on_time` with their edge cases (a deadline at local midnight, completion exactly at
//! the deadline, a completion reported without an assignment, a deadline moved by a later
//! event, an activity reopened or cancelled, ties at one instant), in any arrival order; their
//! SQL tables; the snapshot that carries them over a restart.

use std::sync::Arc;

use parwatch_lake::QueryEngine;
use parwatch_metrics::{Bucket, Projection, Projector, metric, register_tables};
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, TaskStatus};
use serde_json::{Value, json};

use crate::common::{arrival_orders, date, event, lake_with, projector, rate, values};

fn task(id: &str, status: TaskStatus, due: &str, completed: Option<&str>) -> TestEvent {
    let task = TestEvent::task(id, status).due(due);
    match completed {
        Some(at) => task.completed_at(at),
        None => task,
    }
}

fn activity(id: &str, status: ActivityStatus, due: &str) -> TestEvent {
    TestEvent::plan_activity(id, status).due(due)
}

fn events() -> Vec<TestEvent> {
    vec![
        // T1 on time; T2 completed exactly at its deadline (on time); T3 late; T4 due at 23:30
        // local on 31 March (still March), never completed.
        task(
            "T1",
            TaskStatus::Assigned,
            "2024-03-10T17:00:00+07:00",
            None,
        )
        .agency("A")
        .at("2024-03-01T09:00:00+07:00"),
        task(
            "T1",
            TaskStatus::Completed,
            "2024-03-10T17:00:00+07:00",
            Some("2024-03-09T09:30:00+07:00"),
        )
        .agency("A")
        .at("2024-03-09T10:00:00+07:00"),
        task(
            "T2",
            TaskStatus::Assigned,
            "2024-03-15T17:00:00+07:00",
            None,
        )
        .agency("A")
        .at("2024-03-02T09:00:00+07:00"),
        task(
            "T2",
            TaskStatus::Completed,
            "2024-03-15T17:00:00+07:00",
            Some("2024-03-15T17:00:00+07:00"),
        )
        .agency("A")
        .at("2024-03-15T17:05:00+07:00"),
        task(
            "T3",
            TaskStatus::Assigned,
            "2024-03-20T17:00:00+07:00",
            None,
        )
        .agency("A")
        .at("2024-03-03T09:00:00+07:00"),
        task(
            "T3",
            TaskStatus::Completed,
            "2024-03-20T17:00:00+07:00",
            Some("2024-03-22T10:00:00+07:00"),
        )
        .agency("A")
        .at("2024-03-22T11:00:00+07:00"),
        task(
            "T4",
            TaskStatus::Assigned,
            "2024-03-31T23:30:00+07:00",
            None,
        )
        .agency("A")
        .at("2024-03-04T09:00:00+07:00"),
        // T5 reported only at completion, on time in April.
        task(
            "T5",
            TaskStatus::Completed,
            "2024-04-02T17:00:00+07:00",
            Some("2024-04-01T08:00:00+07:00"),
        )
        .agency("A")
        .at("2024-04-01T08:10:00+07:00"),
        // T6: the completion says the deadline moved to 20 April; the assignment's 5 April counts.
        task(
            "T6",
            TaskStatus::Assigned,
            "2024-04-05T17:00:00+07:00",
            None,
        )
        .agency("A")
        .at("2024-03-25T09:00:00+07:00"),
        task(
            "T6",
            TaskStatus::Completed,
            "2024-04-20T17:00:00+07:00",
            Some("2024-04-10T15:00:00+07:00"),
        )
        .agency("A")
        .at("2024-04-10T16:00:00+07:00"),
        // T7 reported completed twice; the earlier completion (8 April) counts: on time.
        task(
            "T7",
            TaskStatus::Completed,
            "2024-04-09T17:00:00+07:00",
            Some("2024-04-12T08:00:00+07:00"),
        )
        .agency("A")
        .at("2024-04-12T09:00:00+07:00"),
        task(
            "T7",
            TaskStatus::Completed,
            "2024-04-09T17:00:00+07:00",
            Some("2024-04-08T08:00:00+07:00"),
        )
        .agency("A")
        .at("2024-04-08T09:00:00+07:00"),
        // Another agency's task of the same id is another task: late.
        task(
            "T1",
            TaskStatus::Assigned,
            "2024-03-10T17:00:00+07:00",
            None,
        )
        .agency("B")
        .at("2024-03-01T09:00:00+07:00"),
        task(
            "T1",
            TaskStatus::Completed,
            "2024-03-10T17:00:00+07:00",
            Some("2024-03-12T09:00:00+07:00"),
        )
        .agency("B")
        .at("2024-03-12T09:00:00+07:00"),
        // P1 done; P2 done then reopened on 2 April; P3 cancelled; P4 not done yet.
        activity("P1", ActivityStatus::Planned, "2024-03-31T17:00:00+07:00")
            .agency("A")
            .at("2024-01-05T09:00:00+07:00"),
        activity("P1", ActivityStatus::Done, "2024-03-31T17:00:00+07:00")
            .agency("A")
            .at("2024-03-20T09:00:00+07:00"),
        activity("P2", ActivityStatus::Planned, "2024-03-31T17:00:00+07:00")
            .agency("A")
            .at("2024-01-05T09:00:00+07:00"),
        activity("P2", ActivityStatus::Done, "2024-03-31T17:00:00+07:00")
            .agency("A")
            .at("2024-03-25T09:00:00+07:00"),
        activity("P2", ActivityStatus::Planned, "2024-03-31T17:00:00+07:00")
            .agency("A")
            .at("2024-04-02T09:00:00+07:00"),
        activity("P3", ActivityStatus::Planned, "2024-04-30T17:00:00+07:00")
            .agency("A")
            .at("2024-01-05T09:00:00+07:00"),
        activity("P3", ActivityStatus::Cancelled, "2024-04-30T17:00:00+07:00")
            .agency("A")
            .at("2024-02-01T09:00:00+07:00"),
        activity("P4", ActivityStatus::Planned, "2024-06-30T17:00:00+07:00")
            .agency("A")
            .at("2024-01-05T09:00:00+07:00"),
        // P5's deadline moved to April by its latest event, done; P6 planned and done at the
        // same instant: the tie goes to done.
        activity("P5", ActivityStatus::Planned, "2024-03-15T17:00:00+07:00")
            .agency("A")
            .at("2024-01-05T09:00:00+07:00"),
        activity("P5", ActivityStatus::Done, "2024-04-15T17:00:00+07:00")
            .agency("A")
            .at("2024-04-10T09:00:00+07:00"),
        activity("P6", ActivityStatus::Planned, "2024-05-10T17:00:00+07:00")
            .agency("A")
            .at("2024-05-02T09:00:00+07:00"),
        activity("P6", ActivityStatus::Done, "2024-05-10T17:00:00+07:00")
            .agency("A")
            .at("2024-05-02T09:00:00+07:00"),
    ]
}

fn projection_of(order: &[usize]) -> (tempfile::TempDir, Arc<Projector>) {
    let specs = events();
    let mut all: Vec<_> = order.iter().map(|&i| event(i, &specs[i])).collect();
    all.push(event(order[0], &specs[order[0]]));
    let half = all.len() / 2;
    let (tmp, lake) = lake_with(vec![all[..half].to_vec(), all[half..].to_vec()]);
    let projector = projector(&lake);
    (tmp, projector)
}

fn check(p: &Projection) {
    let m = Bucket::Month;
    let (from, to) = ("2024-03-01", "2024-06-30");
    assert_eq!(
        values(p, "tasks_on_time", from, to, m, Some("A")),
        vec![
            rate("2024-03-01", 2, 4),
            rate("2024-04-01", 2, 3),
            rate("2024-05-01", 0, 0),
            rate("2024-06-01", 0, 0),
        ]
    );
    assert_eq!(
        values(p, "tasks_on_time", from, to, m, None)[0],
        rate("2024-03-01", 2, 5)
    );
    assert_eq!(
        values(
            p,
            "tasks_on_time",
            "2024-03-31",
            "2024-04-01",
            Bucket::Day,
            Some("A")
        ),
        vec![rate("2024-03-31", 0, 1), rate("2024-04-01", 0, 0)],
        "T4 is due at 23:30 local on 31 March"
    );
    assert_eq!(
        values(p, "plan_completion", from, to, m, Some("A")),
        vec![
            rate("2024-03-01", 1, 2),
            rate("2024-04-01", 1, 1),
            rate("2024-05-01", 1, 1),
            rate("2024-06-01", 0, 1),
        ]
    );
    assert_eq!(
        values(
            p,
            "plan_completion",
            "2024-01-01",
            "2024-12-31",
            Bucket::Year,
            None
        ),
        vec![rate("2024-01-01", 3, 5)]
    );
    let ranking = p
        .ranking(
            metric("tasks_on_time").unwrap(),
            date("2024-03-01"),
            date("2024-03-31"),
        )
        .unwrap();
    let rows: Vec<_> = ranking
        .rows
        .iter()
        .map(|r| (r.agency_code.as_str(), r.rank, r.numerator, r.denominator))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("A", Some(1), Some(2), Some(4)),
            ("B", Some(2), Some(0), Some(1))
        ]
    );
}

#[test]
fn plan_and_task_metrics_match_the_hand_computed_values_in_any_arrival_order() {
    let n = events().len();
    for order in arrival_orders(n) {
        let (_tmp, projector) = projection_of(&order);
        check(&projector.read());
    }
}

#[test]
fn a_later_event_moves_an_old_bucket() {
    // Up to 31 March, P1 and P2 are done and P5 (due 15 March) is not. On 2 April P2 is
    // reopened; on 10 April P5 is done with its deadline moved to April.
    let specs = events();
    let cut = chrono::DateTime::parse_from_rfc3339("2024-04-01T00:00:00+07:00").unwrap();
    let (before, after): (Vec<usize>, Vec<usize>) =
        (0..specs.len()).partition(|&i| specs[i].build().occurred_at < cut);
    let (_tmp, lake) = lake_with(vec![before.iter().map(|&i| event(i, &specs[i])).collect()]);
    let projector = projector(&lake);
    let march = |p: &Projection| {
        values(
            p,
            "plan_completion",
            "2024-03-01",
            "2024-03-31",
            Bucket::Month,
            Some("A"),
        )[0]
        .clone()
    };
    assert_eq!(march(&projector.read()), rate("2024-03-01", 2, 3));
    let commit = parwatch_lake::Commit {
        events: after.iter().map(|&i| event(i, &specs[i])).collect(),
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();
    projector.catch_up(&mut |_, _| {}).unwrap();
    assert_eq!(march(&projector.read()), rate("2024-03-01", 1, 2));
}

fn rows(batch: &datafusion::arrow::array::RecordBatch) -> Vec<Value> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    serde_json::from_slice(&writer.into_inner()).unwrap_or_default()
}

async fn query(engine: &QueryEngine, sql: &str) -> Vec<Value> {
    let out = engine.sql(sql).await.unwrap();
    out.batches.iter().flat_map(rows).collect()
}

#[tokio::test]
async fn tables_and_snapshot_carry_plans_and_tasks() {
    let n = events().len();
    let (_tmp, projector) = projection_of(&(0..n).collect::<Vec<_>>());
    let lake = parwatch_lake::Lake::open(_tmp.path()).unwrap();
    let engine = QueryEngine::new(&lake).unwrap();
    register_tables(&engine, Arc::clone(&projector)).unwrap();
    assert_eq!(
        query(&engine, "SELECT sum(tasks_due) AS d, sum(tasks_on_time) AS t, sum(plan_due) AS p, sum(plan_done) AS q FROM daily_agency_stats").await,
        vec![json!({"d": 8, "t": 4, "p": 5, "q": 3})]
    );
    assert_eq!(
        query(&engine, "SELECT CAST(due_at AS VARCHAR) AS due, on_time FROM directive_tasks WHERE agency_code = 'A' AND task_id = 'T6'").await,
        vec![json!({"due": "2024-04-05T10:00:00Z", "on_time": false})]
    );
    assert_eq!(
        query(
            &engine,
            "SELECT activity_id, status FROM plan_activities WHERE status <> 'done' ORDER BY 1"
        )
        .await,
        vec![
            json!({"activity_id": "P2", "status": "planned"}),
            json!({"activity_id": "P3", "status": "cancelled"}),
            json!({"activity_id": "P4", "status": "planned"}),
        ]
    );
    // The events table keeps the deadline typed and everything in `data`.
    assert_eq!(
        query(&engine, "SELECT count(DISTINCT event_id) AS n FROM events WHERE type = 'directive.task' AND due_at IS NOT NULL AND dossier_id IS NULL").await,
        vec![json!({"n": 14})]
    );

    // A restart from the snapshot answers the same without folding any file again.
    projector.save().unwrap();
    let restored = Projector::load(lake.clone()).unwrap();
    assert_eq!(restored.catch_up(&mut |_, _| {}).unwrap(), 0);
    check(&restored.read());
    let table = |p: &Projector| {
        let p = p.read();
        (
            p.tasks()
                .map(|(a, t, x)| (a.to_owned(), t.to_owned(), *x))
                .collect::<Vec<_>>(),
            p.activities()
                .map(|(a, t, x)| (a.to_owned(), t.to_owned(), x.clone()))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(table(&restored), table(&projector));

    // Snapshot files of different saves are never mixed: the events are folded again.
    let stale = lake.root().join("projections/par_scores.parquet");
    let kept = std::fs::read(&stale).unwrap();
    projector.save().unwrap();
    std::fs::write(&stale, kept).unwrap();
    let refolded = Projector::load(lake.clone()).unwrap();
    assert!(refolded.catch_up(&mut |_, _| {}).unwrap() > 0);
    check(&refolded.read());
}
