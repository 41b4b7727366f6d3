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
//!     have to hold whole.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;

fn rows() -> u64 {
    support::env_number("PARWATCH_BENCH_ROWS", 200_000_000)
}

/// `parwatch serve` over an empty lake in `dir`, ready; its base URL.
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
    let deadline = Instant::now() + Duration::from_secs(60);
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
}
