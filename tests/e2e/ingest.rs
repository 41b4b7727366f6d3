//! Ingest: JetStream → validation → deduplication → Parquet, crash safety, layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    LocalNats, Outgoing, Parwatch, delta_read, delta_rows, expect_exactly, publish, valid_event,
    valid_messages,
};

fn outgoing(subject: &str, body: Vec<u8>, msg_id: Option<String>) -> Outgoing {
    Outgoing {
        subject: subject.to_owned(),
        body,
        msg_id,
    }
}

/// The golden invalid examples of `proto/`: (message, field, fault).
fn invalid_cases() -> Vec<(Outgoing, String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/examples/invalid");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let cases: Vec<_> = paths
        .iter()
        .map(|p| {
            let case: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            let body = match &case["raw"] {
                Value::String(raw) => raw.clone().into_bytes(),
                _ => serde_json::to_vec(&case["event"]).unwrap(),
            };
            let subject = case["subject"].as_str().unwrap();
            let expect = &case["expect"];
            (
                outgoing(subject, body, None),
                expect["field"].as_str().unwrap().to_owned(),
                expect["fault"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // No oversized body: the stream refuses one (64 KiB limit), and the worker's own defence
    // against one is in ingest_hostile.rs.
    cases
}

fn lake_events(data: &Path) -> PathBuf {
    data.join("lake/events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_duplicate_and_invalid_events_land_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    // Compaction runs as part of the worker: every second, for partitions idle for a second.
    let compact = ["--compact-every-secs", "1", "--compact-idle-secs", "1"];
    let parwatch = Parwatch::up(
        &nats.url(),
        &data,
        &[&["--flush-interval-ms", "200"][..], &compact].concat(),
    )
    .await;

    let started = std::time::Instant::now();
    let mut messages = valid_messages(0..10_000, true);
    // 200 exact re-publications without the header: the broker stores them, ParWatch must not.
    for i in (0..10_000).step_by(50) {
        messages.push(Outgoing::event(&valid_event(i)));
    }
    let cases = invalid_cases();
    let mut expected_reasons = HashMap::new();
    for i in 0..100 {
        let (m, field, fault) = &cases[i % cases.len()];
        expected_reasons.insert(m.body.clone(), (field.clone(), fault.clone()));
        messages.push(outgoing(&m.subject, m.body.clone(), None));
    }
    assert!(cases.len() >= 9, "at least 8 distinct faults");
    assert_eq!(publish(&nats.url(), messages).await, 10_300);

    parwatch
        .wait_for(
            "SELECT count(*) FROM rejected_events",
            json!(100),
            Duration::from_secs(30),
        )
        .await;
    // A further flush interval must not add anything.
    expect_exactly(&parwatch, 10_000, Duration::from_millis(600)).await;
    let ingest_secs = started.elapsed().as_secs_f64();
    eprintln!("ingest: 10,300 messages stored and checked in {ingest_secs:.2} s (debug build)");
    let per_type = parwatch
        .sql("SELECT type, count(*) FROM events GROUP BY type ORDER BY type")
        .await;
    assert_eq!(per_type["row_count"], 6);

    // Every rejection is stored with a reason naming its field and fault.
    let rejected = parwatch
        .sql("SELECT raw_bytes, reason, fault, subject FROM rejected_events")
        .await;
    let mut faults = std::collections::HashSet::new();
    for row in rejected["rows"].as_array().unwrap() {
        let raw = hex_or_base64(&row[0]);
        let (field, fault) = expected_reasons.get(&raw).unwrap_or_else(|| {
            panic!(
                "unexpected rejected body: {}",
                String::from_utf8_lossy(&raw)
            )
        });
        let reason = row[1].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{field}: ")),
            "{reason} should name {field}"
        );
        assert!(
            reason.contains(fault.as_str()),
            "{reason} should name {fault}"
        );
        assert_eq!(row[2], json!(fault));
        faults.insert(fault.clone());
    }
    assert!(faults.len() >= 8, "only {faults:?}");

    // The event at 2024-03-31T18:30:00Z is of local date 2024-04-01.
    assert_eq!(
        parwatch
            .scalar("SELECT CAST(event_date AS VARCHAR) FROM events WHERE event_id = 'ev-000000'")
            .await,
        json!("2024-04-01")
    );

    // Other engines agree, reading the Delta table transactionally.
    assert_eq!(delta_rows(&lake_events(&data)), 10_000);

    // /metrics: rejections by fault, flush latency, lake size, consumer lag.
    assert!(
        parwatch
            .counter(r#"parwatch_rejected_by_fault_total{fault="not_json"}"#)
            .await
            > 0
    );
    assert_eq!(
        parwatch.counter("parwatch_events_rejected_total").await,
        100
    );
    assert!(parwatch.counter("parwatch_flush_seconds_count").await > 0);
    assert!(
        parwatch
            .counter(r#"parwatch_lake_files{table="events"}"#)
            .await
            > 0
    );
    assert_eq!(parwatch.counter("parwatch_consumer_lag").await, 0);
    // Each metric family is declared once, as the exposition format requires.
    let text = parwatch.metrics_text().await;
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let distinct: std::collections::HashSet<&&str> = types.iter().collect();
    assert_eq!(types.len(), distinct.len(), "{text}");
    assert!(
        types.iter().all(|t| !t.contains('{')),
        "labels belong on samples: {text}"
    );

    // The worker compacts the small files by itself; the answers do not change.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while parwatch.counter("parwatch_compactions_total").await == 0 {
        assert!(std::time::Instant::now() < deadline, "no compaction");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    expect_exactly(&parwatch, 10_000, Duration::ZERO).await;
    assert_eq!(delta_rows(&lake_events(&data)), 10_000);

    // SIGTERM: flushes, acks, exits 0.
    let mut parwatch = parwatch;
    assert!(parwatch.terminate().success(), "{}", parwatch.log_text());
}

/// The golden valid examples of `proto/`: one or more of every type of the contract.
fn valid_examples() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/examples/valid");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Every type of the contract, the 766 index's included, goes through NATS into the lake as
/// published: its `data` whole, the typed columns of the same meaning filled (a petition's
/// deadline in `due_at`, a supplement's new appointment in `new_due_at`, a sync's portal in
/// `portal`), and the worker and the metrics take them in their stride.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_of_the_contract_lands_in_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let parwatch = Parwatch::up(&nats.url(), &data, &["--flush-interval-ms", "200"]).await;
    let examples = valid_examples();
    let messages = examples
        .iter()
        .map(|e| Outgoing::json(&format!("par.events.v1.{}", e["type"].as_str().unwrap()), e))
        .collect();
    assert_eq!(publish(&nats.url(), messages).await, examples.len());
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(examples.len()),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        parwatch
            .scalar("SELECT count(*) FROM rejected_events")
            .await,
        json!(0)
    );
    let types = parwatch
        .sql("SELECT DISTINCT type FROM events ORDER BY type")
        .await;
    let mut expected: Vec<&str> = parwatch_proto::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    expected.sort_unstable();
    let stored: Vec<&str> = types["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap())
        .collect();
    assert_eq!(stored, expected);
    // `data` is stored whole, as published.
    for example in &examples {
        let id = example["event_id"].as_str().unwrap();
        let stored = parwatch
            .scalar(&format!("SELECT data FROM events WHERE event_id = '{id}'"))
            .await;
        let stored: Value = serde_json::from_str(stored.as_str().unwrap()).unwrap();
        assert_eq!(stored, example["data"], "{id}");
    }
    // The typed columns of the same meaning, and no other.
    for (sql, expected) in [
        (
            "SELECT count(*) FROM events WHERE type = 'petition.received' \
             AND due_at = TIMESTAMP '2024-03-21T10:00:00Z'",
            1,
        ),
        (
            "SELECT count(*) FROM events WHERE type = 'supplement.provided' \
             AND new_due_at = TIMESTAMP '2024-03-18T10:00:00Z'",
            1,
        ),
        (
            "SELECT count(*) FROM events WHERE type = 'dossier.synced' AND portal = 'national'",
            1,
        ),
        (
            "SELECT count(*) FROM events WHERE type IN ('fee.paid', 'dossier.rated', \
             'procedure.catalogued', 'component.digitised', 'result.issued') \
             AND COALESCE(channel, online_mode, mode, kind, outcome, portal, letter_no) IS NOT NULL",
            0,
        ),
        (
            "SELECT count(*) FROM events WHERE type = 'procedure.catalogued' \
             AND dossier_id IS NULL AND procedure_code IS NOT NULL",
            2,
        ),
    ] {
        assert_eq!(parwatch.scalar(sql).await, json!(expected), "{sql}");
    }
    // The metrics fold the dossier examples' lifecycle types and pass over the others.
    assert_eq!(
        parwatch
            .scalar("SELECT count(*) FROM dossiers WHERE dossier_id = '000.00.17.H02-240305-0001'")
            .await,
        json!(1)
    );
    let mut parwatch = parwatch;
    assert!(parwatch.terminate().success(), "{}", parwatch.log_text());
}

/// Arrow's JSON writer renders binary as hex.
fn hex_or_base64(value: &Value) -> Vec<u8> {
    let text = value.as_str().unwrap();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A worker writes a batch and crashes before acknowledging it. Its successor stores the rest,
/// skips what is stored, and has what the crashed one held delivered again at once: the ack
/// wait (120 s here) is not waited out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_write_before_ack_loses_doubles_and_delays_nothing() {
    const ACK_WAIT: &str = "120";
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    assert_eq!(
        publish(&nats.url(), valid_messages(0..10_000, true)).await,
        10_000
    );

    let data_arg = data.to_str().unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let mut crashing = Parwatch::spawn(
        &[
            "ingest",
            "--nats-url",
            &nats.url(),
            "--data-dir",
            data_arg,
            "--flush-events",
            "3000",
            "--ack-wait-secs",
            ACK_WAIT,
        ],
        &[("PARWATCH_FAILPOINT", "crash-after-write")],
        &data,
        "crashing",
    );
    let status = crashing.wait_exit(Duration::from_secs(60));
    assert!(!status.success(), "the failpoint aborts the worker");
    let written = delta_rows(&lake_events(&data));
    assert!(written > 0, "the batch was written before the crash");

    // Restart: the unacknowledged messages come back; those already in the lake are
    // recognised and only acknowledged.
    let restarted = Instant::now();
    let parwatch = Parwatch::up(&nats.url(), &data, &["--ack-wait-secs", ACK_WAIT]).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(10_000),
            Duration::from_secs(30),
        )
        .await;
    println!(
        "every event stored {:?} after the restart",
        restarted.elapsed()
    );
    expect_exactly(&parwatch, 10_000, Duration::from_secs(2)).await;
    let skipped = parwatch.counter("parwatch_duplicates_skipped_total").await;
    assert!(
        skipped as i64 >= written,
        "redelivered stored events were skipped: {skipped} < {written}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_engines_read_the_same_versions_as_parwatch_during_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let parwatch = Parwatch::up(&nats.url(), &data, &["--flush-interval-ms", "100"]).await;
    let url = nats.url();
    let publisher = tokio::spawn(async move {
        for chunk in (0..40_000).step_by(4_000) {
            publish(&url, valid_messages(chunk..chunk + 4_000, true)).await;
        }
    });
    // While events land, each version another engine reads has the rows ParWatch's SQL
    // reads at that version: commits are seen whole or not at all, by every reader.
    let mut versions = std::collections::BTreeSet::new();
    while !publisher.is_finished() || versions.len() < 3 {
        let events = lake_events(&data);
        let (version, rows) = tokio::task::spawn_blocking(move || delta_read(&events))
            .await
            .unwrap();
        let sql = format!("SELECT count(*) FROM events_at({version})");
        assert_eq!(
            parwatch.scalar(&sql).await,
            json!(rows),
            "version {version}"
        );
        versions.insert(version);
    }
    publisher.await.unwrap();
    expect_exactly(&parwatch, 40_000, Duration::ZERO).await;
    assert_eq!(delta_rows(&lake_events(&data)), 40_000);
    assert!(versions.len() >= 3, "{versions:?}");
}
