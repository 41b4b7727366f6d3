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

#[path = "support/lake.rs"]
mod lake;
mod support;

use std::time::Instant;

use datafusion::prelude::SessionContext;
use parwatch_lake::EVENTS_TABLE;

use crate::lake::{Questions, best_of_three, build_lake, duckdb, query, same, serve};

fn rows() -> u64 {
    support::env_number("PARWATCH_BENCH_ROWS", 200_000_000)
}

fn lake_events() -> u64 {
    support::env_number("PARWATCH_BENCH_LAKE_EVENTS", 2_000_000)
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

/// (c) The dashboard questions, ParWatch against DuckDB on the same Delta table.
async fn dashboard_questions(n: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    drop(build_lake(
        data,
        n,
        "2023-01-01".parse().unwrap(),
        "2026-11-30".parse().unwrap(),
    ));
    let started = Instant::now();
    let (mut child, base) = serve(data).await;
    println!(
        "  parwatch serve ready in {:.1} s (folds the events into its projections first)",
        started.elapsed().as_secs_f64()
    );
    let questions = Questions::ask(&base).await.asked;

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
