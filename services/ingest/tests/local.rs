//! The private nats-server runs with accounts: a publisher's message lands in the stream under
//! its own name, with a JetStream acknowledgement; nobody connects without a key.

use std::time::Duration;

use async_nats::jetstream;
use parwatch_ingest::{Identity, LocalNats, STREAM_NAME};

#[tokio::test]
async fn a_publisher_lands_under_its_name_and_strangers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let publisher = Identity::load(&nats.local_publisher_key()).unwrap();
    let client = parwatch_ingest::connect(&nats.url(), "test", Some(&publisher))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let ack = js
        .publish("par.events.v1.dossier.late", "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.stream, STREAM_NAME);

    let admin = Identity::load(&nats.admin_key()).unwrap();
    let admin = parwatch_ingest::connect(&nats.url(), "admin", Some(&admin))
        .await
        .unwrap();
    let stream = jetstream::new(admin).get_stream(STREAM_NAME).await.unwrap();
    let stored = stream.get_raw_message(ack.sequence).await.unwrap();
    assert_eq!(
        stored.subject.as_str(),
        "par.in.local.events.v1.dossier.late"
    );
    let config = &stream.cached_info().config;
    assert_eq!(config.max_message_size, 64 * 1024);
    assert!(config.max_bytes > 0 && config.max_age > Duration::ZERO);

    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(nats.url())
        .await;
    assert!(anonymous.is_err(), "connected without a key");
}

/// A list of a cluster's URLs: the first does not answer, the next does.
#[tokio::test]
async fn a_list_of_urls_connects_to_one_that_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    // A port nothing listens on any more: connections are refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("nats://{}", listener.local_addr().unwrap())
    };
    let publisher = Identity::load(&nats.local_publisher_key()).unwrap();
    let backoff = parwatch_ingest::Backoff::with_deadline(Duration::from_secs(10));
    for urls in [
        format!("{dead},{}", nats.url()),
        format!(" {} , {dead}", nats.url()),
    ] {
        let client = parwatch_ingest::connect_retrying(&urls, "test", Some(&publisher), &backoff)
            .await
            .unwrap();
        let ack = jetstream::new(client)
            .publish("par.events.v1.dossier.late", "{}".into())
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(ack.stream, STREAM_NAME, "{urls}");
    }
}

#[tokio::test]
async fn a_restart_with_other_limits_updates_the_existing_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("nats");
    let first = LocalNats::start(&store).unwrap();
    let port = first.port();
    drop(first);
    let limits = parwatch_ingest::StreamLimits {
        max_msg_size: 1 << 20,
        max_bytes: 1 << 30,
        max_age: Duration::from_secs(3600),
        ..Default::default()
    };
    let publishers = parwatch_ingest::Publishers::load(&store.join("publishers.toml")).unwrap();
    let nats = LocalNats::start_with(&store, port, &publishers, &limits).unwrap();
    let admin = Identity::load(&nats.admin_key()).unwrap();
    let admin = parwatch_ingest::connect(&nats.url(), "admin", Some(&admin))
        .await
        .unwrap();
    let stream = jetstream::new(admin).get_stream(STREAM_NAME).await.unwrap();
    let config = &stream.cached_info().config;
    assert_eq!(
        (config.max_message_size, config.max_bytes, config.max_age),
        (1 << 20, 1 << 30, Duration::from_secs(3600))
    );
    assert_eq!(config.subjects, ["par.in.*.events.v1.>"]);
}
