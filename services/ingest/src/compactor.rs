//! Background upkeep of the lake while the worker runs (see `parwatch_lake::Lake::compact`):
//! small files merged, replaced files vacuumed, counted in the worker's status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parwatch_lake::{CompactionPolicy, Lake};
use tracing::{debug, warn};

use crate::status::IngestStatus;

/// A worker this many messages behind is catching up a backlog: compaction waits.
const BACKLOG: u64 = 20_000;
/// Passes compaction waits at most for a backlog to drain, so a worker that never catches up
/// still merges its files.
const MAX_DEFERRED: u32 = 30;

/// Compacts the lake's tables in the background, as long as the worker runs: no separate
/// process to remember. Each merge is one atomic Delta commit. While the worker is catching
/// up a backlog, compaction waits (up to [`MAX_DEFERRED`] passes): its CPU and the memory of
/// its rewrite go to draining first. On a `split` stream only the worker holding partition 0
/// compacts, so that workers do not merge the same files twice over; one that lost the
/// partition while merging is refused by the log (see `Lake::compact`).
pub(crate) async fn compact_forever(
    lake: Lake,
    policy: CompactionPolicy,
    every: Duration,
    split: bool,
    status: Arc<IngestStatus>,
) {
    let mut deferred = 0;
    loop {
        tokio::time::sleep(every).await;
        if split && !status.partitions().iter().any(|(k, _)| *k == 0) {
            continue;
        }
        if status.lag() > BACKLOG && deferred < MAX_DEFERRED {
            deferred += 1;
            continue;
        }
        deferred = 0;
        let lake = lake.clone();
        match tokio::task::spawn_blocking(move || lake.compact(&policy)).await {
            Ok(Ok(stats)) => {
                status
                    .compactions
                    .fetch_add(stats.compactions as u64, Ordering::Relaxed);
                status
                    .files_compacted
                    .fetch_add(stats.files_merged, Ordering::Relaxed);
                if stats.compactions > 0 || stats.files_deleted > 0 || stats.lost > 0 {
                    debug!(?stats, "compaction pass");
                }
            }
            Ok(Err(e)) => warn!(error = %e, "compaction failed; will try again"),
            Err(e) => warn!(error = %e, "compaction task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use parwatch_lake::{Commit, EVENTS_TABLE, LakeLocation, StoredEvent};
    use parwatch_proto::Channel;
    use parwatch_proto::testing::TestEvent;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compaction_waits_for_a_backlog_but_not_forever() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
        for i in 0..3 {
            let event = TestEvent::received(Channel::Counter)
                .id(format!("e{i}"))
                .dossier(format!("D{i}"))
                .build();
            let commit = Commit {
                events: vec![StoredEvent {
                    event,
                    stream_seq: i + 1,
                }],
                rejected: vec![],
            };
            lake.write(&commit, chrono::Utc::now(), &mut Default::default())
                .unwrap();
        }
        let status = Arc::new(IngestStatus::default());
        status.consumer_lag.store(BACKLOG + 1, Ordering::Relaxed);
        let policy = CompactionPolicy {
            max_files: 2,
            ..Default::default()
        };
        let every = Duration::from_millis(10);
        let started = Instant::now();
        let task = tokio::spawn(compact_forever(
            lake.clone(),
            policy,
            every,
            false,
            Arc::clone(&status),
        ));
        // Fewer passes than the most it waits: nothing merged while the backlog lasts.
        tokio::time::sleep(every * (MAX_DEFERRED / 3)).await;
        assert_eq!(status.compactions.load(Ordering::Relaxed), 0);
        assert_eq!(lake.files(EVENTS_TABLE).unwrap().len(), 3);
        // A backlog that never drains: after the most passes it waits, it merges anyway.
        while status.compactions.load(Ordering::Relaxed) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never compacted"
            );
            tokio::time::sleep(every).await;
        }
        assert!(started.elapsed() >= every * MAX_DEFERRED);
        assert_eq!(lake.files(EVENTS_TABLE).unwrap().len(), 1);
        task.abort();
    }
}
