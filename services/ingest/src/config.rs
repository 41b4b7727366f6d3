//! Settings of the ingest worker ([`IngestConfig`]), with the defaults of production.

use std::time::Duration;

use chrono::Utc;
use parwatch_lake::CompactionPolicy;

use crate::broker::{Backoff, StreamLimits};
use crate::failpoint::Failpoint;
use crate::partitions::Partitions;
use crate::publishers::{Identity, Publishers};

/// Name of the worker's durable consumer, the one its NATS user may use.
pub const CONSUMER_NAME: &str = "parwatch-ingest";

/// Settings of the ingest worker.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// NATS server URL.
    pub nats_url: String,
    /// The worker's NATS identity (nkey); `None` for a server without authentication.
    pub identity: Option<Identity>,
    /// Who may publish what: each event is checked against its publisher's entry.
    pub publishers: Publishers,
    /// Limits of the stream when the worker creates it.
    pub stream_limits: StreamLimits,
    /// How the stream is split: one partition (`PAR_EVENTS`, this worker its sole writer) or
    /// several, held under leases by however many workers run.
    pub partitions: Partitions,
    /// How long a partition's lease lasts without renewal (renewed every third of it): the
    /// longest a dead worker's partitions wait for another.
    pub lease_ttl: Duration,
    /// Durable consumer name.
    pub consumer: String,
    /// Messages requested per pull: a flush's worth. With half of it, the broker and the worker
    /// each spent 0.2–0.6 µs more an event (ingest bench, docs/benchmarks.md).
    pub pull_batch: usize,
    /// Flush when this many messages are pending.
    pub flush_events: usize,
    /// Flush when the pending messages hold this many bytes; also bounds each pull.
    pub flush_bytes: usize,
    /// Earliest accepted `occurred_at`.
    pub occurred_after: chrono::DateTime<Utc>,
    /// Latest accepted `occurred_at`, as a time after now.
    pub occurred_ahead: chrono::Duration,
    /// Flush when the oldest pending message is this old.
    pub flush_interval: Duration,
    /// How long the broker waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Most messages delivered but not yet acknowledged.
    pub max_ack_pending: i64,
    /// A fault or measurement hook of the tests and the ingest benchmark; `None` in production.
    /// Honoured only in builds with the `failpoints` feature: [`crate::run`] refuses one otherwise.
    pub failpoint: Option<Failpoint>,
    /// When partitions are compacted.
    pub compaction: CompactionPolicy,
    /// How often the worker looks for partitions to compact.
    pub compact_every: Duration,
    /// How connecting and setting up the stream and consumer at start are retried.
    pub start_retry: Backoff,
}

impl IngestConfig {
    /// Defaults for the sole worker consuming `PAR_EVENTS` from `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            identity: None,
            publishers: Publishers::default(),
            stream_limits: StreamLimits::default(),
            partitions: Partitions::default(),
            lease_ttl: Duration::from_secs(10),
            consumer: CONSUMER_NAME.to_owned(),
            pull_batch: 20_000,
            flush_events: 20_000,
            flush_bytes: 32 << 20,
            occurred_after: chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")
                .expect("a valid instant")
                .to_utc(),
            occurred_ahead: chrono::Duration::days(366),
            flush_interval: Duration::from_millis(500),
            ack_wait: Duration::from_secs(10),
            max_ack_pending: 200_000,
            failpoint: None,
            compaction: CompactionPolicy::default(),
            compact_every: Duration::from_secs(10),
            start_retry: Backoff::default(),
        }
    }
}
