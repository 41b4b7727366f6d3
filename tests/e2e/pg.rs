//! The PostgreSQL endpoint with real clients: Debian's `psql` (simple protocol, catalogue
//! queries, `\gdesc`), libpq through psycopg (extended protocol, binary results), SQLAlchemy's
//! inspector and pandas over psycopg and psycopg2 (what Superset and notebooks do), and pgjdbc
//! (what DBeaver and Metabase do). What they get is checked against the HTTP SQL API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Parwatch, create_token, lake_with_events, psql, token_id};

const OWN: &str = "000.00.01.H02";

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

    // A correlated subquery is answered, not turned into NULLs (as the catalogue emulation
    // would answer its own).
    let correlated = "SELECT DISTINCT o.agency_code, (SELECT count(*) FROM events e \
                      WHERE e.agency_code = o.agency_code) AS n FROM events o ORDER BY 1";
    let (_, rows) = http_sql(&server, &analyst, correlated).await;
    let rows: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}|{}", r[0].as_str().unwrap(), r[1]))
        .collect();
    assert_eq!(psql_value(port, &analyst, correlated), rows.join("\n"));
    // Every agency's count answered (a NULL would be `null` here and an empty cell in psql).
    assert!(
        rows.iter().all(|r| r
            .split('|')
            .nth(1)
            .is_some_and(|n| n.parse::<u64>().is_ok())),
        "{rows:?}"
    );

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
    let seen = python_client("extended.py", &[&port.to_string(), &analyst, OWN]);
    assert_eq!(seen["count"], 60, "{seen}");
    assert_eq!(seen["prepared"], 60, "{seen}");
    assert_eq!(seen["echo"], json!(["Sở Tư pháp", 42, true]));
    assert_eq!(seen["binary"], json!(["2024-03-31T18:35:00+00:00", false]));
    assert_eq!(seen["delete"][0], "25006", "{seen}");

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

/// A client program of `tests/e2e/clients/`.
fn client_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/e2e/clients")
        .join(name)
}

/// Runs a Python client (with `$PARWATCH_TEST_PYTHON`, the virtualenv `tests/run.sh` sets up);
/// the JSON it prints.
fn python_client(script: &str, args: &[&str]) -> Value {
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(client_path(script))
        .args(args)
        .output()
        .expect("python with the test clients (tests/run.sh installs them)");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{script}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// What HTTP SQL answers `token` for `sql`: its column names and rows.
async fn http_sql(server: &Parwatch, token: &str, sql: &str) -> (Vec<String>, Value) {
    let body: Value = server
        .post_sql(Some(token), sql, None)
        .await
        .json()
        .await
        .unwrap();
    let columns = body["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("{sql}: {body}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    (columns, body["rows"].clone())
}

/// The one value HTTP SQL answers `token` for `sql`, as text (as JDBC's `getString` gives it).
async fn http_text(server: &Parwatch, token: &str, sql: &str) -> String {
    match &http_sql(server, token, sql).await.1[0][0] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A lake of 420 events served alone (its writer and broker gone), with an analyst's token for
/// every agency and one scoped to [`OWN`]; `port` is the PostgreSQL port, as clients take it.
/// The lake lives as long as `_dir` is held.
struct Served {
    server: Parwatch,
    analyst: String,
    scoped: String,
    port: String,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Self {
        let (dir, _nats, up) = lake_with_events(420).await;
        drop(up);
        let data = dir.path().join("data");
        let analyst = create_token(&data, "analyst", None);
        let scoped = create_token(&data, "analyst", Some(OWN));
        let server = Parwatch::serve(&data).await;
        let port = server.pg_port().to_string();
        Self {
            server,
            analyst,
            scoped,
            port,
            _dir: dir,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_and_pandas_read_over_psycopg_and_psycopg2() {
    let Served {
        server,
        analyst,
        scoped,
        port,
        _dir,
    } = Served::start().await;
    let (event_columns, _) = http_sql(&server, &analyst, "SELECT * FROM events LIMIT 0").await;
    let (dossier_columns, _) = http_sql(&server, &analyst, "SELECT * FROM dossiers LIMIT 0").await;

    // SQLAlchemy's inspector, as Superset browses: over libpq's extended protocol (psycopg 3,
    // server-side parameters) and its simple one (psycopg2, parameters inlined by the client).
    for driver in ["psycopg", "psycopg2"] {
        for token in [&analyst, &scoped] {
            let seen = python_client("sqlalchemy_read.py", &[&port, token, OWN, driver]);
            assert_eq!(seen["server_version"], json!([16, 6]), "{driver}: {seen}");
            assert_eq!(seen["count"], 60, "{driver}: {seen}");
            assert_eq!(seen["schemas"], json!(["public"]), "{driver}: {seen}");
            assert_eq!(
                seen["tables"],
                json!(["agencies", "events", "rejected_events"]),
                "{driver}: {seen}"
            );
            for view in ["dossiers", "daily_agency_stats"] {
                assert!(
                    seen["views"].as_array().unwrap().contains(&json!(view)),
                    "{driver}: {view} missing: {seen}"
                );
            }
            // Every column, in order, with its type: what a scoped token may see of the
            // catalogue is names and types.
            for (table, expected) in [("events", &event_columns), ("dossiers", &dossier_columns)] {
                let columns = seen["columns"][table].as_array().unwrap();
                let names: Vec<&str> = columns.iter().map(|c| c[0].as_str().unwrap()).collect();
                assert_eq!(&names, expected, "{driver}: {table}");
            }
            assert_eq!(seen["primary_key"], json!([]), "{driver}: {seen}");
            assert_eq!(seen["foreign_keys"], json!([]), "{driver}: {seen}");
            assert_eq!(seen["indexes"], json!([]), "{driver}: {seen}");
            let events = &seen["columns"]["events"];
            for column in [
                json!(["occurred_at", "TIMESTAMP", false]),
                json!(["agency_code", "TEXT", false]),
                json!(["schema_version", "INTEGER", false]),
                json!(["digitized", "BOOLEAN", true]),
                json!(["event_date", "DATE", false]),
            ] {
                assert!(
                    events.as_array().unwrap().contains(&column),
                    "{driver}: {column} not in {events}"
                );
            }
        }
    }

    // pandas.read_sql with bound parameters over psycopg2, through SQLAlchemy and on a raw
    // connection: the rows HTTP SQL answers, for the same query with the values written in.
    let grouped = format!(
        "SELECT type, count(*) AS n FROM events WHERE agency_code = '{OWN}' \
         AND occurred_at >= TIMESTAMP '2024-03-31T23:00:00Z' GROUP BY type ORDER BY type"
    );
    let listing = format!(
        "SELECT event_id, digitized, event_date FROM events WHERE agency_code = '{OWN}' \
         AND occurred_at >= TIMESTAMP '2024-03-31T23:00:00Z' ORDER BY event_id"
    );
    let (_, grouped) = http_sql(&server, &analyst, &grouped).await;
    let (_, listing) = http_sql(&server, &analyst, &listing).await;
    assert!(!grouped.as_array().unwrap().is_empty(), "{grouped}");
    for (token, table_rows) in [(&analyst, 420), (&scoped, 60)] {
        let seen = python_client("pandas_read.py", &[&port, token, OWN]);
        for way in ["sqlalchemy", "psycopg2"] {
            assert_eq!(seen[way]["grouped"], grouped, "{way}: {seen}");
            assert_eq!(seen[way]["listing"], listing, "{way}: {seen}");
        }
        // read_sql_table: reflection, then every row the token may read.
        assert_eq!(seen["table_rows"], table_rows);
    }
    // A scoped token asking for another agency's rows gets none, whichever way it asks.
    let other = "000.00.02.H02";
    let seen = python_client("pandas_read.py", &[&port, &analyst, other]);
    assert!(
        !seen["psycopg2"]["listing"].as_array().unwrap().is_empty(),
        "{seen}"
    );
    let seen = python_client("pandas_read.py", &[&port, &scoped, other]);
    for way in ["sqlalchemy", "psycopg2"] {
        assert_eq!(seen[way], json!({"grouped": [], "listing": []}), "{way}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_browses_and_runs_typed_prepared_statements() {
    let Served {
        server,
        analyst,
        scoped,
        port,
        _dir,
    } = Served::start().await;

    // Compiled at test time against Debian's pgjdbc (tests/run.sh installs both).
    let jar = "/usr/share/java/postgresql.jar";
    let classes = tempfile::tempdir().unwrap();
    let javac = Command::new("javac")
        .args(["-cp", jar, "-d"])
        .arg(classes.path())
        .arg(client_path("Jdbc.java"))
        .output()
        .expect("javac (tests/run.sh installs a JDK)");
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let classpath = format!("{jar}:{}", classes.path().display());
    let jdbc = |token: &str, agency: &str| -> Vec<Vec<String>> {
        // In Vietnam's time zone, so that dates and times are sent with an offset.
        let out = Command::new("java")
            .args([
                "-Duser.timezone=Asia/Ho_Chi_Minh",
                "-cp",
                &classpath,
                "Jdbc",
            ])
            .args([port.as_str(), token, agency])
            .output()
            .expect("java");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    };
    let found = |lines: &[Vec<String>], kind: &str, label: &str| -> String {
        lines
            .iter()
            .find(|l| l[0] == kind && l[1] == label)
            .unwrap_or_else(|| panic!("no {kind} {label} in {lines:?}"))[2]
            .clone()
    };

    let (event_columns, _) = http_sql(&server, &analyst, "SELECT * FROM events LIMIT 0").await;
    let (dossier_columns, _) = http_sql(&server, &analyst, "SELECT * FROM dossiers LIMIT 0").await;
    let expected = [
        (
            "agency",
            format!("SELECT count(*) FROM events WHERE agency_code = '{OWN}'"),
        ),
        (
            "digitized",
            "SELECT count(*) FROM events WHERE digitized = true".to_owned(),
        ),
        (
            "schema_version",
            "SELECT count(*) FROM events WHERE schema_version = 1".to_owned(),
        ),
        (
            "since",
            "SELECT count(*) FROM events WHERE occurred_at >= TIMESTAMP '2024-03-31T23:00:00Z'"
                .to_owned(),
        ),
        (
            "day",
            "SELECT count(*) FROM events WHERE event_date = DATE '2024-04-01'".to_owned(),
        ),
        (
            "first",
            format!(
                "SELECT min(event_id) FROM (SELECT event_id FROM events \
                 WHERE agency_code = '{OWN}' ORDER BY event_id DESC LIMIT 7) AS last"
            ),
        ),
    ];
    for token in [&analyst, &scoped] {
        let lines = jdbc(token, OWN);
        assert_eq!(found(&lines, "product", "PostgreSQL"), "16.6");
        for (table, kind) in [
            ("events", "TABLE"),
            ("agencies", "TABLE"),
            ("dossiers", "VIEW"),
            ("daily_agency_stats", "VIEW"),
        ] {
            assert_eq!(found(&lines, "table", table), kind);
        }
        for (table, expected) in [("events", &event_columns), ("dossiers", &dossier_columns)] {
            let names: Vec<&String> = lines
                .iter()
                .filter(|l| l[0] == "column" && l[1] == table)
                .map(|l| &l[2])
                .collect();
            assert_eq!(names, expected.iter().collect::<Vec<_>>(), "{table}");
        }
        for (column, type_name) in [
            ("occurred_at", "timestamptz"),
            ("digitized", "bool"),
            ("schema_version", "int4"),
            ("event_date", "date"),
        ] {
            assert!(
                lines.contains(&vec![
                    "column".to_owned(),
                    "events".to_owned(),
                    column.to_owned(),
                    type_name.to_owned()
                ]),
                "{column} {type_name}: {lines:?}"
            );
        }
        // Typed parameters, unnamed then named server-side statements: HTTP SQL's answers
        // (the token's rows: a scoped token's are its agency's, here all of them).
        for (label, sql) in &expected {
            assert_eq!(
                found(&lines, "query", label),
                http_text(&server, token, sql).await,
                "{label}"
            );
        }
        assert_eq!(found(&lines, "keys", "events"), "0");
        assert_eq!(found(&lines, "error", "delete"), "25006");
    }
    // The Vietnamese times were read with their offset: 06:00 at UTC+7 is 23:00 UTC.
    let lines = jdbc(&analyst, OWN);
    assert_eq!(found(&lines, "query", "since"), "150");
    assert_eq!(found(&lines, "query", "day"), "420");
    // A scoped token binding another agency gets nothing of it.
    let lines = jdbc(&scoped, "000.00.02.H02");
    assert_eq!(found(&lines, "query", "agency"), "0");
    assert_eq!(found(&lines, "query", "first"), "null");
    let lines = jdbc(&analyst, "000.00.02.H02");
    let theirs = "SELECT count(*) FROM events WHERE agency_code = '000.00.02.H02'";
    assert_eq!(
        found(&lines, "query", "agency"),
        http_text(&server, &analyst, theirs).await
    );
    assert_ne!(found(&lines, "query", "agency"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_parameter_number_is_refused_and_the_session_goes_on() {
    let Served {
        server,
        analyst,
        scoped: _,
        port,
        _dir,
    } = Served::start().await;
    // `$3000000000` once made the server lay out three billion parameter types.
    let seen = python_client("parameter_bomb.py", &[&port, &analyst]);
    assert_eq!(
        seen,
        json!({"refused": {"65536": "42P02", "3000000000": "42P02"}, "after": 1})
    );
    let (columns, rows) = http_sql(&server, &analyst, "SELECT count(*) AS n FROM events").await;
    assert_eq!((columns, rows), (vec!["n".to_owned()], json!([[420]])));
}
