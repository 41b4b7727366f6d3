//! Connection to NATS and the `PAR_EVENTS` stream.

use async_nats::jetstream::{self, stream};
use parwatch_proto::SUBJECT_WILDCARD;

use crate::{Error, Result};

/// Name of the JetStream stream holding every event.
pub const STREAM_NAME: &str = "PAR_EVENTS";

/// Connects to NATS, retrying the first connection and reconnecting for ever after.
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|e| Error::nats("connect")(&e))
}

/// Creates the stream (file storage, subjects `par.events.>`) when missing; never changes or
/// deletes an existing one.
pub async fn ensure_stream(js: &jetstream::Context, name: &str) -> Result<stream::Stream> {
    js.get_or_create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![SUBJECT_WILDCARD.to_owned()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| Error::nats("create stream")(&e))
}
