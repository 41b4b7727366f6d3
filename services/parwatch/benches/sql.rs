//! SQL benchmark (release): what the sandbox costs, and that large results stream.
//!
//! In one run, against `parwatch serve` (the real binary, a child process, running open on
//! loopback with limits raised out of the way):
//! (a) an aggregate over `PARWATCH_BENCH_ROWS` rows (default 200,000,000) of `generate_series`:
//!     the baseline is plain DataFusion in this process (no sandbox, no HTTP); then the same
//!     query through `POST /api/v1/sql` (scoped session, guards, yield points, limits, audit);
//!     prints both times and their ratio;
//! (b) a 20,000,000-row, two-column CSV download: throughput, and the server's peak resident
//!     memory (VmHWM) against the size of the result, which a collect-then-send server would
//!     have to hold whole;
//! (c) the four canonical dashboard questions on a lake of `PARWATCH_BENCH_LAKE_EVENTS` events
//!     (default 2,000,000) of the simulated province, written as the ingest worker writes them
//!     (commits of 20,000 events) and compacted once: each in ParWatch SQL over HTTP, against
//!     DuckDB (its `delta` extension, Delta Kernel) reading the same Delta table, the baseline;
//!     both must give the same numbers. Best of 3 after a warm-up run, each side; then the
//!     ParWatch server restarted before each question, its first run timed (cold). The target
//!     is ParWatch ≤ 1.0× DuckDB. DuckDB runs under `PARWATCH_TEST_PYTHON` (default `python3`),
//!     which needs the `duckdb` and `duckdb-extension-delta` packages.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use parwatch_lake::{
    Commit, CompactionPolicy, EVENTS_TABLE, Lake, LakeLocation, StoredEvent, WriteProgress,
};
use parwatch_simulator::{Generator, SimEvent, SimOptions};
use serde_json::Value;

fn rows() -> u64 {
    support::env_number("PARWATCH_BENCH_ROWS", 200_000_000)
}

fn lake_events() -> u64 {
    support::env_number("PARWATCH_BENCH_LAKE_EVENTS", 2_000_000)
}

/// Events per commit, as the ingest worker flushes.
const COMMIT_EVENTS: usize = 20_000;

/// `parwatch serve` over the lake in `dir` (empty or not), ready; its base URL.
async fn serve(dir: &Path) -> (Child, String) {
    let http = format!("127.0.0.1:{}", support::free_port());
    let pg = format!("127.0.0.1:{}", support::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--http",
            &http,
        ])
        .args([
            "--pg",
            &pg,
            "--sql-timeout",
            "3600",
            "--http-idle-timeout",
            "3700",
            "--sql-max-rows",
            "1000000000",
            "--open",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn parwatch serve");
    let base = format!("http://{http}");
    // Before it is ready, the server folds the lake's events into its projections.
    let deadline = Instant::now() + Duration::from_secs(600);
    while reqwest::get(format!("{base}/readyz"))
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

/// POSTs SQL and reads the body as it streams; (bytes, seconds).
async fn download(base: &str, sql: &str, format: &str) -> (u64, f64) {
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .post(format!("{base}/api/v1/sql?format={format}"))
        .json(&serde_json::json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{sql}: {}",
        response.status()
    );
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
    }
    (bytes, started.elapsed().as_secs_f64())
}

/// The lake of (c) in `data/lake`: `n` events of the simulated province from 2023 to
/// November 2026, validated as the worker validates them and written in its commits of
/// [`COMMIT_EVENTS`], then compacted once. Prints where the time went.
fn build_lake(data: &Path, n: u64) -> Lake {
    let (from, to): (NaiveDate, NaiveDate) =
        ("2023-01-01".parse().unwrap(), "2026-11-30".parse().unwrap());
    // The volume a day that spreads `n` events over the whole range.
    let full = Generator::new(&SimOptions::backfill(11, from, to))
        .unwrap()
        .estimated_len()
        .unwrap();
    let options = SimOptions {
        limit: Some(n),
        scale: ((SimOptions::DEFAULT_SCALE as f64 * n as f64 / full as f64).ceil() as u32).max(1),
        ..SimOptions::backfill(11, from, to)
    };
    let lake = Lake::open(&LakeLocation::local(&data.join("lake")).unwrap()).unwrap();
    let mut generator = Generator::new(&options).unwrap();
    let (mut generating, mut writing, mut seq) = (0.0, 0.0, 0u64);
    loop {
        let started = Instant::now();
        let batch: Vec<SimEvent> = generator.by_ref().take(COMMIT_EVENTS).collect();
        if batch.is_empty() {
            break;
        }
        let events = batch
            .iter()
            .map(|e| {
                seq += 1;
                let event = parwatch_proto::validate(e.subject, &e.body)
                    .unwrap_or_else(|r| panic!("simulated event {}: {r:?}", e.event_id));
                StoredEvent {
                    event,
                    stream_seq: seq,
                }
            })
            .collect();
        generating += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let commit = Commit {
            events,
            rejected: Vec::new(),
        };
        lake.write(&commit, Utc::now(), &mut WriteProgress::default())
            .unwrap();
        writing += started.elapsed().as_secs_f64();
    }
    let commits = lake.stats(EVENTS_TABLE).version;
    let started = Instant::now();
    lake.compact(&CompactionPolicy {
        max_files: 2,
        idle: Duration::ZERO,
        retention: Duration::ZERO,
    })
    .unwrap();
    let compacting = started.elapsed().as_secs_f64();
    let table = lake.stats(EVENTS_TABLE);
    assert_eq!(table.rows, seq, "every event written is in the table");
    println!(
        "lake of {seq} events (scale {} dossiers a working day, {from} to {to}): built in {:.1} s",
        options.scale,
        generating + writing + compacting
    );
    println!(
        "  simulate + validate {generating:.1} s, {commits} commits of ≤{COMMIT_EVENTS} through \
         Lake::write {writing:.1} s, compaction {compacting:.1} s → {} data files",
        table.files
    );
    lake
}

/// POSTs SQL, returns its rows (JSON) and the time to the last byte, in ms.
async fn query(base: &str, sql: &str) -> (Vec<Value>, f64) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/sql"))
        .json(&serde_json::json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    assert!(status.is_success(), "{sql}: {status} {body}");
    match body["rows"].clone() {
        Value::Array(rows) => (rows, ms),
        other => panic!("{sql}: rows are not an array: {other}"),
    }
}

/// The four canonical dashboard questions (docs/metrics.md), in SQL both engines run as is.
/// Buckets are local days (`event_date`); a dossier is `(agency_code, dossier_id)`, counted once
/// (the simulator sends one event of each type per dossier, so `received` is a count of rows).
fn questions(last_day: NaiveDate, agency: &str) -> [(String, String); 4] {
    let first_day = last_day - chrono::Days::new(89);
    let year = last_day.year() - 1;
    [
        (
            "1 monthly online uptake per agency, all history".into(),
            "SELECT agency_code, CAST(date_trunc('month', event_date) AS DATE) AS month, \
               count(*) AS received, \
               count(CASE WHEN channel = 'online' THEN 1 END) AS online, \
               CAST(count(CASE WHEN channel = 'online' THEN 1 END) AS DOUBLE) / count(*) AS uptake \
             FROM events WHERE type = 'dossier.received' \
             GROUP BY 1, 2 ORDER BY 1, 2"
                .into(),
        ),
        (
            "2 quarterly apology rate per agency".into(),
            "WITH late AS (\
               SELECT agency_code, dossier_id, min(event_date) AS day FROM events \
               WHERE type = 'dossier.late' GROUP BY agency_code, dossier_id), \
             apology AS (\
               SELECT DISTINCT agency_code, dossier_id FROM events WHERE type = 'dossier.apology') \
             SELECT l.agency_code, CAST(date_trunc('quarter', l.day) AS DATE) AS quarter, \
               count(*) AS late, count(a.dossier_id) AS apologised, \
               CAST(count(a.dossier_id) AS DOUBLE) / count(*) AS apology_rate \
             FROM late l LEFT JOIN apology a \
               ON a.agency_code = l.agency_code AND a.dossier_id = l.dossier_id \
             GROUP BY 1, 2 ORDER BY 1, 2"
                .into(),
        ),
        (
            format!("3 daily received, {agency}, 90 days"),
            format!(
                "SELECT event_date AS day, count(*) AS received FROM events \
                 WHERE type = 'dossier.received' AND agency_code = '{agency}' \
                   AND event_date BETWEEN DATE '{first_day}' AND DATE '{last_day}' \
                 GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            format!("4 on-time ranking of agencies, {year}"),
            format!(
                "WITH resolved AS (\
                   SELECT agency_code, dossier_id, min(occurred_at) AS at FROM events \
                   WHERE type = 'dossier.resolved' \
                     AND event_date BETWEEN DATE '{year}-01-01' AND DATE '{year}-12-31' \
                   GROUP BY agency_code, dossier_id), \
                 received AS (\
                   SELECT agency_code, dossier_id, min(due_at) AS due_at FROM events \
                   WHERE type = 'dossier.received' GROUP BY agency_code, dossier_id) \
                 SELECT r.agency_code, count(*) AS resolved, \
                   count(CASE WHEN r.at <= v.due_at THEN 1 END) AS on_time, \
                   CAST(count(CASE WHEN r.at <= v.due_at THEN 1 END) AS DOUBLE) / count(*) \
                     AS on_time_rate \
                 FROM resolved r JOIN received v \
                   ON v.agency_code = r.agency_code AND v.dossier_id = r.dossier_id \
                 GROUP BY r.agency_code ORDER BY on_time_rate DESC, r.agency_code"
            ),
        ),
    ]
}

/// What DuckDB answered for one question.
struct Baseline {
    first_ms: f64,
    best_ms: f64,
    rows: Vec<Value>,
}

/// Runs `queries` in DuckDB over the Delta table at `table` (support/duckdb_queries.py).
fn duckdb(table: &Path, queries: &[&str]) -> (String, Vec<Baseline>) {
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/duckdb_queries.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    let request = serde_json::json!({ "table": table, "queries": queries });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{python} {}", script.display());
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let results = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Baseline {
            first_ms: r["first_ms"].as_f64().unwrap(),
            best_ms: r["best_ms"].as_f64().unwrap(),
            rows: r["rows"].as_array().unwrap().clone(),
        })
        .collect();
    (answer["duckdb"].as_str().unwrap_or("?").to_owned(), results)
}

/// Whether two answers are the same row for row: numbers within 1e-9 (relative), the rest equal.
fn same(ours: &[Value], theirs: &[Value]) -> bool {
    let value = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    };
    let row = |a: &Value, b: &Value| match (a.as_array(), b.as_array()) {
        (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| value(x, y)),
        _ => false,
    };
    ours.len() == theirs.len() && ours.iter().zip(theirs).all(|(a, b)| row(a, b))
}

/// Best of 3 after a warm-up run; the rows of the warm-up.
async fn best_of_three(base: &str, sql: &str) -> (Vec<Value>, f64) {
    let (rows, _) = query(base, sql).await;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(query(base, sql).await.1);
    }
    (rows, best)
}

/// (c) The dashboard questions, ParWatch against DuckDB on the same Delta table.
async fn dashboard_questions(n: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    drop(build_lake(data, n));
    let started = Instant::now();
    let (mut child, base) = serve(data).await;
    println!(
        "  parwatch serve ready in {:.1} s (folds the events into its projections first)",
        started.elapsed().as_secs_f64()
    );
    let (last, _) = query(
        &base,
        "SELECT CAST(max(event_date) AS VARCHAR) FROM events WHERE type = 'dossier.received'",
    )
    .await;
    let last_day: NaiveDate = last[0][0].as_str().unwrap().parse().unwrap();
    let (busiest, _) = query(
        &base,
        "SELECT agency_code FROM events WHERE type = 'dossier.received' \
         GROUP BY agency_code ORDER BY count(*) DESC, agency_code LIMIT 1",
    )
    .await;
    let questions = questions(last_day, busiest[0][0].as_str().unwrap());

    let mut warm = Vec::new();
    for (_, sql) in &questions {
        warm.push(best_of_three(&base, sql).await);
    }
    let _ = child.kill();
    let _ = child.wait();
    // Cold: a server just started (the operating system's page cache stays warm).
    let mut cold = Vec::new();
    for (_, sql) in &questions {
        let (mut child, base) = serve(data).await;
        cold.push(query(&base, sql).await.1);
        let _ = child.kill();
        let _ = child.wait();
    }
    let sqls: Vec<&str> = questions.iter().map(|(_, sql)| sql.as_str()).collect();
    let (release, duck) = duckdb(&data.join("lake").join(EVENTS_TABLE), &sqls);

    println!(
        "  times in ms; warm: best of 3 after a warm-up run; cold: the first query of a fresh \
         server, and DuckDB's first run in its connection"
    );
    println!(
        "  {:<44} {:>5} {:>9} {:>9} {:>6} {:>9} {:>9}",
        "question", "rows", "ParWatch", "DuckDB", "ratio", "PW cold", "DD first"
    );
    let (mut ours, mut theirs, mut ours_cold, mut theirs_first) = (0.0, 0.0, 0.0, 0.0);
    for (((name, sql), (rows, ms)), (cold_ms, baseline)) in
        questions.iter().zip(&warm).zip(cold.iter().zip(&duck))
    {
        assert!(
            same(rows, &baseline.rows),
            "ParWatch and DuckDB differ on {name}:\n{sql}\nParWatch: {rows:?}\nDuckDB: {:?}",
            baseline.rows
        );
        println!(
            "  {name:<44} {:>5} {ms:>9.1} {:>9.1} {:>6.2} {cold_ms:>9.1} {:>9.1}",
            rows.len(),
            baseline.best_ms,
            ms / baseline.best_ms,
            baseline.first_ms
        );
        ours += ms;
        theirs += baseline.best_ms;
        ours_cold += cold_ms;
        theirs_first += baseline.first_ms;
    }
    println!(
        "  {:<44} {:>5} {ours:>9.1} {theirs:>9.1} {:>6.2} {ours_cold:>9.1} {theirs_first:>9.1}",
        "total",
        "",
        ours / theirs
    );
    println!("  same answers from both; DuckDB {release}; target ParWatch ≤ 1.0× DuckDB");

    // Where ParWatch's time goes on the question it is furthest behind on, warm.
    let (worst, ratio) = warm
        .iter()
        .zip(&duck)
        .map(|((_, ms), baseline)| ms / baseline.best_ms)
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    if ratio > 1.0 {
        let (name, sql) = &questions[worst];
        let (mut child, base) = serve(data).await;
        query(&base, sql).await;
        let (plan, _) = query(&base, &format!("EXPLAIN ANALYZE {sql}")).await;
        println!("  EXPLAIN ANALYZE of question {name} (warm):");
        for row in &plan {
            for line in row[1].as_str().unwrap_or_default().lines() {
                println!("    {line}");
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::main]
async fn main() {
    let n = rows();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(dir.path()).await;
    let aggregate =
        format!("SELECT count(*), sum(value % 7), max(value) FROM generate_series(1, {n})");

    // (a) The sandbox's cost on a CPU-bound aggregate.
    let ctx = SessionContext::new();
    let started = Instant::now();
    let direct = ctx.sql(&aggregate).await.unwrap().collect().await.unwrap();
    let direct_s = started.elapsed().as_secs_f64();
    assert_eq!(direct[0].num_rows(), 1);
    let (_, sandboxed_s) = download(&base, &aggregate, "json").await;
    println!("aggregate over {n} rows:");
    println!(
        "  plain DataFusion, in process (baseline): {direct_s:>7.2} s  ({:.0} M rows/s)",
        n as f64 / direct_s / 1e6
    );
    println!(
        "  ParWatch sandbox over HTTP:              {sandboxed_s:>7.2} s  ({:.0} M rows/s)",
        n as f64 / sandboxed_s / 1e6
    );
    println!("  ratio sandbox / baseline: {:.2}", sandboxed_s / direct_s);

    // (b) A large result streams: the server holds a few batches, not the result.
    let idle_mib = support::peak_rss_mib(child.id());
    let big = 20_000_000u64;
    let (bytes, seconds) = download(
        &base,
        &format!("SELECT value, value * 2 AS twice FROM generate_series(1, {big})"),
        "csv",
    )
    .await;
    let peak_mib = support::peak_rss_mib(child.id());
    let result_mib = bytes as f64 / (1 << 20) as f64;
    println!("CSV download of {big} rows:");
    println!(
        "  {result_mib:.0} MiB in {seconds:.2} s: {:.0} MiB/s, {:.1} M rows/s",
        result_mib / seconds,
        big as f64 / seconds / 1e6
    );
    println!(
        "  server peak RSS {peak_mib:.0} MiB (before: {idle_mib:.0} MiB); result / peak growth: {:.1}x",
        result_mib / (peak_mib - idle_mib).max(1.0)
    );
    let _ = child.kill();
    let _ = child.wait();

    // (c) The dashboard questions against DuckDB.
    dashboard_questions(lake_events()).await;
}
