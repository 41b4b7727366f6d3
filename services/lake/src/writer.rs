//! Durable Parquet writer: stores a prepared commit (see `commit.rs`) as one file per partition
//! it touches, each a durable write (`durable.rs`: staged, fsynced, renamed into its partition,
//! directory fsynced), recording the partitions done so that a retry after a failure part-way
//! writes only the rest. When a write returns `Ok`, the worker may acknowledge the commit.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::NaiveDate;

use crate::commit::Prepared;
use crate::durable::{part_name, publish, stage};
use crate::encoding::writer_properties;
use crate::error::Result;
use crate::layout::{PartitionGuard, partition_dir};

/// Progress of writing one commit: the partitions already durable, so that a retry after a
/// failure part-way writes only the rest (and stores nothing twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteProgress {
    /// Files created.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    done: BTreeSet<(&'static str, NaiveDate)>,
}

/// Stores `prepared` in the lake at `root`, skipping the partitions `progress` says are
/// already written (see `Lake::write_prepared`).
pub(crate) fn write_prepared(
    root: &Path,
    guard: &PartitionGuard,
    prepared: &Prepared,
    progress: &mut WriteProgress,
) -> Result<()> {
    for file in &prepared.files {
        if progress.done.contains(&(file.table, file.day)) {
            continue;
        }
        // Encoding and fsyncing need no lock (the staged file is ours alone), so another
        // flush can publish meanwhile; only the rename waits for compaction.
        let staged = stage(root, &file.batch, writer_properties(&file.batch))?;
        let _guard = guard.hold();
        let dir = partition_dir(root, file.table, file.partition, file.day)?;
        let (lo, hi) = file.seqs;
        publish(&staged, &dir, &part_name(lo, hi))?;
        progress.bytes += staged.bytes;
        progress.files += 1;
        progress.done.insert((file.table, file.day));
    }
    Ok(())
}
