//! Background compaction of the lake while the worker runs (see `parwatch_lake::Lake::compact`),
//! counted in the worker's status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parwatch_lake::{CompactionPolicy, Lake};
use tracing::{debug, warn};

use crate::status::IngestStatus;

/// Compacts the lake's partitions in the background, as long as the worker runs: no separate
/// process to remember. Each pass is atomic per partition (see `parwatch_lake::Lake::compact`).
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
