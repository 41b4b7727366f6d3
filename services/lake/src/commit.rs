//! Layout of a commit: what one flush of the ingest worker stores, laid out as the files to
//! write (one per table, rows ordered so that they compress and prune well). First step of a
//! lake write; `writer.rs` then stores the files and commits them to the tables' logs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion::arrow::record_batch::RecordBatch;
use parwatch_proto::local_date;

use crate::columns::{events_batch, rejected_batch};
use crate::error::Result;
use crate::rows::{RejectedMessage, StoredEvent};
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE};

/// What one flush of the ingest worker stores.
#[derive(Debug, Clone, Default)]
pub struct Commit<'a> {
    /// New (not yet stored) valid events.
    pub events: Vec<StoredEvent<'a>>,
    /// New rejected messages.
    pub rejected: Vec<RejectedMessage>,
}

#[cfg(test)]
impl<'a> Commit<'a> {
    /// A commit of one event at stream sequence `stream_seq` (tests).
    pub(crate) fn of_event(event: parwatch_proto::Event<'a>, stream_seq: u64) -> Self {
        Commit {
            events: vec![StoredEvent { event, stream_seq }],
            rejected: vec![],
        }
    }
}

impl Commit<'_> {
    /// Lays the commit out as the files to write: one per table, events ordered by local day,
    /// type, agency and time, so that files compress well and the statistics of their row
    /// groups prune date, type and agency filters. The result owns its data.
    pub fn prepare(&self, ingested_at: DateTime<Utc>) -> Result<Prepared> {
        let mut files = Vec::new();
        if !self.events.is_empty() {
            let sorted: Vec<&StoredEvent<'_>> = events_order(&self.events)
                .into_iter()
                .map(|row| &self.events[row as usize])
                .collect();
            let batch = events_batch(&sorted, ingested_at)?;
            files.push(PreparedFile {
                table: EVENTS_TABLE,
                batch,
                seqs: seq_range(self.events.iter().map(|e| e.stream_seq)),
            });
        }
        if !self.rejected.is_empty() {
            let mut rejected: Vec<&RejectedMessage> = self.rejected.iter().collect();
            rejected.sort_by_key(|r| (r.received_at, r.stream_seq));
            files.push(PreparedFile {
                table: REJECTED_TABLE,
                batch: rejected_batch(&rejected)?,
                seqs: seq_range(rejected.iter().map(|r| r.stream_seq)),
            });
        }
        Ok(Prepared { files })
    }
}

/// A commit laid out as Arrow batches, one per table it writes (see [`Commit::prepare`]).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub(crate) files: Vec<PreparedFile>,
}

impl Prepared {
    /// Highest stream sequence of the commit, if it holds any row.
    pub fn last_seq(&self) -> Option<u64> {
        self.files.iter().map(|f| f.seqs.1).max()
    }
}

/// One file of a prepared commit: a table's rows.
#[derive(Debug, Clone)]
pub(crate) struct PreparedFile {
    pub(crate) table: &'static str,
    pub(crate) batch: RecordBatch,
    /// Lowest and highest stream sequence of its rows.
    pub(crate) seqs: (u64, u64),
}

fn seq_range(seqs: impl Iterator<Item = u64>) -> (u64, u64) {
    seqs.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)))
}

/// The positions of the events ordered by local day of `occurred_at`, type, agency and time.
fn events_order(events: &[StoredEvent<'_>]) -> Vec<u32> {
    // Agencies as small integers ranked by name, so sorting compares no strings.
    let mut ids: HashMap<&str, u32, foldhash::fast::RandomState> = HashMap::default();
    let agency: Vec<u32> = events
        .iter()
        .map(|e| {
            let next = ids.len() as u32;
            *ids.entry(&e.event.agency_code).or_insert(next)
        })
        .collect();
    let mut names: Vec<(&str, u32)> = ids.into_iter().collect();
    names.sort_unstable();
    let mut rank = vec![0; names.len()];
    for (r, (_, id)) in names.into_iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let mut order: Vec<_> = events
        .iter()
        .zip(agency)
        .zip(0u32..)
        .map(|((e, id), row)| {
            let at = e.event.occurred_at;
            (
                local_date(at),
                e.event.event_type(),
                rank[id as usize],
                at,
                row,
            )
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(.., row)| row).collect()
}
