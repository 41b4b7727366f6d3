//! The PostgreSQL endpoint with real clients: Debian's `psql` (simple protocol, catalogue
//! queries, `\gdesc`) and libpq through psycopg (extended protocol, binary results).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Parwatch, create_token, token_id};
use crate::ingest::lake_with_events;

const OWN: &str = "000.00.01.H02";

/// `psql` against the endpoint with `password`; (success, stdout, stderr).
pub(crate) fn psql(
    port: u16,
    password: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut command = Command::new("psql");
    command
        .args(["-X", "-w", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "analyst", "-d", "parwatch", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command
        .spawn()
        .expect("psql (Debian's postgresql-client) is needed");
    // Written from another thread: a long script's answers would fill the output pipes first.
    let mut input = child.stdin.take().unwrap();
    let text = stdin.unwrap_or_default().to_owned();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        input.write_all(text.as_bytes())
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One unaligned, tuples-only answer of `psql -c`.
fn psql_value(port: u16, password: &str, sql: &str) -> String {
    let (ok, out, err) = psql(port, password, &["-A", "-t", "-F", "|", "-c", sql], None);
    assert!(ok, "{sql}: {err}");
    out.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_libpq_query_over_the_postgres_protocol() {
    let (tmp, _nats, up) = lake_with_events(420).await;
    let data = tmp.path().join("data");
    let analyst = create_token(&data, "analyst", None);
    let scoped = create_token(&data, "analyst", Some(OWN));
    let viewer = create_token(&data, "viewer", None);
    let server = Parwatch::serve_with(&data, &["--sql-timeout", "3"], &[]).await;
    let port = server.pg_port();

    // Types: text with Vietnamese, booleans, nulls, timestamps, dates, floats.
    assert_eq!(
        psql_value(
            port,
            &analyst,
            "SELECT 'Sở Tư pháp Bà Rịa - Vũng Tàu' AS ten, true AS b, false AS f, \
             CAST(NULL AS INT) AS n, DATE '2024-04-01' AS d, CAST(3.5 AS DOUBLE) AS x"
        ),
        "Sở Tư pháp Bà Rịa - Vũng Tàu|t|f||2024-04-01|3.5"
    );
    let row = psql_value(
        port,
        &analyst,
        "SELECT occurred_at, digitized, channel, event_date FROM events WHERE event_id = 'ev-000005'",
    );
    assert!(
        row.starts_with("2024-03-31 18:35:00") && row.ends_with("+00|f||2024-04-01"),
        "{row}"
    );
    // The same numbers as HTTP SQL.
    let http: Value = server
        .post_sql(Some(&analyst), "SELECT count(*) FROM events", None)
        .await
        .json()
        .await
        .unwrap();
    let http = http["rows"][0][0].clone();
    assert_eq!(
        psql_value(port, &analyst, "SELECT count(*) FROM events"),
        http.to_string()
    );
    assert_eq!(http, json!(420));

    // Catalogue queries psql sends for \dt, \d, \d events.
    let (ok, tables, err) = psql(port, &analyst, &["-c", "\\dt"], None);
    assert!(ok, "{err}");
    assert!(
        tables.contains("events") && tables.contains("rejected_events"),
        "{tables}"
    );
    let (ok, all, err) = psql(port, &analyst, &["-c", "\\d"], None);
    assert!(ok, "{err}");
    assert!(
        all.contains("dossiers") && all.contains("daily_agency_stats"),
        "{all}"
    );
    let (ok, columns, err) = psql(port, &analyst, &["-c", "\\d events"], None);
    assert!(ok, "{err}");
    for line in [
        "occurred_at    | timestamp with time zone",
        "digitized      | boolean",
        "agency_code    | text",
    ] {
        assert!(columns.contains(line), "{line} missing from:\n{columns}");
    }
    // \gdesc describes without running: Parse and Describe of the extended protocol.
    let (ok, described, err) = psql(
        port,
        &analyst,
        &[],
        Some("SELECT channel, count(*) AS n FROM events GROUP BY channel \\gdesc\n"),
    );
    assert!(ok, "{err}");
    assert!(
        described.contains("channel | text") && described.contains("n       | bigint"),
        "{described}"
    );

    // libpq's extended protocol: bound parameters, prepared statements, binary results.
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/e2e/clients/extended.py"
    );
    let out = Command::new(&python)
        .args([script, &port.to_string(), &analyst, OWN])
        .output()
        .expect("python with psycopg (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["count"], 60, "{seen}");
    assert_eq!(seen["prepared"], 60, "{seen}");
    assert_eq!(seen["echo"], json!(["Sở Tư pháp", 42, true]));
    assert_eq!(seen["binary"], json!(["2024-03-31T18:35:00+00:00", false]));
    assert_eq!(seen["delete"][0], "25006", "{seen}");

    // SQLAlchemy (pandas' read_sql, Superset) connects: it parses version(), opens savepoints,
    // looks types up with to_regtype, binds parameters and lists tables and views.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/e2e/clients/sqlalchemy_read.py"
    );
    let out = Command::new(&python)
        .args([script, &port.to_string(), &analyst, OWN])
        .output()
        .expect("python with SQLAlchemy (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["server_version"], json!([16, 6]), "{seen}");
    assert_eq!(seen["count"], 60, "{seen}");
    assert_eq!(
        seen["tables"],
        json!(["agencies", "events", "rejected_events"])
    );
    assert!(
        seen["views"]
            .as_array()
            .unwrap()
            .contains(&json!("dossiers")),
        "{seen}"
    );

    // Read-only, smuggling and limits give PostgreSQL errors; the server stays up.
    for (sql, says) in [
        ("DROP TABLE events", "only read-only queries"),
        ("SELECT 1; DROP TABLE events", "only read-only queries"),
        (
            "COPY (SELECT 1) TO '/tmp/parwatch-pg.csv'",
            "only read-only queries",
        ),
        (
            "SELECT count(*) FROM generate_series(1, 1000000000000)",
            "time limit",
        ),
    ] {
        let started = Instant::now();
        let (ok, _, err) = psql(port, &analyst, &["-c", sql], None);
        assert!(!ok, "{sql} succeeded");
        assert!(err.contains(says), "{sql}: {err}");
        assert!(started.elapsed() < Duration::from_secs(8), "{sql}");
    }
    // Clients' own transaction and SET statements are harmless no-ops.
    assert_eq!(
        psql_value(
            port,
            &analyst,
            "BEGIN; SET application_name = 'bi'; SELECT 7; COMMIT"
        ),
        "BEGIN\nSET\n7\nCOMMIT"
    );

    // Settings BI tools read at connect time.
    assert_eq!(
        psql_value(port, &analyst, "SHOW TRANSACTION ISOLATION LEVEL"),
        "read committed"
    );
    assert_eq!(psql_value(port, &analyst, "SHOW search_path"), "public");
    assert_eq!(
        psql_value(
            port,
            &analyst,
            "SELECT current_database(), n.nspname, c.relname FROM pg_catalog.pg_class c              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace              WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY c.relname"
        ),
        "parwatch|public|agencies\nparwatch|public|events\nparwatch|public|rejected_events"
    );

    // A scoped token sees its agency only, here too.
    assert_eq!(
        psql_value(
            port,
            &scoped,
            "SELECT DISTINCT e.agency_code FROM events e CROSS JOIN dossiers d \
             UNION SELECT agency_code FROM daily_agency_stats"
        ),
        OWN
    );
    // Logins: a wrong token, a viewer's token.
    let (ok, _, err) = psql(port, "pwt_nothing_here", &["-c", "SELECT 1"], None);
    assert!(!ok && err.contains("not valid"), "{err}");
    let (ok, _, err) = psql(port, &viewer, &["-c", "SELECT 1"], None);
    assert!(!ok && err.contains("analyst"), "{err}");

    let log = server.log_text();
    assert!(
        log.lines().any(|l| l.contains("parwatch::audit")
            && l.contains("via=\"pg\"")
            && l.contains(token_id(&scoped))),
        "{log}"
    );
    drop(up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_wide_sql_cap_counts_postgres_sessions_too() {
    let (tmp, _nats, up) = lake_with_events(60).await;
    drop(up);
    let data = tmp.path().join("data");
    let analyst = create_token(&data, "analyst", None);
    let server =
        Parwatch::serve_with(&data, &["--sql-running", "1", "--sql-timeout", "8"], &[]).await;
    let port = server.pg_port();
    // One long statement over HTTP holds the only running slot.
    let base = server.base().to_owned();
    let token = analyst.clone();
    let long = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/sql"))
            .bearer_auth(token)
            .json(&json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000)"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let started = Instant::now();
    let (ok, _, err) = psql(port, &analyst, &["-c", "SELECT 1"], None);
    assert!(!ok, "a PostgreSQL statement ran past the server-wide cap");
    assert!(
        err.contains("running its most SQL queries at once"),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "refused without waiting"
    );
    assert_eq!(long.await.unwrap().unwrap(), 422);
    // The slot is free again.
    assert_eq!(psql_value(port, &analyst, "SELECT 1"), "1");
}
