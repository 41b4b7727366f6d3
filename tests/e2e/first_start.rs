//! A first `up --demo` against a broker that is slow to answer: the NATS calls at start and
//! the demo's publishes are retried (and say so), the demo's events arrive once each; a broker
//! that never answers stops `up` with the reason instead of leaving a server running empty;
//! SIGTERM while the demo publishes its history stops it within five seconds, nothing lost.
//!
//! The broker is a real `nats-server` made slow with SIGSTOP (its connections stay open, it
//! answers nothing) and resumed with SIGCONT.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use crate::harness::{LocalNats, Parwatch};

/// A `nats-server` stopped (SIGSTOP) until dropped or resumed: it answers nothing meanwhile.
struct Frozen(u32);

impl Frozen {
    fn new(nats: &LocalNats) -> Self {
        signal(nats.pid(), libc::SIGSTOP);
        Frozen(nats.pid())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    let done = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(done, 0, "kill({pid}, {signal})");
}

/// Waits until `parwatch`'s log has a line containing `needle`; returns that line.
async fn log_line(parwatch: &Parwatch, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = parwatch.log_text();
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log after {timeout:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The number after `key=` in a log line.
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}=<number> in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_demo_waits_out_a_broker_slow_to_answer_and_counts_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    // Every demo event before this instant is history; live ones come after.
    let before = Utc::now();

    // The broker answers nothing while `up` starts: connecting times out and is retried.
    let frozen = Frozen::new(&nats);
    let thaw = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(7)).await;
        drop(frozen);
    });
    let parwatch = Parwatch::up(
        &nats.url(),
        &data,
        &["--demo", "--demo-scale", "20", "--demo-rate", "1"],
    )
    .await;
    thaw.await.unwrap();
    log_line(&parwatch, "nats connect", Duration::from_secs(30)).await;

    // It stops again while the demo publishes its history: publishes go unacknowledged and are
    // sent again with their message ids.
    log_line(
        &parwatch,
        "demo: publishing two years of history",
        Duration::from_secs(60),
    )
    .await;
    let frozen = Frozen::new(&nats);
    tokio::time::sleep(Duration::from_secs(7)).await;
    drop(frozen);

    let published = log_line(
        &parwatch,
        "demo: history published",
        Duration::from_secs(120),
    )
    .await;
    let published = field(&published, "events");
    assert!(published > 10_000, "{published}");
    // The terminal said what failed and when it would try again: the worker's and the demo's
    // connections, then the demo's publishes.
    let log = parwatch.log_text();
    let url = nats.url();
    for retry in [
        format!("nats connect {url} (parwatch-ingest) failed: timed out; next attempt in 0.5 s"),
        format!("nats connect {url} (parwatch-simulate) failed: timed out; next attempt in 0.5 s"),
        "events not acknowledged (timed out".to_owned(),
        "next attempt in 0.5 s, with the same message ids".to_owned(),
    ] {
        assert!(log.contains(&retry), "no {retry:?} in the log:\n{log}");
    }

    // Each event the demo published is stored once: as many as it published, no id twice.
    let history = format!(
        "FROM events WHERE occurred_at < TIMESTAMP '{}'",
        before.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    );
    parwatch
        .wait_for(
            &format!("SELECT count(*) {history}"),
            Value::from(published),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(
        parwatch
            .scalar(&format!("SELECT count(DISTINCT event_id) {history}"))
            .await,
        Value::from(published)
    );

    // The dashboards have something to show.
    let (status, body) = {
        let response = parwatch
            .get(None, "/api/v1/metrics/received?bucket=month")
            .await;
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{body}");
    let received: i64 = body["series"][0]["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| p["numerator"].as_i64().unwrap_or(0))
        .sum();
    assert!(received > 0, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_demo_exits_with_the_reason_when_the_broker_never_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let _frozen = Frozen::new(&nats);
    let http = format!("127.0.0.1:{}", crate::harness::free_port());
    let started = Instant::now();
    let mut parwatch = Parwatch::spawn(
        &[
            "up",
            "--nats-url",
            &nats.url(),
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            &http,
            "--demo",
            "--nats-retry-secs",
            "8",
        ],
        &[],
        &data,
        "up",
    );
    let status = parwatch.wait_exit(Duration::from_secs(60));
    let took = started.elapsed();
    let log = parwatch.log_text();
    assert!(!status.success(), "{status}:\n{log}");
    // Each attempt waits 5 s for the server's greeting: the first fails, a second starts
    // before the 8 s deadline and fails after it; then `up` gives up, naming what failed.
    assert!(took < Duration::from_secs(30), "{took:?}:\n{log}");
    let url = nats.url();
    let expected =
        format!("nats connect {url} (parwatch-ingest) failed: timed out; next attempt in 0.5 s");
    assert!(
        log.contains(&expected),
        "no {expected:?} in the log:\n{log}"
    );
    // The worker and the demo wait for the same broker with the same deadline: whichever gives
    // up first stops `up` (the other is shut down), and its error names what failed.
    let reasons = [
        ("Error: ingest worker", "parwatch-ingest"),
        (
            "Error: the demo could not publish to NATS",
            "parwatch-simulate",
        ),
    ];
    let reason = reasons.iter().any(|(error, client)| {
        let gave_up =
            format!("nats connect: {url} ({client}): timed out (gave up after 2 attempts");
        log.contains(error) && log.contains(&gave_up)
    });
    assert!(reason, "no reason naming the broker in the log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_demo_exits_with_the_reason_when_the_broker_stops_answering_its_publishes() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let mut parwatch = Parwatch::up(
        &nats.url(),
        &data,
        &["--demo", "--demo-scale", "20", "--nats-retry-secs", "3"],
    )
    .await;
    log_line(
        &parwatch,
        "demo: publishing two years of history",
        Duration::from_secs(60),
    )
    .await;
    let _frozen = Frozen::new(&nats);
    let status = parwatch.wait_exit(Duration::from_secs(60));
    let log = parwatch.log_text();
    assert!(!status.success(), "{status}:\n{log}");
    for expected in [
        "events not acknowledged (timed out",
        "Error: the demo could not publish to NATS",
        "the broker acknowledged nothing for",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_waiting_for_the_broker_stops_at_once_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let _frozen = Frozen::new(&nats);
    let mut worker = Parwatch::spawn(
        &[
            "ingest",
            "--nats-url",
            &nats.url(),
            "--data-dir",
            data.to_str().unwrap(),
            "--nats-retry-secs",
            "600",
        ],
        &[],
        &data,
        "ingest",
    );
    log_line(&worker, "next attempt in", Duration::from_secs(30)).await;
    // Retrying for up to ten minutes, the worker still stops when told to, and cleanly.
    let asked = Instant::now();
    let status = worker.terminate();
    let took = asked.elapsed();
    let log = worker.log_text();
    assert!(status.success(), "{status}:\n{log}");
    assert!(took < Duration::from_secs(5), "{took:?}:\n{log}");
    assert!(
        log.contains("ingest worker stopped before it started"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_demo_stops_within_five_seconds_of_sigterm_while_it_publishes_its_history() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    // Compaction back to back: each pass rewrites the merged file with the new small ones; with
    // 600,000 events in, a pass takes ten seconds and more (debug build): exit must not await it.
    let mut parwatch = Parwatch::up(
        &nats.url(),
        &data,
        &[
            "--demo",
            "--compact-every-secs",
            "1",
            "--compact-max-files",
            "2",
        ],
    )
    .await;
    log_line(
        &parwatch,
        "demo: publishing two years of history",
        Duration::from_secs(60),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while parwatch
        .scalar("SELECT count(*) FROM events")
        .await
        .as_i64()
        < Some(600_000)
    {
        assert!(Instant::now() < deadline, "{}", parwatch.log_text());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // SIGTERM a moment after a compaction pass starts: just after one ends, plus the pause.
    let passes = parwatch.counter("parwatch_compactions_total").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while parwatch.counter("parwatch_compactions_total").await == passes {
        assert!(Instant::now() < deadline, "no compaction pass ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        !parwatch.log_text().contains("demo: history published"),
        "the history was all published before SIGTERM"
    );

    let asked = Instant::now();
    let status = parwatch.terminate();
    let took = asked.elapsed();
    let log = parwatch.log_text();
    assert!(status.success(), "{status}:\n{log}");
    assert!(took < Duration::from_secs(5), "{took:?}:\n{log}");
    assert!(log.contains("stopping: flushing"), "{log}");

    // Nothing acknowledged is lost: the lake holds exactly the messages below the ack floor
    // (valid or rejected; the stream's sequences have no gaps), each event once.
    let js = crate::harness::jetstream_as(&nats.url(), &nats.admin_key()).await;
    let stream = js.get_stream(parwatch_ingest::STREAM_NAME).await.unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer(parwatch_ingest::CONSUMER_NAME)
        .await
        .unwrap();
    let acknowledged = consumer.info().await.unwrap().ack_floor.stream_sequence;
    // Read by another process: what SIGTERM left is a lake `serve` opens.
    let served = Parwatch::serve_with(&data, &["--open"], &[]).await;
    let stored = served.scalar("SELECT count(*) FROM events").await;
    let rejected = served.scalar("SELECT count(*) FROM rejected_events").await;
    let (stored, rejected) = (stored.as_u64().unwrap(), rejected.as_u64().unwrap());
    assert!(stored >= 600_000, "{stored}");
    assert_eq!(stored + rejected, acknowledged);
    assert_eq!(
        served
            .scalar("SELECT count(DISTINCT event_id) FROM events")
            .await,
        Value::from(stored)
    );
}
