//! Connection to NATS and the `PAR_EVENTS` stream.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{PullConsumer, pull};
use async_nats::jetstream::context::{
    CreateStreamError, CreateStreamErrorKind, GetStreamError, GetStreamErrorKind, RequestError,
    RequestErrorKind,
};
use async_nats::jetstream::stream::{ConsumerError, ConsumerErrorKind};
use async_nats::jetstream::{self, stream};
use async_nats::{ConnectError, ConnectErrorKind};
use tokio::time::Instant;

use crate::partitions::subjects_of;
use crate::publishers::Identity;
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
    /// Copies of each message a NATS cluster keeps (1 on one server; 3 to survive the loss
    /// of a node).
    pub replicas: usize,
}

impl Default for StreamLimits {
    /// 64 KiB messages (the contract's limit), 50 GiB, 90 days: months of a province's
    /// events, long enough for an outage of the worker to lose nothing.
    fn default() -> Self {
        StreamLimits {
            max_msg_size: parwatch_proto::MAX_EVENT_BYTES as i32,
            max_bytes: 50 << 30,
            max_age: Duration::from_secs(90 * 24 * 3600),
            replicas: 1,
        }
    }
}

/// How a NATS call at start is retried: after a failure that may pass (no answer in time, the
/// server not up, JetStream not ready), pauses growing from [`Backoff::first`], doubling up to
/// [`Backoff::cap`], until [`Backoff::deadline`] has passed since the first attempt. Each retry
/// is logged (a warning: what failed, when the next attempt is); then the call fails with the
/// last error. A failure that cannot pass (refused credentials, a bad URL, an answer saying
/// no) fails at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Pause after the first failure.
    pub first: Duration,
    /// Longest pause.
    pub cap: Duration,
    /// How long after the first attempt the last one may start (an attempt under way when it
    /// passes ends by the client's own timeout, 5 s).
    pub deadline: Duration,
}

impl Backoff {
    /// Pauses of 0.5 s, 1 s, 2 s, … up to 8 s, for at most `deadline`.
    pub fn with_deadline(deadline: Duration) -> Self {
        Backoff {
            first: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            deadline,
        }
    }

    /// A run of attempts starting now.
    pub fn attempts(&self) -> Attempts {
        Attempts {
            backoff: *self,
            started: Instant::now(),
            failures: 0,
        }
    }

    /// Calls `op` until it succeeds, fails for good, or the deadline passes; `operation` and
    /// `target` name the call in the log and the error ("connect", the URL and client name).
    async fn retry<T, E, Fut>(
        &self,
        operation: &'static str,
        target: &str,
        mut op: impl FnMut() -> Fut,
    ) -> Result<T>
    where
        E: Transient + std::fmt::Display,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let mut run = self.attempts();
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.transient() {
                let message = format!("{target}: {error}");
                return Err(Error::Nats { operation, message });
            }
            let Some(delay) = run.next_delay() else {
                let message = format!(
                    "{target}: {error} (gave up after {} attempts in {:.0} s)",
                    run.failures,
                    run.elapsed().as_secs_f64()
                );
                return Err(Error::Nats { operation, message });
            };
            tracing::warn!(
                attempt = run.failures,
                "nats {operation} {target} failed: {error}; next attempt in {:.1} s",
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
        }
    }
}

impl Default for Backoff {
    /// [`Backoff::with_deadline`] of 60 s.
    fn default() -> Self {
        Backoff::with_deadline(Duration::from_secs(60))
    }
}

/// The failures of one run of retries of a [`Backoff`].
#[derive(Debug, Clone)]
pub struct Attempts {
    backoff: Backoff,
    started: Instant,
    failures: u32,
}

impl Attempts {
    /// Counts a failure; returns the pause before the next attempt, or `None` when the deadline
    /// has passed. The pause never runs past the deadline: the last attempt starts at it.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.failures += 1;
        let left = self.backoff.deadline.checked_sub(self.elapsed())?;
        if left.is_zero() {
            return None;
        }
        let grown = self
            .backoff
            .first
            .saturating_mul(1 << self.failures.saturating_sub(1).min(16));
        Some(grown.min(self.backoff.cap).min(left))
    }

    /// Failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Whether a failed NATS call may succeed when tried again.
trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for ConnectError {
    fn transient(&self) -> bool {
        matches!(
            self.kind(),
            ConnectErrorKind::TimedOut
                | ConnectErrorKind::Io
                | ConnectErrorKind::Dns
                | ConnectErrorKind::MaxReconnects
        )
    }
}

/// JetStream's own "temporarily unavailable" answer (HTTP-like code 503).
fn unavailable(error: &jetstream::Error) -> bool {
    error.code() == 503
}

impl Transient for CreateStreamError {
    fn transient(&self) -> bool {
        match self.kind() {
            CreateStreamErrorKind::TimedOut
            | CreateStreamErrorKind::JetStreamUnavailable
            | CreateStreamErrorKind::Response => true,
            CreateStreamErrorKind::JetStream(e) => unavailable(&e),
            _ => false,
        }
    }
}

impl Transient for GetStreamError {
    fn transient(&self) -> bool {
        match self.kind() {
            GetStreamErrorKind::Request => true,
            GetStreamErrorKind::JetStream(e) => unavailable(&e),
            _ => false,
        }
    }
}

impl Transient for RequestError {
    fn transient(&self) -> bool {
        matches!(
            self.kind(),
            RequestErrorKind::TimedOut | RequestErrorKind::NoResponders
        )
    }
}

impl Transient for ConsumerError {
    fn transient(&self) -> bool {
        match self.kind() {
            ConsumerErrorKind::TimedOut | ConsumerErrorKind::Request => true,
            ConsumerErrorKind::JetStream(e) => unavailable(&e),
            _ => false,
        }
    }
}

/// Connects to NATS at `url` (one URL, or a cluster's several separated by commas) as
/// `identity` (an nkey; none for a server without authentication), retrying the first
/// connection by [`Backoff::default`] and reconnecting for ever after.
pub async fn connect(
    url: &str,
    name: &str,
    identity: Option<&Identity>,
) -> Result<async_nats::Client> {
    connect_retrying(url, name, identity, &Backoff::default()).await
}

/// [`connect`], retrying the first connection by `backoff`.
pub async fn connect_retrying(
    url: &str,
    name: &str,
    identity: Option<&Identity>,
    backoff: &Backoff,
) -> Result<async_nats::Client> {
    connect_with(url, name, identity, None, backoff).await
}

/// [`connect_retrying`] with an inbox prefix of the connection's own (the worker's subscribe
/// permission covers only its prefix).
pub(crate) async fn connect_with(
    url: &str,
    name: &str,
    identity: Option<&Identity>,
    inbox_prefix: Option<&str>,
    backoff: &Backoff,
) -> Result<async_nats::Client> {
    let seed = identity.map(Identity::seed).transpose()?;
    // A cluster's seeds: any that answers will do, and the client learns the others from it.
    let servers: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    backoff
        .retry("connect", &format!("{url} ({name})"), || {
            let mut options = match &seed {
                Some(seed) => async_nats::ConnectOptions::with_nkey(seed.clone()),
                None => async_nats::ConnectOptions::new(),
            };
            if let Some(prefix) = inbox_prefix {
                options = options.custom_inbox_prefix(prefix);
            }
            options.name(name).connect(&servers)
        })
        .await
}

/// The stream's configuration with `limits`.
fn stream_config(name: &str, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: subjects_of(name),
        storage: stream::StorageType::File,
        max_message_size: limits.max_msg_size,
        max_bytes: limits.max_bytes,
        max_age: limits.max_age,
        num_replicas: limits.replicas,
        ..Default::default()
    }
}

/// Creates the stream `name` (file storage, its subjects: `par.in.*.events.v1.>` for
/// `PAR_EVENTS`, a partition's for `PAR_EVENTS_<k>`, `limits`) when missing;
/// an existing stream whose subjects or limits differ is updated to them, which takes the
/// administrator's credential (the worker's may create the stream, never change it: with it,
/// a difference is logged and the stream kept as it is). Calls that get no answer are retried
/// by [`Backoff::default`].
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    limits: &StreamLimits,
) -> Result<stream::Stream> {
    ensure_stream_retrying(js, name, limits, &Backoff::default()).await
}

/// [`ensure_stream`], retrying by `backoff`.
pub(crate) async fn ensure_stream_retrying(
    js: &jetstream::Context,
    name: &str,
    limits: &StreamLimits,
    backoff: &Backoff,
) -> Result<stream::Stream> {
    let wanted = stream_config(name, limits);
    let stream = backoff
        .retry("create stream", name, || {
            js.get_or_create_stream(wanted.clone())
        })
        .await?;
    let current = backoff
        .retry("stream info", name, || stream.get_info())
        .await?
        .config;
    let differs = current.subjects != wanted.subjects
        || current.max_message_size != wanted.max_message_size
        || current.max_bytes != wanted.max_bytes
        || current.max_age != wanted.max_age
        || current.num_replicas != wanted.num_replicas;
    if differs {
        let updated = stream::Config {
            subjects: wanted.subjects,
            max_message_size: wanted.max_message_size,
            max_bytes: wanted.max_bytes,
            max_age: wanted.max_age,
            num_replicas: wanted.num_replicas,
            ..current.clone()
        };
        match js.update_stream(updated).await {
            Ok(_) => tracing::info!(
                stream = name,
                subjects = ?subjects_of(name),
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
        return backoff
            .retry("stream info", name, || js.get_stream(name))
            .await;
    }
    Ok(stream)
}

/// The durable pull consumer `config` names on `stream`, created when missing, retrying by
/// `backoff`.
pub(crate) async fn ensure_consumer(
    stream: &stream::Stream,
    config: pull::Config,
    backoff: &Backoff,
) -> Result<PullConsumer> {
    let name = config.durable_name.clone().unwrap_or_default();
    backoff
        .retry("create consumer", &name, || {
            stream.get_or_create_consumer(&name, config.clone())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(deadline: Duration) -> Backoff {
        Backoff::with_deadline(deadline)
    }

    #[test]
    fn pauses_double_up_to_the_cap() {
        let mut run = backoff(Duration::from_secs(3600)).attempts();
        let pauses: Vec<f64> = (0..6)
            .map(|_| run.next_delay().unwrap().as_secs_f64())
            .collect();
        assert_eq!(pauses, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]);
        assert_eq!(run.failures(), 6);
    }

    #[test]
    fn a_pause_ends_at_the_deadline_and_none_follows_it() {
        let mut run = backoff(Duration::from_millis(1200)).attempts();
        assert_eq!(run.next_delay(), Some(Duration::from_millis(500)));
        assert_eq!(run.next_delay(), Some(Duration::from_secs(1)));
        let last = run.next_delay().unwrap();
        assert!(last <= Duration::from_millis(1200) && last > Duration::from_secs(1));
        assert_eq!(backoff(Duration::ZERO).attempts().next_delay(), None);
    }

    /// Nothing listens on the port: every attempt is refused, retried until the deadline, then
    /// the error names the URL and the attempts.
    #[tokio::test]
    async fn a_connection_refused_is_retried_until_the_deadline() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let url = format!("nats://127.0.0.1:{port}");
        let backoff = Backoff {
            first: Duration::from_millis(20),
            cap: Duration::from_millis(50),
            deadline: Duration::from_millis(300),
        };
        let started = std::time::Instant::now();
        let err = connect_retrying(&url, "test", None, &backoff)
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() >= Duration::from_millis(300), "{err}");
        assert!(
            err.starts_with(&format!("nats connect: {url} (test): ")),
            "{err}"
        );
        let attempts: u32 = err
            .split("gave up after ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{err}"));
        assert!(attempts >= 4, "{err}");
    }
}
