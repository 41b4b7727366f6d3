//! Ingest under hostile volume, from a publisher's side: 1 MiB bodies and wide events flood the
//! worker; its memory stays bounded and valid events keep coming in.

use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use serde_json::json;

use crate::harness::{
    LocalNats, Outgoing, Parwatch, jetstream_as, memory_mib, nats_keys, publish_with, valid_event,
    valid_messages,
};

/// A valid dossier event with `members` unknown envelope members (a wide event, < 64 KiB).
fn wide(i: usize, members: usize) -> Outgoing {
    let event = (0..members).fold(valid_event(i), |e, k| e.extra(&format!("x{k}"), k));
    Outgoing::event(&event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_refuses_bodies_over_64_kib() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let publisher = jetstream_as(&nats.url(), &nats_keys(&nats.url()).unwrap().publisher).await;
    let big = PublishMessage::build().payload(vec![b'x'; 1 << 20].into());
    let ack = publisher
        .send_publish("par.events.v1.dossier.received", big)
        .await
        .unwrap()
        .await;
    let err = ack.expect_err("a 1 MiB message was stored").to_string();
    assert!(err.contains("maximum"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_huge_and_wide_messages_leaves_the_worker_bounded_and_ingesting() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("nats");
    // A broker letting 1 MiB messages through: what the worker does with them is under test.
    let local = parwatch_ingest::Identity::load_or_create(&store.join("local.nk")).unwrap();
    let mut publishers = parwatch_ingest::Publishers::default();
    publishers
        .add(parwatch_ingest::Publisher {
            name: "local".to_owned(),
            nkey: local.public_key(),
            agencies: vec!["*".to_owned()],
            official: false,
            note: None,
        })
        .unwrap();
    publishers.save(&store.join("publishers.toml")).unwrap();
    let limits = parwatch_ingest::StreamLimits {
        max_msg_size: 1 << 20,
        ..Default::default()
    };
    let nats = LocalNats::start_with(&store, &publishers, &limits).unwrap();
    let url = nats.url();
    let parwatch = Parwatch::up(
        &url,
        &tmp.path().join("data"),
        &["--flush-interval-ms", "100"],
    )
    .await;
    let pid = parwatch.pid();
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(0),
            Duration::from_secs(10),
        )
        .await;
    let (before, _) = memory_mib(pid);

    let publisher = jetstream_as(&url, local.path()).await;
    let huge_count = 300;
    let wide_count = 300;
    let started = Instant::now();
    // 300 MiB of bodies just under the broker's limit, each with a valid event's start, and
    // 300 wide events of 4,000 unknown members (~50 KiB), in rounds with valid events.
    let mut peak: f64 = 0.0;
    for round in 0..10 {
        let mut messages = Vec::new();
        for i in 0..huge_count / 10 {
            let mut message = Outgoing::event(&valid_event(100_000 + round * 1_000 + i));
            message.body.resize((1 << 20) - 1024, b' ');
            messages.push(message);
        }
        for i in 0..wide_count / 10 {
            messages.push(wide(200_000 + round * 1_000 + i, 4_000));
        }
        messages.extend(valid_messages(round * 100..round * 100 + 100, true));
        assert_eq!(
            publish_with(&publisher, messages).await,
            huge_count / 10 + wide_count / 10 + 100
        );
        peak = peak.max(memory_mib(pid).0);
    }
    let published = started.elapsed();
    parwatch
        .wait_for(
            "SELECT count(*) FROM rejected_events WHERE fault = 'too_large'",
            json!(huge_count),
            Duration::from_secs(120),
        )
        .await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(1_000 + wide_count),
            Duration::from_secs(120),
        )
        .await;
    let (after, hwm) = memory_mib(pid);
    eprintln!(
        "flood: {huge_count} × 1 MiB + {wide_count} wide events + 1,000 valid published in \
         {:.1} s; worker RSS {before:.0} MiB before, {after:.0} MiB after, peak sampled \
         {peak:.0} MiB, VmHWM {hwm:.0} MiB",
        published.as_secs_f64()
    );
    // 300 MiB went through: held whole, or in batches of 20,000, they would show here.
    assert!(
        hwm - before < 200.0,
        "RSS grew from {before:.0} to a peak of {hwm:.0} MiB"
    );

    // An oversized body is kept as a bounded prefix with its reason.
    let rejected = parwatch
        .sql("SELECT raw_bytes, reason FROM rejected_events WHERE fault = 'too_large'")
        .await;
    let reason = format!(
        "body: {} bytes exceeds the limit of 65536 (its first 1024 bytes are kept) [too_large]",
        (1 << 20) - 1024
    );
    for row in rejected["rows"].as_array().unwrap() {
        // Binary comes out as hex.
        let kept = row[0].as_str().unwrap().len() / 2;
        assert_eq!(kept, parwatch_ingest::OVERSIZED_PREFIX_BYTES);
        assert_eq!(row[1], json!(reason));
    }
    // And the worker still takes valid events.
    let more = valid_messages(5_000..5_100, true);
    publish_with(&publisher, more).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(1_100 + wide_count),
            Duration::from_secs(60),
        )
        .await;
}
