//! How complete the numbers are: the lake version read, the newest event stored, and the time
//! up to which every partition of the stream is stored (each partition's log records when its
//! newest stored message was published, and a partition is stored in publishing order).
//! Computed once per lake version by the background refresh; every metric, ranking, panel and
//! PAR answer carries it in headers, and `/api/v1/status` in full.

use chrono::{DateTime, SecondsFormat, Utc};
use parwatch_lake::{EVENTS_TABLE, Lake, PartitionState};
use serde::Serialize;
use utoipa::ToSchema;

/// Header: the lake version an answer read.
pub(crate) const LAKE_VERSION: &str = "parwatch-lake-version";
/// Header: the newest event stored (its `occurred_at`, bounded to the millisecond).
pub(crate) const NEWEST_EVENT: &str = "parwatch-newest-event";
/// Header: every event published before this time is stored.
pub(crate) const COMPLETE_UNTIL: &str = "parwatch-complete-until";

/// How complete the lake is at a version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub(crate) struct Freshness {
    /// Version of `events` read.
    pub(crate) lake_version: Option<u64>,
    /// Newest `occurred_at` stored, as the files' statistics bound it (RFC 3339).
    pub(crate) newest_event: Option<String>,
    /// Every event published before this time is stored, in every partition that has stored
    /// any (RFC 3339); null before the first commit that records it.
    pub(crate) complete_until: Option<String>,
    /// Each partition of the stream: its position, latest claim and completeness.
    pub(crate) partitions: Vec<PartitionReport>,
}

/// What the lake's log holds for one partition of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct PartitionReport {
    /// The partition (0 for an unpartitioned stream).
    pub(crate) partition: u32,
    /// Highest stream sequence stored.
    pub(crate) position: Option<u64>,
    /// Epoch of the worker's claim that holds it (none for an unpartitioned stream).
    pub(crate) epoch: Option<u64>,
    /// Every message of the partition published before this time is stored (RFC 3339).
    pub(crate) complete_until: Option<String>,
    /// Messages of the partition its worker has not acknowledged yet (not stored, or stored
    /// and not yet acknowledged), as the broker reported it at most 2 s ago; null when this
    /// node does not watch the broker. Only in `/api/v1/status`.
    pub(crate) lag: Option<u64>,
}

impl Freshness {
    /// Reads it from the lake's log for a stream of `partitions` partitions.
    pub(crate) fn read(lake: &Lake, partitions: u32) -> parwatch_lake::Result<Self> {
        let stats = lake.stats(EVENTS_TABLE);
        let states = lake.partitions(partitions)?;
        Ok(Self {
            lake_version: Some(stats.version),
            newest_event: stats.newest,
            complete_until: complete_until(&states).map(rfc3339),
            partitions: states.iter().map(PartitionReport::of).collect(),
        })
    }

    /// The headers an answer carries (the version its rollups read, when known).
    pub(crate) fn headers(&self, version: Option<u64>) -> Vec<(&'static str, String)> {
        let version = version.or(self.lake_version).map(|v| v.to_string());
        [
            (LAKE_VERSION, version),
            (NEWEST_EVENT, self.newest_event.clone()),
            (COMPLETE_UNTIL, self.complete_until.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

impl PartitionReport {
    fn of(state: &PartitionState) -> Self {
        Self {
            partition: state.index,
            position: state.position,
            epoch: state.epoch,
            complete_until: state
                .published_until_ms
                .and_then(DateTime::from_timestamp_millis)
                .map(rfc3339),
            lag: None,
        }
    }
}

impl Freshness {
    /// The same with each partition's lag as `lags` last read it.
    pub(crate) fn with_lags(&self, lags: &parwatch_ingest::PartitionLags) -> Self {
        let mut fresh = self.clone();
        for p in &mut fresh.partitions {
            p.lag = lags.get(p.partition);
        }
        fresh
    }
}

/// The earliest completeness of the partitions that stored anything: a partition that never
/// stored a message has nothing to wait for as far as its log can tell.
fn complete_until(states: &[PartitionState]) -> Option<DateTime<Utc>> {
    let written: Vec<_> = states.iter().filter(|s| s.position.is_some()).collect();
    let earliest = written.iter().map(|s| s.published_until_ms).min()??;
    DateTime::from_timestamp_millis(earliest)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(index: u32, position: Option<u64>, published: Option<i64>) -> PartitionState {
        PartitionState {
            index,
            position,
            epoch: Some(1),
            published_until_ms: published,
        }
    }

    #[test]
    fn complete_until_the_partition_furthest_behind() {
        let at = |ms| DateTime::from_timestamp_millis(ms);
        let states = [
            state(0, Some(10), Some(5_000)),
            state(1, Some(3), Some(2_000)),
            state(2, None, None),
        ];
        assert_eq!(
            complete_until(&states),
            at(2_000),
            "an empty partition waits for nothing"
        );
        // A partition written before completeness was recorded: unknown.
        let states = [state(0, Some(10), Some(5_000)), state(1, Some(3), None)];
        assert_eq!(complete_until(&states), None);
        assert_eq!(complete_until(&[]), None);
    }
}
