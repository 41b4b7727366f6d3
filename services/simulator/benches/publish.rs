//! Throughput of the simulator as a load generator, against a private `nats-server -js` (file
//! storage, temporary store) on a free port:
//!
//! (a) generation alone: events/s of `Generator` rendering events, no I/O;
//! (b) `publish`: generation plus JetStream publishing with pipelined acks (every event acked);
//! (c) baseline: the same payloads, pre-generated, published by a minimal loop with the same
//!     ack window and no generation: what the client and broker allow on this machine.
//!
//! The ratio (b)/(c) is the share of the raw publish rate the simulator reaches.
//! Run with `cargo bench -p parwatch-simulator`.

#[path = "../tests/support.rs"]
mod support;

use std::time::Instant;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use chrono::NaiveDate;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use parwatch_simulator::{Generator, Mode, PublishOptions, SimEvent, SimOptions, publish};

const GENERATED: u64 = 2_000_000;
const PUBLISHED: u64 = 500_000;
const WINDOW: usize = 4_096;
const ROUNDS: usize = 3;

fn options(limit: u64) -> SimOptions {
    SimOptions {
        seed: 1,
        scale: SimOptions::DEFAULT_SCALE,
        invalid_share: 0.0,
        limit: Some(limit),
        mode: Mode::Backfill {
            from: NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date"),
            to: None,
        },
    }
}

fn generation() -> f64 {
    let started = Instant::now();
    let bytes: usize = Generator::new(&options(GENERATED))
        .expect("valid options")
        .map(|e| e.body.len())
        .sum();
    let rate = GENERATED as f64 / started.elapsed().as_secs_f64();
    println!(
        "(a) generation alone:        {rate:>10.0} events/s ({GENERATED} events, {:.0} bytes each)",
        bytes as f64 / GENERATED as f64
    );
    rate
}

async fn raw_publish(js: &async_nats::jetstream::Context, events: Vec<SimEvent>) -> f64 {
    let started = Instant::now();
    let mut in_flight: FuturesUnordered<<PublishAckFuture as IntoFuture>::IntoFuture> =
        FuturesUnordered::new();
    for event in events {
        if in_flight.len() >= WINDOW {
            in_flight.next().await.expect("in flight").expect("acked");
        }
        let message = PublishMessage::build()
            .payload(event.body)
            .message_id(&event.event_id);
        let ack = js
            .send_publish(event.subject, message)
            .await
            .expect("published");
        in_flight.push(ack.into_future());
    }
    while let Some(ack) = in_flight.next().await {
        ack.expect("acked");
    }
    PUBLISHED as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let generated = generation();
    let server = support::NatsServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The machine may be shared: alternate (b) and (c) over a few rounds and report the best
    // and the median of each.
    let (mut simulated, mut raw) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for round in 1..=ROUNDS {
            let js = server.jetstream().await;
            let events = Generator::new(&options(PUBLISHED)).expect("valid options");
            let stats = publish(&js, events, &PublishOptions::default())
                .await
                .expect("published");
            assert_eq!((stats.published, stats.duplicates), (PUBLISHED, 0));
            simulated.push(stats.rate());

            // A fresh stream, so the same message ids are not deduplicated.
            let js = server.jetstream().await;
            let events: Vec<SimEvent> = Generator::new(&options(PUBLISHED))
                .expect("valid options")
                .collect();
            raw.push(raw_publish(&js, events).await);
            println!(
                "round {round}: (b) {:>8.0} events/s, (c) {:>8.0} events/s",
                simulated[round - 1],
                raw[round - 1]
            );
        }
    });
    let (b, c) = (summary(&mut simulated), summary(&mut raw));
    println!(
        "(b) publish (generate + ack): best {:>8.0}, median {:>8.0} events/s ({PUBLISHED} events)",
        b.0, b.1
    );
    println!(
        "(c) raw publish baseline:     best {:>8.0}, median {:>8.0} events/s ({PUBLISHED} events)",
        c.0, c.1
    );
    println!(
        "(b)/(c) = {:.2} (best), {:.2} (median); (a)/(b) = {:.1}",
        b.0 / c.0,
        b.1 / c.1,
        generated / b.0
    );
}

/// (best, median) of rates.
fn summary(rates: &mut [f64]) -> (f64, f64) {
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() - 1], rates[rates.len() / 2])
}
