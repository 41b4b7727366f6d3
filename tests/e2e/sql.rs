//! The SQL endpoint: JSON answers, CSV and Arrow round-trips, and refusals.

use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use serde_json::json;

use crate::harness::{Parwatch, lake_with_events, publish, valid_messages};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_answers_in_json_csv_and_arrow_and_refuses_writes() {
    let (tmp, nats, parwatch) = lake_with_events(60).await;
    // A separate read-only server over the same lake sees the same data.
    let serve = Parwatch::serve_with(&tmp.path().join("data"), &["--open"], &[]).await;

    let sql = "SELECT type, count(*) AS n, min(occurred_at) AS first FROM events \
               GROUP BY type ORDER BY type";
    let answer = serve.sql(sql).await;
    assert_eq!(
        answer["columns"][0],
        json!({"name": "type", "type": "Utf8"})
    );
    assert_eq!(answer["columns"][1], json!({"name": "n", "type": "Int64"}));
    assert_eq!(answer["row_count"], 6);
    assert_eq!(
        answer["rows"][0],
        json!(["dossier.apology", 10, "2024-03-31T18:34:00Z"])
    );
    assert!(answer["elapsed_ms"].as_f64().unwrap() >= 0.0);
    // Without an agency directory its table is there, empty, so joins to it still run.
    assert_eq!(serve.scalar("SELECT count(*) FROM agencies").await, 0);

    let received = serve
        .sql(
            "SELECT channel, online_mode, digitized, data FROM events WHERE event_id = 'ev-000000'",
        )
        .await;
    let row = &received["rows"][0];
    assert_eq!(row[0], "online");
    assert_eq!(row[1], "full");
    assert_eq!(row[2], json!(null));
    let data: serde_json::Value = serde_json::from_str(row[3].as_str().unwrap()).unwrap();
    assert_eq!(data["channel"], "online");

    // CSV: header plus the same rows.
    let (status, body) = serve.sql_raw(sql, Some("csv")).await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(body.to_vec()).unwrap();
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines[0], "type,n,first");
    assert_eq!(lines.len(), 7);
    assert!(
        lines[1].starts_with("dossier.apology,10,2024-03-31T18:34:00"),
        "{}",
        lines[1]
    );

    // Arrow IPC stream: decodes to the same values.
    let (status, body) = serve.sql_raw(sql, Some("arrow")).await;
    assert_eq!(status, 200);
    let batches: Vec<RecordBatch> =
        StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let total: i64 = batches
        .iter()
        .map(|b| {
            b.column(1)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(total, 60);
    assert_eq!(
        batches[0].column(0).as_string::<i32>().value(0),
        "dossier.apology"
    );

    // Anything but a query is refused with a 4xx and a message; the data is untouched.
    let out = tmp.path().join("copied.csv");
    for statement in [
        "DROP TABLE events".to_owned(),
        "INSERT INTO events (event_id) VALUES ('x')".to_owned(),
        format!("COPY (SELECT * FROM events) TO '{}'", out.display()),
        "CREATE TABLE t AS SELECT 1".to_owned(),
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc'".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        "SELECT 1; DROP TABLE events".to_owned(),
    ] {
        let (status, body) = serve.sql_raw(&statement, None).await;
        assert!((400..500).contains(&status), "{statement}: {status}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(!error["error"].as_str().unwrap().is_empty(), "{statement}");
    }
    assert!(!out.exists());
    assert_eq!(serve.scalar("SELECT count(*) FROM events").await, json!(60));

    // Bad SQL: 400 with DataFusion's message.
    let (status, body) = serve.sql_raw("SELECT nope FROM events", None).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("nope"));
    let (status, _) = serve.sql_raw("SELECT 1", Some("xml")).await;
    assert_eq!(status, 400);

    // Files landed after the server started are visible without a restart.
    publish(&nats.url(), valid_messages(60..70, false)).await;
    serve
        .wait_for(
            "SELECT count(*) FROM events",
            json!(70),
            Duration::from_secs(30),
        )
        .await;
    drop(parwatch);
}
