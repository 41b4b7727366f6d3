//! Test harness: a private nats-server, the parwatch binary as a child process, the one set of
//! HTTP helpers ([`get`], [`get_with`], [`get_json`] and the [`Parwatch`] methods), the tests'
//! events (from `parwatch_proto::testing`), lakes filled with them, and embedding's settings;
//! a real browser for the page tests in [`browser`].

pub(crate) mod browser;

use std::future::IntoFuture;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{Channel, EventData, EventType, Outcome, Portal, PostalKind, ServiceMode};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// ParWatch's private nats-server (accounts, nkeys, the stream), remembered by port so that
/// [`publish`] and [`Parwatch`] use the keys of the server a URL names: the tests keep
/// passing a URL, and every connection is authenticated.
pub(crate) struct LocalNats(parwatch_ingest::LocalNats);

/// The keys of the servers started by [`LocalNats`], by port.
static SERVERS: std::sync::Mutex<std::collections::BTreeMap<u16, NatsKeys>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Seed files of a [`LocalNats`] server's users, and its publishers file.
#[derive(Clone)]
pub(crate) struct NatsKeys {
    /// The worker's seed.
    pub(crate) ingest: PathBuf,
    /// The administrator's seed.
    pub(crate) admin: PathBuf,
    /// The seed of the publisher `local` (every agency, official assessments).
    pub(crate) publisher: PathBuf,
    /// The publishers file the worker authorises with.
    pub(crate) publishers: PathBuf,
}

impl LocalNats {
    /// [`parwatch_ingest::LocalNats::start`], remembered.
    pub(crate) fn start(store_dir: &Path) -> parwatch_ingest::Result<Self> {
        parwatch_ingest::LocalNats::start(store_dir).map(Self::remember)
    }

    /// [`parwatch_ingest::LocalNats::start_on`], remembered.
    pub(crate) fn start_on(store_dir: &Path, port: u16) -> parwatch_ingest::Result<Self> {
        parwatch_ingest::LocalNats::start_on(store_dir, port).map(Self::remember)
    }

    /// [`parwatch_ingest::LocalNats::start_partitioned`] on a free port, remembered.
    pub(crate) fn start_partitioned(
        store_dir: &Path,
        partitions: parwatch_ingest::Partitions,
    ) -> parwatch_ingest::Result<Self> {
        parwatch_ingest::LocalNats::start_partitioned(store_dir, free_port(), partitions)
            .map(Self::remember)
    }

    /// [`parwatch_ingest::LocalNats::start_with`], remembered; its publisher keys are not
    /// known to [`publish`].
    pub(crate) fn start_with(
        store_dir: &Path,
        publishers: &parwatch_ingest::Publishers,
        limits: &parwatch_ingest::StreamLimits,
    ) -> parwatch_ingest::Result<Self> {
        parwatch_ingest::LocalNats::start_with(store_dir, free_port(), publishers, limits)
            .map(Self::remember)
    }

    fn remember(server: parwatch_ingest::LocalNats) -> Self {
        let keys = NatsKeys {
            ingest: server.ingest_key(),
            admin: server.admin_key(),
            publisher: server.local_publisher_key(),
            publishers: server.publishers_file(),
        };
        SERVERS.lock().unwrap().insert(server.port(), keys);
        Self(server)
    }
}

impl std::ops::Deref for LocalNats {
    type Target = parwatch_ingest::LocalNats;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for LocalNats {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The keys of the [`LocalNats`] server `nats_url` names, if one was started here.
pub(crate) fn nats_keys(nats_url: &str) -> Option<NatsKeys> {
    let port: u16 = nats_url.rsplit(':').next()?.parse().ok()?;
    SERVERS.lock().unwrap().get(&port).cloned()
}

/// Environment making a `parwatch` command connect to `nats_url` as it should: `simulate` as
/// the publisher `local`, the others as the worker (the demo as `local`).
pub(crate) fn nats_env(command: &str, nats_url: &str) -> Vec<(&'static str, PathBuf)> {
    let Some(keys) = nats_keys(nats_url) else {
        return Vec::new();
    };
    let own = match command {
        "simulate" => keys.publisher.clone(),
        _ => keys.ingest,
    };
    vec![
        ("PARWATCH_NATS_NKEY", own),
        ("PARWATCH_PUBLISHERS", keys.publishers),
        ("PARWATCH_DEMO_NKEY", keys.publisher),
    ]
}

/// JetStream on `nats_url` as the user whose seed is `key`.
pub(crate) async fn jetstream_as(nats_url: &str, key: &Path) -> jetstream::Context {
    let identity = parwatch_ingest::Identity::load(key).expect("nkey seed");
    let client = parwatch_ingest::connect(nats_url, "e2e", Some(&identity))
        .await
        .expect("connect to nats");
    jetstream::new(client)
}

/// A message to publish: subject, body, and the `Nats-Msg-Id` header when set.
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) body: Vec<u8>,
    pub(crate) msg_id: Option<String>,
}

impl Outgoing {
    /// A test event as its publisher sends it, without `Nats-Msg-Id`.
    pub(crate) fn event(event: &TestEvent) -> Self {
        Self::json(&event.subject(), &event.json())
    }

    /// Any JSON body (valid or not) on `subject`, without `Nats-Msg-Id`.
    pub(crate) fn json(subject: &str, body: &Value) -> Self {
        Outgoing {
            subject: subject.to_owned(),
            body: serde_json::to_vec(body).unwrap(),
            msg_id: None,
        }
    }

    /// The same message with the `Nats-Msg-Id` header `id`.
    pub(crate) fn with_msg_id(self, id: impl Into<String>) -> Self {
        Outgoing {
            msg_id: Some(id.into()),
            ..self
        }
    }
}

/// The dossier event types [`valid_event`] rotates through.
const DOSSIER_TYPES: [EventType; 6] = [
    EventType::DossierReceived,
    EventType::OnlineApplication,
    EventType::PostalSubmission,
    EventType::DossierLate,
    EventType::DossierApology,
    EventType::DossierResolved,
];

/// Valid event `i` (id `ev-<i, 6 digits>`): six types in rotation, one dossier per six events,
/// a minute apart from 2024-03-31T18:30:00Z (local 2024-04-01 01:30, so event 0 checks the
/// partition rule).
pub(crate) fn valid_event(i: usize) -> TestEvent {
    let types = DOSSIER_TYPES.len();
    let at = chrono::DateTime::parse_from_rfc3339("2024-03-31T18:30:00Z").unwrap()
        + chrono::Duration::minutes(i as i64);
    let due = at + chrono::Duration::days(7);
    let event = match DOSSIER_TYPES[i % types] {
        EventType::DossierReceived => match i % 4 {
            0 => TestEvent::received(Channel::Online).online_mode(ServiceMode::Full),
            1 => TestEvent::received(Channel::Postal),
            _ => TestEvent::received(Channel::Counter),
        }
        .due(due),
        EventType::OnlineApplication => TestEvent::of(EventData::OnlineApplication {
            mode: ServiceMode::Partial,
            portal: Some(Portal::National),
        }),
        EventType::PostalSubmission => TestEvent::postal(PostalKind::Result),
        EventType::DossierLate => TestEvent::late().due(due),
        EventType::DossierApology => TestEvent::apology()
            .due(due)
            .field("letter_no", format!("{i}/XL")),
        _ => TestEvent::resolved(Outcome::Approved).digitized(i.is_multiple_of(3)),
    };
    event
        .id(format!("ev-{i:06}"))
        .at(at)
        .source("motcua-test")
        .agency(format!("000.00.{:02}.H02", (i / types) % 7))
        .dossier(format!("D-{:05}", i / types))
        .procedure("1.001234")
}

/// Valid events `range` as messages, with `Nats-Msg-Id` (the event id) when `with_id`.
pub(crate) fn valid_messages(range: std::ops::Range<usize>, with_id: bool) -> Vec<Outgoing> {
    range
        .map(|i| {
            let message = Outgoing::event(&valid_event(i));
            match with_id {
                true => message.with_msg_id(format!("ev-{i:06}")),
                false => message,
            }
        })
        .collect()
}

/// A lake with valid events `0..n` ingested by a running `parwatch up`.
pub(crate) async fn lake_with_events(n: usize) -> (tempfile::TempDir, LocalNats, Parwatch) {
    lake_with(valid_messages(0..n, false), &[]).await
}

/// A lake with `messages` (each one event) published to a fresh nats-server and stored by a
/// running `parwatch up <extra>`; the data directory is the temporary directory's `data`.
pub(crate) async fn lake_with(
    messages: Vec<Outgoing>,
    extra: &[&str],
) -> (tempfile::TempDir, LocalNats, Parwatch) {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let n = messages.len();
    publish(&nats.url(), messages).await;
    let parwatch = Parwatch::up(&nats.url(), &tmp.path().join("data"), extra).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(n),
            Duration::from_secs(30),
        )
        .await;
    (tmp, nats, parwatch)
}

/// Waits until `events` holds exactly `n` distinct events, then checks nothing more comes.
pub(crate) async fn expect_exactly(parwatch: &Parwatch, n: usize, settle: Duration) {
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(n),
            Duration::from_secs(60),
        )
        .await;
    tokio::time::sleep(settle).await;
    assert_eq!(
        parwatch
            .sql("SELECT count(*), count(DISTINCT event_id) FROM events")
            .await["rows"][0],
        json!([n, n])
    );
}

/// Publishes as the publisher `local` of the [`LocalNats`] server `nats_url` names, with acks
/// pipelined; returns how many the broker stored (not deduplicated).
pub(crate) async fn publish(nats_url: &str, messages: Vec<Outgoing>) -> usize {
    let keys = nats_keys(nats_url).expect("a LocalNats of the harness");
    publish_with(&jetstream_as(nats_url, &keys.publisher).await, messages).await
}

/// Publishes on `js` with acks pipelined; returns how many the broker stored.
pub(crate) async fn publish_with(js: &jetstream::Context, messages: Vec<Outgoing>) -> usize {
    let mut acks = FuturesUnordered::new();
    let mut stored = 0;
    for m in messages {
        let mut publish = PublishMessage::build().payload(Bytes::from(m.body));
        if let Some(id) = m.msg_id {
            publish = publish.message_id(id);
        }
        let ack = js.send_publish(m.subject, publish).await.expect("publish");
        acks.push(ack.into_future());
        if acks.len() >= 2048 {
            let ack = acks.next().await.unwrap().expect("publish ack");
            stored += usize::from(!ack.duplicate);
        }
    }
    while let Some(ack) = acks.next().await {
        stored += usize::from(!ack.expect("publish ack").duplicate);
    }
    stored
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Status, headers and body text of a GET of `url` by `client`.
pub(crate) async fn get_with(client: &reqwest::Client, url: &str) -> (u16, HeaderMap, String) {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Status, headers and body text of a GET of `url`.
pub(crate) async fn get(url: &str) -> (u16, HeaderMap, String) {
    get_with(&reqwest::Client::new(), url).await
}

/// POSTs `body` as JSON to `url`, with a bearer token when given; the response, body unread.
pub(crate) async fn post_json(url: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// Status and JSON body of a GET of `url`; a body that is not JSON fails the test.
pub(crate) async fn get_json(url: &str) -> (u16, Value) {
    let (status, _, body) = get(url).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}")),
    )
}

/// `VmRSS` and `VmHWM` (peak) of process `pid`, in MiB.
pub(crate) fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Signs the tests' embed tokens.
pub(crate) const SECRET: &str = "an embed secret for the end-to-end tests";
/// A portal allowed to frame embeds.
pub(crate) const PORTAL: &str = "https://sotuphap.example.gov.vn";

/// The repository's dashboards directory.
pub(crate) fn repo_dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards")
}

/// The arguments that turn on embedding for `parwatch up`/`serve`.
pub(crate) fn web_args(dashboards: &Path) -> Vec<String> {
    vec![
        "--dashboards".to_owned(),
        dashboards.to_str().unwrap().to_owned(),
        "--embed-secret".to_owned(),
        SECRET.to_owned(),
        "--embed-origins".to_owned(),
        PORTAL.to_owned(),
    ]
}

/// `parwatch embed-token` with the tests' secret: Ok(token) or Err(stderr).
pub(crate) fn embed_token(data: &Path, dashboards: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args(["embed-token", "--data-dir", data.to_str().unwrap()])
        .args(["--dashboards", dashboards.to_str().unwrap()])
        .args(args)
        .env("PARWATCH_EMBED_SECRET", SECRET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    } else {
        Err(stderr)
    }
}

/// `psql` against the PostgreSQL endpoint on `port` with `password`; (success, stdout, stderr).
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

/// `parwatch token create` in `data_dir`: the printed token.
pub(crate) fn create_token(data_dir: &Path, role: &str, agency: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parwatch"));
    command.args([
        "token",
        "create",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--role",
        role,
    ]);
    if let Some(agency) = agency {
        command.args(["--agency", agency]);
    }
    let out = command.output().expect("parwatch token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The public id of a token (`pwt_<id>_<secret>`), as audit lines name it.
pub(crate) fn token_id(token: &str) -> &str {
    token.split('_').nth(1).expect("pwt_<id>_<secret>")
}

/// The `parwatch` binary running as a child process; terminated (SIGTERM) on drop.
pub(crate) struct Parwatch {
    child: Child,
    base: Option<String>,
    log: PathBuf,
    pg_port: u16,
}

impl Parwatch {
    /// Spawns `parwatch <args>` with extra environment; logs go to `<log_dir>/<name>.log`.
    ///
    /// Servers get a free PostgreSQL port (tests run side by side) and SQL, panel and embed
    /// rate budgets no polling test reaches, unless `env` says otherwise.
    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)], log_dir: &Path, name: &str) -> Self {
        let pg_port = free_port();
        std::fs::create_dir_all(log_dir).unwrap();
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_parwatch"));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        command
            .env("PARWATCH_PG", format!("127.0.0.1:{pg_port}"))
            .env("PARWATCH_SQL_PER_MINUTE", "1000000")
            .env("PARWATCH_PANELS_PER_MINUTE", "1000000")
            .env("PARWATCH_EMBED_TOKEN_PER_MINUTE", "1000000")
            .env("PARWATCH_EMBED_CLIENT_PER_MINUTE", "1000000");
        if let Some(at) = args.iter().position(|a| *a == "--nats-url")
            && let Some(url) = args.get(at + 1)
        {
            command.envs(nats_env(args[0], url));
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("spawn parwatch");
        Self {
            child,
            base: None,
            log,
            pg_port,
        }
    }

    /// `parwatch up --open` against `nats_url`, with its HTTP server on a free port, ready
    /// (open: a request without a token is the local admin; a token sent is still checked).
    pub(crate) async fn up(nats_url: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::up_with_env(nats_url, data_dir, extra, &[]).await
    }

    /// [`Parwatch::up`] with extra environment.
    pub(crate) async fn up_with_env(
        nats_url: &str,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port().to_string();
        let http = format!("127.0.0.1:{port}");
        let data = data_dir.to_str().unwrap();
        let mut args = vec![
            "up",
            "--nats-url",
            nats_url,
            "--data-dir",
            data,
            "--http",
            &http,
            "--open",
        ];
        args.extend_from_slice(extra);
        let mut p = Self::spawn(&args, env, data_dir, "up");
        p.base = Some(format!("http://{http}"));
        p.wait_ready().await;
        p
    }

    /// `parwatch serve` over `data_dir` on a free port, ready.
    pub(crate) async fn serve(data_dir: &Path) -> Self {
        Self::serve_with(data_dir, &[], &[]).await
    }

    /// `parwatch serve` with extra arguments and environment, ready.
    pub(crate) async fn serve_with(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let http = format!("127.0.0.1:{}", free_port());
        let data = data_dir.to_str().unwrap();
        let mut args = vec!["serve", "--data-dir", data, "--http", &http];
        args.extend_from_slice(extra);
        let mut p = Self::spawn(&args, env, data_dir, "serve");
        p.base = Some(format!("http://{http}"));
        p.wait_ready().await;
        p
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/readyz", self.base());
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "parwatch exited with {status} before ready:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 30 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn base(&self) -> &str {
        self.base
            .as_deref()
            .expect("no HTTP server in this process")
    }

    /// The process id, to read its memory from `/proc`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Port of the PostgreSQL endpoint.
    pub(crate) fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// The process's `/metrics` page, Prometheus text.
    pub(crate) async fn metrics_text(&self) -> String {
        get(&format!("{}/metrics", self.base())).await.2
    }

    /// A counter of the process's Prometheus text.
    pub(crate) async fn counter(&self, name: &str) -> u64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POSTs SQL; returns status and body.
    pub(crate) async fn sql_raw(&self, sql: &str, format: Option<&str>) -> (u16, Bytes) {
        let response = self.post_sql(None, sql, format).await;
        (response.status().as_u16(), response.bytes().await.unwrap())
    }

    /// POSTs SQL with an optional bearer token; the response, body unread.
    pub(crate) async fn post_sql(
        &self,
        token: Option<&str>,
        sql: &str,
        format: Option<&str>,
    ) -> reqwest::Response {
        let mut url = format!("{}/api/v1/sql", self.base());
        if let Some(f) = format {
            url = format!("{url}?format={f}");
        }
        post_json(&url, token, &json!({ "sql": sql })).await
    }

    /// GETs `path` with an optional bearer token.
    pub(crate) async fn get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET request")
    }

    /// Status and JSON body of a GET of `path` (no token).
    pub(crate) async fn get_json(&self, path: &str) -> (u16, Value) {
        get_json(&format!("{}{path}", self.base())).await
    }

    /// Runs SQL as `token`; the JSON answer of a 200, or a panic with the error.
    pub(crate) async fn sql_as(&self, token: &str, sql: &str) -> Value {
        let response = self.post_sql(Some(token), sql, None).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{sql}: {body}");
        assert!(body.get("error").is_none(), "{sql}: {body}");
        body
    }

    /// Runs SQL that must succeed; returns the JSON answer.
    pub(crate) async fn sql(&self, sql: &str) -> Value {
        let (status, body) = self.sql_raw(sql, None).await;
        assert_eq!(status, 200, "{sql}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    /// The single value of a one-row, one-column query.
    pub(crate) async fn scalar(&self, sql: &str) -> Value {
        self.sql(sql).await["rows"][0][0].clone()
    }

    /// Polls `sql` until it returns `expected`, for at most `timeout`; then waits until the
    /// metrics answer from what SQL read (the projections fold new files in the background).
    pub(crate) async fn wait_for(&self, sql: &str, expected: Value, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.scalar(sql).await;
            if got == expected {
                wait_projected(self.base()).await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{sql}: still {got} (want {expected}) after {timeout:?}\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the process to exit by itself.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to flush or acknowledge.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        }
        self.wait_exit(Duration::from_secs(20))
    }
}

impl Drop for Parwatch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate();
        }
    }
}

/// Rows of the Delta table in `dir`, as two other engines read it (Python `deltalake` and
/// DuckDB's delta extension, at one version, through `clients/delta_read.py`); they must agree.
pub(crate) fn delta_rows(dir: &Path) -> i64 {
    delta_read(dir).1
}

/// The version of the Delta table in `dir` two other engines read, and its rows (see
/// [`delta_rows`]).
pub(crate) fn delta_read(dir: &Path) -> (u64, i64) {
    delta_read_at(dir.to_str().unwrap(), &[])
}

/// [`delta_read`] of the table at `location` (a folder or an `s3://` URL), with the store's
/// endpoint and credentials in `env`.
pub(crate) fn delta_read_at(location: &str, env: &[(String, String)]) -> (u64, i64) {
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let client =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/clients/delta_read.py");
    let out = std::process::Command::new(python)
        .arg(client)
        .arg(location)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("python3 runs the Delta readers");
    assert!(
        out.status.success(),
        "delta_read.py failed (tests/run.sh installs deltalake and DuckDB's delta extension): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        counts["deltalake"]["rows"], counts["duckdb"]["rows"],
        "{counts}"
    );
    (
        counts["deltalake"]["version"].as_u64().unwrap(),
        counts["duckdb"]["rows"].as_i64().unwrap(),
    )
}

/// The ids of an SQL answer's first column are `expected`, each exactly once (`what` names
/// who answered).
pub(crate) fn assert_ids_once_in(
    answer: &Value,
    expected: &std::collections::HashSet<String>,
    what: &str,
) {
    let ids: Vec<&str> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), expected.len(), "{what}: rows");
    let distinct: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), expected.len(), "{what}: no id twice");
    assert!(
        expected.iter().all(|id| distinct.contains(id.as_str())),
        "{what}: no id missing"
    );
}

/// Every Parquet file under `dir`.
pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found
}

/// Waits until the projections of the server at `base` (open) have folded in the version of
/// `events` stored now: from then on, metrics answer from every event SQL sees.
pub(crate) async fn wait_projected(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (_, status) = get_json(&format!("{base}/api/v1/status")).await;
    let stored = status["events_version"].as_u64().expect("events_version");
    loop {
        let (_, status) = get_json(&format!("{base}/api/v1/status")).await;
        if status["projections_version"]
            .as_u64()
            .is_some_and(|folded| folded >= stored)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projections still behind version {stored}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
