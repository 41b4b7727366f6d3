//! Several ingest workers share a stream split into partitions: each partition has one writer
//! at a time, a worker that joins gets its share, a dead worker's partitions pass to the others, and a worker paused past its lease
//! (a zombie) stores nothing twice when it wakes. Each worker serves its own probes and metrics.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{
    LocalNats, Outgoing, Parwatch, create_token, expect_exactly, free_port, get, get_json,
    jetstream_as, nats_keys, publish, valid_event, valid_messages,
};

/// Seconds a lease lasts without renewal.
const TTL_SECS: u64 = 2;

/// Partitions of the stream.
const PARTITIONS: u32 = 3;

/// `parwatch ingest` on the split stream, its probes on `http`.
fn worker(nats: &str, data: &Path, name: &str, http: &str) -> Parwatch {
    let data_arg = data.to_str().unwrap();
    let (partitions, ttl) = (PARTITIONS.to_string(), TTL_SECS.to_string());
    let args = [
        "ingest",
        "--http",
        http,
        "--nats-url",
        nats,
        "--data-dir",
        data_arg,
        "--partitions",
        &partitions,
        "--lease-ttl-secs",
        &ttl,
        "--flush-events",
        "2000",
        "--ack-wait-secs",
        "2",
        // The holder of partition 0 compacts often, through takeovers and the zombie's wake.
        "--compact-every-secs",
        "1",
        "--compact-max-files",
        "4",
    ];
    Parwatch::spawn(&args, &[], data, name)
}

/// How many lines of `worker`'s log hold `needle`.
fn logged(worker: &Parwatch, needle: &str) -> usize {
    worker.log_text().matches(needle).count()
}

/// Waits until `worker`'s log holds `needle` more than `before` times.
async fn wait_logged(worker: &Parwatch, needle: &str, before: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while logged(worker, needle) <= before {
        assert!(
            Instant::now() < deadline,
            "no new {needle:?} within {within:?}:\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The counter `name` on the worker's `/metrics` at `http`.
async fn counter(http: &str, name: &str) -> u64 {
    let (status, _, metrics) = get(&format!("http://{http}/metrics")).await;
    assert_eq!(status, 200);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
}

/// Sends `signal` to `worker`'s process.
fn signal(worker: &Parwatch, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    let sent = unsafe { libc::kill(worker.pid() as libc::pid_t, signal) };
    assert_eq!(sent, 0, "signal {signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_partitions_and_neither_a_kill_nor_a_zombie_loses_or_doubles_an_event() {
    let tmp = tempfile::tempdir().unwrap();
    let partitions = parwatch_ingest::Partitions::new(PARTITIONS).unwrap();
    let nats = LocalNats::start_partitioned(&tmp.path().join("nats"), partitions).unwrap();
    let url = nats.url();
    let data = tmp.path().join("data");
    let ttl = Duration::from_secs(TTL_SECS);
    let n = 30_000;
    let a_http = format!("127.0.0.1:{}", free_port());
    let a = worker(&url, &data, "worker-a", &a_http);
    // Alone, A takes every partition; when B joins, A frees its share for B.
    wait_logged(
        &a,
        "lease taken",
        PARTITIONS as usize - 1,
        Duration::from_secs(60),
    )
    .await;
    let b_http = format!("127.0.0.1:{}", free_port());
    let mut b = worker(&url, &data, "worker-b", &b_http);
    wait_logged(&a, "lease freed for another worker", 0, ttl * 6).await;
    wait_logged(&b, "lease taken", 0, ttl * 6).await;
    // Published, a chunk at a time, while the workers are paused, killed and take over.
    let publisher = {
        let url = url.clone();
        tokio::spawn(async move {
            for chunk in (0..n).step_by(1_000) {
                publish(&url, valid_messages(chunk..chunk + 1_000, true)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // A pauses past its leases: B takes A's over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let taken_by_b = logged(&b, "lease taken");
    signal(&a, libc::SIGSTOP);
    wait_logged(&b, "lease taken", taken_by_b, ttl * 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A wakes as a zombie: its renewals fail and whatever it still commits is refused.
    signal(&a, libc::SIGCONT);
    wait_logged(&a, "lease lost", 0, ttl * 3).await;
    // B dies: A takes every partition back.
    let taken_by_a = logged(&a, "lease taken");
    b.kill();
    wait_logged(&a, "lease taken", taken_by_a, ttl * 6).await;
    publisher.await.unwrap();
    // The publisher sends some events again after the broker's dedupe window (new message ids).
    let again: Vec<Outgoing> = (0..500)
        .map(|i| Outgoing::event(&valid_event(i)).with_msg_id(format!("again-{i}")))
        .collect();
    publish(&url, again).await;
    // A message of no valid type is routed by no mapping: partition 0 keeps it as a rejection.
    let bogus = Outgoing::json("par.events.v1.bogus", &serde_json::json!({"no": "event"}));
    assert_eq!(publish(&url, vec![bogus]).await, 1, "stored by the broker");
    // A, holding partition 0 again, has merged files on the split stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(&a_http, "parwatch_compactions_total").await == 0 {
        assert!(
            Instant::now() < deadline,
            "no compaction on the split stream"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The API node watches the broker too: its status says how far each partition lags.
    let reader = Parwatch::serve_with(
        &data,
        &["--open", "--partitions", "3", "--nats-url", &url],
        &[],
    )
    .await;
    expect_exactly(&reader, n, Duration::from_secs(3)).await;
    reader
        .wait_for(
            "SELECT count(*) FROM rejected_events WHERE subject LIKE 'par.in.%.events.v1.bogus'",
            serde_json::json!(1),
            Duration::from_secs(10),
        )
        .await;
    // Every partition carried events, and every message of each is acknowledged; an API node
    // tells each partition's position (its stream's last message) and how complete it is.
    let admin = jetstream_as(&url, &nats_keys(&url).unwrap().admin).await;
    let mut last = Vec::new();
    for stream in partitions.streams() {
        let mut s = admin.get_stream(&stream).await.unwrap();
        last.push(s.info().await.unwrap().state.last_sequence);
    }
    // A partition's position is its last stored message (a run of duplicates after it is
    // acknowledged without a commit).
    let deadline = Instant::now() + Duration::from_secs(10);
    let freshness = loop {
        let (_, status) = reader.get_json("/api/v1/status").await;
        let freshness = status["freshness"].clone();
        let positions: Vec<u64> = freshness["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["position"].as_u64())
            .collect();
        let lags: Vec<Option<u64>> = freshness["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["lag"].as_u64())
            .collect();
        let caught_up = positions.len() == last.len()
            && positions.iter().zip(&last).all(|(p, l)| *p > 0 && p <= l)
            && positions.iter().sum::<u64>() >= n as u64
            && lags.iter().all(|lag| *lag == Some(0));
        if caught_up {
            break freshness;
        }
        assert!(Instant::now() < deadline, "{freshness} vs {last:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let epochs = freshness["partitions"].as_array().unwrap();
    assert!(
        epochs.iter().all(|p| p["epoch"].as_u64().is_some()),
        "{freshness}"
    );
    let complete = freshness["complete_until"]
        .as_str()
        .expect("complete_until");
    assert!(complete.starts_with("20"), "{complete}");
    let answer = reader
        .get(
            None,
            "/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month",
        )
        .await;
    assert_eq!(answer.status(), 200);
    let header = |name: &str| {
        let value = answer
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned());
        value.unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(header("parwatch-complete-until"), complete);
    // An agency's token gets its figures, not the province-wide state of the lake.
    let scoped = create_token(&data, "viewer", Some("000.00.01.H02"));
    let answer = reader
        .get(
            Some(&scoped),
            "/api/v1/metrics/received?from=2024-04-01&to=2024-04-30&bucket=month&agency=000.00.01.H02",
        )
        .await;
    assert_eq!(answer.status(), 200);
    for name in [
        "parwatch-lake-version",
        "parwatch-newest-event",
        "parwatch-complete-until",
    ] {
        assert!(
            answer.headers().get(name).is_none(),
            "{name} sent to a scoped token"
        );
    }
    assert_eq!(
        header("parwatch-lake-version"),
        freshness["lake_version"].to_string()
    );
    for stream in partitions.streams() {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut s = admin.get_stream(&stream).await.unwrap();
            let state = s.info().await.unwrap().state.clone();
            assert!(state.messages > 0, "{stream} got no message");
            let mut consumer = s
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>("parwatch-ingest")
                .await
                .unwrap();
            let info = consumer.info().await.unwrap();
            // Acknowledged cumulatively up to the stream's last message. (After a partition
            // changed hands, nats-server 2.9 may keep redelivering one message below that
            // floor, whose ack it then ignores: `num_ack_pending` can stay at 1.)
            if info.num_pending == 0 && info.ack_floor.stream_sequence == state.last_sequence {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{stream}: {} pending, {} unacknowledged; acknowledged up to {:?}, delivered {:?}",
                info.num_pending,
                info.num_ack_pending,
                info.ack_floor,
                info.delivered
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // A's probes: alive, ready, and its metrics show it holds every partition.
    let (status, _) = get_json(&format!("http://{a_http}/healthz")).await;
    assert_eq!(status, 200);
    let (status, ready) = get_json(&format!("http://{a_http}/readyz")).await;
    assert_eq!((status, &ready["ready"]), (200, &serde_json::json!(true)));
    let (status, _, metrics) = get(&format!("http://{a_http}/metrics")).await;
    assert_eq!(status, 200);
    for k in 0..PARTITIONS {
        let epoch = format!("parwatch_partition_epoch{{partition=\"{k}\"}}");
        assert!(metrics.contains(&epoch), "{epoch} missing:\n{metrics}");
    }
    let stored = counter(&a_http, "parwatch_events_stored_total").await;
    assert!(stored > 0 && stored <= n as u64, "{stored}");
    drop(a);
}
