//! Test harness: a private nats-server, the parwatch binary as a child process, HTTP helpers.

use std::future::IntoFuture;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;

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
        reqwest::get(format!("{}/metrics", self.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
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
        let mut request = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({ "sql": sql }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("sql request")
    }

    /// GETs `path` with an optional bearer token.
    pub(crate) async fn get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET request")
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

    /// Polls `sql` until it returns `expected`, for at most `timeout`.
    pub(crate) async fn wait_for(&self, sql: &str, expected: Value, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.scalar(sql).await;
            if got == expected {
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

/// Total rows of every Parquet file under `dir`, read with the `parquet` crate's own reader
/// (footer metadata), independent of DataFusion.
pub(crate) fn parquet_rows(dir: &Path) -> (usize, i64) {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let files = parquet_files(dir);
    let rows = files
        .iter()
        .map(|path| {
            let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
            reader.metadata().file_metadata().num_rows()
        })
        .sum();
    (files.len(), rows)
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
