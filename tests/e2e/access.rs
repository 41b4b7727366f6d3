//! Access control over HTTP: tokens and roles, agency scopes no SQL escapes, budgets, the
//! audit trail, safe defaults, streamed results.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    Outgoing, Parwatch, create_token, free_port, lake_with_events, post_json, publish, token_id,
};

const OWN: &str = "000.00.01.H02";
const OTHER: &str = "000.00.02.H02";

/// Every value of the answer's first column.
fn first_column(answer: &Value) -> Vec<Value> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].clone())
        .collect()
}

/// A message the worker rejects (no `occurred_at`) that still names an agency.
fn rejected_for(agency: &str, n: usize) -> Outgoing {
    let body = json!({
        "event_id": format!("bad-{agency}-{n}"), "type": "dossier.received", "schema_version": 1,
        "source": "motcua-test", "agency_code": agency, "dossier_id": "D-X", "data": {},
    });
    Outgoing::json("par.events.v1.dossier.received", &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_scopes_hold_whatever_the_sql_and_roles_gate_each_route() {
    let (tmp, nats, up) = lake_with_events(420).await;
    publish(
        &nats.url(),
        vec![rejected_for(OWN, 1), rejected_for(OTHER, 2)],
    )
    .await;
    up.wait_for(
        "SELECT count(*) FROM rejected_events",
        json!(2),
        Duration::from_secs(30),
    )
    .await;
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let scoped = create_token(&data, "analyst", Some(OWN));
    let viewer = create_token(&data, "viewer", None);
    let scoped_viewer = create_token(&data, "viewer", Some(OWN));
    let server = Parwatch::serve(&data).await;

    let own_events = server
        .sql_as(
            &admin,
            &format!("SELECT count(*) FROM events WHERE agency_code = '{OWN}'"),
        )
        .await["rows"][0][0]
        .clone();
    assert_eq!(own_events, json!(60));
    assert_eq!(
        server.sql_as(&scoped, "SELECT count(*) FROM events").await["rows"][0][0],
        own_events
    );

    // Each query tries another way out; every agency it returns must be the token's own.
    let attempts = [
        "SELECT DISTINCT agency_code FROM events".to_owned(),
        "SELECT DISTINCT agency_code FROM (SELECT * FROM events) AS t".to_owned(),
        "WITH x AS (SELECT agency_code FROM events) SELECT DISTINCT agency_code FROM x".to_owned(),
        "SELECT agency_code FROM events UNION SELECT agency_code FROM dossiers \
         UNION SELECT agency_code FROM daily_agency_stats \
         UNION SELECT agency_code FROM rejected_events"
            .to_owned(),
        "SELECT DISTINCT e.agency_code FROM events e JOIN dossiers d ON d.dossier_id = e.dossier_id"
            .to_owned(),
        "SELECT DISTINCT d.agency_code FROM dossiers d CROSS JOIN events e".to_owned(),
        format!("SELECT DISTINCT agency_code FROM events WHERE agency_code <> '{OWN}' OR 1 = 1"),
        "SELECT DISTINCT agency_code FROM parwatch.public.events".to_owned(),
        "SELECT DISTINCT AGENCY_CODE FROM EVENTS".to_owned(),
        "SELECT DISTINCT agency_code FROM events WHERE agency_code IN \
         (SELECT agency_code FROM daily_agency_stats)"
            .to_owned(),
        "WITH RECURSIVE r(a) AS (SELECT agency_code FROM events UNION SELECT a FROM r) \
         SELECT DISTINCT a FROM r"
            .to_owned(),
        "SELECT DISTINCT agency_code FROM rejected_events".to_owned(),
        "SELECT DISTINCT agency_code FROM dossiers".to_owned(),
        "SELECT DISTINCT agency_code FROM daily_agency_stats".to_owned(),
        "SELECT DISTINCT agency_code FROM events e WHERE EXISTS \
         (SELECT 1 FROM events o WHERE o.agency_code <> e.agency_code) OR true"
            .to_owned(),
    ];
    for sql in &attempts {
        let answer = server.sql_as(&scoped, sql).await;
        let agencies = first_column(&answer);
        assert!(!agencies.is_empty(), "{sql}: no rows");
        assert!(
            agencies.iter().all(|a| a == OWN),
            "{sql} escaped the scope: {agencies:?}"
        );
    }
    // The same SQL unscoped does see other agencies (the attempts are not vacuous).
    let all = first_column(&server.sql_as(&admin, &attempts[0]).await);
    assert_eq!(all.len(), 7, "{all:?}");
    let rejected = first_column(&server.sql_as(&admin, &attempts[11]).await);
    assert_eq!(rejected.len(), 2, "{rejected:?}");

    // Every table the catalogue lists is scoped.
    let tables = first_column(
        &server
            .sql_as(
                &scoped,
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .await,
    );
    // events, rejected_events, agencies, and the projections: dossiers, daily_agency_stats,
    // plan_activities, directive_tasks, par_scores, agency_registry, agency_lineage, and the
    // 766 index's index_766 and index_766_inputs.
    assert_eq!(tables.len(), 12, "{tables:?}");
    for table in &tables {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE agency_code IS DISTINCT FROM '{OWN}'",
            table.as_str().unwrap()
        );
        assert_eq!(server.sql_as(&scoped, &sql).await["rows"][0][0], 0, "{sql}");
    }
    // Other catalogues, files and DDL do not reach the stored data at all.
    let lake = data.join("lake/events").display().to_string();
    for sql in [
        "SELECT count(*) FROM datafusion.public.events".to_owned(),
        format!("SELECT count(*) FROM '{lake}'"),
        format!("CREATE EXTERNAL TABLE raw STORED AS PARQUET LOCATION '{lake}/'"),
        format!("SELECT * FROM read_parquet('{lake}')"),
        "SET datafusion.catalog.information_schema = false".to_owned(),
    ] {
        let response = server.post_sql(Some(&scoped), &sql, None).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!((400..500).contains(&status), "{sql}: {status} {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{sql}"
        );
    }

    // Metrics: a scoped token gets its own agency, is refused another, ranks alone.
    let path = "/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month";
    let response = server
        .get(Some(&scoped_viewer), &format!("{path}&agency={OTHER}"))
        .await;
    assert_eq!(response.status(), 403);
    let grouped: Value = server
        .get(Some(&scoped_viewer), &format!("{path}&group_by=agency"))
        .await
        .json()
        .await
        .unwrap();
    let groups: Vec<_> = grouped["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["group"]["agency_code"].clone())
        .collect();
    assert_eq!(groups, vec![json!(OWN)], "{grouped}");
    let ranking = "/api/v1/ranking?metric=received&from=2024-04-01&to=2024-04-30";
    let own_rank: Value = server
        .get(Some(&scoped_viewer), ranking)
        .await
        .json()
        .await
        .unwrap();
    let everyone: Value = server
        .get(Some(&viewer), ranking)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own_rank["rows"].as_array().unwrap().len(), 1, "{own_rank}");
    assert_eq!(own_rank["rows"][0]["agency_code"], OWN);
    assert_eq!(everyone["rows"].as_array().unwrap().len(), 7);
    // Answers are kept per version and request: asked again in either order, each scope
    // still gets its own answer, never the other's.
    for (token, rows) in [(&viewer, 7), (&scoped_viewer, 1), (&viewer, 7)] {
        let again: Value = server.get(Some(token), ranking).await.json().await.unwrap();
        assert_eq!(again["rows"].as_array().unwrap().len(), rows, "{again}");
    }
    let grouped_all: Value = server
        .get(Some(&viewer), &format!("{path}&group_by=agency"))
        .await
        .json()
        .await
        .unwrap();
    let groups = grouped_all["series"].as_array().unwrap().len();
    assert!(
        groups > 1,
        "the province's agencies, not the scoped answer: {grouped_all}"
    );

    // Roles and tokens: viewers may not run SQL, nobody gets in without a valid token.
    let response = server.post_sql(Some(&viewer), "SELECT 1", None).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("analyst"),
        "{body}"
    );
    let response = server.post_sql(None, "SELECT 1", None).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let (head, last) = admin.split_at(admin.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    let response = server.post_sql(Some(&forged), "SELECT 1", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(server.get(None, path).await.status(), 401);
    assert_eq!(server.get(Some(&scoped), path).await.status(), 200);
    assert_eq!(server.get(None, "/healthz").await.status(), 200);

    // Dashboards: pages are open, their data needs a viewer; a scoped token is held to its
    // agency, and minting embed tokens needs an admin.
    assert_eq!(server.get(None, "/").await.status(), 200);
    assert_eq!(server.get(None, "/api/v1/dashboards").await.status(), 401);
    assert_eq!(
        server
            .get(Some(&viewer), "/api/v1/dashboards")
            .await
            .status(),
        200
    );
    let panel = "/api/v1/dashboards/agency/panels/received?from=2024-04-01&to=2024-04-30";
    for (token, path, status) in [
        (&viewer, format!("{panel}&agency={OTHER}"), 200),
        (&scoped_viewer, format!("{panel}&agency={OTHER}"), 403),
        (&scoped_viewer, format!("{panel}&agency={OWN}"), 200),
        (&scoped_viewer, panel.to_owned(), 200),
        (
            &scoped_viewer,
            format!("{panel}&agency={OWN}&compare={OTHER}"),
            403,
        ),
        (
            &scoped_viewer,
            "/api/v1/dashboards/quality/panels/stored".to_owned(),
            403,
        ),
        (
            &viewer,
            "/api/v1/dashboards/quality/panels/stored".to_owned(),
            200,
        ),
        (&scoped_viewer, "/api/v1/status".to_owned(), 403),
        (&scoped_viewer, "/api/v1/par-index".to_owned(), 200),
        (
            &scoped_viewer,
            format!("/api/v1/par-index/history?agency={OTHER}"),
            403,
        ),
    ] {
        let response = server.get(Some(token), &path).await;
        assert_eq!(response.status(), status, "{path}");
    }
    let own_panel: Value = server
        .get(Some(&scoped_viewer), panel)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own_panel["agency"], OWN, "{own_panel}");
    let agencies: Value = server
        .get(Some(&scoped_viewer), "/api/v1/agencies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agencies["agencies"], json!([OWN]));
    let mint = |token: Option<String>, agency: &str| {
        let base = server.base().to_owned();
        let body = json!({ "dashboard": "agency", "agency": agency, "ttl": "1h" });
        async move {
            post_json(
                &format!("{base}/api/v1/embed-tokens"),
                token.as_deref(),
                &body,
            )
            .await
        }
    };
    assert_eq!(mint(None, OWN).await.status(), 401);
    assert_eq!(mint(Some(viewer.clone()), OWN).await.status(), 403);
    let minted: Value = mint(Some(admin.clone()), OWN).await.json().await.unwrap();
    let embed = minted["token"].as_str().expect("an embed token");
    let embedded = server
        .get(
            None,
            &format!("/embed/api/panels/received?from=2024-04-01&to=2024-04-30&token={embed}"),
        )
        .await;
    assert_eq!(embedded.status(), 200);

    // The audit trail names the token, the rows and the time of each statement.
    let log = server.log_text();
    let audited = log
        .lines()
        .filter(|l| l.contains("parwatch::audit") && l.contains(token_id(&scoped)))
        .count();
    assert!(audited >= attempts.len(), "{audited} audit lines:\n{log}");
    assert!(log.contains("rows=") && log.contains("elapsed_ms="));
    drop(up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_keep_one_token_from_starving_others() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let heavy = create_token(&data, "analyst", None);
    let other = create_token(&data, "analyst", None);
    let viewer = create_token(&data, "viewer", None);
    let server = Parwatch::serve_with(
        &data,
        &["--sql-concurrent", "1", "--sql-timeout", "4"],
        &[("PARWATCH_SQL_PER_MINUTE", "5")],
    )
    .await;

    let slow = "SELECT count(*) FROM generate_series(1, 1000000000000)";
    let long = {
        let base = server.base().to_owned();
        let token = heavy.clone();
        tokio::spawn(async move {
            let url = format!("{base}/api/v1/sql");
            post_json(&url, Some(&token), &json!({ "sql": slow }))
                .await
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = server.post_sql(Some(&heavy), "SELECT 1", None).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("at a time"),
        "{body}"
    );
    // Others are not held up: another analyst's query, a dashboard's metric.
    let started = Instant::now();
    server.sql_as(&other, "SELECT 1").await;
    let metric = server
        .get(Some(&viewer), "/api/v1/metrics/received?bucket=month")
        .await;
    assert_eq!(metric.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(long.await.unwrap(), 422);

    // Five per minute (one more every 12 s): the rate limit answers within a few more.
    let mut admitted = 0;
    let response = loop {
        let response = server.post_sql(Some(&heavy), "SELECT 1", None).await;
        if response.status() == 429 {
            break response;
        }
        // Read the whole answer: the query holds its slot until its last row is sent.
        response.bytes().await.unwrap();
        admitted += 1;
        assert!(admitted <= 5, "no rate limit after {admitted} more queries");
    };
    assert!(
        response.headers().contains_key("retry-after"),
        "{:?}",
        response.headers()
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("per minute"),
        "{body}"
    );
    server.sql_as(&other, "SELECT 2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_only_when_started_so_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let open = Parwatch::serve_with(&data, &["--open"], &[]).await;
    assert!(
        open.log_text().contains("running OPEN"),
        "{}",
        open.log_text()
    );
    assert_eq!(open.post_sql(None, "SELECT 1", None).await.status(), 200);
    drop(open);

    let exposed = format!("0.0.0.0:{}", free_port());
    let mut refused = Parwatch::spawn(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            &exposed,
        ],
        &[],
        &data,
        "exposed",
    );
    let status = refused.wait_exit(Duration::from_secs(20));
    assert!(!status.success());
    let log = refused.log_text();
    assert!(log.contains("refusing to listen on 0.0.0.0"), "{log}");
    assert!(log.contains("parwatch token create"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_stream_and_download_as_parquet_and_limits_end_them_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Parwatch::serve_with(&data, &["--open", "--sql-max-rows", "400000"], &[]).await;

    // A large CSV arrives in chunks, without a length known up front.
    let response = server
        .post_sql(
            None,
            "SELECT value FROM generate_series(1, 300000)",
            Some("csv"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none());
    let mut chunks = 0;
    let mut text = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert!(chunks > 1, "one chunk");
    let text = String::from_utf8(text).unwrap();
    let values: Vec<u64> = text.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(values.len(), 300_000);
    assert_eq!(values.iter().sum::<u64>(), 300_000 * 300_001 / 2);

    // Parquet: a file any Parquet reader opens, with the same rows.
    let response = server
        .post_sql(
            None,
            "SELECT value, value * 2 AS twice, 'Sở Tư pháp' AS name FROM generate_series(1, 250000)",
            Some("parquet"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.contains(".parquet"), "{disposition}");
    let bytes = response.bytes().await.unwrap();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 8192)
            .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        assert_eq!(batch.num_columns(), 3);
        rows += batch.num_rows();
    }
    assert_eq!(rows, 250_000);

    // Past the row limit: JSON ends with an error member, other formats are cut off.
    let over = "SELECT value FROM generate_series(1, 1000000)";
    let body: Value = server
        .post_sql(None, over, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("row limit"),
        "{}",
        body["error"]
    );
    assert!(body["row_count"].as_u64().unwrap() <= 400_000);
    let cut = server.post_sql(None, over, Some("csv")).await.bytes().await;
    assert!(cut.is_err(), "a truncated CSV must not look complete");
}
