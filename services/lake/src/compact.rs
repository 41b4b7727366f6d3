//! Upkeep of the tables while the worker runs, so that no separate process must be remembered:
//! small files merged into large ones (Delta OPTIMIZE, which commits the swap atomically and
//! concurrently with appends), and files replaced longer ago than a retention deleted (VACUUM).
//! Checkpoints of the logs are written by the commits themselves (every 100 versions).

use std::num::NonZeroU64;
use std::time::Duration;

use chrono::Utc;
use deltalake::DeltaTable;

use crate::encoding::compaction_properties;
use crate::error::Result;
use crate::lake::Lake;
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE};

/// Files this large are left as they are; smaller ones are merged toward this size.
pub const TARGET_FILE_BYTES: u64 = 128 << 20;

/// When a table's small files are merged, and how long replaced files are kept.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// A table with at least this many small files is compacted.
    pub max_files: usize,
    /// A table with two or more small files and no new file for this long is compacted.
    pub idle: Duration,
    /// Replaced files are deleted this long after the commit that replaced them: longer than
    /// any query runs (a query reads the version it started with), and as long as time travel
    /// should reach back.
    pub retention: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            max_files: 16,
            idle: Duration::from_secs(60),
            // Delta's own default.
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Tables compacted.
    pub compactions: usize,
    /// Small files merged away.
    pub files_merged: u64,
    /// Files written by the merges.
    pub files_written: u64,
    /// Replaced files deleted.
    pub files_deleted: usize,
}

/// Compacts every table the policy selects, then vacuums each.
pub(crate) async fn compact(lake: &Lake, policy: &CompactionPolicy) -> Result<CompactionStats> {
    let mut stats = CompactionStats::default();
    for name in [EVENTS_TABLE, REJECTED_TABLE] {
        let table = lake.table(name).refresh().await?;
        let table = if due(&table, policy)? {
            let (table, merged) = table
                .optimize()
                .with_target_size(NonZeroU64::new(TARGET_FILE_BYTES).expect("not zero"))
                .with_writer_properties(compaction_properties())
                .await?;
            stats.compactions += 1;
            stats.files_merged += merged.num_files_removed;
            stats.files_written += merged.num_files_added;
            table
        } else {
            table
        };
        let retention =
            chrono::Duration::from_std(policy.retention).unwrap_or(chrono::Duration::MAX);
        let (_, vacuumed) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await?;
        stats.files_deleted += vacuumed.files_deleted.len();
        lake.table(name).refresh().await?;
    }
    Ok(stats)
}

/// Whether the table has enough small files, or small files left alone long enough.
fn due(table: &DeltaTable, policy: &CompactionPolicy) -> Result<bool> {
    let snapshot = table.snapshot()?;
    let (mut small, mut newest) = (0, i64::MIN);
    for file in snapshot.log_data().iter() {
        if (file.size().max(0) as u64) < TARGET_FILE_BYTES / 2 {
            small += 1;
            newest = newest.max(file.modification_time());
        }
    }
    let idle_since = Utc::now().timestamp_millis().saturating_sub(newest);
    Ok(small >= policy.max_files || (small >= 2 && idle_since >= policy.idle.as_millis() as i64))
}
