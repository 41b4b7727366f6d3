//! The consume → validate → store → ack loop.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::Subject;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::PullConsumer, consumer::pull};
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use parwatch_lake::{
    Commit, CompactionPolicy, DedupIndex, Lake, Prepared, RejectedMessage, StoredEvent,
    WriteProgress,
};
use parwatch_proto::{Fault, Rejection, TimeWindow, validate_within};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::broker::{StreamLimits, connect_with, ensure_stream};
use crate::publishers::{INGEST_INBOX_PREFIX, Identity, Publishers, authorize};
use crate::status::IngestStatus;
use crate::{Error, Result};

/// Name of the worker's durable consumer, the one its NATS user may use.
pub const CONSUMER_NAME: &str = "parwatch-ingest";

/// Bytes of an oversized message kept in `rejected_events`: enough to tell what it was.
pub const OVERSIZED_PREFIX_BYTES: usize = 1024;

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
    /// JetStream stream to consume.
    pub stream: String,
    /// Durable consumer name.
    pub consumer: String,
    /// Messages requested per pull.
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
    /// Honoured only in builds with the `failpoints` feature: [`run`] refuses one otherwise.
    pub failpoint: Option<Failpoint>,
    /// When partitions are compacted.
    pub compaction: CompactionPolicy,
    /// How often the worker looks for partitions to compact.
    pub compact_every: Duration,
}

impl IngestConfig {
    /// Defaults for a worker consuming `PAR_EVENTS` from `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            identity: None,
            publishers: Publishers::default(),
            stream_limits: StreamLimits::default(),
            stream: crate::STREAM_NAME.to_owned(),
            consumer: CONSUMER_NAME.to_owned(),
            pull_batch: 10_000,
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
        }
    }
}

/// Runs the worker until `shutdown` resolves, then flushes and acknowledges what it holds.
pub async fn run(
    cfg: IngestConfig,
    lake: Lake,
    status: Arc<IngestStatus>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    if cfg.failpoint.is_some() && !cfg!(feature = "failpoints") {
        return Err(Error::Config(
            "failpoints are compiled out of this binary (build with the feature failpoints)"
                .to_owned(),
        ));
    }
    let _writer = lake.lock_for_writing()?;
    let client = connect_with(
        &cfg.nats_url,
        "parwatch-ingest",
        cfg.identity.as_ref(),
        Some(INGEST_INBOX_PREFIX),
    )
    .await?;
    let js = jetstream::new(client.clone());
    let stream = ensure_stream(&js, &cfg.stream, &cfg.stream_limits).await?;
    let consumer: PullConsumer = stream
        .get_or_create_consumer(
            &cfg.consumer,
            pull::Config {
                durable_name: Some(cfg.consumer.clone()),
                ack_policy: AckPolicy::All,
                ack_wait: cfg.ack_wait,
                max_ack_pending: cfg.max_ack_pending,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| Error::nats("create consumer")(&e))?;
    let floor = ack_floor(&stream, &consumer).await?;
    let index = {
        let lake = lake.clone();
        tokio::task::spawn_blocking(move || lake.load_index()).await??
    };
    info!(
        stream = %cfg.stream,
        consumer = %cfg.consumer,
        ack_floor = floor,
        stored_events = index.event_count(),
        publishers = cfg.publishers.list.len(),
        "ingest worker consuming"
    );
    if cfg.publishers.list.is_empty() {
        warn!("no publishers configured: every event will be rejected as unauthorized");
    }
    if let Some(Failpoint::DiscardAfter(step)) = cfg.failpoint {
        warn!(
            ?step,
            "failpoint: batches are acknowledged WITHOUT being stored (benchmark only)"
        );
    }
    status.ready.store(true, Ordering::Relaxed);
    let compactor = tokio::spawn(compact_forever(
        lake.clone(),
        cfg.compaction,
        cfg.compact_every,
        Arc::clone(&status),
    ));

    let mut worker = Worker {
        client,
        lake,
        status: Arc::clone(&status),
        index: Arc::new(Mutex::new(index)),
        pending: Vec::with_capacity(cfg.flush_events),
        pending_bytes: 0,
        capacity: cfg.flush_events,
        rules: Arc::new(Rules {
            publishers: cfg.publishers.clone(),
            occurred_after: cfg.occurred_after,
            occurred_ahead: cfg.occurred_ahead,
        }),
        oldest: None,
        frontier: AckFrontier::new(floor),
        failpoint: cfg.failpoint,
        stopping: Arc::default(),
        stream,
        ack_wait: cfg.ack_wait,
    };
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(cfg.flush_interval / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Up to `STORES_IN_FLIGHT` batches are stored in the background (one validated while the
    // one before is written) while the next one is received; when that one is full before a
    // store is done, pulling stops (backpressure). Stores finish, and are acknowledged, in order.
    let mut in_flight: VecDeque<JoinHandle<Result<Stored>>> = VecDeque::new();
    'consume: loop {
        let messages = consumer
            .stream()
            .max_messages_per_batch(cfg.pull_batch)
            // A pull never brings more than half a batch's bytes, nor less than the largest
            // message a server delivers (a message over a pull's limit would never come).
            .max_bytes_per_batch((cfg.flush_bytes / 2).max(MIN_PULL_BYTES))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot pull from JetStream; retrying in 1 s");
                tokio::select! {
                    _ = &mut shutdown => break 'consume,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'consume,
                }
            }
        };
        loop {
            let full =
                worker.pending.len() >= cfg.flush_events || worker.pending_bytes >= cfg.flush_bytes;
            let can_store = in_flight.len() < STORES_IN_FLIGHT;
            tokio::select! {
                biased;
                _ = &mut shutdown => break 'consume,
                stored = async { in_flight.front_mut().expect("guarded").await }, if !in_flight.is_empty() => {
                    in_flight.pop_front();
                    worker.finish(stored??).await;
                    if full || worker.due(cfg.flush_interval) {
                        in_flight.extend(worker.start_flush());
                    }
                }
                _ = tick.tick() => {
                    if can_store && worker.due(cfg.flush_interval) {
                        in_flight.extend(worker.start_flush());
                    }
                }
                next = messages.next(), if !full => match next {
                    Some(Ok(message)) => {
                        worker.push(message);
                        if can_store
                            && (worker.pending.len() >= cfg.flush_events
                                || worker.pending_bytes >= cfg.flush_bytes)
                        {
                            in_flight.extend(worker.start_flush());
                        }
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "pull interrupted; subscribing again");
                        break;
                    }
                    None => break,
                },
            }
        }
        status.ready.store(false, Ordering::Relaxed);
        tokio::select! {
            _ = &mut shutdown => break 'consume,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        status.ready.store(true, Ordering::Relaxed);
    }
    compactor.abort();
    worker.stopping.store(true, Ordering::Relaxed);
    info!(pending = worker.pending.len(), "shutting down: flushing");
    for stored in in_flight {
        worker.finish(stored.await??).await;
    }
    if let Some(stored) = worker.start_flush() {
        worker.finish(stored.await??).await;
    }
    status.ready.store(false, Ordering::Relaxed);
    Ok(())
}

/// Compacts the lake's partitions in the background, as long as the worker runs: no separate
/// process to remember. Each pass is atomic per partition (see `parwatch_lake::Lake::compact`).
async fn compact_forever(
    lake: Lake,
    policy: CompactionPolicy,
    every: Duration,
    status: Arc<IngestStatus>,
) {
    loop {
        tokio::time::sleep(every).await;
        let lake = lake.clone();
        match tokio::task::spawn_blocking(move || lake.compact(&policy)).await {
            Ok(Ok(stats)) => {
                status
                    .compactions
                    .fetch_add(stats.partitions as u64, Ordering::Relaxed);
                status
                    .files_compacted
                    .fetch_add(stats.files_merged as u64, Ordering::Relaxed);
                if stats.partitions > 0 {
                    debug!(?stats, "compaction pass");
                }
            }
            Ok(Err(e)) => warn!(error = %e, "compaction failed; will try again"),
            Err(e) => warn!(error = %e, "compaction task failed"),
        }
    }
}

/// The highest stream sequence below which every message is acknowledged or gone.
async fn ack_floor(stream: &jetstream::stream::Stream, consumer: &PullConsumer) -> Result<u64> {
    let consumer_info = consumer
        .get_info()
        .await
        .map_err(|e| Error::nats("consumer info")(&e))?;
    let stream_info = stream
        .get_info()
        .await
        .map_err(|e| Error::nats("stream info")(&e))?;
    // Messages purged from the head of the stream will never be delivered.
    let first_present = stream_info.state.first_sequence.saturating_sub(1);
    Ok(consumer_info.ack_floor.stream_sequence.max(first_present))
}

/// Fault and measurement hooks of the tests and the ingest benchmark (`--failpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// `crash-after-write`: abort the process after a lake write, before its ack.
    CrashAfterWrite,
    /// `discard-after-receive`, `-validate`, `-layout`: acknowledge each batch after that step
    /// without storing it, to measure what the steps before it cost. Loses every event.
    DiscardAfter(Step),
}

/// A step of storing a batch, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Received from JetStream.
    Receive,
    /// Validated and deduplicated.
    Validate,
    /// Laid out as Arrow batches, one per file.
    Layout,
}

impl std::str::FromStr for Failpoint {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Ok(match text {
            "crash-after-write" => Failpoint::CrashAfterWrite,
            "discard-after-receive" => Failpoint::DiscardAfter(Step::Receive),
            "discard-after-validate" => Failpoint::DiscardAfter(Step::Validate),
            "discard-after-layout" => Failpoint::DiscardAfter(Step::Layout),
            _ => {
                return Err(format!(
                    "unknown failpoint {text:?}: crash-after-write, discard-after-receive, \
                     discard-after-validate or discard-after-layout"
                ));
            }
        })
    }
}

/// Batches stored at once: one is validated while the one before it is written.
const STORES_IN_FLIGHT: usize = 2;

/// Least bytes a pull asks for: above the largest message a nats-server takes (1 MiB).
const MIN_PULL_BYTES: usize = 2 << 20;

/// What a batch's events are checked against besides the contract.
struct Rules {
    publishers: Publishers,
    occurred_after: chrono::DateTime<Utc>,
    occurred_ahead: chrono::Duration,
}

/// A received message, reduced to what storing and acknowledging it needs.
struct Pending {
    subject: Subject,
    /// The body; of an oversized one, only its first [`OVERSIZED_PREFIX_BYTES`].
    payload: Bytes,
    /// The size of an oversized body, whose rest was dropped on receipt.
    oversized: Option<usize>,
    reply: Option<Subject>,
    stream_seq: u64,
    received_at: chrono::DateTime<Utc>,
}

struct Worker {
    client: async_nats::Client,
    lake: Lake,
    status: Arc<IngestStatus>,
    index: Arc<Mutex<DedupIndex>>,
    pending: Vec<Pending>,
    /// Bytes of the pending messages' bodies.
    pending_bytes: usize,
    /// Messages a batch holds at most (the flush size).
    capacity: usize,
    rules: Arc<Rules>,
    oldest: Option<Instant>,
    frontier: AckFrontier,
    failpoint: Option<Failpoint>,
    /// Set on shutdown: a failing write then gives up instead of retrying for ever.
    stopping: Arc<AtomicBool>,
    /// The stream, to ask whether a message the frontier waits for still exists.
    stream: jetstream::stream::Stream,
    /// The consumer's ack wait.
    ack_wait: Duration,
}

impl Worker {
    fn push(&mut self, message: jetstream::Message) {
        let (stream_seq, received_at) = match message.info() {
            Ok(info) => {
                self.status
                    .consumer_lag
                    .store(info.pending, Ordering::Relaxed);
                (info.stream_sequence, info.published)
            }
            Err(e) => {
                // Not a JetStream delivery (no ack subject): nothing to store or acknowledge.
                warn!(error = %e, subject = %message.subject, "ignoring message without JetStream metadata");
                return;
            }
        };
        let message = message.message;
        let (payload, oversized) = if message.payload.len() > parwatch_proto::MAX_EVENT_BYTES {
            // A copy of the prefix: a slice would keep the whole body alive.
            let prefix = Bytes::copy_from_slice(&message.payload[..OVERSIZED_PREFIX_BYTES]);
            (prefix, Some(message.payload.len()))
        } else {
            (message.payload, None)
        };
        self.pending_bytes += payload.len() + message.subject.len();
        self.pending.push(Pending {
            subject: message.subject,
            payload,
            oversized,
            reply: message.reply,
            stream_seq,
            received_at,
        });
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Whether the oldest pending message has waited long enough.
    fn due(&self, interval: Duration) -> bool {
        self.oldest.is_some_and(|t| t.elapsed() >= interval)
    }

    /// Starts storing every pending message in the background.
    fn start_flush(&mut self) -> Option<JoinHandle<Result<Stored>>> {
        if self.pending.is_empty() {
            return None;
        }
        let pending = std::mem::replace(&mut self.pending, Vec::with_capacity(self.capacity));
        self.pending_bytes = 0;
        self.oldest = None;
        let (lake, index) = (self.lake.clone(), Arc::clone(&self.index));
        let (status, failpoint) = (Arc::clone(&self.status), self.failpoint);
        let (stopping, rules) = (Arc::clone(&self.stopping), Arc::clone(&self.rules));
        Some(tokio::spawn(store(
            pending, lake, index, rules, status, failpoint, stopping,
        )))
    }

    /// After a batch is stored: acknowledges as far as every earlier message is stored too.
    async fn finish(&mut self, stored: Stored) {
        for run in stored.acks {
            self.frontier.stored(run);
        }
        if self.frontier.blocked_longer_than(self.ack_wait * 2) {
            self.skip_missing().await;
        }
        let advanced = self.frontier.advance();
        // A redelivery of an already acknowledged range carries a fresh delivery sequence; the
        // broker only honours a cumulative ack newer than its delivery floor, so ack with it.
        let reack = self.frontier.take_reack();
        for (seq, reply) in advanced.into_iter().chain(reack) {
            // AckPolicy::All: this one ack covers every message up to `seq`, all of them stored.
            match self
                .client
                .request(reply, Bytes::from_static(b"+ACK"))
                .await
            {
                Ok(_) => debug!(seq, "acknowledged"),
                Err(e) => {
                    warn!(error = %e, seq, "ack not confirmed; the broker will redeliver and the index skip")
                }
            }
        }
        if self.frontier.waiting() {
            debug!(
                floor = self.frontier.floor,
                "ack held back until earlier messages are redelivered"
            );
        }
    }

    /// The frontier has waited for the message after its floor for long: if the stream no
    /// longer holds it (deleted, expired), it will never come; step over it.
    async fn skip_missing(&mut self) {
        let missing = self.frontier.floor + 1;
        // Asked through the stream's state (first sequence, deleted ones), not by reading the
        // message: reading stored messages is the administrator's right alone.
        let info = self.stream.info_builder().with_deleted(true).fetch().await;
        let gone = info.is_ok_and(|i| {
            let state = &i.info.state;
            missing < state.first_sequence
                || state.deleted.as_ref().is_some_and(|d| d.contains(&missing))
        });
        if gone {
            warn!(
                seq = missing,
                "message gone from the stream; acknowledging past it"
            );
            self.frontier.skip(missing);
        } else {
            // Still there (or the state unknown): it will be redelivered.
            self.frontier.waited();
        }
    }
}

/// A batch in the lake, ready to be acknowledged.
struct Stored {
    /// The batch's messages as runs of consecutive stream sequences.
    acks: Vec<AckRun>,
}

/// Consecutive stream sequences `lo..=hi`, with the ack subject of the last one.
#[derive(Debug)]
struct AckRun {
    lo: u64,
    hi: u64,
    reply: Option<Subject>,
}

/// The messages as runs of consecutive stream sequences, in the order received.
fn ack_runs(pending: Vec<Pending>) -> Vec<AckRun> {
    let mut runs: Vec<AckRun> = Vec::new();
    for p in pending {
        match runs.last_mut() {
            Some(run) if run.hi.checked_add(1) == Some(p.stream_seq) => {
                run.hi = p.stream_seq;
                run.reply = p.reply;
            }
            _ => runs.push(AckRun {
                lo: p.stream_seq,
                hi: p.stream_seq,
                reply: p.reply,
            }),
        }
    }
    runs
}

/// Validates and deduplicates a batch, then stores it, retrying the lake until it succeeds.
async fn store(
    pending: Vec<Pending>,
    lake: Lake,
    index: Arc<Mutex<DedupIndex>>,
    rules: Arc<Rules>,
    status: Arc<IngestStatus>,
    failpoint: Option<Failpoint>,
    stopping: Arc<AtomicBool>,
) -> Result<Stored> {
    let started = Instant::now();
    let discard = match failpoint {
        Some(Failpoint::DiscardAfter(step)) if cfg!(feature = "failpoints") => Some(step),
        _ => None,
    };
    if discard == Some(Step::Receive) {
        return Ok(Stored {
            acks: ack_runs(pending),
        });
    }
    // Validating, laying out the files and writing them are CPU work: off the async threads, and
    // on one thread, which then frees what it allocated (the allocator reuses memory best that
    // way). The batch's keys enter the index first, so a redelivery in a later batch is skipped
    // even while this one is still being written.
    let first = lake.clone();
    let (acks, (mut batch, mut progress, mut result)) = tokio::task::spawn_blocking(move || {
        let lay_out = discard != Some(Step::Validate);
        let batch = classify(
            &pending,
            &rules,
            &mut index.lock().expect("index lock"),
            lay_out,
        );
        let acks = ack_runs(pending);
        batch.map(|batch| match discard {
            Some(_) => (acks, (batch, WriteProgress::default(), Ok(()))),
            None => (acks, write_batch(&first, batch, WriteProgress::default())),
        })
    })
    .await??;
    if discard.is_some() {
        return Ok(Stored { acks });
    }
    let mut backoff = Duration::from_millis(100);
    while let Err(e) = result {
        status.write_failures.fetch_add(1, Ordering::Relaxed);
        if stopping.load(Ordering::Relaxed) {
            // Shutting down: give up; nothing of this batch is acknowledged.
            return Err(e.into());
        }
        error!(error = %e, retry_in = ?backoff, "lake write failed; nothing acknowledged, retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        let lake = lake.clone();
        // Partitions already durable are not written again.
        (batch, progress, result) =
            tokio::task::spawn_blocking(move || write_batch(&lake, batch, progress)).await?;
    }
    if cfg!(feature = "failpoints") && failpoint == Some(Failpoint::CrashAfterWrite) {
        error!("failpoint crash-after-write: aborting before the ack");
        std::process::abort();
    }
    let (events, rejected) = (batch.events, batch.faults.len());
    status
        .events_stored
        .fetch_add(events as u64, Ordering::Relaxed);
    status.count_rejections(batch.faults.into_iter());
    status.flush_latency.observe(started.elapsed());
    status
        .duplicates
        .fetch_add(batch.duplicates, Ordering::Relaxed);
    status.flushes.fetch_add(1, Ordering::Relaxed);
    info!(
        events,
        rejected,
        duplicates = batch.duplicates,
        files = progress.files,
        bytes = progress.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "batch persisted"
    );
    Ok(Stored { acks })
}

/// Writes the batch's files that `progress` says are not written yet; once all are, frees them.
fn write_batch(
    lake: &Lake,
    mut batch: Classified,
    mut progress: WriteProgress,
) -> (Classified, WriteProgress, parwatch_lake::Result<()>) {
    let result = lake.write_prepared(&batch.prepared, &mut progress);
    if result.is_ok() {
        batch.prepared = Prepared::default();
    }
    (batch, progress, result)
}

/// One batch of messages validated, deduplicated and laid out as files.
struct Classified {
    prepared: Prepared,
    /// New events.
    events: usize,
    /// Fault codes of the new rejections.
    faults: Vec<&'static str>,
    duplicates: u64,
}

/// Validates each message; events and rejections not yet in the index go into the commit and
/// into the index (so a redelivery, in this batch or a later one, is skipped). Then lays the
/// commit out as files, unless `lay_out` is false (a benchmark's failpoint).
fn classify(
    pending: &[Pending],
    rules: &Rules,
    index: &mut DedupIndex,
    lay_out: bool,
) -> parwatch_lake::Result<Classified> {
    let mut commit = Commit {
        events: Vec::with_capacity(pending.len()),
        rejected: Vec::new(),
    };
    let mut duplicates = 0;
    let window = TimeWindow {
        earliest: rules.occurred_after,
        latest: Utc::now()
            .checked_add_signed(rules.occurred_ahead)
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC),
    };
    for p in pending {
        let checked = match p.oversized {
            Some(size) => Err(Rejection::new(
                "body",
                Fault::TooLarge,
                format!(
                    "{size} bytes exceeds the limit of {} (its first {} bytes are kept)",
                    parwatch_proto::MAX_EVENT_BYTES,
                    p.payload.len()
                ),
            )),
            None => rules
                .publishers
                .publisher_of(&p.subject)
                .and_then(|(publisher, public)| {
                    let event = validate_within(&public, &p.payload, &window)?;
                    authorize(publisher, &event)?;
                    Ok(event)
                }),
        };
        match checked {
            Ok(event) => {
                if !index.insert_event(DedupIndex::key(&event.event_id)) {
                    duplicates += 1;
                    continue;
                }
                commit.events.push(StoredEvent {
                    event,
                    stream_seq: p.stream_seq,
                });
            }
            Err(rejection) => {
                if !index.insert_rejected(p.stream_seq) {
                    duplicates += 1;
                    continue;
                }
                commit.rejected.push(RejectedMessage {
                    subject: p.subject.to_string(),
                    raw: p.payload.to_vec(),
                    reason: rejection.to_string(),
                    fault: rejection.fault.code(),
                    received_at: p.received_at,
                    stream_seq: p.stream_seq,
                });
            }
        }
    }
    Ok(Classified {
        prepared: if lay_out {
            commit.prepare(Utc::now())?
        } else {
            Prepared::default()
        },
        events: commit.events.len(),
        faults: commit.rejected.iter().map(|r| r.fault).collect(),
        duplicates,
    })
}

/// Tracks which stream sequences are stored, so a cumulative ack never covers a message that
/// is not: after a crash, messages delivered to the dead process come back only after the ack
/// wait, possibly behind newer ones, and acking the newer ones first would lose them.
struct AckFrontier {
    /// Every sequence at or below this is stored (or acknowledged before we started).
    floor: u64,
    /// Stored runs reaching above the floor, by first sequence.
    above: BTreeMap<u64, AckRun>,
    /// The newest redelivery at or below the floor, to acknowledge again.
    reack: Option<(u64, Subject)>,
    /// Since when stored messages wait for an earlier one.
    blocked_since: Option<Instant>,
}

impl AckFrontier {
    fn new(floor: u64) -> Self {
        Self {
            floor,
            above: BTreeMap::new(),
            reack: None,
            blocked_since: None,
        }
    }

    fn stored(&mut self, run: AckRun) {
        if run.hi > self.floor {
            // The same run delivered again (a redelivery) replaces it: its ack subject is newer.
            match self.above.get(&run.lo) {
                Some(known) if known.hi > run.hi => {}
                _ => {
                    self.above.insert(run.lo, run);
                }
            }
        } else if let Some(reply) = run.reply
            && self.reack.as_ref().is_none_or(|(s, _)| run.hi >= *s)
        {
            self.reack = Some((run.hi, reply));
        }
    }

    fn take_reack(&mut self) -> Option<(u64, Subject)> {
        self.reack.take()
    }

    /// Whether stored messages have waited for an earlier one for longer than `limit`.
    fn blocked_longer_than(&self, limit: Duration) -> bool {
        self.blocked_since.is_some_and(|t| t.elapsed() > limit)
    }

    /// Restarts the wait (the missing message still exists).
    fn waited(&mut self) {
        self.blocked_since = Some(Instant::now());
    }

    /// Treats `seq`, which the stream no longer holds, as done.
    fn skip(&mut self, seq: u64) {
        self.above.entry(seq).or_insert(AckRun {
            lo: seq,
            hi: seq,
            reply: None,
        });
    }

    /// Raises the floor over the stored runs that join it; returns the new floor and its ack
    /// subject when it moved.
    fn advance(&mut self) -> Option<(u64, Subject)> {
        let mut last = None;
        while let Some(entry) = self.above.first_entry() {
            if *entry.key() > self.floor + 1 {
                break;
            }
            let run = entry.remove();
            if run.hi > self.floor {
                self.floor = run.hi;
                if let Some(reply) = run.reply {
                    last = Some((run.hi, reply));
                }
            }
        }
        self.blocked_since = match (self.above.is_empty(), self.blocked_since) {
            (true, _) => None,
            (false, None) => Some(Instant::now()),
            (false, since) => since,
        };
        last
    }

    /// Whether stored messages wait for an earlier one.
    fn waiting(&self) -> bool {
        !self.above.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lo: u64, hi: u64) -> AckRun {
        AckRun {
            lo,
            hi,
            reply: Some(Subject::from(format!("ack.{hi}"))),
        }
    }

    fn pending(seqs: &[u64]) -> Vec<Pending> {
        seqs.iter()
            .map(|&seq| Pending {
                subject: Subject::from("par.events.v1.dossier.late"),
                payload: Bytes::new(),
                oversized: None,
                reply: Some(Subject::from(format!("ack.{seq}"))),
                stream_seq: seq,
                received_at: Utc::now(),
            })
            .collect()
    }

    #[test]
    fn runs_join_consecutive_sequences_and_keep_the_last_ack_subject() {
        let runs = ack_runs(pending(&[3, 4, 5, 9, 10, 2]));
        let spans: Vec<_> = runs
            .iter()
            .map(|r| (r.lo, r.hi, r.reply.as_ref().unwrap().to_string()))
            .collect();
        assert_eq!(
            spans,
            [
                (3, 5, "ack.5".to_owned()),
                (9, 10, "ack.10".to_owned()),
                (2, 2, "ack.2".to_owned())
            ]
        );
    }

    #[test]
    fn frontier_never_acks_past_a_gap() {
        let mut f = AckFrontier::new(10);
        f.stored(run(14, 16));
        assert_eq!(f.advance(), None, "11..13 are not stored yet");
        f.stored(run(11, 12));
        assert_eq!(f.advance().map(|(s, _)| s), Some(12));
        f.stored(run(13, 13));
        f.stored(run(9, 9));
        assert_eq!(f.advance().map(|(s, _)| s), Some(16));
        assert!(!f.waiting());
        // Sequence 9 came again (a redelivery): its fresh ack subject is used once.
        assert_eq!(f.take_reack().map(|(s, _)| s), Some(9));
        assert_eq!(f.take_reack(), None);
    }

    #[test]
    fn redelivered_and_overlapping_runs_ack_once_with_the_newest_subject() {
        let mut f = AckFrontier::new(10);
        f.stored(run(12, 14));
        f.stored(AckRun {
            reply: Some(Subject::from("ack.14.again")),
            ..run(12, 14)
        });
        f.stored(run(13, 15));
        assert_eq!(f.advance(), None, "11 is not stored yet");
        f.stored(run(11, 11));
        assert_eq!(
            f.advance().map(|(s, r)| (s, r.to_string())),
            Some((15, "ack.15".to_owned()))
        );
        assert!(!f.waiting());
        f.stored(run(11, 12));
        f.stored(AckRun {
            reply: Some(Subject::from("ack.12.again")),
            ..run(11, 12)
        });
        assert_eq!(f.advance(), None, "nothing new above the floor");
        assert_eq!(
            f.take_reack().map(|(s, r)| (s, r.to_string())),
            Some((12, "ack.12.again".to_owned()))
        );
    }

    #[test]
    fn a_message_gone_from_the_stream_is_stepped_over() {
        let mut f = AckFrontier::new(0);
        f.stored(run(2, 2));
        assert_eq!(f.advance(), None);
        assert!(f.blocked_since.is_some());
        f.skip(1);
        assert_eq!(f.advance().map(|(s, _)| s), Some(2));
        assert!(!f.blocked_longer_than(Duration::ZERO));
    }

    /// A build without the feature (a release binary) has no failpoint to turn on.
    #[cfg(not(feature = "failpoints"))]
    #[tokio::test]
    async fn without_the_feature_a_failpoint_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let cfg = IngestConfig {
            failpoint: Some(Failpoint::DiscardAfter(Step::Receive)),
            ..IngestConfig::new("nats://127.0.0.1:1")
        };
        let err = super::run(cfg, lake, Arc::default(), std::future::pending())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("compiled out"), "{err}");
    }

    #[test]
    fn failpoints_parse_by_name_and_an_unknown_one_is_refused() {
        assert_eq!("crash-after-write".parse(), Ok(Failpoint::CrashAfterWrite));
        assert_eq!(
            "discard-after-validate".parse(),
            Ok(Failpoint::DiscardAfter(Step::Validate))
        );
        let err = "discard-after-write".parse::<Failpoint>().unwrap_err();
        assert!(err.contains("discard-after-layout"), "{err}");
    }
}
