//! Publisher trust, from an attacker's side: a real nats-server with ParWatch's accounts, real
//! NATS clients with and without keys, publishers made with `parwatch publisher add`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use async_nats::jetstream;
use parwatch_proto::Assessor;
use parwatch_proto::testing::TestEvent;
use serde_json::{Value, json};

use crate::harness::{
    LocalNats, Outgoing, Parwatch, jetstream_as, nats_keys, publish_with, valid_event,
};

/// `parwatch publisher add <name> --agency <a>… [--official]` into `<store>/publishers.toml`;
/// returns the seed file.
fn add_publisher(
    store: &Path,
    name: &str,
    agencies: &[&str],
    official: bool,
) -> std::path::PathBuf {
    let key = store.join(format!("{name}.nk"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_parwatch"));
    command
        .args(["publisher", "--publishers"])
        .arg(store.join("publishers.toml"))
        .args(["add", name, "--key-out"])
        .arg(&key);
    for agency in agencies {
        command.args(["--agency", agency]);
    }
    if official {
        command.arg("--official");
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

/// A server whose publishers are `motcua` (agencies 000.00.17.*, no official assessments) and
/// `appraisal` (every agency, official); their seed files.
fn two_publishers(tmp: &Path) -> (LocalNats, std::path::PathBuf, std::path::PathBuf) {
    let store = tmp.join("nats");
    std::fs::create_dir_all(&store).unwrap();
    let motcua = add_publisher(&store, "motcua", &["000.00.17.*"], false);
    let appraisal = add_publisher(&store, "appraisal", &["*"], true);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&motcua).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "a seed is its owner's alone");
    (LocalNats::start(&store).unwrap(), motcua, appraisal)
}

/// A `par.score` for `agency` by `assessor`.
fn score(id: &str, agency: &str, assessor: Assessor) -> Outgoing {
    let score = TestEvent::par_score(2024, "direction", "superior_tasks", 2.0, 2.0)
        .assessor(assessor)
        .field("agency_kind", "department")
        .id(id)
        .at("2024-12-15T10:00:00+07:00")
        .source("attacker")
        .agency(agency);
    Outgoing::event(&score)
}

/// A dossier event of `agency`.
fn dossier(i: usize, agency: &str) -> Outgoing {
    Outgoing::event(&valid_event(i).agency(agency))
}

/// Sends a request that must get no answer: refused by permissions (the server drops it),
/// or answered with a JetStream error.
async fn refused(client: &async_nats::Client, subject: &str, payload: &str) -> bool {
    let request = async_nats::Request::new()
        .payload(payload.to_owned().into())
        .timeout(Some(Duration::from_secs(2)));
    match client.send_request(subject.to_owned(), request).await {
        Err(_) => true,
        Ok(answer) => {
            serde_json::from_slice::<Value>(&answer.payload).is_ok_and(|v| v.get("error").is_some())
        }
    }
}

/// How many messages the stream holds, as the administrator sees it.
async fn stored(admin: &jetstream::Context) -> u64 {
    let mut stream = admin
        .get_stream(parwatch_ingest::STREAM_NAME)
        .await
        .unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_and_no_key_but_the_admins_reads_purges_or_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let (nats, motcua, _) = two_publishers(tmp.path());
    let url = nats.url();
    let keys = nats_keys(&url).unwrap();

    // No key, or a key the server does not know: no connection.
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(anonymous.is_err(), "connected without a key");
    let stranger = parwatch_ingest::Identity::create(&tmp.path().join("stranger.nk")).unwrap();
    let unknown = async_nats::ConnectOptions::with_nkey(
        std::fs::read_to_string(stranger.path())
            .unwrap()
            .trim()
            .to_owned(),
    )
    .connection_timeout(Duration::from_secs(2))
    .connect(&url)
    .await;
    assert!(unknown.is_err(), "connected with an unknown key");

    let admin = jetstream_as(&url, &keys.admin).await;
    let publisher = jetstream_as(&url, &motcua).await;
    assert_eq!(
        publish_with(&publisher, vec![dossier(0, "000.00.17.H02")]).await,
        1
    );
    assert_eq!(stored(&admin).await, 1);

    // A publisher has no JetStream API: no stream info, no raw read, no purge, no delete, no
    // consumer of its own, no ack on the worker's behalf.
    assert!(
        publisher
            .get_stream(parwatch_ingest::STREAM_NAME)
            .await
            .is_err()
    );
    let raw = publisher.client();
    for (subject, payload) in [
        ("$JS.API.STREAM.MSG.GET.PAR_EVENTS", r#"{"seq":1}"#),
        ("$JS.API.DIRECT.GET.PAR_EVENTS", r#"{"seq":1}"#),
        ("$JS.API.STREAM.PURGE.PAR_EVENTS", "{}"),
        ("$JS.API.STREAM.DELETE.PAR_EVENTS", ""),
        (
            "$JS.API.STREAM.UPDATE.PAR_EVENTS",
            r#"{"name":"PAR_EVENTS","max_msgs":1}"#,
        ),
        (
            "$JS.API.CONSUMER.CREATE.PAR_EVENTS.spy",
            r#"{"stream_name":"PAR_EVENTS","config":{"name":"spy"}}"#,
        ),
    ] {
        assert!(
            refused(&raw, subject, payload).await,
            "publisher: {subject} answered"
        );
    }
    // Nor can it publish as another publisher, or into the stream's own subjects.
    for subject in [
        "par.in.appraisal.events.v1.par.score",
        "par.in.motcua.events.v1.dossier.received",
        "$JS.ACK.PAR_EVENTS.parwatch-ingest.1.1.1.1.1",
    ] {
        assert!(
            refused(&raw, subject, "{}").await,
            "publisher: {subject} answered"
        );
    }

    // The worker's key consumes; it neither publishes events nor reads, purges or deletes.
    let ingest = jetstream_as(&url, &keys.ingest).await;
    let worker = ingest.client();
    for subject in [
        "par.events.v1.dossier.received",
        "par.in.motcua.events.v1.dossier.received",
    ] {
        assert!(
            refused(&worker, subject, "{}").await,
            "ingest published on {subject}"
        );
    }
    for (subject, payload) in [
        ("$JS.API.STREAM.MSG.GET.PAR_EVENTS", r#"{"seq":1}"#),
        ("$JS.API.STREAM.PURGE.PAR_EVENTS", "{}"),
        ("$JS.API.STREAM.DELETE.PAR_EVENTS", ""),
        (
            "$JS.API.STREAM.UPDATE.PAR_EVENTS",
            r#"{"name":"PAR_EVENTS","max_msgs":1}"#,
        ),
    ] {
        assert!(
            refused(&worker, subject, payload).await,
            "ingest: {subject} answered"
        );
    }

    // Nothing moved: the one event is there, and the administrator can read it.
    assert_eq!(stored(&admin).await, 1);
    let stream = admin
        .get_stream(parwatch_ingest::STREAM_NAME)
        .await
        .unwrap();
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        message.subject.as_str(),
        "par.in.motcua.events.v1.dossier.received"
    );
    assert_eq!(stream.cached_info().config.max_message_size, 64 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_scores_and_other_agencies_events_are_rejected_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (nats, motcua, appraisal) = two_publishers(tmp.path());
    let url = nats.url();
    let parwatch = Parwatch::up(
        &url,
        &tmp.path().join("data"),
        &["--flush-interval-ms", "100"],
    )
    .await;

    let own = "000.00.17.H02";
    let other = "000.00.16.H02";
    let motcua = jetstream_as(&url, &motcua).await;
    let sent = publish_with(
        &motcua,
        vec![
            dossier(0, own),
            dossier(1, other),
            score("self-1", own, Assessor::SelfAssessment),
            score("forged-1", own, Assessor::Appraisal),
            score("forged-2", other, Assessor::Inspection),
        ],
    )
    .await;
    assert_eq!(sent, 5, "the broker takes them; the worker judges them");
    let appraisal = jetstream_as(&url, &appraisal).await;
    assert_eq!(
        publish_with(
            &appraisal,
            vec![score("official-1", other, Assessor::Appraisal)]
        )
        .await,
        1
    );

    parwatch
        .wait_for(
            "SELECT count(*) FROM rejected_events",
            json!(3),
            Duration::from_secs(30),
        )
        .await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(3),
            Duration::from_secs(30),
        )
        .await;
    let events = parwatch
        .sql("SELECT event_id FROM events ORDER BY event_id")
        .await;
    assert_eq!(
        events["rows"],
        json!([["ev-000000"], ["official-1"], ["self-1"]])
    );
    let rejected = parwatch
        .sql("SELECT subject, fault, reason FROM rejected_events ORDER BY reason")
        .await;
    let rows = rejected["rows"].as_array().unwrap();
    for row in rows {
        assert_eq!(
            row[0].as_str().unwrap().split('.').nth(2),
            Some("motcua"),
            "{row}"
        );
        assert_eq!(row[1], "unauthorized", "{row}");
    }
    let reasons: Vec<&str> = rows.iter().map(|r| r[2].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "agency_code: publisher motcua may not publish for agency 000.00.16.H02 (it may for: 000.00.17.*) [unauthorized]",
            "agency_code: publisher motcua may not publish for agency 000.00.16.H02 (it may for: 000.00.17.*) [unauthorized]",
            "data.assessor: publisher motcua may not publish official assessments (assessor appraisal) [unauthorized]",
        ]
    );
}
