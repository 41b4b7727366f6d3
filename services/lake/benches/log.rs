//! Log benchmark (release): a table's refresh must not grow with the length of its Delta log.
//!
//! The ingest worker commits at every flush (up to two a second under traffic) and the log
//! keeps 30 days of commits, so a year-old local lake's `events/_delta_log/` holds millions of
//! files. In one run, on a local lake: a commit of 100 events and `SELECT count(*) FROM events`
//! (each refreshes the table first), median of 30, with a log of a few commits (the baseline);
//! then the same after `PARWATCH_BENCH_LOG_COMMITS` (default 100,000) commits were added to the
//! log; and the listing of the log after its last version as object_store's `LocalFileSystem`
//! answers it (what every refresh would read without the lake's own listing, `local_log.rs`).
//! Prints the figures and the long-log ÷ baseline ratios (target: about 1).

use std::time::{Duration, Instant};

use deltalake::logstore::object_store::ObjectStore as _;
use deltalake::logstore::object_store::local::LocalFileSystem;
use deltalake::logstore::object_store::path::Path;
use futures::TryStreamExt as _;
use parwatch_lake::{Commit, EVENTS_TABLE, Lake, LakeLocation, QueryEngine, StoredEvent};
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;

const RUNS: usize = 30;

fn commits() -> u64 {
    std::env::var("PARWATCH_BENCH_LOG_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Events `from..from + n`, received online.
fn events(from: u64, n: u64) -> Vec<StoredEvent<'static>> {
    (from..from + n)
        .map(|i| StoredEvent {
            event: TestEvent::received(Channel::Online)
                .id(format!("e{i}"))
                .dossier(format!("D{i}"))
                .build(),
            stream_seq: i + 1,
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median times of a commit of 100 events and of a count, each refreshing the table first.
async fn measure(lake: &Lake, engine: &QueryEngine, next: &mut u64) -> (Duration, Duration) {
    let (mut commit, mut count) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let batch = events(*next, 100);
        *next += 100;
        let writer = lake.clone();
        let t = Instant::now();
        tokio::task::spawn_blocking(move || {
            let commit = Commit {
                events: batch,
                rejected: vec![],
            };
            writer.write(&commit, chrono::Utc::now(), &mut Default::default())
        })
        .await
        .expect("joined")
        .expect("committed");
        commit.push(t.elapsed());
        let t = Instant::now();
        engine
            .sql("SELECT count(*) FROM events")
            .await
            .expect("counted");
        count.push(t.elapsed());
    }
    (median(commit), median(count))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let lake = Lake::open(&LakeLocation::local(tmp.path()).expect("lake")).expect("opened");
    let engine = QueryEngine::new(&lake).expect("engine");
    let mut next = 0;
    let (commit_short, count_short) = measure(&lake, &engine, &mut next).await;
    let short = lake.stats(EVENTS_TABLE).version;

    // Commits that only say they happened, as many as a month of flushes.
    let n = commits();
    let log = tmp.path().join("events").join("_delta_log");
    let last = std::fs::read_to_string(log.join(format!("{short:020}.json"))).expect("commit");
    let info = last
        .lines()
        .find(|l| l.contains("\"commitInfo\""))
        .expect("a commitInfo line");
    let t = Instant::now();
    for v in short + 1..=short + n {
        std::fs::write(log.join(format!("{v:020}.json")), format!("{info}\n")).expect("written");
    }
    println!(
        "log: {n} commits added in {:.1} s (versions {} to {})",
        t.elapsed().as_secs_f64(),
        short + 1,
        short + n
    );
    // The first refresh loads them all (once, past a query's time limit: no checkpoint covers
    // them), then a checkpoint, as delta-rs writes one every 100 commits of its own.
    let t = Instant::now();
    let reader = lake.clone();
    let table = tokio::task::spawn_blocking(move || reader.delta_table(EVENTS_TABLE))
        .await
        .expect("joined")
        .expect("caught up");
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .expect("checkpoint");
    println!("catch-up over them and a checkpoint: {}", ms(t.elapsed()));
    let (commit_long, count_long) = measure(&lake, &engine, &mut next).await;
    let latest = lake.stats(EVENTS_TABLE).version;

    let plain = LocalFileSystem::new();
    let prefix = Path::from_filesystem_path(&log).expect("log path");
    let offset = Path::from(format!("{prefix}/{:020}", latest + 1));
    let mut listings = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let after: Vec<_> = plain
            .list_with_offset(Some(&prefix), &offset)
            .try_collect()
            .await
            .expect("listed");
        listings.push(t.elapsed());
        assert!(after.len() <= 1, "only _last_checkpoint follows");
    }
    let listing = median(listings);

    println!("| | log of {short} commits | log of {latest} commits | ratio |");
    println!("|---|---|---|---|");
    for (what, a, b) in [
        ("commit of 100 events", commit_short, commit_long),
        ("SELECT count(*) FROM events", count_short, count_long),
    ] {
        println!(
            "| {what}, median of {RUNS} | {} | {} | {:.2} |",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    println!(
        "LocalFileSystem's listing of the long log after its last version (every refresh without \
         local_log.rs): {} ({:.0}× the count above)",
        ms(listing),
        listing.as_secs_f64() / count_long.as_secs_f64()
    );
}
