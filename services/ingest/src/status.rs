//! Live counters of the worker, shared with the HTTP server's `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Live counters of the worker.
#[derive(Debug, Default)]
pub struct IngestStatus {
    /// Connected and consuming.
    pub ready: AtomicBool,
    /// Valid events stored.
    pub events_stored: AtomicU64,
    /// Invalid messages stored in `rejected_events`.
    pub rejected: AtomicU64,
    /// Messages skipped because their event or rejection was already stored.
    pub duplicates: AtomicU64,
    /// Successful flushes.
    pub flushes: AtomicU64,
    /// Failed lake writes (each retried).
    pub write_failures: AtomicU64,
    /// Compactions (merges of a table's small files).
    pub compactions: AtomicU64,
    /// Small files merged away by compaction.
    pub files_compacted: AtomicU64,
    /// Messages the broker still holds for the consumer, as of the last delivery.
    pub consumer_lag: AtomicU64,
    /// Time from the start of a flush (validation) to its commit to the lake.
    pub flush_latency: LatencyHistogram,
    rejected_by_fault: Mutex<BTreeMap<&'static str, u64>>,
}

impl IngestStatus {
    /// Counts stored rejections by fault code.
    pub(crate) fn count_rejections(&self, faults: impl Iterator<Item = &'static str>) {
        let mut by_fault = self
            .rejected_by_fault
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for fault in faults {
            *by_fault.entry(fault).or_default() += 1;
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Stored rejections per fault code.
    pub fn rejections_by_fault(&self) -> Vec<(&'static str, u64)> {
        let by_fault = self
            .rejected_by_fault
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        by_fault.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A Prometheus-style latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per upper bound (seconds), the total count and the sum in seconds.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut cumulative = 0;
        let buckets = BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| {
                cumulative += c.load(Ordering::Relaxed);
                (*b, cumulative)
            })
            .collect();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}
