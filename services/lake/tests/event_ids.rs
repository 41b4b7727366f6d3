//! Every event id, UUID or not, is stored as the text it was published as; SQL, the
//! deduplication index and compaction see every id exactly so.

use datafusion::arrow::array::AsArray;
use parwatch_lake::{
    Commit, CompactionPolicy, DedupIndex, EVENTS_TABLE, Lake, LakeLocation, QueryEngine,
    StoredEvent,
};
use parwatch_proto::testing::TestEvent;

const IDS: [&str; 5] = [
    "0190f3c2-7a1b-7cc0-9d1e-2f3a4b5c6d7e",
    "8f14e45f-ceea-467f-a0e6-00000000002a",
    // Not canonical lowercase UUIDs.
    "0190F3C2-7A1B-7CC0-9D1E-2F3A4B5C6D7E",
    "HS-000.00.17.H02-240305-0001",
    "x",
];

fn event(i: usize, id: &str) -> StoredEvent<'static> {
    let event = TestEvent::late()
        .id(id)
        .at(format!("2024-04-0{}T09:00:00+07:00", 1 + i % 2).as_str())
        .source("t")
        .agency("A")
        .dossier(format!("D{i}"));
    StoredEvent {
        event: event.build(),
        stream_seq: i as u64 + 1,
    }
}

async fn ids(engine: &QueryEngine, sql: &str) -> Vec<String> {
    let out = engine.sql(sql).await.unwrap();
    let mut ids: Vec<String> = out
        .batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .map(|i| column.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_reads_back_exactly_through_sql_the_index_and_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    // One file per id, so compaction has files to merge.
    for (i, id) in IDS.iter().enumerate() {
        let commit = Commit {
            events: vec![event(i, id)],
            rejected: vec![],
        };
        lake.write(&commit, chrono::Utc::now(), &mut Default::default())
            .unwrap();
    }
    let mut expected: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let engine = QueryEngine::new(&lake).unwrap();
    let all = "SELECT event_id FROM events";
    assert_eq!(ids(&engine, all).await, expected);
    for id in IDS {
        let one = format!("SELECT event_id FROM events WHERE event_id = '{id}'");
        assert_eq!(ids(&engine, &one).await, [id], "filter on {id}");
    }
    // The stored columns stay out of sight; the type is text.
    let out = engine
        .sql("SELECT * FROM events WHERE event_id = 'x'")
        .await
        .unwrap();
    let schema = out.schema;
    assert!(schema.field_with_name("event_uuid").is_err());
    assert_eq!(
        schema.field_with_name("event_id").unwrap().data_type(),
        &datafusion::arrow::datatypes::DataType::Utf8
    );

    let index = lake.load_index().unwrap();
    assert_eq!(index.event_count(), IDS.len());
    for id in IDS {
        assert!(index.has_event(DedupIndex::key(id)), "index lacks {id}");
    }

    let stats = lake
        .compact(&CompactionPolicy {
            max_files: 2,
            idle: std::time::Duration::ZERO,
            ..CompactionPolicy::default()
        })
        .unwrap();
    assert_eq!(stats.compactions, 1);
    assert_eq!(lake.files(EVENTS_TABLE).unwrap().len(), 1);
    assert_eq!(ids(&engine, all).await, expected);
    assert_eq!(lake.load_index().unwrap().event_count(), IDS.len());
}
