//! Publishing to a real nats-server: every event lands in the stream once, and publishing the
//! same events again is deduplicated by `Nats-Msg-Id`.

use parwatch_simulator::{Generator, Mode, PublishOptions, SimEvent, SimOptions, publish};

use crate::sample::date;
use crate::support::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_land_in_the_stream_once() {
    let server = NatsServer::start();
    let js = server.jetstream().await;
    let options = SimOptions {
        seed: 9,
        invalid_share: 0.01,
        limit: Some(20_000),
        mode: Mode::Backfill {
            from: date(2024, 6, 3),
            to: None,
        },
        ..SimOptions::backfill(0, date(2024, 1, 1), date(2024, 1, 1))
    };
    let events: Vec<SimEvent> = Generator::new(&options).unwrap().collect();
    assert!(events.iter().any(|e| e.malformation.is_some()));

    let stats = publish(&js, events.clone(), &PublishOptions::default())
        .await
        .unwrap();
    // The stream takes 64 KiB at most: the oversized malformations are refused.
    let oversized = events.iter().filter(|e| e.body.len() > 64 * 1024).count() as u64;
    assert!(oversized > 0);
    assert_eq!(
        (stats.published, stats.duplicates, stats.refused),
        (20_000 - oversized, 0, oversized)
    );
    let stored = 20_000 - oversized;
    let mut stream = server.admin().await.get_stream("PAR_EVENTS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, stored);

    let again = PublishOptions {
        window: 500,
        ..PublishOptions::default()
    };
    let stats = publish(&js, events.into_iter().take(5_000), &again)
        .await
        .unwrap();
    assert_eq!(stats.published + stats.refused, 5_000);
    assert_eq!(stats.duplicates, stats.published);
    assert_eq!(stream.info().await.unwrap().state.messages, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_publishing_follows_the_clock() {
    let server = NatsServer::start();
    let js = server.jetstream().await;
    let options = SimOptions {
        mode: Mode::Live {
            start: chrono::Utc::now(),
            rate: 200.0,
            duration: std::time::Duration::from_secs(3),
        },
        ..SimOptions::backfill(4, date(2024, 1, 1), date(2024, 1, 1))
    };
    let events = Generator::new(&options).unwrap();
    let expected = events.estimated_len().unwrap();
    let paced = PublishOptions {
        paced: true,
        ..PublishOptions::default()
    };
    let stats = publish(&js, events, &paced).await.unwrap();
    // Timestamps have whole seconds: the last events are due 2–3 s after the start.
    assert!(
        stats.elapsed.as_secs_f64() > 1.0,
        "{:?} {stats:?}",
        stats.elapsed
    );
    let published = stats.published as f64;
    assert!(
        (500.0..=700.0).contains(&published),
        "{published} events, estimated {expected}"
    );
}
