//! What the benches over a simulated lake share (`sql` and `api`): the lake, written as the
//! ingest worker writes it; `parwatch serve` over it; the four canonical dashboard questions in
//! SQL; and DuckDB answering them over the same Delta table, the baseline.
//!
//! Not part of `support/mod.rs`: the `ingest` bench, which shares that, has no lake to ask.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Utc};
use parwatch_lake::{
    Commit, CompactionPolicy, EVENTS_TABLE, Lake, LakeLocation, StoredEvent, WriteProgress,
};
use parwatch_simulator::{Generator, SimEvent, SimOptions};
use serde_json::Value;

use crate::support;

/// Events per commit, as the ingest worker flushes.
const COMMIT_EVENTS: usize = 20_000;

/// Commits between two compactions while the lake is built, as the worker compacts as it goes:
/// each commit costs time in proportion to the files the table lists, so a lake of 100M events
/// written as small files before one compaction held 42M events after 40 minutes, slowing.
const COMPACT_EVERY_COMMITS: u64 = 250;

/// `parwatch serve` over the lake in `dir` (empty or not), ready; its base URL. The server's
/// log goes to `dir/serve.log` (appended, one file for every start).
pub(crate) async fn serve(dir: &Path) -> (Child, String) {
    let http = format!("127.0.0.1:{}", support::free_port());
    let pg = format!("127.0.0.1:{}", support::free_port());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .expect("open serve.log");
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
            // Question 4's joins need more than the default 512 MiB at 100M events.
            "--sql-memory-mb",
            "8192",
            "--panels-per-minute",
            "100000000",
            "--open",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn parwatch serve");
    let base = format!("http://{http}");
    // Before it is ready, the server folds the lake's events into its projections.
    let deadline = Instant::now() + Duration::from_secs(1800);
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

/// A lake in `data/lake`: `n` events of the simulated province (seed 11) received from `from`
/// to `to`, the simulator's volume scaled to spread them over the whole range, validated as
/// the worker validates them and written in its commits of [`COMMIT_EVENTS`], compacted every
/// [`COMPACT_EVERY_COMMITS`] commits and once more at the end (as the worker does once the
/// files have been idle). Prints where the time went.
pub(crate) fn build_lake(data: &Path, n: u64, from: NaiveDate, to: NaiveDate) -> Lake {
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
    let policy = CompactionPolicy {
        max_files: 2,
        idle: Duration::ZERO,
        retention: Duration::ZERO,
    };
    let (mut generating, mut writing, mut compacting, mut seq) = (0.0, 0.0, 0.0, 0u64);
    let mut commits = 0u64;
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
        commits += 1;
        if commits.is_multiple_of(COMPACT_EVERY_COMMITS) {
            let started = Instant::now();
            lake.compact(&policy).unwrap();
            compacting += started.elapsed().as_secs_f64();
        }
    }
    let started = Instant::now();
    lake.compact(&policy).unwrap();
    compacting += started.elapsed().as_secs_f64();
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
pub(crate) async fn query(base: &str, sql: &str) -> (Vec<Value>, f64) {
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

/// The four canonical dashboard questions (docs/metrics.md), in SQL both engines run as is,
/// and what they are asked about (which the `sql` bench does not read: it compares SQL only).
#[allow(
    dead_code,
    reason = "the sql bench reads `asked` only; the api bench reads all"
)]
pub(crate) struct Questions {
    /// The last day with a `dossier.received`.
    pub(crate) last_day: NaiveDate,
    /// The first of question 3's 90 days, which end at `last_day`.
    pub(crate) first_day: NaiveDate,
    /// The year question 4 ranks: the last full year before `last_day`'s.
    pub(crate) year: i32,
    /// The agency with the most `dossier.received` in question 3's 90 days.
    pub(crate) agency: String,
    /// Name and SQL of each question.
    pub(crate) asked: [(String, String); 4],
}

impl Questions {
    /// The questions about the lake the server at `base` reads. Buckets are local days
    /// (`event_date`); a dossier is `(agency_code, dossier_id)`, counted once (the simulator
    /// sends one event of each type per dossier, so `received` is a count of rows).
    pub(crate) async fn ask(base: &str) -> Self {
        let (last, _) = query(
            base,
            "SELECT CAST(max(event_date) AS VARCHAR) FROM events WHERE type = 'dossier.received'",
        )
        .await;
        let last_day: NaiveDate = last[0][0].as_str().unwrap().parse().unwrap();
        let first_day = last_day - chrono::Days::new(89);
        // Busiest in those days: agencies merged away before them received nothing then.
        let (busiest, _) = query(
            base,
            &format!(
                "SELECT agency_code FROM events WHERE type = 'dossier.received' \
                   AND event_date BETWEEN DATE '{first_day}' AND DATE '{last_day}' \
                 GROUP BY agency_code ORDER BY count(*) DESC, agency_code LIMIT 1"
            ),
        )
        .await;
        let agency = busiest[0][0].as_str().unwrap().to_owned();
        let year = last_day.year() - 1;
        let asked = [
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
        ];
        Self {
            last_day,
            first_day,
            year,
            agency,
            asked,
        }
    }
}

/// What DuckDB answered for one question.
pub(crate) struct Baseline {
    /// Its first run in the connection (which also reads the Delta log), in ms.
    pub(crate) first_ms: f64,
    /// The best of 3 runs after it, in ms.
    pub(crate) best_ms: f64,
    /// Its rows.
    pub(crate) rows: Vec<Value>,
}

/// Runs `queries` in DuckDB over the Delta table at `table` (support/duckdb_queries.py), in
/// the Python of `PARWATCH_TEST_PYTHON` (default `python3`); DuckDB's version and the answers.
pub(crate) fn duckdb(table: &Path, queries: &[&str]) -> (String, Vec<Baseline>) {
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
pub(crate) fn same(ours: &[Value], theirs: &[Value]) -> bool {
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

/// ParWatch SQL: best of 3 after a warm-up run; the rows of the warm-up.
pub(crate) async fn best_of_three(base: &str, sql: &str) -> (Vec<Value>, f64) {
    let (rows, _) = query(base, sql).await;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(query(base, sql).await.1);
    }
    (rows, best)
}
