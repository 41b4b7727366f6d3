//! The metric endpoints over HTTP agree with SQL over the same lake.

use serde_json::{Value, json};

use crate::harness::{Parwatch, lake_with_events, publish, valid_messages};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_ranking_over_http() {
    let (tmp, _nats, mut parwatch) = lake_with_events(3_000).await;

    let (status, catalogue) = parwatch.get_json("/api/v1/metrics").await;
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
    let (status, body) = parwatch
        .get_json("/api/v1/metrics/received?from=2024-04-01&to=2024-04-03&bucket=day")
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
    let (_, uptake) = parwatch.get_json("/api/v1/metrics/online_uptake?from=2024-04-01&to=2024-04-30&bucket=month&group_by=agency",
    )
    .await;
    let series = uptake["series"].as_array().unwrap();
    assert_eq!(series.len(), 7);
    let total: i64 = series
        .iter()
        .map(|s| s["points"][0]["denominator"].as_i64().unwrap())
        .sum();
    let received: i64 = parwatch
        .get_json("/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month")
        .await
        .1["series"][0]["points"][0]["numerator"]
        .as_i64()
        .unwrap();
    assert_eq!(total, received);

    let (status, ranking) = parwatch
        .get_json("/api/v1/ranking?metric=on_time_rate&from=2024-04-01&to=2024-04-30")
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
        let (status, body) = parwatch.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{path}: {body}"
        );
    }

    let (status, openapi) = parwatch.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    for path in ["/api/v1/sql", "/api/v1/metrics/{name}", "/api/v1/ranking"] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
    }

    // The projections are SQL tables too.
    let dossiers = parwatch.scalar("SELECT count(*) FROM dossiers").await;
    assert_eq!(dossiers, json!(500));

    // `parwatch rebuild` recomputes the projections from the raw events; a server started
    // afterwards answers the same.
    let before = parwatch.get_json("/api/v1/metrics/on_time_rate?from=2024-04-01&to=2024-04-30&bucket=week&group_by=agency",
    )
    .await
    .1;
    assert!(parwatch.terminate().success());
    let data = tmp.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args(["rebuild", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("from 3000 events: 500 dossiers, 7 agencies"),
        "{stdout}"
    );
    assert!(data.join("lake/projections/dossiers.parquet").exists());
    let serve = Parwatch::serve_with(&data, &["--open"], &[]).await;
    let after = serve.get_json("/api/v1/metrics/on_time_rate?from=2024-04-01&to=2024-04-30&bucket=week&group_by=agency",
    )
    .await
    .1;
    assert_eq!(before, after);
}

/// `as_of` answers as the endpoint did at that version or time, after late events restated
/// the bucket asked about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_and_ranking_answers_travel_back_in_time() {
    let (_tmp, nats, parwatch) = lake_with_events(600).await;
    let paths = [
        "/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month&group_by=agency",
        "/api/v1/ranking?metric=on_time_rate&from=2024-04-01&to=2024-04-30",
    ];
    let mut then = Vec::new();
    for path in paths {
        let (status, body) = parwatch.get_json(path).await;
        assert_eq!(status, 200, "{body}");
        then.push(body);
    }
    let version = then[0]["events_version"].as_u64().expect("a version");
    assert_eq!(then[1]["events_version"], json!(version));
    // Answers carry a validator; the same answer asked again with it is a 304 without a body.
    let url = format!("{}{}", parwatch.base(), paths[0]);
    let tag = revalidate(&url, None).await;
    assert_eq!(revalidate(&url, Some(&tag)).await, tag);
    let moment = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Twenty more dossiers of April 2024 arrive late: April is restated.
    publish(&nats.url(), valid_messages(600..720, false)).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(720),
            std::time::Duration::from_secs(30),
        )
        .await;
    let mut now = Vec::new();
    for (path, before) in paths.iter().zip(&then) {
        let (_, body) = parwatch.get_json(path).await;
        assert_ne!(body["events_version"], json!(version));
        let moved = |b: &Value| {
            b.get("series")
                .map_or_else(|| b["rows"].clone(), |s| s.clone())
        };
        assert_ne!(moved(&body), moved(before), "{path}: April restated");
        now.push(body);
    }
    let latest = now[0]["events_version"].as_u64().unwrap();
    // The old validator no longer matches; as of the old version it does again.
    let new_tag = revalidate(&url, Some(&tag)).await;
    assert_ne!(new_tag, tag);
    let old_url = format!("{url}&as_of={version}");
    assert_eq!(revalidate(&old_url, Some(&tag)).await, tag);

    for ((path, before), after) in paths.iter().zip(&then).zip(&now) {
        let (status, body) = parwatch.get_json(&format!("{path}&as_of={version}")).await;
        assert_eq!((status, &body), (200, before), "{path} as of {version}");
        // The version current at a time: the same answer (a compaction since may have
        // given the same rows a newer version number).
        let at = moment.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let (status, mut body) = parwatch
            .get_json(&format!("{path}&as_of={}", at.replace('+', "%2B")))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["events_version"].as_u64().unwrap() < latest);
        body["events_version"] = json!(version);
        assert_eq!(&body, before, "{path} as of {at}");
        let (_, body) = parwatch.get_json(&format!("{path}&as_of={latest}")).await;
        assert_eq!(&body, after, "{path} as of {latest}");
    }

    for (as_of, word) in [
        ("999999", "has no version"),
        ("1990-01-01", "has no version"),
        ("yesterday", "neither a version"),
    ] {
        let (status, body) = parwatch
            .get_json(&format!("{}&as_of={as_of}", paths[0]))
            .await;
        assert_eq!(status, 400, "{as_of}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(word), "{as_of}: {message}");
        assert!(
            !message.contains("/tmp") && !message.contains("file:"),
            "{message}"
        );
    }
}

/// GETs `url`, with `If-None-Match: tag` when given: 304 without a body when `tag` is still
/// the answer's, else 200; returns the `ETag` either way.
async fn revalidate(url: &str, tag: Option<&str>) -> String {
    let mut request = reqwest::Client::new().get(url);
    if let Some(tag) = tag {
        request = request.header("If-None-Match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(headers["cache-control"], "private, no-cache");
    match status {
        304 => {
            assert_eq!(Some(etag.as_str()), tag, "a 304 names the tag asked about");
            assert!(body.is_empty());
        }
        200 => {
            assert_ne!(
                Some(etag.as_str()),
                tag,
                "a 200 for a tag that still matches"
            );
            serde_json::from_slice::<Value>(&body).expect("a JSON body");
        }
        other => panic!("{url}: {other}"),
    }
    etag
}
