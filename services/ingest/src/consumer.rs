//! The worker's loop ([`run`]): consume from JetStream → batch (`batch.rs`) → store in the
//! background (`store.rs`: validate, write durably) → acknowledge in stream order (`ack.rs`).
//! Sets up the stream, consumer and lake at start, compacts in the background
//! (`compactor.rs`), and flushes what it holds on shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures::StreamExt;
use parwatch_lake::{DedupIndex, Lake, Writer};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::ack::{Acker, ack_floor};
use crate::batch::Batcher;
use crate::broker::{Backoff, connect_with, ensure_consumer, ensure_stream_retrying};
use crate::classify::Rules;
use crate::compactor::compact_forever;
use crate::config::IngestConfig;
use crate::failpoint::Failpoint;
use crate::publishers::INGEST_INBOX_PREFIX;
use crate::status::{IngestStatus, PartitionStatus};
use crate::store::{Stored, Storer, store};
use crate::{Error, Result};

/// Batches stored at once: one is validated while the one before it is written.
const STORES_IN_FLIGHT: usize = 2;

/// Least bytes a pull asks for: above the largest message a nats-server takes (1 MiB).
const MIN_PULL_BYTES: usize = 2 << 20;

/// Runs the worker until `shutdown` resolves, then flushes and acknowledges what it holds. With
/// one partition it consumes `PAR_EVENTS` as its sole writer; with several it holds the
/// partitions it can lease (`leases.rs`), each consumed like a stream of its own.
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
    tokio::pin!(shutdown);
    // Starting retries while the broker does not answer: a shutdown meanwhile ends it.
    let (client, index) = tokio::select! {
        started = start(&cfg, &lake) => started?,
        () = &mut shutdown => {
            info!("ingest worker stopped before it started");
            return Ok(());
        }
    };
    info!(
        lake = %lake.location(),
        partitions = cfg.partitions.count(),
        stored_events = index.event_count(),
        publishers = cfg.publishers.list.len(),
        "ingest worker started"
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
    let compactor = tokio::spawn(compact_forever(
        lake.clone(),
        cfg.compaction,
        cfg.compact_every,
        cfg.partitions.split(),
        Arc::clone(&status),
    ));
    let shared = Shared {
        cfg: Arc::new(cfg),
        client,
        lake,
        index: Arc::new(Mutex::new(index)),
        status,
    };
    let result = if shared.cfg.partitions.split() {
        crate::leases::hold(shared, shutdown).await
    } else {
        let stream = shared.cfg.partitions.stream(0);
        consume(shared, stream, Writer::Sole, None, shutdown).await
    };
    compactor.abort();
    result
}

/// What every partition a worker holds shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) cfg: Arc<IngestConfig>,
    pub(crate) client: async_nats::Client,
    pub(crate) lake: Lake,
    /// One index for all: an event id is stored once across partitions.
    pub(crate) index: Arc<Mutex<DedupIndex>>,
    pub(crate) status: Arc<IngestStatus>,
}

/// Consumes `stream` as `writer` until `stop` resolves, then flushes and acknowledges what it
/// holds. The sole writer reports the worker ready while it consumes; a partition's writer
/// reports in `held`.
pub(crate) async fn consume(
    shared: Shared,
    stream_name: String,
    writer: Writer,
    held: Option<Arc<PartitionStatus>>,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let Shared {
        cfg,
        client,
        lake,
        index,
        status,
    } = shared;
    tokio::pin!(stop);
    let (stream, consumer, floor) = tokio::select! {
        found = subscribe(&cfg, &client, &stream_name) => found?,
        () = &mut stop => return Ok(()),
    };
    info!(
        stream = %stream_name,
        consumer = %cfg.consumer,
        ?writer,
        ack_floor = floor,
        "consuming"
    );
    let sole = writer == Writer::Sole;
    let ready = |on: bool| {
        if sole {
            status.ready.store(on, Ordering::Relaxed);
        }
    };
    ready(true);
    let mut worker = Worker {
        batch: Batcher::new(cfg.flush_events, cfg.flush_bytes),
        storer: Arc::new(Storer {
            lake,
            writer,
            index,
            rules: Rules {
                publishers: cfg.publishers.clone(),
                occurred_after: cfg.occurred_after,
                occurred_ahead: cfg.occurred_ahead,
            },
            status: Arc::clone(&status),
            held: held.clone(),
            failpoint: cfg.failpoint,
            stopping: AtomicBool::new(false),
        }),
        acks: Acker::new(client, stream, floor, cfg.ack_wait),
    };
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
            // A pull outlives the loop that made it (a partition freed or lost): until it
            // expires, the broker may hand it messages nobody reads, redelivered only after the
            // ack wait. Short pulls bound that.
            .heartbeat(Duration::from_secs(4))
            .expires(Duration::from_secs(10))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot pull from JetStream; retrying in 1 s");
                tokio::select! {
                    _ = &mut stop => break 'consume,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'consume,
                }
            }
        };
        loop {
            let full = worker.batch.is_full();
            let can_store = in_flight.len() < STORES_IN_FLIGHT;
            tokio::select! {
                biased;
                _ = &mut stop => break 'consume,
                stored = async { in_flight.front_mut().expect("guarded").await }, if !in_flight.is_empty() => {
                    in_flight.pop_front();
                    worker.acks.acknowledge(stored??.acks).await;
                    if full || worker.batch.due(cfg.flush_interval) {
                        in_flight.extend(worker.start_flush());
                    }
                }
                _ = tick.tick() => {
                    if can_store && worker.batch.due(cfg.flush_interval) {
                        in_flight.extend(worker.start_flush());
                    }
                }
                next = messages.next(), if !full => match next {
                    Some(Ok(message)) => {
                        let lag = held.as_ref().map_or(&status.consumer_lag, |h| &h.lag);
                        worker.batch.push(message, lag);
                        if can_store && worker.batch.is_full() {
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
        ready(false);
        tokio::select! {
            _ = &mut stop => break 'consume,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        ready(true);
    }
    worker.storer.stopping.store(true, Ordering::Relaxed);
    info!(stream = %stream_name, pending = worker.batch.len(), "stopping: flushing");
    for stored in in_flight {
        worker.acks.acknowledge(stored.await??.acks).await;
    }
    if let Some(stored) = worker.start_flush() {
        worker.acks.acknowledge(stored.await??.acks).await;
    }
    ready(false);
    Ok(())
}

/// The worker's state: the batch being received, what stores share, and the acks.
struct Worker {
    batch: Batcher,
    storer: Arc<Storer>,
    acks: Acker,
}

impl Worker {
    /// Starts storing every pending message in the background.
    fn start_flush(&mut self) -> Option<JoinHandle<Result<Stored>>> {
        let pending = self.batch.take()?;
        Some(tokio::spawn(store(pending, Arc::clone(&self.storer))))
    }
}

/// Connects (retrying as `cfg.start_retry` says) and loads the dedupe index.
async fn start(cfg: &IngestConfig, lake: &Lake) -> Result<(async_nats::Client, DedupIndex)> {
    let client = connect_with(
        &cfg.nats_url,
        "parwatch-ingest",
        cfg.identity.as_ref(),
        Some(INGEST_INBOX_PREFIX),
        &cfg.start_retry,
    )
    .await?;
    let index = {
        let lake = lake.clone();
        tokio::task::spawn_blocking(move || lake.load_index()).await??
    };
    Ok((client, index))
}

/// Finds or creates `stream` and the worker's consumer on it (retrying as `cfg.start_retry`
/// says), and reads the acknowledged floor.
async fn subscribe(
    cfg: &IngestConfig,
    client: &async_nats::Client,
    stream: &str,
) -> Result<(jetstream::stream::Stream, PullConsumer, u64)> {
    let js = jetstream::new(client.clone());
    let limits = cfg.partitions.limits(&cfg.stream_limits);
    let stream = ensure_stream_retrying(&js, stream, &limits, &cfg.start_retry).await?;
    let config = pull::Config {
        durable_name: Some(cfg.consumer.clone()),
        ack_policy: AckPolicy::All,
        ack_wait: cfg.ack_wait,
        max_ack_pending: cfg.max_ack_pending,
        ..Default::default()
    };
    let consumer = ensure_consumer(&stream, config.clone(), &cfg.start_retry).await?;
    let (consumer, floor) = restart_at_floor(&stream, consumer, config, &cfg.start_retry).await?;
    Ok((stream, consumer, floor))
}

/// Messages the broker delivered to an earlier holder of the consumer and never saw
/// acknowledged (a worker that stopped with a pull under way, or crashed) come back only after
/// the ack wait; until then this worker may store later messages but not acknowledge them (an
/// ack covers every message before it), and it stalls once `max_ack_pending` are held. So a
/// consumer holding such messages is created again at its ack floor, and they come back at
/// once; those already stored are skipped, as any redelivery. Where the broker refuses the
/// deletion (accounts generated before the worker needed it), the ack wait is waited out.
/// Returns the consumer to pull from and its ack floor.
async fn restart_at_floor(
    stream: &jetstream::stream::Stream,
    consumer: PullConsumer,
    config: pull::Config,
    retry: &Backoff,
) -> Result<(PullConsumer, u64)> {
    let info = consumer
        .get_info()
        .await
        .map_err(|e| Error::nats("consumer info")(&e))?;
    let floor = ack_floor(stream, &info).await?;
    let (pending, name) = (info.num_ack_pending, info.name);
    if pending == 0 {
        return Ok((consumer, floor));
    }
    if let Err(e) = stream.delete_consumer(&name).await {
        warn!(
            consumer = %name,
            pending,
            error = %e,
            "cannot create the consumer again at its ack floor (the worker's NATS user may not \
             delete it: regenerate the accounts with `parwatch publisher nats-config`); messages \
             another worker held come back after the ack wait"
        );
        return Ok((consumer, floor));
    }
    info!(consumer = %name, pending, floor, "consumer created again at its ack floor: what an earlier worker held is delivered now");
    let config = pull::Config {
        deliver_policy: DeliverPolicy::ByStartSequence {
            start_sequence: floor + 1,
        },
        ..config
    };
    Ok((ensure_consumer(stream, config, retry).await?, floor))
}

/// A build without the feature (a release binary) has no failpoint to turn on.
#[cfg(all(test, not(feature = "failpoints")))]
mod tests {
    use super::*;
    use crate::failpoint::Step;

    #[tokio::test]
    async fn without_the_feature_a_failpoint_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let location = parwatch_lake::LakeLocation::local(dir.path()).unwrap();
        let lake = Lake::open(&location).unwrap();
        let cfg = IngestConfig {
            failpoint: Some(Failpoint::DiscardAfter(Step::Receive)),
            ..IngestConfig::new("nats://127.0.0.1:1")
        };
        let err = run(cfg, lake, Arc::default(), std::future::pending())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("compiled out"), "{err}");
    }
}
