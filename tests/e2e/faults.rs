//! Faults the worker must survive without losing or doubling an event: SIGKILL at random
//! moments, a broker restart, and a failing disk — each on the local lake and again on a lake
//! in an S3 store (a real SeaweedFS on loopback), where the failing disk is a stopped store.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parwatch_lake::testing::ObjectStoreServer;
use serde_json::json;

use crate::harness::{
    LocalNats, Outgoing, Parwatch, assert_ids_once_in, expect_exactly, publish, valid_event,
    valid_messages,
};

/// Every stored event id, checked against `0..n`: each exactly once.
async fn assert_every_id_once(parwatch: &Parwatch, n: usize) {
    assert_ids_once(parwatch, (0..n).map(|i| format!("ev-{i:06}")).collect()).await;
}

/// Every event id of `0..n` but `missing`, each exactly once.
async fn assert_every_id_once_except(parwatch: &Parwatch, n: usize, missing: &str) {
    let expected = (0..n)
        .map(|i| format!("ev-{i:06}"))
        .filter(|id| id != missing)
        .collect();
    assert_ids_once(parwatch, expected).await;
}

/// The stored event ids are `expected`, each exactly once.
async fn assert_ids_once(parwatch: &Parwatch, expected: HashSet<String>) {
    let answer = parwatch.sql("SELECT event_id FROM events").await;
    assert_ids_once_in(&answer, &expected, "events");
}

/// Where a test's lake is: the local default, or a prefix of a real S3 store.
struct LakeAt {
    store: Option<ObjectStoreServer>,
    url: String,
    /// The store's endpoint and credentials.
    options: Vec<(String, String)>,
}

impl LakeAt {
    fn local() -> Self {
        Self {
            store: None,
            url: String::new(),
            options: Vec::new(),
        }
    }

    fn s3() -> Self {
        let store = ObjectStoreServer::start().expect("SeaweedFS (tests/run.sh installs it)");
        let (url, options) = (store.url("province/lake"), store.storage_options());
        Self {
            store: Some(store),
            url,
            options,
        }
    }

    /// Arguments pointing a ParWatch process at the lake.
    fn args(&self) -> Vec<&str> {
        match self.store {
            Some(_) => vec!["--lake", &self.url],
            None => vec![],
        }
    }

    /// The store's endpoint and credentials, for a ParWatch process.
    fn env(&self) -> Vec<(&str, &str)> {
        self.options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    async fn up(&self, nats: &str, data: &std::path::Path, extra: &[&str]) -> Parwatch {
        Parwatch::up_with_env(nats, data, &[&self.args()[..], extra].concat(), &self.env()).await
    }

    fn spawn_worker(&self, nats: &str, data: &std::path::Path, name: &str) -> Parwatch {
        let data_arg = data.to_str().unwrap();
        let mut args = vec![
            "ingest",
            "--nats-url",
            nats,
            "--data-dir",
            data_arg,
            "--flush-events",
            "5000",
            "--ack-wait-secs",
            "2",
        ];
        args.extend(self.args());
        Parwatch::spawn(&args, &self.env(), data, name)
    }
}

/// Waits until the worker has counted a failed lake write, at most `within`.
async fn first_write_failure(parwatch: &Parwatch, within: Duration) {
    let deadline = Instant::now() + within;
    while parwatch.counter("parwatch_write_failures_total").await == 0 {
        assert!(Instant::now() < deadline, "no write failure seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The crash test's id of event `i`: a UUID for odd `i`, text otherwise, so both kinds of ids
/// go through the crashes.
fn crash_id(i: usize) -> String {
    if i % 2 == 1 {
        format!("00000000-0000-4000-8000-{i:012x}")
    } else {
        format!("ev-{i:06}")
    }
}

/// Valid events `range` with [`crash_id`] ids, each its own `Nats-Msg-Id`.
fn crash_messages(range: std::ops::Range<usize>) -> Vec<Outgoing> {
    range
        .map(|i| Outgoing::event(&valid_event(i).id(crash_id(i))).with_msg_id(crash_id(i)))
        .collect()
}

/// Kills workers at `rounds` reproducible "random" moments while `n` events are published,
/// then checks every event is stored exactly once.
async fn sigkill_at_random_moments(lake: LakeAt, n: usize, rounds: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let url = nats.url();
    // Published while the worker is killed and restarted.
    let publisher = {
        let url = url.clone();
        tokio::spawn(async move {
            for chunk in (0..n).step_by(20_000) {
                publish(&url, crash_messages(chunk..(chunk + 20_000).min(n))).await;
            }
        })
    };
    // A fixed sequence of "random" moments: reproducible, spread over 50 ms .. 1.5 s.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..rounds {
        let mut worker = lake.spawn_worker(&url, &data, &format!("worker-{round}"));
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let wait = Duration::from_millis(50 + state % 1_450);
        tokio::time::sleep(wait).await;
        worker.kill();
    }
    publisher.await.unwrap();
    let parwatch = lake.up(&url, &data, &["--ack-wait-secs", "2"]).await;
    expect_exactly(&parwatch, n, Duration::from_secs(3)).await;
    assert_ids_once(&parwatch, (0..n).map(crash_id).collect()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    sigkill_at_random_moments(LakeAt::local(), 200_000, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_on_s3_loses_and_doubles_nothing() {
    sigkill_at_random_moments(LakeAt::s3(), 60_000, 6).await;
}

/// Stops the broker while the worker drains, starts it again, and checks every event is
/// stored exactly once.
async fn broker_restart_mid_stream(lake: LakeAt) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("nats");
    let mut nats = LocalNats::start(&store).unwrap();
    let (url, port) = (nats.url(), nats.port());
    let data = tmp.path().join("data");
    let parwatch = lake.up(&url, &data, &["--ack-wait-secs", "2"]).await;
    publish(&url, valid_messages(0..20_000, true)).await;
    // Stop the broker while the worker is draining, then start it again on the same port.
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _nats = LocalNats::start_on(&store, port).unwrap();
    publish(&url, valid_messages(20_000..30_000, true)).await;
    expect_exactly(&parwatch, 30_000, Duration::from_secs(3)).await;
    assert_every_id_once(&parwatch, 30_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_and_doubles_nothing() {
    broker_restart_mid_stream(LakeAt::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_on_s3_loses_and_doubles_nothing() {
    broker_restart_mid_stream(LakeAt::s3()).await;
}

/// Waits until `/readyz` says whether the lake is `readable` (200 when it is, 503 when not).
async fn lake_probe_says(parwatch: &Parwatch, readable: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = parwatch.get_json("/readyz").await;
        if body["lake"] == json!(readable) {
            assert_eq!(status, if readable { 200 } else { 503 }, "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "readyz still says {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_stopped_mid_stream_is_retried_and_nothing_unstored_is_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let mut lake = LakeAt::s3();
    let parwatch = lake.up(&nats.url(), &data, &[]).await;
    publish(&nats.url(), valid_messages(0..5_000, true)).await;
    expect_exactly(&parwatch, 5_000, Duration::ZERO).await;
    // The store goes down mid-stream: every write fails until it is back.
    lake.store.as_mut().unwrap().stop();
    publish(&nats.url(), valid_messages(5_000..10_000, true)).await;
    first_write_failure(&parwatch, Duration::from_secs(30)).await;
    assert_eq!(
        parwatch.counter("parwatch_events_stored_total").await,
        5_000
    );
    // The probe says the lake cannot be read (so a load balancer sends queries elsewhere), and
    // then that it can again: as the background refresh found it, never a read of its own.
    lake_probe_says(&parwatch, false).await;
    // Had a failed batch been acknowledged, it would be missing once the store is back.
    lake.store.as_mut().unwrap().restart().unwrap();
    lake_probe_says(&parwatch, true).await;
    expect_exactly(&parwatch, 10_000, Duration::from_secs(1)).await;
    assert_every_id_once(&parwatch, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_is_retried_and_nothing_unstored_is_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let parwatch = Parwatch::up(&nats.url(), &data, &[]).await;
    // The events table's data folder becomes a plain file: every write fails (ENOTDIR) until
    // it is gone.
    let staging = data.join("lake/events/data");
    std::fs::write(&staging, b"not a directory").unwrap();
    publish(&nats.url(), valid_messages(0..5_000, true)).await;
    first_write_failure(&parwatch, Duration::from_secs(20)).await;
    assert_eq!(
        parwatch.scalar("SELECT count(*) FROM events").await,
        json!(0)
    );
    std::fs::remove_file(&staging).unwrap();
    expect_exactly(&parwatch, 5_000, Duration::from_secs(1)).await;
    assert_every_id_once(&parwatch, 5_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_acknowledges_within_five_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    // Nothing would be flushed for a minute but for the shutdown.
    let hold = [
        "--flush-interval-ms",
        "60000",
        "--flush-events",
        "100000",
        "--ack-wait-secs",
        "2",
    ];
    let mut parwatch = Parwatch::up(&nats.url(), &data, &hold).await;
    publish(&nats.url(), valid_messages(0..500, true)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        parwatch.scalar("SELECT count(*) FROM events").await,
        json!(0),
        "still held"
    );

    let started = Instant::now();
    assert!(parwatch.terminate().success(), "{}", parwatch.log_text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(crate::harness::delta_rows(&data.join("lake/events")), 500);

    // Acknowledged: after the ack wait, a new worker gets nothing redelivered.
    let parwatch = Parwatch::up(&nats.url(), &data, &["--ack-wait-secs", "2"]).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        parwatch.counter("parwatch_duplicates_skipped_total").await,
        0
    );
    assert_every_id_once(&parwatch, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_deleted_from_the_stream_does_not_stall_acknowledgement() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    publish(&nats.url(), valid_messages(0..1_000, true)).await;
    // Sequence 500 vanishes before it is ever delivered: the cumulative ack must step over it.
    let js = crate::harness::jetstream_as(&nats.url(), &nats.admin_key()).await;
    let stream = js.get_stream(parwatch_ingest::STREAM_NAME).await.unwrap();
    assert!(stream.delete_message(500).await.unwrap());
    let parwatch = Parwatch::up(&nats.url(), &data, &["--ack-wait-secs", "1"]).await;
    expect_exactly(&parwatch, 999, Duration::ZERO).await;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("parwatch-ingest").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = consumer.info().await.unwrap();
        if info.ack_floor.stream_sequence == 1_000 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ack floor stuck at {}",
            info.ack_floor.stream_sequence
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_every_id_once_except(&parwatch, 1_000, "ev-000499").await;
}
