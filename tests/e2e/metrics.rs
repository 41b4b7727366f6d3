//! The metric endpoints over HTTP agree with SQL over the same lake.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{LocalNats, Outgoing, Parwatch, publish};
use crate::ingest::valid_event;

async fn get(parwatch: &Parwatch, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", parwatch.base()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_ranking_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let messages = (0..3_000)
        .map(|i| {
            let (subject, event) = valid_event(i);
            Outgoing {
                subject,
                body: serde_json::to_vec(&event).unwrap(),
                msg_id: None,
            }
        })
        .collect();
    publish(&nats.url(), messages).await;
    let parwatch = Parwatch::up(&nats.url(), &tmp.path().join("data"), &[]).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(3_000),
            Duration::from_secs(30),
        )
        .await;

    let (status, catalogue) = get(&parwatch, "/api/v1/metrics").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = catalogue["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"apology_rate") && names.contains(&"overdue_backlog"),
        "{names:?}"
    );
    assert_eq!(catalogue["metrics"][1]["better"], "higher");

    // Daily received counts equal a direct SQL count of first receipts per local day.
    let (status, body) = get(
        &parwatch,
        "/api/v1/metrics/received?from=2024-04-01&to=2024-04-03&bucket=day",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tz"], "Asia/Ho_Chi_Minh");
    let points = body["series"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(body["series"][0]["group"], json!({}));
    let sql = parwatch
        .sql("SELECT CAST(CAST(occurred_at + INTERVAL '7 hours' AS DATE) AS VARCHAR) AS d, count(DISTINCT dossier_id) \
              FROM events WHERE type = 'dossier.received' GROUP BY 1 ORDER BY 1 LIMIT 3")
        .await;
    for (point, row) in points.iter().zip(sql["rows"].as_array().unwrap()) {
        assert_eq!(point["bucket"], row[0]);
        assert_eq!(point["numerator"], row[1]);
        assert_eq!(point["denominator"], Value::Null);
    }

    // Rates carry numerator and denominator; grouping gives one series per agency.
    let (_, uptake) = get(
        &parwatch,
        "/api/v1/metrics/online_uptake?from=2024-04-01&to=2024-04-30&bucket=month&group_by=agency",
    )
    .await;
    let series = uptake["series"].as_array().unwrap();
    assert_eq!(series.len(), 7);
    let total: i64 = series
        .iter()
        .map(|s| s["points"][0]["denominator"].as_i64().unwrap())
        .sum();
    let received: i64 = get(
        &parwatch,
        "/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month",
    )
    .await
    .1["series"][0]["points"][0]["numerator"]
        .as_i64()
        .unwrap();
    assert_eq!(total, received);

    let (status, ranking) = get(
        &parwatch,
        "/api/v1/ranking?metric=on_time_rate&from=2024-04-01&to=2024-04-30",
    )
    .await;
    assert_eq!(status, 200, "{ranking}");
    assert_eq!(
        ranking["previous"],
        json!({"from": "2024-03-02", "to": "2024-03-31"})
    );
    assert_eq!(ranking["rows"].as_array().unwrap().len(), 7);
    assert_eq!(ranking["rows"][0]["rank"], 1);

    // Mistakes are 400 with a message naming them.
    for (path, word) in [
        ("/api/v1/metrics/nope?from=2024-01-01&to=2024-02-01", "nope"),
        ("/api/v1/metrics/received?bucket=fortnight", "fortnight"),
        ("/api/v1/metrics/received?from=2024-13-01", "2024-13-01"),
        (
            "/api/v1/metrics/received?from=2024-05-01&to=2024-04-01",
            "after",
        ),
        ("/api/v1/ranking?from=2024-01-01", "metric"),
    ] {
        let (status, body) = get(&parwatch, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{path}: {body}"
        );
    }

    // The projections are SQL tables too.
    let dossiers = parwatch.scalar("SELECT count(*) FROM dossiers").await;
    assert_eq!(dossiers, json!(500));
}
