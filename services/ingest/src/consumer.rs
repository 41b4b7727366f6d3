//! The worker's loop ([`run`]): consume from JetStream → batch (`batch.rs`) → store in the
//! background (`store.rs`: validate, write durably) → acknowledge in stream order (`ack.rs`).
//! Sets up the stream, consumer and lake at start, compacts in the background
//! (`compactor.rs`), and flushes what it holds on shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::PullConsumer, consumer::pull};
use futures::StreamExt;
use parwatch_lake::{DedupIndex, Lake};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::ack::{Acker, ack_floor};
use crate::batch::Batcher;
use crate::broker::{connect_with, ensure_consumer, ensure_stream_retrying};
use crate::classify::Rules;
use crate::compactor::compact_forever;
use crate::config::IngestConfig;
use crate::failpoint::Failpoint;
use crate::publishers::INGEST_INBOX_PREFIX;
use crate::status::IngestStatus;
use crate::store::{Stored, store};
use crate::{Error, Result};

/// Batches stored at once: one is validated while the one before it is written.
const STORES_IN_FLIGHT: usize = 2;

/// Least bytes a pull asks for: above the largest message a nats-server takes (1 MiB).
const MIN_PULL_BYTES: usize = 2 << 20;

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
    tokio::pin!(shutdown);
    // Starting retries while the broker does not answer: a shutdown meanwhile ends it.
    let (client, stream, consumer, floor, index) = tokio::select! {
        started = start(&cfg, &lake) => started?,
        () = &mut shutdown => {
            info!("ingest worker stopped before it started");
            return Ok(());
        }
    };
    info!(
        stream = %cfg.stream,
        consumer = %cfg.consumer,
        lake = %lake.location(),
        lake_position = ?lake.stats(parwatch_lake::EVENTS_TABLE).position,
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
        lake,
        status: Arc::clone(&status),
        index: Arc::new(Mutex::new(index)),
        batch: Batcher::new(cfg.flush_events, cfg.flush_bytes),
        rules: Arc::new(Rules {
            publishers: cfg.publishers.clone(),
            occurred_after: cfg.occurred_after,
            occurred_ahead: cfg.occurred_ahead,
        }),
        failpoint: cfg.failpoint,
        stopping: Arc::default(),
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
            let full = worker.batch.is_full();
            let can_store = in_flight.len() < STORES_IN_FLIGHT;
            tokio::select! {
                biased;
                _ = &mut shutdown => break 'consume,
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
                        worker.batch.push(message, &status);
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
        status.ready.store(false, Ordering::Relaxed);
        tokio::select! {
            _ = &mut shutdown => break 'consume,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        status.ready.store(true, Ordering::Relaxed);
    }
    compactor.abort();
    worker.stopping.store(true, Ordering::Relaxed);
    info!(pending = worker.batch.len(), "shutting down: flushing");
    for stored in in_flight {
        worker.acks.acknowledge(stored.await??.acks).await;
    }
    if let Some(stored) = worker.start_flush() {
        worker.acks.acknowledge(stored.await??.acks).await;
    }
    status.ready.store(false, Ordering::Relaxed);
    Ok(())
}

/// The worker's state: the batch being received, what stores share, and the acks.
struct Worker {
    lake: Lake,
    status: Arc<IngestStatus>,
    index: Arc<Mutex<DedupIndex>>,
    batch: Batcher,
    rules: Arc<Rules>,
    failpoint: Option<Failpoint>,
    /// Set on shutdown: a failing write then gives up instead of retrying for ever.
    stopping: Arc<AtomicBool>,
    acks: Acker,
}

impl Worker {
    /// Starts storing every pending message in the background.
    fn start_flush(&mut self) -> Option<JoinHandle<Result<Stored>>> {
        let pending = self.batch.take()?;
        let (lake, index) = (self.lake.clone(), Arc::clone(&self.index));
        let (status, failpoint) = (Arc::clone(&self.status), self.failpoint);
        let (stopping, rules) = (Arc::clone(&self.stopping), Arc::clone(&self.rules));
        Some(tokio::spawn(store(
            pending, lake, index, rules, status, failpoint, stopping,
        )))
    }
}

/// Connects, finds or creates the stream and the worker's consumer (retrying as
/// `cfg.start_retry` says), reads the acknowledged floor and loads the dedupe index.
async fn start(
    cfg: &IngestConfig,
    lake: &Lake,
) -> Result<(
    async_nats::Client,
    jetstream::stream::Stream,
    PullConsumer,
    u64,
    DedupIndex,
)> {
    let client = connect_with(
        &cfg.nats_url,
        "parwatch-ingest",
        cfg.identity.as_ref(),
        Some(INGEST_INBOX_PREFIX),
        &cfg.start_retry,
    )
    .await?;
    let js = jetstream::new(client.clone());
    let stream =
        ensure_stream_retrying(&js, &cfg.stream, &cfg.stream_limits, &cfg.start_retry).await?;
    let config = pull::Config {
        durable_name: Some(cfg.consumer.clone()),
        ack_policy: AckPolicy::All,
        ack_wait: cfg.ack_wait,
        max_ack_pending: cfg.max_ack_pending,
        ..Default::default()
    };
    let consumer = ensure_consumer(&stream, config, &cfg.start_retry).await?;
    let floor = ack_floor(&stream, &consumer).await?;
    let index = {
        let lake = lake.clone();
        tokio::task::spawn_blocking(move || lake.load_index()).await??
    };
    Ok((client, stream, consumer, floor, index))
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
