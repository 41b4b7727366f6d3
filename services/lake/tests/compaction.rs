//! Compaction merges a partition's files while queries run: every query sees each event
//! exactly once, before, during and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use parwatch_lake::{Commit, CompactionPolicy, EVENTS_TABLE, Lake, QueryEngine, StoredEvent};
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;

fn event(i: u64, day: u32) -> StoredEvent<'static> {
    let event = TestEvent::received(Channel::Counter)
        .id(format!("e{i}"))
        .at(format!("2024-04-{day:02}T09:{:02}:00+07:00", i % 60).as_str())
        .source("t")
        .agency(format!("A{}", i % 5))
        .dossier(format!("D{i}"));
    StoredEvent {
        event: event.build(),
        stream_seq: i + 1,
    }
}

async fn counts(engine: &QueryEngine) -> (i64, i64) {
    let out = engine
        .sql("SELECT count(*), count(DISTINCT event_id) FROM events")
        .await
        .unwrap();
    let b = &out.batches[0];
    (
        b.column(0).as_primitive::<Int64Type>().value(0),
        b.column(1).as_primitive::<Int64Type>().value(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_see_every_event_once_while_partitions_are_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(tmp.path()).unwrap();
    // 40 commits over two days: 80 small files.
    let mut n = 0;
    for commit in 0..40u64 {
        let events = (0..100)
            .map(|k| event(commit * 100 + k, 1 + (k % 2) as u32))
            .collect();
        lake.write(
            &Commit {
                events,
                rejected: vec![],
            },
            chrono::Utc::now(),
            &mut Default::default(),
        )
        .unwrap();
        n += 100;
    }
    assert_eq!(lake.files(EVENTS_TABLE).unwrap().len(), 80);
    let engine = QueryEngine::new(&lake).unwrap();
    let before_roots = lake.generation_roots(EVENTS_TABLE).unwrap();
    let old_files = lake.files(EVENTS_TABLE).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let querying = {
        let (engine, done) = (engine.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let mut queries = 0;
            while !done.load(Ordering::Relaxed) || queries < 5 {
                assert_eq!(counts(&engine).await, (n, n), "query {queries}");
                queries += 1;
            }
            queries
        })
    };
    let compacting = lake.clone();
    let stats =
        tokio::task::spawn_blocking(move || compacting.compact(&CompactionPolicy::default()))
            .await
            .unwrap()
            .unwrap();
    done.store(true, Ordering::Relaxed);
    let queries = querying.await.unwrap();
    assert!(queries >= 5);

    assert_eq!(stats.partitions, 2);
    assert_eq!(stats.files_merged, 80);
    let files = lake.files(EVENTS_TABLE).unwrap();
    assert_eq!(files.len(), 2, "one file per day");
    assert_eq!(counts(&engine).await, (n, n));
    assert_ne!(lake.generation_roots(EVENTS_TABLE).unwrap(), before_roots);
    // A query that resolved the old generations before the swap can still read them.
    assert!(
        old_files.iter().all(|f| std::fs::canonicalize(f).is_err()),
        "old paths now resolve to the new generation"
    );
    for root in &before_roots {
        assert!(
            root.exists(),
            "replaced generations stay for the grace period"
        );
    }
    // The dedupe index, rebuilt from the files, is unchanged.
    assert_eq!(lake.load_index().unwrap().event_count() as i64, n);
    // New writes land in the new generation and are seen.
    lake.write(
        &Commit {
            events: vec![event(99_999, 1)],
            rejected: vec![],
        },
        chrono::Utc::now(),
        &mut Default::default(),
    )
    .unwrap();
    assert_eq!(counts(&engine).await, (n + 1, n + 1));
}

#[test]
fn a_write_retried_after_failing_part_way_stores_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(tmp.path()).unwrap();
    let events = (0..10).map(|i| event(i, 1 + (i % 2) as u32)).collect();
    let commit = Commit {
        events,
        rejected: vec![],
    };
    // Day 2's partition cannot be created: a plain file stands where it goes.
    let blocker = lake.table_dir(EVENTS_TABLE).join("event_date=2024-04-02");
    std::fs::write(&blocker, b"").unwrap();
    let mut progress = parwatch_lake::WriteProgress::default();
    assert!(
        lake.write(&commit, chrono::Utc::now(), &mut progress)
            .is_err()
    );
    assert_eq!(progress.files, 1, "day 1 was written before the failure");
    std::fs::remove_file(&blocker).unwrap();
    lake.write(&commit, chrono::Utc::now(), &mut progress)
        .unwrap();
    assert_eq!(progress.files, 2);
    assert_eq!(lake.load_index().unwrap().event_count(), 10);
    let rows: usize = lake.files(EVENTS_TABLE).unwrap().len();
    assert_eq!(rows, 2, "one file per day, none written twice");
}
