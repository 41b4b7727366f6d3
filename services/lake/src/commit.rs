//! Layout of a commit: what one flush of the ingest worker stores, laid out as the files to
//! write (one per table and day, rows ordered so that they compress and prune well). First
//! step of a lake write; `writer.rs` then makes the files durable.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{AsArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::arrow::record_batch::RecordBatch;
use parwatch_proto::local_date;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::columns::{events_batch, rejected_batch};
use crate::error::Result;
use crate::rows::{RejectedMessage, StoredEvent};
use crate::schema::{EVENTS_PARTITION, EVENTS_TABLE, REJECTED_PARTITION, REJECTED_TABLE};

/// What one flush of the ingest worker stores.
#[derive(Debug, Clone, Default)]
pub struct Commit<'a> {
    /// New (not yet stored) valid events.
    pub events: Vec<StoredEvent<'a>>,
    /// New rejected messages.
    pub rejected: Vec<RejectedMessage>,
}

impl Commit<'_> {
    /// Lays the commit out as the files to write: one per table and day, events ordered by
    /// type, agency and time within their day. The result owns its data.
    pub fn prepare(&self, ingested_at: DateTime<Utc>) -> Result<Prepared> {
        let mut files = Vec::new();
        if !self.events.is_empty() {
            // Built in arrival order, which reads the events (and the messages their text
            // borrows from) front to back; then each day's rows are gathered from the columns
            // in their sorted order, which touches far less memory than visiting the events
            // in that order would.
            let all = events_batch(&self.events, ingested_at)?;
            for (day, rows) in events_by_day(&self.events) {
                let batch = take_record_batch(&all, &UInt32Array::from(rows))?;
                // From the gathered column: the events themselves are not visited again.
                let seqs = seq_range(
                    batch
                        .column_by_name("stream_seq")
                        .expect("events have stream_seq")
                        .as_primitive::<UInt64Type>()
                        .values()
                        .iter()
                        .copied(),
                );
                files.push(PreparedFile {
                    table: EVENTS_TABLE,
                    partition: EVENTS_PARTITION,
                    day,
                    batch,
                    seqs,
                });
            }
        }
        let mut rejected_by_day: BTreeMap<NaiveDate, Vec<&RejectedMessage>> = BTreeMap::new();
        for r in &self.rejected {
            rejected_by_day
                .entry(local_date(r.received_at))
                .or_default()
                .push(r);
        }
        for (day, rejected) in rejected_by_day {
            files.push(PreparedFile {
                table: REJECTED_TABLE,
                partition: REJECTED_PARTITION,
                day,
                batch: rejected_batch(&rejected)?,
                seqs: seq_range(rejected.iter().map(|r| r.stream_seq)),
            });
        }
        Ok(Prepared { files })
    }
}

/// A commit laid out as Arrow batches, one per file to write (see [`Commit::prepare`]).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub(crate) files: Vec<PreparedFile>,
}

/// One file of a prepared commit: a table's rows of one day.
#[derive(Debug, Clone)]
pub(crate) struct PreparedFile {
    pub(crate) table: &'static str,
    pub(crate) partition: &'static str,
    pub(crate) day: NaiveDate,
    pub(crate) batch: RecordBatch,
    /// Lowest and highest stream sequence of its rows.
    pub(crate) seqs: (u64, u64),
}

fn seq_range(seqs: impl Iterator<Item = u64>) -> (u64, u64) {
    seqs.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)))
}

/// The positions of the events grouped by local day of `occurred_at`, each day ordered by type,
/// agency and time: the columns then compress well and row-group statistics prune agency and
/// time filters.
fn events_by_day(events: &[StoredEvent<'_>]) -> Vec<(NaiveDate, Vec<u32>)> {
    // Agencies as small integers ranked by name, so sorting compares no strings.
    let mut ids: HashMap<&str, u32, Xxh3DefaultBuilder> = HashMap::default();
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
    let mut days: Vec<(NaiveDate, Vec<u32>)> = Vec::new();
    for (day, .., row) in order {
        match days.last_mut() {
            Some((d, rows)) if *d == day => rows.push(row),
            _ => days.push((day, vec![row])),
        }
    }
    days
}
