//! The lake on an S3-compatible store (a real SeaweedFS on loopback): the same code path as on
//! a local folder. Writes, SQL, compaction and time travel work there; a store stopped
//! mid-write fails the write and a retry stores nothing twice; two writers racing on one
//! table: the log lets one win and fences the other; a partition's successor fences the
//! zombie that held it before.
#![cfg(feature = "testing")]

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use parwatch_lake::testing::ObjectStoreServer;
use parwatch_lake::{
    Commit, CompactionPolicy, EVENTS_TABLE, Error, Lake, LakeLocation, QueryEngine, StoredEvent,
    WriteProgress, Writer,
};
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;

fn event(i: u64) -> StoredEvent<'static> {
    let event = TestEvent::received(Channel::Counter)
        .id(format!("e{i}"))
        .at(format!("2024-04-{:02}T09:00:00+07:00", 1 + i % 3).as_str())
        .source("t")
        .agency(format!("A{}", i % 4))
        .dossier(format!("D{i}"));
    StoredEvent {
        event: event.build(),
        stream_seq: i + 1,
    }
}

fn commit(range: std::ops::Range<u64>) -> Commit<'static> {
    Commit {
        events: range.map(event).collect(),
        rejected: vec![],
    }
}

fn open(store: &ObjectStoreServer, prefix: &str) -> Lake {
    let location = LakeLocation::parse(&store.url(prefix))
        .unwrap()
        .with_options(store.storage_options());
    Lake::open(&location).unwrap()
}

fn count(engine: &QueryEngine, sql: &str) -> i64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let out = runtime.block_on(engine.sql(sql)).unwrap();
    out.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

#[test]
fn the_lake_on_s3_writes_queries_compacts_and_travels() {
    let store = ObjectStoreServer::start().unwrap();
    let lake = open(&store, "province/lake");
    for k in 0..5 {
        lake.write(
            &commit(k * 100..k * 100 + 100),
            chrono::Utc::now(),
            &mut WriteProgress::default(),
        )
        .unwrap();
    }
    let engine = QueryEngine::new(&lake).unwrap();
    assert_eq!(
        count(&engine, "SELECT count(DISTINCT event_id) FROM events"),
        500
    );
    assert_eq!(lake.stats(EVENTS_TABLE).position, Some(500));
    assert_eq!(lake.load_index().unwrap().event_count(), 500);
    let stats = lake
        .compact(&CompactionPolicy {
            max_files: 2,
            retention: std::time::Duration::ZERO,
            ..CompactionPolicy::default()
        })
        .unwrap();
    assert_eq!((stats.files_merged, stats.files_deleted), (5, 5));
    assert_eq!(lake.files(EVENTS_TABLE).unwrap().len(), 1);
    assert_eq!(count(&engine, "SELECT count(*) FROM events"), 500);
    assert_eq!(count(&engine, "SELECT count(*) FROM events_at(2)"), 200);
    // A second process opening the same URL sees the same table and position.
    let again = open(&store, "province/lake");
    assert_eq!(again.stats(EVENTS_TABLE).position, Some(500));
    assert_eq!(again.stats(EVENTS_TABLE).rows, 500);
}

#[test]
fn a_write_to_a_stopped_store_fails_and_its_retry_stores_nothing_twice() {
    let mut store = ObjectStoreServer::start().unwrap();
    let lake = open(&store, "lake");
    lake.write(
        &commit(0..100),
        chrono::Utc::now(),
        &mut WriteProgress::default(),
    )
    .unwrap();
    store.stop();
    let mut progress = WriteProgress::default();
    let pending = commit(100..200);
    assert!(
        lake.write(&pending, chrono::Utc::now(), &mut progress)
            .is_err()
    );
    store.restart().unwrap();
    lake.write(&pending, chrono::Utc::now(), &mut progress)
        .unwrap();
    // The same commit once more (an answer lost after it landed): found in the log.
    lake.write(&pending, chrono::Utc::now(), &mut progress)
        .unwrap();
    assert_eq!(lake.stats(EVENTS_TABLE).rows, 200);
    assert_eq!(lake.load_index().unwrap().event_count(), 200);
}

#[test]
fn of_two_writers_on_one_table_the_log_fences_the_stale_one() {
    let store = ObjectStoreServer::start().unwrap();
    // Both open the table at the same position, as two workers on one stream would.
    let (first, second) = (open(&store, "lake"), open(&store, "lake"));
    first
        .write(
            &commit(0..50),
            chrono::Utc::now(),
            &mut WriteProgress::default(),
        )
        .unwrap();
    let err = second
        .write(
            &commit(50..100),
            chrono::Utc::now(),
            &mut WriteProgress::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Fenced(_)), "{err}");
    // Racing: writers that both saw the same position commit at once; one wins.
    let (a, b) = (open(&store, "lake"), open(&store, "lake"));
    let race = std::thread::scope(|scope| {
        let one = scope.spawn(|| {
            a.write(
                &commit(100..150),
                chrono::Utc::now(),
                &mut WriteProgress::default(),
            )
        });
        let two = scope.spawn(|| {
            b.write(
                &commit(150..200),
                chrono::Utc::now(),
                &mut WriteProgress::default(),
            )
        });
        [one.join().unwrap(), two.join().unwrap()]
    });
    let won = race.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{race:?}");
    assert!(
        race.iter().any(|r| matches!(r, Err(Error::Fenced(_)))),
        "{race:?}"
    );
    assert_eq!(open(&store, "lake").stats(EVENTS_TABLE).rows, 100);
}

#[test]
fn a_partition_claimed_by_a_successor_fences_its_zombie_and_no_other_partition() {
    let store = ObjectStoreServer::start().unwrap();
    let now = chrono::Utc::now;
    let p0 = |epoch| Writer::Partition { index: 0, epoch };
    let (zombie, successor) = (open(&store, "lake"), open(&store, "lake"));
    assert_eq!(zombie.claim(p0(5)).unwrap(), None);
    zombie
        .write(&commit(0..50), now(), &mut WriteProgress::by(p0(5), None))
        .unwrap();
    // The zombie pauses; its lease passes to a successor, which resumes after its position.
    assert_eq!(successor.claim(p0(7)).unwrap(), Some(50));
    // The zombie wakes on a state older than the claim: the log's conflict check refuses it;
    // having read the claim, it is refused before committing.
    for attempt in 0..2 {
        let err = zombie
            .write(&commit(50..60), now(), &mut WriteProgress::by(p0(5), None))
            .unwrap_err();
        assert!(matches!(err, Error::Fenced(_)), "attempt {attempt}: {err}");
    }
    let err = zombie.claim(p0(6)).unwrap_err();
    assert!(
        matches!(err, Error::Fenced(_)),
        "an older epoch claims back: {err}"
    );
    // The successor goes on; the zombie's process may hold another partition beside it.
    let published = chrono::DateTime::from_timestamp_millis(1_764_000_000_123).unwrap();
    successor
        .write(
            &commit(50..100),
            now(),
            &mut WriteProgress::by(p0(7), Some(published)),
        )
        .unwrap();
    let p1 = Writer::Partition { index: 1, epoch: 8 };
    assert_eq!(zombie.claim(p1).unwrap(), None);
    zombie
        .write(&commit(100..120), now(), &mut WriteProgress::by(p1, None))
        .unwrap();
    // An unclaimed partition writes nothing.
    let p2 = Writer::Partition { index: 2, epoch: 9 };
    let err = zombie
        .write(&commit(120..130), now(), &mut WriteProgress::by(p2, None))
        .unwrap_err();
    assert!(matches!(err, Error::Fenced(_)), "{err}");
    let fresh = open(&store, "lake");
    assert_eq!(fresh.stats(EVENTS_TABLE).rows, 120);
    assert_eq!(fresh.load_index().unwrap().event_count(), 120);
    let position = |app: &str| fresh.app_version(EVENTS_TABLE, app).unwrap();
    assert_eq!(position("parwatch-ingest/0"), Some(100));
    assert_eq!(position("parwatch-ingest/1"), Some(120));
    assert_eq!(fresh.stats(EVENTS_TABLE).position, None, "no sole writer's");
    let states = fresh.partitions(3).unwrap();
    let held: Vec<_> = states
        .iter()
        .map(|s| (s.index, s.position, s.epoch, s.published_until_ms))
        .collect();
    assert_eq!(
        held,
        [
            (0, Some(100), Some(7), Some(1_764_000_000_123)),
            (1, Some(120), Some(8), None),
            (2, None, None, None),
        ]
    );
}
