//! The local cluster of `deploy/cluster/up.sh` (3 NATS nodes, 3 SeaweedFS nodes, 2 workers, 2
//! API nodes behind haproxy) under a sustained publish, while one of each is killed with
//! SIGKILL at different moments and restarted: afterwards every event is stored exactly once,
//! the API node never killed answered throughout, and two other engines read the lake.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};

use crate::harness::{Outgoing, assert_ids_once_in, delta_read_at, jetstream_as, valid_messages};

/// Events published, in chunks of [`CHUNK`] every [`PAUSE`]: about 40 s of load.
const EVENTS: usize = 12_000;
const CHUNK: usize = 300;
const PAUSE: Duration = Duration::from_secs(1);

/// Ports the cluster takes from its base (see the head of up.sh).
const PORTS: u16 = 61;

/// The repository's `deploy/cluster`.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cluster")
}

/// A base port with the next [`PORTS`] free, among bases below the kernel's ephemeral range.
fn free_base() -> u16 {
    let start = (std::process::id() % 100) as u16;
    (0..100)
        .map(|k| 20_000 + 120 * ((start + k) % 100))
        .find(|base| {
            let held: Result<Vec<_>, _> = (*base..base + PORTS)
                .map(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)))
                .collect();
            held.is_ok()
        })
        .expect("61 free ports in a row")
}

/// A cluster started by `up.sh` in a temporary directory, stopped by `down.sh` on drop.
struct Cluster {
    dir: tempfile::TempDir,
    base: u16,
    /// `cluster.env`: the addresses up.sh printed.
    addrs: BTreeMap<String, String>,
    /// `secrets/lake.env`: the store's endpoint and credentials.
    lake_env: Vec<(String, String)>,
    token: String,
}

impl Cluster {
    fn up() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = free_base();
        let mut cluster = Self {
            dir,
            base,
            addrs: BTreeMap::new(),
            lake_env: Vec::new(),
            token: String::new(),
        };
        cluster.run_up();
        let read = |file: &str| {
            std::fs::read_to_string(cluster.dir.path().join(file))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        };
        cluster.addrs = read("cluster.env").into_iter().collect();
        cluster.lake_env = read("secrets/lake.env");
        cluster.token = std::fs::read_to_string(cluster.dir.path().join("secrets/admin.token"))
            .unwrap()
            .trim()
            .to_owned();
        cluster
    }

    /// Runs up.sh: starts whatever is not running, waits until everything is ready.
    fn run_up(&self) -> Duration {
        let started = Instant::now();
        let out = Command::new(scripts().join("up.sh"))
            .arg(self.dir.path())
            .env("PARWATCH_BIN", env!("CARGO_BIN_EXE_parwatch"))
            .env("PARWATCH_CLUSTER_PORT_BASE", self.base.to_string())
            // A dead worker's partitions pass on within seconds; small batches, often.
            .env("PARWATCH_LEASE_TTL_SECS", "3")
            .env("PARWATCH_ACK_WAIT_SECS", "3")
            .env("PARWATCH_FLUSH_EVENTS", "2000")
            // The test polls more often than the default budgets allow a client.
            .env("PARWATCH_SQL_PER_MINUTE", "1000000")
            .env("PARWATCH_PANELS_PER_MINUTE", "1000000")
            .output()
            .expect("run deploy/cluster/up.sh");
        assert!(
            out.status.success(),
            "up.sh failed:\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tails()
        );
        started.elapsed()
    }

    fn addr(&self, key: &str) -> &str {
        self.addrs
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{key} in cluster.env"))
    }

    /// The base URL of API node `i` (1 or 2).
    fn api_node(&self, i: usize) -> String {
        self.addr("PARWATCH_CLUSTER_API_NODES")
            .split(',')
            .nth(i - 1)
            .unwrap()
            .to_owned()
    }

    /// SIGKILL to the process up.sh started as `name` (e.g. `nats-2`), once it is gone.
    fn kill(&self, name: &str) {
        let pid_file = self.dir.path().join(format!("run/{name}.pid"));
        let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on a pid of the cluster's own processes; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {name}");
        // Gone when kill(pid, 0) fails (the process is reaped by init: it runs in its own session).
        let deadline = Instant::now() + Duration::from_secs(10);
        while unsafe { libc::kill(pid, 0) } == 0 {
            assert!(Instant::now() < deadline, "{name} still alive");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of every log, for a failure's message.
    fn log_tails(&self) -> String {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) else {
            return String::new();
        };
        let mut out = String::new();
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out += &format!(
                "--- {}\n{}\n",
                entry.path().display(),
                lines[lines.len().saturating_sub(8)..].join("\n")
            );
        }
        out
    }
}

impl Drop for Cluster {
    /// Stops the cluster; after a failure its directory (logs, data) is kept and named.
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("down.sh"))
            .arg(self.dir.path())
            .output();
        if std::thread::panicking() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("cluster kept in {}", dir.keep().display());
        }
    }
}

/// The JSON answer of `sql` from the API at `base` as `token`, or why there is none.
async fn sql(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    sql: &str,
) -> Result<Value, String> {
    let response = client
        .post(format!("{base}/api/v1/sql"))
        .bearer_auth(token)
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    match status.is_success() {
        true => serde_json::from_str(&body).map_err(|e| format!("{e}: {body}")),
        false => Err(format!("{status}: {body}")),
    }
}

/// Publishes `messages` with acks pipelined; an error (a node gone mid-publish) is returned
/// for the caller to send the same messages again (their message ids make it safe).
async fn publish_once(js: &jetstream::Context, messages: &[Outgoing]) -> Result<(), String> {
    let mut acks = FuturesUnordered::new();
    for m in messages {
        let mut publish = PublishMessage::build().payload(Bytes::from(m.body.clone()));
        if let Some(id) = &m.msg_id {
            publish = publish.message_id(id);
        }
        let ack = js
            .send_publish(m.subject.clone(), publish)
            .await
            .map_err(|e| e.to_string())?;
        acks.push(ack.into_future());
    }
    while let Some(ack) = acks.next().await {
        ack.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// How the API answered while it was polled.
#[derive(Debug, Default)]
struct Answers {
    ok: AtomicU64,
    failed: AtomicU64,
    /// The first failures, to say why.
    errors: std::sync::Mutex<Vec<String>>,
}

/// Polls `base` with a count of `events` every 200 ms until `stop`.
fn poll(
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> (Arc<Answers>, tokio::task::JoinHandle<()>) {
    let answers = Arc::new(Answers::default());
    let counted = Arc::clone(&answers);
    let task = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        while !stop.load(Ordering::Relaxed) {
            match sql(&client, &base, &token, "SELECT count(*) FROM events").await {
                Ok(_) => counted.ok.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    let mut errors = counted.errors.lock().unwrap();
                    if errors.len() < 5 {
                        errors.push(e);
                    }
                    counted.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (answers, task)
}

/// The node (`nats-<k>`) leading the stream of partition 0, from the stream's cluster info.
async fn stream_leader(admin: &jetstream::Context) -> String {
    let mut stream = admin
        .get_stream("PAR_EVENTS_0")
        .await
        .expect("stream PAR_EVENTS_0");
    let info = stream.info().await.expect("stream info");
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("a stream leader");
    // up.sh names the servers n1, n2, n3 and their processes nats-1, nats-2, nats-3.
    format!("nats-{}", leader.trim_start_matches('n'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_loses_one_of_each_process_and_stores_every_event_once() {
    let started = Instant::now();
    let cluster = Cluster::up();
    let start_time = started.elapsed();
    eprintln!("cluster up in {:.1}s", start_time.as_secs_f64());
    // One node's URL: the client learns the others from it and moves when it goes away.
    let nats = cluster
        .addr("PARWATCH_CLUSTER_NATS")
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let data = PathBuf::from(cluster.addr("PARWATCH_CLUSTER_DATA"));
    let publisher = jetstream_as(&nats, &data.join("publishers/loadgen.nk")).await;
    let admin = jetstream_as(&nats, &data.join("nats/admin.nk")).await;

    // The survivor (API node 2, never killed) and the front door, polled throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let (survivor, survivor_task) = poll(
        cluster.api_node(2),
        cluster.token.clone(),
        Arc::clone(&stop),
    );
    let front = cluster.addr("PARWATCH_CLUSTER_API").to_owned();
    let (front, front_task) = poll(front, cluster.token.clone(), Arc::clone(&stop));

    let load = tokio::spawn(async move {
        let mut retries = 0;
        for chunk in (0..EVENTS).step_by(CHUNK) {
            let messages = valid_messages(chunk..chunk + CHUNK, true);
            let deadline = Instant::now() + Duration::from_secs(60);
            while let Err(e) = publish_once(&publisher, &messages).await {
                assert!(
                    Instant::now() < deadline,
                    "chunk {chunk} not acknowledged: {e}"
                );
                retries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            tokio::time::sleep(PAUSE).await;
        }
        retries
    });

    // One fault at a time, a few seconds apart, each restarted by up.sh before the next: the
    // leader of a partition's stream, the SeaweedFS node whose S3 gateway haproxy sends the
    // lake's requests to (master, volume server, filer and gateway), a worker, an API node.
    let mut restarts = Vec::new();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let leader = stream_leader(&admin).await;
    let faults = [leader.as_str(), "weed-1", "ingest-1", "api-1"];
    for name in faults {
        cluster.kill(name);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let took = tokio::task::block_in_place(|| cluster.run_up());
        restarts.push(format!("{name} {:.1}s", took.as_secs_f64()));
        eprintln!(
            "{:.1}s: {name} killed and restarted ({:.1}s)",
            started.elapsed().as_secs_f64(),
            took.as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let publish_retries = load.await.unwrap();

    // Every event, once: the survivor and the restarted node agree.
    let client = reqwest::Client::new();
    let survivor_base = cluster.api_node(2);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = sql(
            &client,
            &survivor_base,
            &cluster.token,
            "SELECT count(*), count(DISTINCT event_id) FROM events",
        )
        .await
        .map(|a| a["rows"][0].clone());
        if answer.as_ref().is_ok_and(|a| a[0] == json!(EVENTS)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events not all stored: {answer:?}\n{}",
            cluster.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    survivor_task.await.unwrap();
    front_task.await.unwrap();
    let expected: HashSet<String> = (0..EVENTS).map(|i| format!("ev-{i:06}")).collect();
    for node in [cluster.api_node(2), cluster.api_node(1)] {
        let answer = sql(
            &client,
            &node,
            &cluster.token,
            "SELECT event_id FROM events",
        )
        .await
        .unwrap();
        assert_ids_once_in(&answer, &expected, &node);
    }

    // The lake as two other engines read it from the store, at one version.
    let table = format!("{}/events", cluster.addr("PARWATCH_CLUSTER_LAKE"));
    let (_, rows) = delta_read_at(&table, &cluster.lake_env);
    assert_eq!(rows, EVENTS as i64, "deltalake and DuckDB");

    let (ok, failed) = (
        survivor.ok.load(Ordering::Relaxed),
        survivor.failed.load(Ordering::Relaxed),
    );
    let front_failed = front.failed.load(Ordering::Relaxed);
    eprintln!(
        "cluster up in {:.1}s; restarts: {}; publish retries {publish_retries}; survivor {ok} answers, \
         {failed} failures {:?}; haproxy {} answers, {front_failed} failures {:?}; test {:.1}s",
        start_time.as_secs_f64(),
        restarts.join(", "),
        survivor.errors.lock().unwrap(),
        front.ok.load(Ordering::Relaxed),
        front.errors.lock().unwrap(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        ok > 100,
        "the survivor was polled throughout ({ok} answers)"
    );
    assert_eq!(
        failed,
        0,
        "the surviving API node failed: {:?}",
        survivor.errors.lock().unwrap()
    );
}
