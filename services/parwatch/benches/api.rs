//! API benchmark (release): the dashboards' questions at scale (issue #20), against DuckDB.
//!
//! Builds a lake of `PARWATCH_BENCH_API_EVENTS` events (default 10,000,000) of the simulated
//! province received from 2020-01-01 to 2025-12-31 (as `simulate --backfill` over six years),
//! written through `Lake::write` in the worker's commits and compacted (support/lake.rs). Then,
//! against `parwatch serve` (the real binary, a child process, open on loopback, limits raised
//! out of the way), prints:
//! (a) time to ready (`/readyz` 200) from a cold start, which folds every event into the
//!     projections, and again from the projections' snapshot that the first server saved when
//!     it was stopped (SIGTERM); with peak RSS (VmHWM) after each, against an idle server on an
//!     empty lake (targets: ready within 30 s, at most 1 GiB);
//! (b) the four canonical dashboard questions answered by the metric and ranking endpoints,
//!     by ParWatch SQL over the raw events, and by DuckDB (its `delta` extension) over the same
//!     Delta table, the baseline: each the best of 3 after a warm-up run; the ratios DuckDB ÷ API
//!     (target ≥ 20) and SQL ÷ DuckDB (target ≤ 1). The API's numerator and denominator per
//!     bucket and agency (its ranked order, for the ranking) and ParWatch SQL's rows must equal
//!     DuckDB's, or the bench fails;
//! (c) a load test: `PARWATCH_BENCH_API_CLIENTS` (32) clients, tokio tasks with a connection
//!     each, cycling for `PARWATCH_BENCH_API_SECONDS` (20) through what the pages ask for a year
//!     (the metric panels of the province and agency dashboards, rankings, metric series, the
//!     PAR Index); throughput and p50/p99 latency overall and by kind (targets ≥ 300 req/s, p99
//!     < 100 ms), against the same clients asking `/healthz` (the HTTP floor of this machine);
//!     then the server's peak RSS.
//!
//! `PARWATCH_BENCH_API_DATA` names a directory to keep the lake in between runs (built there
//! the first time, whatever its size then; the projections' snapshot is removed before each
//! run's cold start).
//!
//! DuckDB runs under `PARWATCH_TEST_PYTHON` (default `python3`), which needs the `duckdb` and
//! `duckdb-extension-delta` packages.

#[path = "support/lake.rs"]
mod lake;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use parwatch_lake::EVENTS_TABLE;
use serde_json::Value;

use crate::lake::{Questions, best_of_three, build_lake, duckdb, query, same, serve};

/// Six years of the province, as `parwatch simulate --backfill --from 2020-01-01 --to 2025-12-31`.
const HISTORY: (&str, &str) = ("2020-01-01", "2025-12-31");

/// A running `parwatch serve`, killed if the bench fails before stopping it.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// A server over the lake in `data`, and the seconds from its start until `/readyz` said
    /// ready (polled every 50 ms).
    async fn start(data: &Path) -> (Self, f64) {
        let started = Instant::now();
        let (child, base) = serve(data).await;
        (Self { child, base }, started.elapsed().as_secs_f64())
    }

    /// Its peak resident memory so far, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        support::peak_rss_mib(self.child.id())
    }

    /// Stops it with SIGTERM, as an operator or a service manager does: it saves the
    /// projections' snapshot before it exits. The seconds that took.
    fn stop(mut self) -> f64 {
        let started = Instant::now();
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "parwatch serve exited with {exit}");
        started.elapsed().as_secs_f64()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs `path`: the JSON answer and the time to its last byte, in ms. Anything but 200 fails.
async fn get(client: &reqwest::Client, base: &str, path: &str) -> (Value, f64) {
    let started = Instant::now();
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    assert!(
        status.is_success(),
        "GET {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    (serde_json::from_slice(&body).unwrap(), ms)
}

/// Numerator and denominator (none for a count) by agency (empty for the one series of an
/// agency's question) and bucket (empty for a ranking): what the API and DuckDB must agree on.
type Numbers = BTreeMap<(String, String), (i64, Option<i64>)>;

/// The text of a JSON value: a string as is, anything else as JSON.
fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// The buckets of a metric answer that counted something: a rate's with a denominator above
/// zero, a count's above zero (empty buckets are in the API's answer, not in SQL's).
fn series_numbers(answer: &Value) -> Numbers {
    let mut numbers = Numbers::new();
    for series in answer["series"].as_array().unwrap() {
        let agency = series["group"]["agency_code"].as_str().unwrap_or_default();
        for point in series["points"].as_array().unwrap() {
            let numerator = point["numerator"].as_i64().unwrap_or(0);
            let denominator = point["denominator"].as_i64();
            if denominator.unwrap_or(numerator) > 0 {
                let key = (agency.to_owned(), text(&point["bucket"]));
                numbers.insert(key, (numerator, denominator));
            }
        }
    }
    numbers
}

/// The ranked rows of a ranking answer (the unranked have no denominator), and their order.
fn ranking_numbers(answer: &Value) -> (Numbers, Vec<String>) {
    let ranked: Vec<&Value> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["rank"].is_null())
        .collect();
    let numbers = ranked
        .iter()
        .map(|r| {
            let key = (text(&r["agency_code"]), String::new());
            (
                key,
                (r["numerator"].as_i64().unwrap(), r["denominator"].as_i64()),
            )
        })
        .collect();
    (
        numbers,
        ranked.iter().map(|r| text(&r["agency_code"])).collect(),
    )
}

/// Where a question's SQL rows hold what [`Numbers`] compares: column positions.
struct Columns {
    agency: Option<usize>,
    bucket: Option<usize>,
    numerator: usize,
    denominator: Option<usize>,
}

impl Columns {
    fn numbers(&self, rows: &[Value]) -> Numbers {
        let key =
            |row: &Value, column: Option<usize>| column.map_or(String::new(), |c| text(&row[c]));
        rows.iter()
            .map(|row| {
                let numbers = (
                    row[self.numerator].as_i64().unwrap(),
                    self.denominator.map(|c| row[c].as_i64().unwrap()),
                );
                ((key(row, self.agency), key(row, self.bucket)), numbers)
            })
            .collect()
    }
}

/// Fails, naming the first differences, unless the API and DuckDB agree.
fn check(question: &str, api: &Numbers, duck: &Numbers) {
    if api == duck {
        return;
    }
    let keys: BTreeSet<_> = api.keys().chain(duck.keys()).collect();
    let differences: Vec<String> = keys
        .into_iter()
        .filter(|k| api.get(*k) != duck.get(*k))
        .take(10)
        .map(|k| format!("{k:?}: API {:?}, DuckDB {:?}", api.get(k), duck.get(k)))
        .collect();
    panic!(
        "the API and DuckDB differ on {question} ({} against {} buckets); first differences:\n{}",
        api.len(),
        duck.len(),
        differences.join("\n")
    );
}

/// One question of (b) as the API asks it, and where its SQL rows hold the same numbers.
struct ApiQuestion {
    path: String,
    columns: Columns,
}

/// The API's form of each of `questions`, over the local dates `from` to `to` for the
/// questions over all history.
fn api_questions(questions: &Questions, from: NaiveDate, to: NaiveDate) -> [ApiQuestion; 4] {
    let (first, last, agency, year) = (
        questions.first_day,
        questions.last_day,
        &questions.agency,
        questions.year,
    );
    let rate = |numerator, denominator| Columns {
        agency: Some(0),
        bucket: Some(1),
        numerator,
        denominator: Some(denominator),
    };
    [
        ApiQuestion {
            path: format!(
                "/api/v1/metrics/online_uptake?from={from}&to={to}&bucket=month&group_by=agency"
            ),
            columns: rate(3, 2),
        },
        ApiQuestion {
            path: format!(
                "/api/v1/metrics/apology_rate?from={from}&to={to}&bucket=quarter&group_by=agency"
            ),
            columns: rate(3, 2),
        },
        ApiQuestion {
            path: format!(
                "/api/v1/metrics/received?from={first}&to={last}&bucket=day&agency={agency}"
            ),
            columns: Columns {
                agency: None,
                bucket: Some(0),
                numerator: 1,
                denominator: None,
            },
        },
        ApiQuestion {
            path: format!("/api/v1/ranking?metric=on_time_rate&from={year}-01-01&to={year}-12-31"),
            columns: Columns {
                agency: Some(0),
                bucket: None,
                numerator: 2,
                denominator: Some(1),
            },
        },
    ]
}

/// The API's answer to one question: first call, best of 3 after it, in ms.
struct ApiTiming {
    first_ms: f64,
    best_ms: f64,
    answer: Value,
}

async fn api_best_of_three(client: &reqwest::Client, base: &str, path: &str) -> ApiTiming {
    let (answer, first_ms) = get(client, base, path).await;
    let mut best_ms = f64::INFINITY;
    for _ in 0..3 {
        best_ms = best_ms.min(get(client, base, path).await.1);
    }
    ApiTiming {
        first_ms,
        best_ms,
        answer,
    }
}

/// (b) The four questions: API, ParWatch SQL and DuckDB, checked equal. Returns the agencies
/// the ranking puts first and last (for the load test's agency pages).
async fn questions(server: &Server, data: &Path, questions: &Questions) -> Vec<String> {
    let base = &server.base;
    let client = reqwest::Client::new();
    // All history, in whole years: month and quarter buckets are whole.
    let (span, _) = query(
        base,
        "SELECT CAST(min(event_date) AS VARCHAR), CAST(max(event_date) AS VARCHAR) FROM events",
    )
    .await;
    let year_of = |v: &Value| text(v).parse::<NaiveDate>().unwrap().year();
    let from = NaiveDate::from_ymd_opt(year_of(&span[0][0]), 1, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(year_of(&span[0][1]), 12, 31).unwrap();
    let asked = api_questions(questions, from, to);

    let mut api = Vec::new();
    for question in &asked {
        api.push(api_best_of_three(&client, base, &question.path).await);
    }
    let mut sql = Vec::new();
    for (_, sql_text) in &questions.asked {
        sql.push(best_of_three(base, sql_text).await);
    }
    let texts: Vec<&str> = questions.asked.iter().map(|(_, s)| s.as_str()).collect();
    let (release, duck) = duckdb(&data.join("lake").join(EVENTS_TABLE), &texts);

    let mut extremes = Vec::new();
    for (i, (((name, sql_text), question), ((api, (rows, _)), baseline))) in questions
        .asked
        .iter()
        .zip(&asked)
        .zip(api.iter().zip(&sql).zip(&duck))
        .enumerate()
    {
        assert!(
            same(rows, &baseline.rows),
            "ParWatch SQL and DuckDB differ on {name}:\n{sql_text}\nParWatch: {rows:?}\nDuckDB: {:?}",
            baseline.rows
        );
        let theirs = question.columns.numbers(&baseline.rows);
        if i == 3 {
            let (ours, order) = ranking_numbers(&api.answer);
            check(name, &ours, &theirs);
            let expected: Vec<String> = baseline.rows.iter().map(|r| text(&r[0])).collect();
            assert_eq!(
                order, expected,
                "the API ranks {name} in another order than DuckDB"
            );
            extremes = vec![order[0].clone(), order[order.len() - 1].clone()];
        } else {
            check(name, &series_numbers(&api.answer), &theirs);
        }
    }

    println!(
        "(b) the four questions, ms: API = metric or ranking endpoint, SQL = ParWatch SQL over \
         the raw events, DuckDB = the same SQL over the same Delta table (baseline); each the \
         best of 3 after a warm-up run (first = the warm-up)"
    );
    println!(
        "  {:<46} {:>6} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9}",
        "question",
        "rows",
        "API",
        "SQL",
        "DuckDB",
        "DuckDB÷API",
        "SQL÷DuckDB",
        "API first",
        "DD first"
    );
    let mut totals = [0.0; 3];
    for (((name, _), api), ((rows, sql_ms), baseline)) in
        questions.asked.iter().zip(&api).zip(sql.iter().zip(&duck))
    {
        println!(
            "  {name:<46} {:>6} {:>9.1} {sql_ms:>9.1} {:>9.1} {:>10.1} {:>10.2} {:>9.1} {:>9.1}",
            rows.len(),
            api.best_ms,
            baseline.best_ms,
            baseline.best_ms / api.best_ms,
            sql_ms / baseline.best_ms,
            api.first_ms,
            baseline.first_ms
        );
        totals[0] += api.best_ms;
        totals[1] += sql_ms;
        totals[2] += baseline.best_ms;
    }
    let [api_ms, sql_ms, duck_ms] = totals;
    println!(
        "  {:<46} {:>6} {api_ms:>9.1} {sql_ms:>9.1} {duck_ms:>9.1} {:>10.1} {:>10.2}",
        "total",
        "",
        duck_ms / api_ms,
        sql_ms / duck_ms
    );
    println!(
        "  the API's numerators and denominators equal DuckDB's for every bucket and agency; \
         ParWatch SQL's rows equal DuckDB's; DuckDB {release}; targets DuckDB÷API ≥ 20, \
         SQL÷DuckDB ≤ 1"
    );
    for question in &asked {
        println!("    API: GET {}", question.path);
    }
    extremes
}

/// One request of the load test's mix, and its kind (an index into the kinds).
struct Request {
    kind: usize,
    path: String,
}

/// The load test's mix: what the dashboard pages ask for the year `year` — every metric panel
/// of the province page, of the agency page for each of `agencies`, the ranking page for each
/// metric those show, their monthly series of the year (province and by agency), the PAR
/// Index. The kinds' names, and the requests.
async fn mix(base: &str, year: i32, agencies: &[String]) -> (Vec<&'static str>, Vec<Request>) {
    let kinds = vec![
        "province panel",
        "agency panel",
        "ranking",
        "metric series",
        "metric series by agency",
        "PAR Index",
    ];
    let client = reqwest::Client::new();
    let range = format!("from={year}-01-01&to={year}-12-31");
    let mut requests = Vec::new();
    let mut metrics = BTreeSet::new();
    for (kind, dashboard, agencies) in [
        (0, "province", &[None][..]),
        (
            1,
            "agency",
            &agencies.iter().map(Some).collect::<Vec<_>>()[..],
        ),
    ] {
        let (definition, _) = get(&client, base, &format!("/api/v1/dashboards/{dashboard}")).await;
        let bucket = text(&definition["bucket"]);
        for panel in definition["panels"].as_array().unwrap() {
            // SQL panels (the quality page's) scan the raw events: not what rollups answer.
            let Some(metric) = panel["metric"].as_str() else {
                continue;
            };
            metrics.insert(metric.to_owned());
            for agency in agencies {
                let narrowed = agency.map_or(String::new(), |a| format!("&agency={a}"));
                requests.push(Request {
                    kind,
                    path: format!(
                        "/api/v1/dashboards/{dashboard}/panels/{}?{range}&bucket={bucket}{narrowed}",
                        text(&panel["id"])
                    ),
                });
            }
        }
    }
    for metric in &metrics {
        let series = format!("/api/v1/metrics/{metric}?{range}&bucket=month");
        requests.push(Request {
            kind: 2,
            path: format!("/api/v1/ranking?metric={metric}&{range}"),
        });
        requests.push(Request {
            kind: 4,
            path: format!("{series}&group_by=agency"),
        });
        requests.push(Request {
            kind: 3,
            path: series,
        });
    }
    requests.push(Request {
        kind: 5,
        path: format!("/api/v1/par-index?year={year}"),
    });
    // Each asked once: they all answer 200 (and the server has seen each before the clock).
    for request in &requests {
        get(&client, base, &request.path).await;
    }
    (kinds, requests)
}

/// What one load test measured: each request's kind, latency in ms and status; the seconds
/// from the first request sent to the last answer.
struct Load {
    samples: Vec<(usize, f64, u16)>,
    seconds: f64,
}

/// `clients` tasks, each with its own connection, sending `requests` one after the other
/// (each starting at its own place in the list, around and around) for `duration`.
async fn load(base: &str, requests: &[Request], clients: usize, duration: Duration) -> Load {
    let requests: std::sync::Arc<Vec<(usize, String)>> = std::sync::Arc::new(
        requests
            .iter()
            .map(|r| (r.kind, format!("{base}{}", r.path)))
            .collect(),
    );
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let requests = std::sync::Arc::clone(&requests);
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut samples = Vec::new();
                let mut next = c * requests.len() / clients;
                while Instant::now() < deadline {
                    let (kind, url) = &requests[next % requests.len()];
                    next += 1;
                    let sent = Instant::now();
                    let status = match client.get(url).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            match response.bytes().await {
                                Ok(_) => status,
                                Err(_) => 0,
                            }
                        }
                        Err(_) => 0,
                    };
                    samples.push((*kind, sent.elapsed().as_secs_f64() * 1e3, status));
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    Load {
        samples,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The nearest-rank percentile `p` (0–1) of sorted values; NaN of none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Throughput, p50 and p99 of the samples `which` selects; failures (not 200) counted apart.
struct Summary {
    count: usize,
    failed: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
}

impl Load {
    fn summary(&self, which: impl Fn(usize) -> bool) -> Summary {
        let chosen: Vec<_> = self.samples.iter().filter(|s| which(s.0)).collect();
        let mut ms: Vec<f64> = chosen.iter().map(|s| s.1).collect();
        ms.sort_by(f64::total_cmp);
        Summary {
            count: chosen.len(),
            failed: chosen.iter().filter(|s| s.2 != 200).count(),
            per_second: chosen.len() as f64 / self.seconds,
            p50: percentile(&ms, 0.5),
            p99: percentile(&ms, 0.99),
        }
    }

    /// Statuses other than 200 and how often they came (0: no answer).
    fn failures(&self) -> BTreeMap<u16, usize> {
        let mut failures = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.2 != 200) {
            *failures.entry(s.2).or_default() += 1;
        }
        failures
    }
}

/// Prints one line of the load test's table.
fn print_summary(name: &str, s: &Summary) {
    println!(
        "  {name:<26} {:>8} {:>7} {:>9.1} {:>9.1} {:>9.1}",
        s.count, s.failed, s.per_second, s.p50, s.p99
    );
}

/// (c) The load test on `server`, after the same clients on `/healthz`.
async fn load_test(server: &Server, year: i32, agencies: &[String]) {
    let clients = support::env_number("PARWATCH_BENCH_API_CLIENTS", 32) as usize;
    let seconds = support::env_number("PARWATCH_BENCH_API_SECONDS", 20);
    let (kinds, requests) = mix(&server.base, year, agencies).await;
    let floor = [Request {
        kind: 0,
        path: "/healthz".to_owned(),
    }];
    let baseline = load(
        &server.base,
        &floor,
        clients,
        Duration::from_secs(seconds.div_ceil(4).max(5)),
    )
    .await;
    let measured = load(
        &server.base,
        &requests,
        clients,
        Duration::from_secs(seconds),
    )
    .await;
    let mut by_kind = vec![0; kinds.len()];
    requests.iter().for_each(|r| by_kind[r.kind] += 1);
    println!(
        "(c) load test: {clients} clients for {:.1} s, each its own connection, around a mix of \
         {} requests of the pages for {year} ({}); latency in ms to the last byte",
        measured.seconds,
        requests.len(),
        kinds
            .iter()
            .zip(&by_kind)
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  {:<26} {:>8} {:>7} {:>9} {:>9} {:>9}",
        "", "requests", "failed", "req/s", "p50", "p99"
    );
    print_summary("/healthz (baseline)", &baseline.summary(|_| true));
    let all = measured.summary(|_| true);
    print_summary("the pages' mix", &all);
    for (kind, name) in kinds.iter().enumerate() {
        print_summary(&format!("  {name}"), &measured.summary(|k| k == kind));
    }
    let floor = baseline.summary(|_| true);
    println!(
        "  the baseline served {:.0}× the mix's requests a second, at {:.1}× lower p99; targets \
         for the mix ≥ 300 req/s, p99 < 100 ms",
        floor.per_second / all.per_second,
        all.p99 / floor.p99
    );
    for (status, n) in measured.failures() {
        println!("  failed: {n} answered {status} (0: no answer)");
    }
}

/// Bytes of the files under `path`.
fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[tokio::main]
async fn main() {
    let n = support::env_number("PARWATCH_BENCH_API_EVENTS", 10_000_000);
    let tmp = tempfile::tempdir().unwrap();
    // A lake kept between runs (built there the first time), or one for this run.
    let kept = std::env::var_os("PARWATCH_BENCH_API_DATA").map(std::path::PathBuf::from);
    let data = kept.as_deref().unwrap_or(tmp.path());
    let (from, to) = (HISTORY.0.parse().unwrap(), HISTORY.1.parse().unwrap());
    let lake = if data.join("lake").join(EVENTS_TABLE).exists() {
        // The cold start below must fold every event: no snapshot of an earlier run.
        let _ = std::fs::remove_dir_all(data.join("lake").join("projections"));
        parwatch_lake::Lake::open(&parwatch_lake::LakeLocation::local(&data.join("lake")).unwrap())
            .unwrap()
    } else {
        build_lake(data, n, from, to)
    };
    let events = lake.stats(EVENTS_TABLE).rows;
    let events_bytes = dir_bytes(&data.join("lake").join(EVENTS_TABLE));

    // (a) Time to ready and memory: cold, then from the snapshot the first server saves.
    let empty = tempfile::tempdir().unwrap();
    let (idle, _) = Server::start(empty.path()).await;
    let idle_mib = idle.peak_rss_mib();
    idle.stop();
    let (cold, cold_s) = Server::start(data).await;
    let cold_mib = cold.peak_rss_mib();
    let stop_s = cold.stop();
    let snapshot_bytes = dir_bytes(&data.join("lake").join("projections"));
    let (server, warm_s) = Server::start(data).await;
    let warm_mib = server.peak_rss_mib();
    println!(
        "(a) parwatch serve over {} MiB of events ({events} events); peak RSS of an idle server \
         on an empty lake (baseline) {idle_mib:.0} MiB",
        mib(events_bytes).round()
    );
    println!(
        "  cold start, no snapshot (folds every event): ready in {cold_s:.1} s, peak RSS \
         {cold_mib:.0} MiB"
    );
    println!(
        "  stopped (SIGTERM: saves the projections' snapshot, {:.1} MiB) in {stop_s:.1} s",
        mib(snapshot_bytes)
    );
    println!(
        "  start from the snapshot: ready in {warm_s:.1} s ({:.1}× faster than cold), peak RSS \
         {warm_mib:.0} MiB; targets ready ≤ 30 s, RSS ≤ 1024 MiB",
        cold_s / warm_s
    );

    // (b) The four questions, on the server started from the snapshot.
    let asked = Questions::ask(&server.base).await;
    println!("  dossiers received up to {}", asked.last_day);
    let agencies = questions(&server, data, &asked).await;
    let after_questions_mib = server.peak_rss_mib();

    // (c) Under load.
    load_test(&server, asked.last_day.year(), &agencies).await;
    println!(
        "  parwatch serve peak RSS: {warm_mib:.0} MiB after loading the snapshot, \
         {after_questions_mib:.0} MiB after (b), {:.0} MiB after the load test (cold start \
         {cold_mib:.0} MiB; idle {idle_mib:.0} MiB; target ≤ 1024 MiB)",
        server.peak_rss_mib()
    );
    server.stop();
}
