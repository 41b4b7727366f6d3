//! Partitions held under leases, so that several workers share a split stream with one writer
//! per partition at a time, and a dead worker's partitions pass to the others.
//!
//! A lease is a key `p<k>` of the NATS key-value bucket `PARWATCH_LEASES`, whose entries
//! expire `lease_ttl` after they are written. A worker takes a free partition by creating its
//! key (only one creator wins), renews it every third of the TTL by updating it at the
//! revision it holds, and gives it up when a renewal fails. The revision of the creation is
//! the holder's epoch: the worker commits its claim with it to the lake before it consumes
//! (`Lake::claim`), and every later commit carries it, so that a worker that lost the lease
//! while paused (a zombie) cannot commit again: the lake's log refuses it, however late it
//! wakes. The lease only decides who should write; the log decides who can.
//!
//! Workers also hold a membership key (`m<slot>`, one of [`MEMBER_SLOTS`], renewed alike), so
//! each knows how many are alive and what its fair share is (the partitions divided by the
//! workers, rounded up). Each tick a worker below its share takes one free partition, and one
//! above it (a worker joined) frees one after flushing it: workers share the partitions evenly,
//! and one left alone takes them all.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use parwatch_lake::Writer;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::consumer::{Shared, consume};
use crate::{Error, Result};

/// The key-value bucket of the leases.
pub(crate) const BUCKET: &str = "PARWATCH_LEASES";

/// Most workers counted in the fair share (membership keys `m0` … `m15`); more run, but the
/// extra ones only take partitions the others leave free.
pub(crate) const MEMBER_SLOTS: u32 = 16;

/// A partition this worker holds.
struct Held {
    /// The revision of the lease's last write.
    revision: u64,
    /// Tells the partition's consumer to flush and stop.
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

/// Holds what partitions it can until `shutdown` resolves; then flushes them and frees their
/// leases for the other workers.
pub(crate) async fn hold(shared: Shared, shutdown: impl Future<Output = ()>) -> Result<()> {
    tokio::pin!(shutdown);
    let ttl = shared.cfg.lease_ttl;
    let js = jetstream::new(shared.client.clone());
    let replicas = shared.cfg.stream_limits.replicas;
    // Retried as the start is (a NATS cluster that just restarted elects its leaders first).
    let retried = async {
        let mut attempts = shared.cfg.start_retry.attempts();
        loop {
            match bucket(&js, ttl, replicas).await {
                Ok(bucket) => return Ok(bucket),
                Err(e) => match attempts.next_delay() {
                    Some(delay) => {
                        warn!(error = %e, retry_in = ?delay, "the leases' bucket is not reachable");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(e),
                },
            }
        }
    };
    let leases = tokio::select! {
        bucket = retried => bucket?,
        () = &mut shutdown => return Ok(()),
    };
    let me = Bytes::from(worker_name());
    shared.status.ready.store(true, Ordering::Relaxed);
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    let mut member: Option<(String, u64)> = None;
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        member = renew_membership(&leases, member, &me).await;
        let share = fair_share(&leases, shared.cfg.partitions.count()).await;
        // A partition whose consumer stopped (fenced, or failed) is given up.
        let ended: Vec<u32> = held
            .iter()
            .filter(|(_, h)| h.task.is_finished())
            .map(|(&k, _)| k)
            .collect();
        for k in ended {
            let h = held.remove(&k).expect("listed");
            match h.task.await {
                Ok(Ok(())) => info!(partition = k, "partition stopped"),
                Ok(Err(e)) => error!(partition = k, error = %e, "partition stopped; giving it up"),
                Err(e) => error!(partition = k, error = %e, "partition task failed; giving it up"),
            }
            release(&leases, k, h.revision).await;
        }
        // Renew; a lease that cannot be renewed is another worker's now (or soon).
        let mut lost = Vec::new();
        for (&k, h) in held.iter_mut() {
            match leases.update(key(k), me.clone(), h.revision).await {
                Ok(revision) => h.revision = revision,
                Err(e) => {
                    warn!(partition = k, error = %e, "lease lost; stopping the partition");
                    let _ = h.stop.send(true);
                    lost.push(k);
                }
            }
        }
        for k in lost {
            // Its consumer flushes what it holds: the log refuses it if another holds the
            // partition already.
            if let Some(h) = held.remove(&k) {
                let _ = h.task.await;
            }
        }
        // Above the fair share (a worker joined): free one partition, flushed, for it.
        if held.len() > share
            && let Some((k, h)) = held.pop_last()
        {
            let _ = h.stop.send(true);
            if let Ok(Ok(())) = h.task.await {
                release(&leases, k, h.revision).await;
                info!(partition = k, share, "lease freed for another worker");
            }
            continue;
        }
        // Below it: take one free partition.
        for k in 0..shared.cfg.partitions.count() {
            if held.len() >= share {
                break;
            }
            if held.contains_key(&k) {
                continue;
            }
            let Ok(revision) = leases.create(key(k), me.clone()).await else {
                continue;
            };
            info!(partition = k, epoch = revision, "lease taken");
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(partition(shared.clone(), k, revision, stopped));
            held.insert(
                k,
                Held {
                    revision,
                    stop,
                    task,
                },
            );
            break;
        }
    }
    shared.status.ready.store(false, Ordering::Relaxed);
    for h in held.values() {
        let _ = h.stop.send(true);
    }
    let mut result = Ok(());
    for (k, h) in held {
        match h.task.await? {
            Ok(()) => release(&leases, k, h.revision).await,
            Err(e) => result = Err(e),
        }
    }
    if let Some((slot, revision)) = member {
        let _ = leases.delete_expect_revision(slot, Some(revision)).await;
    }
    result
}

/// Renews this worker's membership key, or takes a free slot when it holds none (or lost it).
async fn renew_membership(
    leases: &kv::Store,
    member: Option<(String, u64)>,
    me: &Bytes,
) -> Option<(String, u64)> {
    if let Some((slot, revision)) = member
        && let Ok(revision) = leases.update(&slot, me.clone(), revision).await
    {
        return Some((slot, revision));
    }
    for slot in (0..MEMBER_SLOTS).map(|i| format!("m{i}")) {
        if let Ok(revision) = leases.create(&slot, me.clone()).await {
            return Some((slot, revision));
        }
    }
    None
}

/// The partitions each live worker should hold: all of them divided by the workers whose
/// membership keys are live, rounded up (all of them when none can be read).
async fn fair_share(leases: &kv::Store, partitions: u32) -> usize {
    let mut live = 0;
    for slot in (0..MEMBER_SLOTS).map(|i| format!("m{i}")) {
        if matches!(leases.get(&slot).await, Ok(Some(_))) {
            live += 1;
        }
    }
    (partitions as usize).div_ceil(live.max(1))
}

/// Claims partition `k` in the lake with `epoch`, brings the dedupe index up to date with what
/// other workers stored, then consumes the partition's stream until `stop`.
async fn partition(
    shared: Shared,
    k: u32,
    epoch: u64,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let writer = Writer::Partition { index: k, epoch };
    let held = shared.status.hold(k, epoch);
    let (lake, index) = (shared.lake.clone(), shared.index.clone());
    let position = tokio::task::spawn_blocking(move || {
        let position = lake.claim(writer)?;
        lake.update_index(&mut index.lock().expect("index lock"))?;
        Ok::<_, Error>(position)
    })
    .await??;
    info!(partition = k, epoch, ?position, "partition claimed");
    let stream = shared.cfg.partitions.stream(k);
    let stopped = async move {
        let _ = stop.wait_for(|&s| s).await;
    };
    let status = Arc::clone(&shared.status);
    let consumed = consume(shared, stream, writer, Some(held), stopped).await;
    status.release(k);
    consumed
}

/// Frees partition `k`'s lease at `revision` for the others at once (else it expires).
async fn release(leases: &kv::Store, k: u32, revision: u64) {
    if let Err(e) = leases.delete_expect_revision(key(k), Some(revision)).await {
        warn!(partition = k, error = %e, "lease not freed; it expires");
    }
}

/// The lease key of partition `k`.
fn key(k: u32) -> String {
    format!("p{k}")
}

/// This worker's name in the leases it holds: host and process.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
}

/// The leases' bucket, created when missing (entries expire `ttl` after their last write;
/// `replicas` copies in a cluster).
/// Its stream is made here with the settings of a key-value bucket: the client's own creation
/// first asks for the account's details, which it cannot read from a nats-server 2.9.
async fn bucket(js: &jetstream::Context, ttl: Duration, replicas: usize) -> Result<kv::Store> {
    let stream = jetstream::stream::Config {
        name: format!("KV_{BUCKET}"),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        num_replicas: replicas,
        ..Default::default()
    };
    js.get_or_create_stream(stream)
        .await
        .map_err(|e| Error::nats("create the leases bucket")(&e))?;
    js.get_key_value(BUCKET)
        .await
        .map_err(|e| Error::nats("open the leases bucket")(&e))
}
