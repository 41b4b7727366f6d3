//! Time travel: `events_at(version)` and `events_at('time')` read the table as it was, scoped
//! callers still see only their own rows, and a version that is not kept is refused with a
//! message that names no server path.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use parwatch_lake::{
    Commit, EVENTS_TABLE, ErrorKind, Lake, LakeLocation, QueryEngine, Scope, StoredEvent,
};
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;

fn event(i: u64) -> StoredEvent<'static> {
    let event = TestEvent::received(Channel::Online)
        .id(format!("e{i}"))
        .at("2024-04-01T09:00:00+07:00")
        .source("t")
        .agency(if i.is_multiple_of(2) { "A0" } else { "A1" })
        .dossier(format!("D{i}"));
    StoredEvent {
        event: event.build(),
        stream_seq: i + 1,
    }
}

async fn count(engine: &QueryEngine, scope: &Scope, sql: &str) -> i64 {
    let out = engine.session(scope).unwrap().sql(sql).await.unwrap();
    out.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_reads_as_it_was_at_a_version_or_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    let mut moments = Vec::new();
    // Version 0 creates the table; commits 1, 2, 3 add 10 events each.
    for commit in 0..3u64 {
        let events = (commit * 10..commit * 10 + 10).map(event).collect();
        let writer = lake.clone();
        tokio::task::spawn_blocking(move || {
            writer.write(
                &Commit {
                    events,
                    rejected: vec![],
                },
                chrono::Utc::now(),
                &mut Default::default(),
            )
        })
        .await
        .unwrap()
        .unwrap();
        moments.push(chrono::Utc::now());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lake.stats(EVENTS_TABLE).version, 3);
    let engine = QueryEngine::new(&lake).unwrap();
    let all = Scope::All;
    assert_eq!(
        count(&engine, &all, "SELECT count(*) FROM events").await,
        30
    );
    for version in 0..=3 {
        let sql = format!("SELECT count(*) FROM events_at({version})");
        assert_eq!(count(&engine, &all, &sql).await, 10 * version, "{sql}");
    }
    // At a time: the version current then.
    let sql = format!(
        "SELECT count(*) FROM events_at('{}')",
        moments[1].to_rfc3339()
    );
    assert_eq!(count(&engine, &all, &sql).await, 20);
    // A scoped caller sees its own rows of the past too.
    let a0 = Scope::Agency("A0".to_owned());
    assert_eq!(
        count(&engine, &a0, "SELECT count(*) FROM events_at(2)").await,
        10
    );
    let foreign = "SELECT count(*) FROM events_at(2) WHERE agency_code = 'A1'";
    assert_eq!(count(&engine, &a0, foreign).await, 0);

    // A version that does not exist, and arguments that are not a moment.
    for (sql, expected) in [
        ("SELECT count(*) FROM events_at(99)", "has no version 99"),
        (
            "SELECT count(*) FROM events_at('soon')",
            "takes one argument",
        ),
        ("SELECT count(*) FROM events_at(1, 2)", "takes one argument"),
    ] {
        let err = engine.sql(sql).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Plan, "{sql}: {err}");
        let message = err.client_message();
        assert!(message.contains(expected), "{sql}: {message}");
        let root = tmp.path().display().to_string();
        assert!(!message.contains(root.trim_start_matches('/')), "{message}");
    }
}
