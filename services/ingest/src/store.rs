//! Storing a batch: validation (`classify.rs`), then the lake write, retried with backoff until
//! it succeeds (partitions already durable are not written again). A batch is acknowledged
//! only once this returns. Counts what it stored in the worker's status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parwatch_lake::{DedupIndex, Lake, Prepared, WriteProgress, Writer};
use tracing::{error, info};

use crate::Result;
use crate::batch::{Pending, ack_runs};
use crate::classify::{Classified, Rules, classify};
use crate::failpoint::{Failpoint, Step};
use crate::frontier::AckRun;
use crate::status::{IngestStatus, PartitionStatus};

/// A batch in the lake, ready to be acknowledged.
pub(crate) struct Stored {
    /// The batch's messages as runs of consecutive stream sequences.
    pub(crate) acks: Vec<AckRun>,
}

/// What the stores of one stream's batches share.
pub(crate) struct Storer {
    pub(crate) lake: Lake,
    /// Whose position the commits raise.
    pub(crate) writer: Writer,
    pub(crate) index: Arc<Mutex<DedupIndex>>,
    pub(crate) rules: Rules,
    pub(crate) status: Arc<IngestStatus>,
    /// The partition's figures, for a partition's writer.
    pub(crate) held: Option<Arc<PartitionStatus>>,
    pub(crate) failpoint: Option<Failpoint>,
    /// Set on shutdown: a failing write then gives up instead of retrying for ever.
    pub(crate) stopping: AtomicBool,
}

/// Validates and deduplicates a batch, then stores it, retrying the lake until it succeeds.
pub(crate) async fn store(pending: Vec<Pending>, storer: Arc<Storer>) -> Result<Stored> {
    let started = Instant::now();
    let Storer {
        lake,
        writer,
        status,
        failpoint,
        stopping,
        ..
    } = storer.as_ref();
    let (writer, failpoint) = (*writer, *failpoint);
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
    let shared = Arc::clone(&storer);
    // The stream is in publishing order: once this batch is stored, every message of the
    // stream published before its newest one is.
    let published = pending.iter().map(|p| p.received_at).max();
    let (acks, (mut batch, mut progress, mut result)) = tokio::task::spawn_blocking(move || {
        let lay_out = discard != Some(Step::Validate);
        let batch = classify(
            &pending,
            &shared.rules,
            &mut shared.index.lock().expect("index lock"),
            lay_out,
        );
        let acks = ack_runs(pending);
        batch.map(|batch| match discard {
            Some(_) => (acks, (batch, WriteProgress::default(), Ok(()))),
            None => (
                acks,
                write_batch(&shared.lake, batch, WriteProgress::by(writer, published)),
            ),
        })
    })
    .await??;
    if discard.is_some() {
        return Ok(Stored { acks });
    }
    let mut backoff = Duration::from_millis(100);
    while let Err(e) = result {
        status.write_failures.fetch_add(1, Ordering::Relaxed);
        let fenced = matches!(e, parwatch_lake::Error::Fenced(_));
        if fenced || stopping.load(Ordering::Relaxed) {
            // Fenced: another worker holds the tables' positions now; or shutting down. Nothing
            // of this batch is stored nor acknowledged: the broker redelivers it, and the index
            // forgets it, in case the redelivery comes back here.
            if fenced {
                status.fenced.fetch_add(1, Ordering::Relaxed);
                error!(error = %e, "fenced by another writer; stopping");
            }
            batch
                .added
                .forget(&mut storer.index.lock().expect("index lock"));
            return Err(e.into());
        }
        error!(error = %e, retry_in = ?backoff, "lake write failed; nothing acknowledged, retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        let lake = lake.clone();
        // Files already uploaded or committed are not written again.
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
    status
        .commit_conflicts
        .store(lake.commit_conflicts(), Ordering::Relaxed);
    if let (Some(held), Some(last)) = (&storer.held, acks.iter().map(|run| run.hi).max()) {
        held.position.fetch_max(last, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp_millis();
        held.committed_at_ms.store(now, Ordering::Relaxed);
    }
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
