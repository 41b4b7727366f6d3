//! Live counters of the worker, shared with the HTTP server's `/metrics`, and their
//! Prometheus exposition ([`IngestStatus::render`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::exposition::family;

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
    /// Messages the broker still holds for the consumer, as of the last delivery (the sole
    /// writer's; a partition's is in its [`PartitionStatus`]).
    pub consumer_lag: AtomicU64,
    /// Batches refused by the lake's log because another worker holds their partition.
    pub fenced: AtomicU64,
    /// Commits that landed after other workers' commits made meanwhile (retried on the log).
    pub commit_conflicts: AtomicU64,
    /// Time from the start of a flush (validation) to its commit to the lake.
    pub flush_latency: LatencyHistogram,
    rejected_by_fault: Mutex<BTreeMap<&'static str, u64>>,
    partitions: Mutex<BTreeMap<u32, Arc<PartitionStatus>>>,
}

/// A per-partition gauge: name, help and how to read it.
type PartitionGauge = (&'static str, &'static str, fn(&PartitionStatus) -> String);

/// A partition the worker holds.
#[derive(Debug, Default)]
pub struct PartitionStatus {
    /// The epoch of the worker's claim.
    pub epoch: u64,
    /// Messages the broker still holds for the partition's consumer.
    pub lag: AtomicU64,
    /// Highest stream sequence committed by this worker (0 before its first commit).
    pub position: AtomicU64,
    /// When it last committed (milliseconds since 1970; 0 before its first commit).
    pub committed_at_ms: AtomicI64,
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

    /// Records that the worker now holds partition `k` with `epoch`.
    pub(crate) fn hold(&self, k: u32, epoch: u64) -> Arc<PartitionStatus> {
        let held = Arc::new(PartitionStatus {
            epoch,
            ..PartitionStatus::default()
        });
        self.held().insert(k, Arc::clone(&held));
        held
    }

    /// Records that the worker no longer holds partition `k`.
    pub(crate) fn release(&self, k: u32) {
        self.held().remove(&k);
    }

    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Arc<PartitionStatus>>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The partitions held, by index.
    pub fn partitions(&self) -> Vec<(u32, Arc<PartitionStatus>)> {
        self.held()
            .iter()
            .map(|(k, p)| (*k, Arc::clone(p)))
            .collect()
    }

    /// Messages the broker holds for this worker: the sole writer's and every partition's.
    pub fn lag(&self) -> u64 {
        let partitions: u64 = self
            .held()
            .values()
            .map(|p| p.lag.load(Ordering::Relaxed))
            .sum();
        self.consumer_lag.load(Ordering::Relaxed) + partitions
    }

    /// Appends the worker's counters, gauges and histogram to `out` in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters = [
            (
                "parwatch_events_stored_total",
                "Valid events stored.",
                &self.events_stored,
            ),
            (
                "parwatch_events_rejected_total",
                "Invalid messages stored as rejected.",
                &self.rejected,
            ),
            (
                "parwatch_duplicates_skipped_total",
                "Redelivered or re-published messages skipped.",
                &self.duplicates,
            ),
            (
                "parwatch_flushes_total",
                "Batches persisted to the lake.",
                &self.flushes,
            ),
            (
                "parwatch_write_failures_total",
                "Lake writes that failed and were retried.",
                &self.write_failures,
            ),
            (
                "parwatch_fenced_total",
                "Batches refused by the lake's log: another worker holds their partition.",
                &self.fenced,
            ),
            (
                "parwatch_commit_conflicts_total",
                "Commits that landed after other workers' commits made meanwhile (retried).",
                &self.commit_conflicts,
            ),
            (
                "parwatch_compactions_total",
                "Compactions: merges of a table's small files.",
                &self.compactions,
            ),
            (
                "parwatch_files_compacted_total",
                "Small files merged away by compaction.",
                &self.files_compacted,
            ),
        ];
        for (name, help, value) in counters {
            family(
                out,
                name,
                "counter",
                help,
                [(String::new(), load(value).to_string())],
            );
        }
        family(
            out,
            "parwatch_ingest_ready",
            "gauge",
            "1 while the worker is connected and consuming (or holding leases).",
            [(
                String::new(),
                u8::from(self.ready.load(Ordering::Relaxed)).to_string(),
            )],
        );
        family(
            out,
            "parwatch_consumer_lag",
            "gauge",
            "Messages the broker still holds for this worker (every partition it holds).",
            [(String::new(), self.lag().to_string())],
        );
        let held = self.partitions();
        let by_partition = |value: &dyn Fn(&PartitionStatus) -> String| {
            held.iter()
                .map(|(k, p)| (format!("{{partition=\"{k}\"}}"), value(p)))
                .collect::<Vec<_>>()
        };
        let gauges: [PartitionGauge; 4] = [
            (
                "parwatch_partition_epoch",
                "Epoch of this worker's claim on each partition it holds.",
                |p| p.epoch.to_string(),
            ),
            (
                "parwatch_partition_lag",
                "Messages the broker still holds for each partition this worker holds.",
                |p| p.lag.load(Ordering::Relaxed).to_string(),
            ),
            (
                "parwatch_partition_position",
                "Highest stream sequence this worker committed for each partition it holds.",
                |p| p.position.load(Ordering::Relaxed).to_string(),
            ),
            (
                "parwatch_partition_last_commit_seconds",
                "When this worker last committed each partition it holds (Unix time).",
                |p| (p.committed_at_ms.load(Ordering::Relaxed) as f64 / 1e3).to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            family(out, name, "gauge", help, by_partition(&value));
        }
        let faults = self
            .rejections_by_fault()
            .into_iter()
            .map(|(fault, n)| (format!("{{fault=\"{fault}\"}}"), n.to_string()));
        family(
            out,
            "parwatch_rejected_by_fault_total",
            "counter",
            "Invalid messages stored, by fault.",
            faults,
        );
        let (buckets, count, sum) = self.flush_latency.snapshot();
        let mut samples: Vec<(String, String)> = buckets
            .into_iter()
            .map(|(bound, n)| (format!("_bucket{{le=\"{bound}\"}}"), n.to_string()))
            .collect();
        samples.extend([
            ("_bucket{le=\"+Inf\"}".to_owned(), count.to_string()),
            ("_sum".to_owned(), sum.to_string()),
            ("_count".to_owned(), count.to_string()),
        ]);
        family(
            out,
            "parwatch_flush_seconds",
            "histogram",
            "Time from a batch's validation to its commit to the lake.",
            samples,
        );
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
