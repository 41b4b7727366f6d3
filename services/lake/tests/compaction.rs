//! Compaction merges a table's small files while queries run: every query sees each event
//! exactly once, before, during and after; vacuum deletes the replaced files after the
//! retention. A write that fails part-way is retried without storing anything twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use parwatch_lake::{
    Commit, CompactionPolicy, EVENTS_TABLE, Lake, LakeLocation, QueryEngine, StoredEvent,
};
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

/// One pass of compaction and vacuum under `policy`, off the async threads.
async fn compact(lake: &Lake, policy: CompactionPolicy) -> parwatch_lake::CompactionStats {
    let lake = lake.clone();
    tokio::task::spawn_blocking(move || lake.compact(&policy))
        .await
        .unwrap()
        .unwrap()
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
async fn queries_see_every_event_once_while_files_are_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    // 40 commits over two days: 40 small files.
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
    assert_eq!(lake.files(EVENTS_TABLE).unwrap().len(), 40);
    let engine = QueryEngine::new(&lake).unwrap();
    let old_files = lake.files(EVENTS_TABLE).unwrap();
    let dir = tmp.path().join("events");

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

    assert_eq!(stats.compactions, 1);
    assert_eq!(stats.files_merged, 40);
    assert_eq!(
        stats.files_deleted, 0,
        "replaced files stay for the retention"
    );
    let files = lake.files(EVENTS_TABLE).unwrap();
    assert_eq!(files.len(), 1, "small files merged into one: {files:?}");
    assert_eq!(counts(&engine).await, (n, n));
    assert!(old_files.iter().all(|f| dir.join(&f.path).exists()));
    // After the retention, vacuum deletes them.
    let policy = CompactionPolicy {
        retention: std::time::Duration::ZERO,
        ..CompactionPolicy::default()
    };
    let stats = compact(&lake, policy).await;
    assert_eq!((stats.compactions, stats.files_deleted), (0, 40));
    assert!(old_files.iter().all(|f| !dir.join(&f.path).exists()));
    assert_eq!(counts(&engine).await, (n, n));
    // The dedupe index, rebuilt from the files, is unchanged.
    assert_eq!(lake.load_index().unwrap().event_count() as i64, n);
    // New writes are seen.
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
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    let events = (0..10).map(|i| event(i, 1 + (i % 2) as u32)).collect();
    let rejected = vec![parwatch_lake::RejectedMessage {
        subject: "par.events.v1.x".to_owned(),
        raw: b"{}".to_vec(),
        reason: "test".to_owned(),
        fault: "schema",
        received_at: chrono::Utc::now(),
        stream_seq: 11,
    }];
    let commit = Commit { events, rejected };
    // The rejected table's files cannot be stored: a plain file stands where their folder goes.
    let blocker = tmp.path().join("rejected_events/data");
    std::fs::write(&blocker, b"").unwrap();
    let mut progress = parwatch_lake::WriteProgress::default();
    assert!(
        lake.write(&commit, chrono::Utc::now(), &mut progress)
            .is_err()
    );
    assert_eq!(
        progress.files, 1,
        "the events were stored before the failure"
    );
    assert_eq!(lake.stats(EVENTS_TABLE).position, Some(10));
    std::fs::remove_file(&blocker).unwrap();
    lake.write(&commit, chrono::Utc::now(), &mut progress)
        .unwrap();
    assert_eq!(progress.files, 2);
    assert_eq!(lake.load_index().unwrap().event_count(), 10);
    assert_eq!(
        lake.files(EVENTS_TABLE).unwrap().len(),
        1,
        "none written twice"
    );
    assert_eq!(lake.stats(EVENTS_TABLE).rows, 10);
    assert_eq!(lake.stats(parwatch_lake::REJECTED_TABLE).position, Some(11));
}

/// Files no commit names (a worker stopped between writing and committing) are deleted by the
/// first vacuum of a process once older than `ORPHAN_AGE`, whatever the retention; younger
/// ones are left (their commit may still be under way); every stored event stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_no_commit_names_are_deleted_once_old() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    let engine = QueryEngine::new(&lake).unwrap();
    for n in 0..3u64 {
        let writer = lake.clone();
        tokio::task::spawn_blocking(move || {
            let commit = Commit {
                events: (n * 10..n * 10 + 10).map(|i| event(i, 1)).collect(),
                rejected: vec![],
            };
            writer.write(&commit, chrono::Utc::now(), &mut Default::default())
        })
        .await
        .unwrap()
        .unwrap();
    }
    let data = tmp.path().join("events").join("data");
    let stored = lake.files(EVENTS_TABLE).unwrap();
    let (old, young) = (
        data.join("part-orphan-old.zstd.parquet"),
        data.join("part-orphan-young.zstd.parquet"),
    );
    for orphan in [&old, &young] {
        std::fs::copy(tmp.path().join("events").join(&stored[0].path), orphan).unwrap();
    }
    let long_ago = std::time::SystemTime::now()
        - parwatch_lake::ORPHAN_AGE
        - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    // A retention of zero does not make a young orphan old.
    let policy = CompactionPolicy {
        max_files: 100,
        retention: std::time::Duration::ZERO,
        ..CompactionPolicy::default()
    };
    let stats = compact(&lake, policy).await;
    assert_eq!((stats.compactions, stats.files_deleted), (0, 1));
    assert!(!old.exists());
    assert!(young.exists());
    assert!(
        stored
            .iter()
            .all(|f| tmp.path().join("events").join(&f.path).exists())
    );
    assert_eq!(counts(&engine).await, (30, 30));
}
