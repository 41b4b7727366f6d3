//! One error classification: an internal failure (here a damaged Parquet file, caused for real)
//! reaches HTTP and PostgreSQL clients as a masked message with a reference — no server path —
//! while the server's log holds the cause under that reference; a query's own fault keeps its
//! message, with the HTTP status and SQLSTATE of the same kind.

use serde_json::Value;

use crate::harness::{Parwatch, create_token, lake_with_events, parquet_files, psql};

/// The error psql prints (with its SQLSTATE) for a statement that must fail.
fn psql_error(port: u16, token: &str, sql: &str) -> String {
    let (ok, _, err) = psql(port, token, &["-v", "VERBOSITY=verbose", "-c", sql], None);
    assert!(!ok, "{sql} should fail");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_masked_with_a_reference_and_logged_with_their_cause() {
    let (tmp, _nats, up) = lake_with_events(120).await;
    drop(up);
    let data = tmp.path().join("data");
    let token = create_token(&data, "analyst", None);
    let server = Parwatch::serve(&data).await;

    // The query's own fault: its message, 400 over HTTP and 22000 over PostgreSQL.
    let response = server
        .post_sql(
            Some(&token),
            "SELECT CAST(dossier_id AS INT) FROM events",
            None,
        )
        .await;
    assert_eq!(response.status(), 400);
    let err = psql_error(
        server.pg_port(),
        &token,
        "SELECT CAST(dossier_id AS INT) FROM events",
    );
    assert!(err.contains("22000"), "{err}");

    // Damage every stored file: reading it fails on our side, not the query's.
    for file in parquet_files(&data.join("lake").join("events")) {
        std::fs::write(&file, b"PAR1 damaged").unwrap();
    }
    let response = server
        .post_sql(
            Some(&token),
            "SELECT count(*), max(dossier_id) FROM events",
            None,
        )
        .await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    let message = body["error"].as_str().unwrap().to_owned();
    let place = tmp.path().to_str().unwrap().trim_start_matches('/');
    assert!(
        message.starts_with("internal error (reference "),
        "{message}"
    );
    assert!(
        !message.contains(place) && !message.contains("parquet"),
        "{message}"
    );
    let reference = message
        .trim_start_matches("internal error (reference ")
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains(&reference))
        .unwrap_or_else(|| panic!("reference {reference} not in the log:\n{log}"));
    assert!(line.contains("internal error"), "{line}");
    assert!(line.len() > message.len(), "the log has the cause: {line}");

    let err = psql_error(
        server.pg_port(),
        &token,
        "SELECT count(*), max(dossier_id) FROM events",
    );
    assert!(err.contains("XX000"), "{err}");
    assert!(err.contains("internal error (reference "), "{err}");
    assert!(!err.contains(place), "{err}");
}
