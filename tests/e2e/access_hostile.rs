//! Access control from an attacker's side: a token file that empties, open mode off loopback,
//! DNS rebinding, sessions that outlive their token, racing token changes, a PostgreSQL
//! connection flood, revoked embed tokens, and SQL that tries to forge audit lines.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::harness::{Parwatch, create_token, free_port, get, post_json, psql, token_id};

/// `parwatch token <args>` in `data`: (success, stdout, stderr).
fn token_command(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .arg("token")
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn revoke(data: &std::path::Path, token: &str) {
    let (ok, _, err) = token_command(data, &["revoke", token_id(token)]);
    assert!(ok, "{err}");
}

/// GET `path` with a `Host` header of our choosing: status and JSON body.
async fn get_with_host(server: &Parwatch, host: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base()))
        .header(reqwest::header::HOST, host)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls the server's log until `needle` appears in it.
async fn wait_for_log(server: &Parwatch, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_token_file_refuses_everyone_instead_of_opening() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let server = Parwatch::serve(&data).await;
    assert_eq!(
        server
            .post_sql(Some(&admin), "SELECT 1", None)
            .await
            .status(),
        200
    );

    // The last token revoked: nobody is let in, with or without a token, over either protocol.
    revoke(&data, &admin);
    for token in [None, Some(admin.as_str())] {
        let response = server.post_sql(token, "SELECT 1", None).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        if token.is_none() {
            assert!(error.contains("parwatch token create"), "{error}");
        }
    }
    let (ok, _, err) = psql(server.pg_port(), "", &["-c", "SELECT 1"], None);
    assert!(!ok, "psql got in with no token: {err}");
    // An emptied file, a deleted one: the same.
    std::fs::write(data.join("tokens.json"), "{\"tokens\": []}").unwrap();
    assert_eq!(server.get(None, "/api/v1/dashboards").await.status(), 401);
    std::fs::remove_file(data.join("tokens.json")).unwrap();
    assert_eq!(server.post_sql(None, "SELECT 1", None).await.status(), 401);
    assert!(!server.log_text().contains("running OPEN"));
    // Health stays open for probes.
    assert_eq!(server.get(None, "/healthz").await.status(), 200);
    drop(server);

    // A server started with no token at all, without --open: up, and refusing everyone.
    let empty = tmp.path().join("empty");
    let server = Parwatch::serve(&empty).await;
    let response = server.post_sql(None, "SELECT 1", None).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("parwatch token create"),
        "{body}"
    );
    assert_eq!(server.get(None, "/api/v1/agencies").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_is_refused_on_a_network_address() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A token exists, so only --open is wrong here; by flag and by environment.
    create_token(&data, "admin", None);
    let exposed = format!("0.0.0.0:{}", free_port());
    let data_arg = data.to_str().unwrap();
    for (args, env) in [
        (
            vec![
                "serve",
                "--data-dir",
                data_arg,
                "--http",
                &exposed,
                "--open",
            ],
            vec![],
        ),
        (
            vec!["serve", "--data-dir", data_arg, "--http", &exposed],
            vec![("PARWATCH_OPEN", "true")],
        ),
    ] {
        let mut refused = Parwatch::spawn(&args, &env, &data, "exposed-open");
        let status = refused.wait_exit(Duration::from_secs(20));
        assert!(!status.success());
        let log = refused.log_text();
        assert!(log.contains("refusing to listen on 0.0.0.0"), "{log}");
        assert!(log.contains("open mode"), "{log}");
    }
    // The pg endpoint on a network address counts too.
    let pg = format!("0.0.0.0:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut refused = Parwatch::spawn(
        &["serve", "--data-dir", data_arg, "--http", &http, "--open"],
        &[("PARWATCH_PG", &pg)],
        &data,
        "exposed-pg",
    );
    assert!(!refused.wait_exit(Duration::from_secs(20)).success());
    assert!(
        refused.log_text().contains("open mode"),
        "{}",
        refused.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_hosts_are_refused_and_configured_names_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Parwatch::serve_with(
        &data,
        &["--open", "--allowed-host", "parwatch.example.gov.vn"],
        &[],
    )
    .await;
    let port = server.base().rsplit(':').next().unwrap().to_owned();
    // A page on evil.example whose name now resolves to 127.0.0.1: its requests carry its
    // own name. Refused before any route, the open server's admin powers included.
    for path in ["/healthz", "/api/v1/agencies", "/api/v1/status", "/"] {
        for host in [
            format!("evil.example:{port}"),
            "localhost.evil.example".to_owned(),
            format!("127.0.0.1.nip.io:{port}"),
        ] {
            let (status, body) = get_with_host(&server, &host, path).await;
            assert_eq!(status, 421, "{host}{path}: {body}");
            assert!(
                body["error"].as_str().unwrap().contains("--allowed-host"),
                "{body}"
            );
        }
    }
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/sql", server.base()))
        .header(reqwest::header::HOST, "evil.example")
        .json(&json!({ "sql": "SELECT 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 421);
    // This server's names answer.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "parwatch.example.gov.vn".to_owned(),
        format!("PARWATCH.example.gov.vn:{port}"),
    ] {
        let (status, body) = get_with_host(&server, &host, "/api/v1/agencies").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
}

/// A psycopg (libpq) session run from stdin: `simple SQL` (simple protocol), `extended SQL`
/// (extended protocol, bound parameter `%s` = 7); prints one JSON line per statement.
const SESSION_PY: &str = r#"
import json, sys, psycopg
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="analyst",
                       password=sys.argv[2], dbname="parwatch", autocommit=True)
for line in sys.stdin:
    kind, sql = line.rstrip("\n").split(" ", 1)
    try:
        if kind == "simple":
            cur = psycopg.ClientCursor(conn)
            cur.execute(sql)
        else:
            cur = conn.cursor()
            cur.execute(sql, (7,))
        print(json.dumps({"rows": cur.fetchall()}), flush=True)
    except psycopg.Error as e:
        print(json.dumps({"sqlstate": e.sqlstate, "error": str(e)}), flush=True)
"#;

/// One psycopg session as a child process.
struct PySession {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl PySession {
    fn start(port: u16, token: &str) -> Self {
        let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(python)
            .args(["-c", SESSION_PY, &port.to_string(), token])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python with psycopg (tests/run.sh installs it)");
        let stdout = child.stdout.take().unwrap();
        use std::io::BufRead;
        Self {
            child,
            lines: std::io::BufReader::new(stdout).lines(),
        }
    }

    /// Runs one statement; its JSON line.
    fn run(&mut self, kind: &str, sql: &str) -> Value {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{kind} {sql}").unwrap();
        stdin.flush().unwrap();
        let line = self.lines.next().expect("a line").unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for PySession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_open_postgres_sessions_at_their_next_statement() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let doomed = create_token(&data, "analyst", None);
    let kept = create_token(&data, "analyst", None);
    let server = Parwatch::serve(&data).await;
    let port = server.pg_port();

    // psql, simple protocol: a session whose first statement runs before the revocation and
    // whose second comes after it.
    let mut session = Command::new("psql")
        .args([
            "-X",
            "-w",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-U", "analyst", "-d", "parwatch"])
        .env("PGPASSWORD", &doomed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    let mut stdin = session.stdin.take().unwrap();
    writeln!(stdin, "SELECT 40 + 2 AS before_revoke;").unwrap();
    stdin.flush().unwrap();
    wait_for_log(&server, "before_revoke").await;
    // libpq sessions on both protocols, of the doomed token and of another one.
    let mut py_doomed = PySession::start(port, &doomed);
    let mut py_kept = PySession::start(port, &kept);
    assert_eq!(py_doomed.run("simple", "SELECT 1")["rows"], json!([[1]]));
    assert_eq!(
        py_doomed.run("extended", "SELECT %s::int + 1")["rows"],
        json!([[8]])
    );
    assert_eq!(
        py_kept.run("extended", "SELECT %s::int")["rows"],
        json!([[7]])
    );

    revoke(&data, &doomed);

    writeln!(stdin, "SELECT 'after' AS after_revoke;").unwrap();
    drop(stdin);
    let out = tokio::task::spawn_blocking(move || session.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("42"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("after"), "ran after revoke: {stdout}");
    assert!(stderr.contains("revoked"), "{stderr}");
    assert!(!out.status.success());

    for (kind, sql) in [("extended", "SELECT %s::int"), ("simple", "SELECT 1")] {
        let refused = py_doomed.run(kind, sql);
        assert!(refused.get("rows").is_none(), "{kind}: {refused}");
        if kind == "extended" {
            // The first refusal carries the reason; the session is closed after it.
            assert_eq!(refused["sqlstate"], "28000", "{refused}");
            assert!(
                refused["error"].as_str().unwrap().contains("revoked"),
                "{refused}"
            );
        }
    }
    // Another token's session goes on.
    assert_eq!(py_kept.run("simple", "SELECT 5")["rows"], json!([[5]]));
    // And a new login with the revoked token is refused.
    let (ok, _, err) = psql(port, &doomed, &["-c", "SELECT 1"], None);
    assert!(!ok && err.contains("not valid"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_and_revokes_neither_lose_nor_resurrect_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for round in 0..3 {
        let doomed: Vec<String> = (0..8)
            .map(|_| token_id(&create_token(&data, "viewer", None)).to_owned())
            .collect();
        // Every revoke and create at once, each its own process.
        let data_arg = data.to_str().unwrap();
        let mut children = Vec::new();
        for id in &doomed {
            children.push(
                Command::new(env!("CARGO_BIN_EXE_parwatch"))
                    .args(["token", "revoke", id, "--data-dir", data_arg])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        for _ in 0..16 {
            children.push(
                Command::new(env!("CARGO_BIN_EXE_parwatch"))
                    .args([
                        "token",
                        "create",
                        "--role",
                        "analyst",
                        "--data-dir",
                        data_arg,
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        let mut created = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
            if !token.is_empty() {
                created.push(token_id(&token).to_owned());
            }
        }
        assert_eq!(created.len(), 16);
        let (ok, listed, err) = token_command(&data, &["list"]);
        assert!(ok, "{err}");
        let ids: Vec<&str> = listed
            .lines()
            .filter_map(|l| l.split('\t').next())
            .collect();
        for id in &doomed {
            assert!(
                !ids.contains(&id.as_str()),
                "round {round}: revoked {id} is back"
            );
        }
        for id in &created {
            assert!(
                ids.contains(&id.as_str()),
                "round {round}: created {id} was lost"
            );
        }
    }
}

/// Reads a connection's first answer: the PostgreSQL error it was refused with, if any.
async fn refusal_of(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(8), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    (n > 0 && buf[0] == b'E').then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A connection from `source` (any 127.0.0.0/8 address) to the pg port that never logs in.
async fn half_open(source: &str, port: u16) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_connection_flood_is_capped_and_psql_still_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let analyst = create_token(&data, "analyst", None);
    let server = Parwatch::serve_with(
        &data,
        &[
            "--pg-max-connections",
            "12",
            "--pg-max-connections-per-peer",
            "4",
        ],
        &[("PARWATCH_PG_LOGIN_TIMEOUT", "5")],
    )
    .await;
    let port = server.pg_port();
    let select = |sql: &str| psql(port, &analyst, &["-A", "-t", "-c", sql], None);

    // One attacker address opens 20 connections and sends nothing: 4 are held, 16 refused
    // at once with too_many_connections, and psql from another address still answers.
    let mut attacker = Vec::new();
    for _ in 0..20 {
        attacker.push(half_open("127.0.0.2", port).await);
    }
    let mut refused = 0;
    for stream in attacker.iter_mut().skip(4) {
        let error = refusal_of(stream).await.expect("an error response");
        assert!(error.contains("53300"), "{error}");
        refused += 1;
    }
    assert_eq!(refused, 16);
    let (ok, out, err) = select("SELECT 'still here'");
    assert!(ok && out.contains("still here"), "{err}");

    // Many addresses fill every slot: a new client is refused with PostgreSQL's error, not
    // left hanging...
    let mut flood = Vec::new();
    for source in ["127.0.0.3", "127.0.0.4"] {
        for _ in 0..4 {
            flood.push(half_open(source, port).await);
        }
    }
    let started = Instant::now();
    let (ok, _, err) = select("SELECT 1");
    assert!(!ok, "psql got a slot beyond the cap");
    assert!(err.contains("too many clients"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // ...until the login timeout closes the half-open ones and frees their slots.
    for stream in attacker.iter_mut().take(4).chain(flood.iter_mut()) {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "not closed: {read:?}"
        );
    }
    let (ok, out, err) = select("SELECT 'back'");
    assert!(ok && out.contains("back"), "{err}");
    assert!(server.log_text().contains("pg: connection refused"));
    // A client that logs in keeps its connection past the login timeout.
    let mut py = PySession::start(port, &analyst);
    assert_eq!(py.run("simple", "SELECT 1")["rows"], json!([[1]]));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(py.run("extended", "SELECT %s::int")["rows"], json!([[7]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_embed_tokens_are_refused_on_every_embed_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let scoped_admin = create_token(&data, "admin", Some("000.00.01.H02"));
    let analyst = create_token(&data, "analyst", None);
    let server = Parwatch::serve(&data).await;
    let base = server.base().to_owned();
    let mint = || async {
        let url = format!("{base}/api/v1/embed-tokens");
        let body = json!({ "dashboard": "province", "ttl": "1h" });
        let minted: Value = post_json(&url, Some(&admin), &body)
            .await
            .json()
            .await
            .unwrap();
        (
            minted["token"].as_str().unwrap().to_owned(),
            minted["id"]
                .as_str()
                .expect("minted tokens have an id")
                .to_owned(),
        )
    };
    let urls = |token: &str| {
        [
            format!("{base}/embed/province?token={token}"),
            format!("{base}/embed/api/dashboard?token={token}"),
            format!("{base}/embed/api/panels/received?token={token}"),
            format!("{base}/embed/api/panels/received?token={token}&format=csv"),
            format!("{base}/embed/api/version?token={token}"),
        ]
    };
    let statuses = |token: String| async move {
        let mut out = Vec::new();
        for url in urls(&token) {
            let (status, _, body) = get(&url).await;
            out.push((status, body));
        }
        out
    };
    let (by_cli, cli_id) = mint().await;
    let (by_http, http_id) = mint().await;
    let (kept, _) = mint().await;
    assert_ne!(cli_id, http_id);
    for token in [&by_cli, &by_http, &kept] {
        for (status, body) in statuses(token.clone()).await {
            assert_eq!(status, 200, "{body}");
        }
    }

    // Revoked by the command line, by id.
    let out = Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args([
            "embed-revoke",
            &cli_id,
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Revoked over HTTP: only an unscoped admin may.
    let revoke_as = |token: String| {
        let url = format!("{base}/api/v1/embed-tokens/{http_id}");
        async move {
            reqwest::Client::new()
                .delete(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(revoke_as(analyst.clone()).await, 403);
    assert_eq!(revoke_as(scoped_admin.clone()).await, 403);
    assert_eq!(revoke_as(admin.clone()).await, 200);

    for token in [by_cli, by_http] {
        for (status, body) in statuses(token).await {
            assert_eq!(status, 401, "{body}");
            assert!(body.contains("revoked"), "{body}");
        }
    }
    for (status, body) in statuses(kept).await {
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_sql_cannot_forge_log_lines_in_either_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let analyst = create_token(&data, "analyst", Some("000.00.01.H02"));
    let mine = token_id(&analyst).to_owned();
    let forged = "SELECT 1 AS x /*\n2026-12-05T01:00:00.000000Z  INFO parwatch::audit: sql \
                  token=\"deadbeef\" agency=\"*\" via=\"http\" rows=1 sql=\"SELECT * FROM events\"\r*/";
    for format in ["text", "json"] {
        let server = Parwatch::serve_with(&data, &["--log-format", format], &[]).await;
        let response = server.post_sql(Some(&analyst), forged, None).await;
        assert_eq!(response.status(), 200);
        wait_for_log(&server, "parwatch::audit").await;
        let log = server.log_text();
        let audit: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("parwatch::audit"))
            .collect();
        assert_eq!(audit.len(), 1, "{format}: {log}");
        assert!(audit[0].contains(&mine), "{format}: {log}");
        // No line of the log starts as the forged one does.
        assert!(
            !log.lines().any(|l| l.starts_with("2026-12-05T01:00:00")),
            "{format}: {log}"
        );
        if format == "json" {
            for line in log.lines() {
                let line: Value = serde_json::from_str(line).unwrap();
                if line["target"] == "parwatch::audit" {
                    assert_eq!(line["fields"]["sql"], forged);
                }
            }
        }
    }
}
