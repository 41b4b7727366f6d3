//! A lake holding a value this build's contract does not know (a channel a newer publisher
//! sent): the server folds the rest, and reports the rows it could not read back in
//! `/api/v1/status` and `/metrics`, instead of dropping them silently.

use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use parwatch_lake::{Commit, EVENTS_TABLE, EventColumn, Lake, LakeLocation, StoredEvent};
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;
use serde_json::json;

use crate::harness::Parwatch;

/// The rows of `events` in `source` as a newer publisher's build would have stored them:
/// event `fax` with the channel `fax`.
fn newer_rows(source: &Lake) -> RecordBatch {
    let names: Vec<&str> = EventColumn::ALL.iter().map(|c| c.name()).collect();
    let files = source.files(EVENTS_TABLE).unwrap();
    let batch = source
        .read_file(EVENTS_TABLE, &files[0].path, &names, None)
        .unwrap()
        .remove(0);
    let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
    let old = batch.column_by_name("channel").unwrap().as_string::<i32>();
    let channel: StringArray = (0..batch.num_rows())
        .map(|i| match ids.value(i) {
            "fax" => Some("fax"),
            _ => (!old.is_null(i)).then(|| old.value(i)),
        })
        .collect();
    let columns: Vec<ArrayRef> = EventColumn::ALL
        .iter()
        .zip(batch.columns())
        .map(|(c, a)| match c {
            EventColumn::Channel => Arc::new(channel.clone()) as ArrayRef,
            _ => Arc::clone(a),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_report_rows_holding_a_value_this_build_does_not_know() {
    let tmp = tempfile::tempdir().unwrap();
    let events: Vec<StoredEvent<'static>> = [("fax", "D-1"), ("counter", "D-2")]
        .into_iter()
        .enumerate()
        .map(|(i, (id, dossier))| StoredEvent {
            event: TestEvent::received(Channel::Counter)
                .id(id)
                .dossier(dossier)
                .at("2024-04-02T09:00:00+07:00")
                .due("2024-04-09T17:00:00+07:00")
                .build(),
            stream_seq: i as u64 + 1,
        })
        .collect();
    let source = Lake::open(&LakeLocation::local(&tmp.path().join("source")).unwrap()).unwrap();
    let commit = Commit {
        events,
        rejected: vec![],
    };
    source
        .write(&commit, Utc::now(), &mut Default::default())
        .unwrap();
    let data = tmp.path().join("data");
    let lake = Lake::open(&LakeLocation::local(&data.join("lake")).unwrap()).unwrap();
    lake.append_batch(EVENTS_TABLE, newer_rows(&source), ("newer-publisher", 1))
        .unwrap();
    drop(lake);

    let server = Parwatch::serve_with(&data, &["--open"], &[]).await;
    let (status, body) = server.get_json("/api/v1/status").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], 2);
    assert_eq!(
        body["unknown_values"],
        json!([{"column": "channel", "value": "fax", "rows": 1}])
    );
    // Only the receipt it could read is counted in the metrics.
    let (_, received) = server
        .get_json("/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month")
        .await;
    assert_eq!(
        received["series"][0]["points"][0]["numerator"], 1,
        "{received}"
    );
    assert_eq!(
        server
            .counter(r#"parwatch_projection_unknown_values_total{column="channel",value="fax"}"#)
            .await,
        1
    );
    assert!(
        server.log_text().contains("cannot read back"),
        "logged: {}",
        server.log_text()
    );
}
