//! Counters of the HTTP server, rendered with the worker's in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parwatch_ingest::IngestStatus;
use parwatch_lake::{EVENTS_TABLE, Lake, REJECTED_TABLE};

/// SQL request counters.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Queries answered.
    pub queries_ok: AtomicU64,
    /// Queries refused or failed.
    pub queries_failed: AtomicU64,
    /// Total time spent answering queries, in microseconds.
    pub query_micros: AtomicU64,
    /// The projections have folded in the lake at least once.
    pub projections_ready: AtomicBool,
}

impl Telemetry {
    /// Prometheus exposition text of these counters and, when given, the worker's.
    pub fn render(&self, ingest: Option<&IngestStatus>, lake: &Lake) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            "parwatch_sql_queries_total",
            "SQL queries answered.",
            load(&self.queries_ok),
        );
        counter(
            "parwatch_sql_query_errors_total",
            "SQL queries refused or failed.",
            load(&self.queries_failed),
        );
        counter(
            "parwatch_sql_query_seconds_total",
            "Time spent answering SQL queries, in whole seconds.",
            load(&self.query_micros) / 1_000_000,
        );
        if let Some(s) = ingest {
            counter(
                "parwatch_events_stored_total",
                "Valid events stored.",
                load(&s.events_stored),
            );
            counter(
                "parwatch_events_rejected_total",
                "Invalid messages stored as rejected.",
                load(&s.rejected),
            );
            counter(
                "parwatch_duplicates_skipped_total",
                "Redelivered or re-published messages skipped.",
                load(&s.duplicates),
            );
            counter(
                "parwatch_flushes_total",
                "Batches persisted to the lake.",
                load(&s.flushes),
            );
            counter(
                "parwatch_write_failures_total",
                "Lake writes that failed and were retried.",
                load(&s.write_failures),
            );
            counter(
                "parwatch_compactions_total",
                "Partitions compacted.",
                load(&s.compactions),
            );
            counter(
                "parwatch_files_compacted_total",
                "Small files merged away by compaction.",
                load(&s.files_compacted),
            );
        }
        let mut gauge = |name: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        for table in [EVENTS_TABLE, REJECTED_TABLE] {
            let files = lake.files(table).unwrap_or_default();
            let bytes: u64 = files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            gauge(
                &format!("parwatch_lake_files{{table=\"{table}\"}}"),
                "Parquet files of a table in the lake.",
                files.len().to_string(),
            );
            gauge(
                &format!("parwatch_lake_bytes{{table=\"{table}\"}}"),
                "Bytes of a table's Parquet files.",
                bytes.to_string(),
            );
        }
        if let Some(s) = ingest {
            gauge(
                "parwatch_consumer_lag",
                "Messages the broker still holds for the ingest consumer.",
                load(&s.consumer_lag).to_string(),
            );
            let _ = writeln!(
                out,
                "# HELP parwatch_rejected_by_fault_total Invalid messages stored, by fault.\n# TYPE parwatch_rejected_by_fault_total counter"
            );
            for (fault, n) in s.rejections_by_fault() {
                let _ = writeln!(
                    out,
                    "parwatch_rejected_by_fault_total{{fault=\"{fault}\"}} {n}"
                );
            }
            let (buckets, count, sum) = s.flush_latency.snapshot();
            let name = "parwatch_flush_seconds";
            let _ = writeln!(
                out,
                "# HELP {name} Time from a batch's validation to its files being durable.\n# TYPE {name} histogram"
            );
            for (bound, n) in buckets {
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
            );
        }
        out
    }
}
