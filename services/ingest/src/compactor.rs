//! Background upkeep of the lake while the worker runs (see `parwatch_lake::Lake::compact`):
//! small files merged, replaced files vacuumed, counted in the worker's status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parwatch_lake::{CompactionPolicy, Lake};
use tracing::{debug, warn};

use crate::status::IngestStatus;

/// Compacts the lake's tables in the background, as long as the worker runs: no separate
/// process to remember. Each merge is one atomic Delta commit.
pub(crate) async fn compact_forever(
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
                    .fetch_add(stats.compactions as u64, Ordering::Relaxed);
                status
                    .files_compacted
                    .fetch_add(stats.files_merged, Ordering::Relaxed);
                if stats.compactions > 0 || stats.files_deleted > 0 {
                    debug!(?stats, "compaction pass");
                }
            }
            Ok(Err(e)) => warn!(error = %e, "compaction failed; will try again"),
            Err(e) => warn!(error = %e, "compaction task failed"),
        }
    }
}
