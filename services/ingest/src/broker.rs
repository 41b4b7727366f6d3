//! Connection to NATS and the `PAR_EVENTS` stream.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::publishers::{Identity, STREAM_SUBJECTS};
use crate::{Error, Result};

/// Name of the JetStream stream holding every event.
pub const STREAM_NAME: &str = "PAR_EVENTS";

/// Limits of the stream, set when it is created and applied to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Largest message the broker accepts into the stream, in bytes.
    pub max_msg_size: i32,
    /// Most bytes the stream keeps; the oldest messages go first.
    pub max_bytes: i64,
    /// How long a message is kept.
    pub max_age: Duration,
}

impl Default for StreamLimits {
    /// 64 KiB messages (the contract's limit), 50 GiB, 90 days: months of a province's
    /// events, long enough for an outage of the worker to lose nothing.
    fn default() -> Self {
        StreamLimits {
            max_msg_size: parwatch_proto::MAX_EVENT_BYTES as i32,
            max_bytes: 50 << 30,
            max_age: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// Connects to NATS as `identity` (an nkey; none for a server without authentication),
/// retrying the first connection and reconnecting for ever after.
pub async fn connect(
    url: &str,
    name: &str,
    identity: Option<&Identity>,
) -> Result<async_nats::Client> {
    connect_with(url, name, identity, None).await
}

/// [`connect`] with an inbox prefix of the connection's own (the worker's subscribe
/// permission covers only its prefix).
pub(crate) async fn connect_with(
    url: &str,
    name: &str,
    identity: Option<&Identity>,
    inbox_prefix: Option<&str>,
) -> Result<async_nats::Client> {
    let mut options = match identity {
        Some(identity) => async_nats::ConnectOptions::with_nkey(identity.seed()?),
        None => async_nats::ConnectOptions::new(),
    };
    if let Some(prefix) = inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    options
        .name(name)
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|e| Error::nats("connect")(&e))
}

/// The stream's configuration with `limits`.
fn stream_config(name: &str, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![STREAM_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        max_message_size: limits.max_msg_size,
        max_bytes: limits.max_bytes,
        max_age: limits.max_age,
        ..Default::default()
    }
}

/// Creates the stream (file storage, subjects `par.in.*.events.v1.>`, `limits`) when missing;
/// an existing stream whose subjects or limits differ is updated to them, which takes the
/// administrator's credential (the worker's may create the stream, never change it: with it,
/// a difference is logged and the stream kept as it is).
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    limits: &StreamLimits,
) -> Result<stream::Stream> {
    let wanted = stream_config(name, limits);
    let mut stream = js
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|e| Error::nats("create stream")(&e))?;
    let current = stream
        .info()
        .await
        .map_err(|e| Error::nats("stream info")(&e))?
        .config
        .clone();
    let differs = current.subjects != wanted.subjects
        || current.max_message_size != wanted.max_message_size
        || current.max_bytes != wanted.max_bytes
        || current.max_age != wanted.max_age;
    if differs {
        let updated = stream::Config {
            subjects: wanted.subjects,
            max_message_size: wanted.max_message_size,
            max_bytes: wanted.max_bytes,
            max_age: wanted.max_age,
            ..current.clone()
        };
        match js.update_stream(updated).await {
            Ok(_) => tracing::info!(
                stream = name,
                subjects = ?STREAM_SUBJECTS,
                max_msg_size = limits.max_msg_size,
                max_bytes = limits.max_bytes,
                max_age_s = limits.max_age.as_secs(),
                "stream updated to the configured subjects and limits"
            ),
            Err(e) => tracing::warn!(
                stream = name,
                error = %e,
                subjects = ?current.subjects,
                max_msg_size = current.max_message_size,
                max_bytes = current.max_bytes,
                "the stream's subjects or limits differ from the configuration and cannot be \
                 updated with this credential (an administrator's is needed)"
            ),
        }
        stream = js
            .get_stream(name)
            .await
            .map_err(|e| Error::nats("stream info")(&e))?;
    }
    Ok(stream)
}
