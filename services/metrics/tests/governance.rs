//! Plan activities and tasks from superiors worked out by hand (`golden/governance.golden`:
//! the events, and `plan_completion` and `tasks_on_time` with their edge cases in any arrival
//! order): an old bucket moved by a later event, their SQL tables, and the snapshot that
//! carries them over a restart.

use std::sync::Arc;

use parwatch_lake::QueryEngine;
use parwatch_metrics::{Bucket, Projector, Rollups, register_tables};
use parwatch_proto::testing::TestEvent;
use serde_json::{Value, json};

use crate::common::{event, lake_with, projector, rate, values};

/// The hand-checked plans and tasks; their expected series are in the same golden file.
fn events() -> Vec<TestEvent> {
    crate::golden::events(GOLDEN)
}

/// The golden file of this suite.
const GOLDEN: &str = "governance.golden";

/// The projection of the events in `order`, the first one twice, over two commits.
fn projection_of(order: &[usize]) -> (tempfile::TempDir, Arc<Projector>) {
    let specs = events();
    let mut all: Vec<_> = order.iter().map(|&i| event(i, &specs[i])).collect();
    all.push(event(order[0], &specs[order[0]]));
    let half = all.len() / 2;
    let (tmp, lake) = lake_with(vec![all[..half].to_vec(), all[half..].to_vec()]);
    let projector = projector(&lake);
    (tmp, projector)
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
    let march = |p: &Rollups| {
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
    assert_eq!(march(&projector.rollups()), rate("2024-03-01", 2, 3));
    let commit = parwatch_lake::Commit {
        events: after.iter().map(|&i| event(i, &specs[i])).collect(),
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();
    projector.catch_up(&mut |_, _| {}).unwrap();
    assert_eq!(march(&projector.rollups()), rate("2024-03-01", 1, 2));
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
    let lake = parwatch_lake::Lake::open(&parwatch_lake::LakeLocation::local(_tmp.path()).unwrap())
        .unwrap();
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
    crate::golden::assert_answers(GOLDEN, &restored.rollups());
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
    let stale = lake
        .location()
        .local_dir()
        .unwrap()
        .join("projections/par_scores.parquet");
    let kept = std::fs::read(&stale).unwrap();
    projector.save().unwrap();
    std::fs::write(&stale, kept).unwrap();
    let refolded = Projector::load(lake.clone()).unwrap();
    assert!(refolded.catch_up(&mut |_, _| {}).unwrap() > 0);
    crate::golden::assert_answers(GOLDEN, &refolded.rollups());
}
