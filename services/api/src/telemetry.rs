//! Counters of the HTTP server, rendered with the worker's in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parwatch_ingest::IngestStatus;
use parwatch_lake::{EVENTS_TABLE, Lake, REJECTED_TABLE};
use parwatch_metrics::Projection;

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
    /// Prometheus exposition text of these counters, the lake's and the projections', and,
    /// when given, the worker's.
    pub fn render(
        &self,
        ingest: Option<&IngestStatus>,
        lake: &Lake,
        projection: &Projection,
    ) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut counters = vec![
            (
                "parwatch_sql_queries_total",
                "SQL queries answered.",
                load(&self.queries_ok),
            ),
            (
                "parwatch_sql_query_errors_total",
                "SQL queries refused or failed.",
                load(&self.queries_failed),
            ),
            (
                "parwatch_sql_query_seconds_total",
                "Time spent answering SQL queries, in whole seconds.",
                load(&self.query_micros) / 1_000_000,
            ),
        ];
        if let Some(s) = ingest {
            counters.extend([
                (
                    "parwatch_events_stored_total",
                    "Valid events stored.",
                    load(&s.events_stored),
                ),
                (
                    "parwatch_events_rejected_total",
                    "Invalid messages stored as rejected.",
                    load(&s.rejected),
                ),
                (
                    "parwatch_duplicates_skipped_total",
                    "Redelivered or re-published messages skipped.",
                    load(&s.duplicates),
                ),
                (
                    "parwatch_flushes_total",
                    "Batches persisted to the lake.",
                    load(&s.flushes),
                ),
                (
                    "parwatch_write_failures_total",
                    "Lake writes that failed and were retried.",
                    load(&s.write_failures),
                ),
                (
                    "parwatch_compactions_total",
                    "Compactions: merges of a table's small files.",
                    load(&s.compactions),
                ),
                (
                    "parwatch_files_compacted_total",
                    "Small files merged away by compaction.",
                    load(&s.files_compacted),
                ),
            ]);
        }
        for (name, help, value) in counters {
            family(
                &mut out,
                name,
                "counter",
                help,
                [(String::new(), value.to_string())],
            );
        }

        let tables: Vec<_> = [EVENTS_TABLE, REJECTED_TABLE]
            .into_iter()
            .map(|table| {
                let stats = lake.stats(table);
                (format!("{{table=\"{table}\"}}"), stats.files, stats.bytes)
            })
            .collect();
        let files = tables.iter().map(|(l, n, _)| (l.clone(), n.to_string()));
        family(
            &mut out,
            "parwatch_lake_files",
            "gauge",
            "Data files of a table's latest Delta version.",
            files,
        );
        let bytes = tables.iter().map(|(l, _, b)| (l.clone(), b.to_string()));
        family(
            &mut out,
            "parwatch_lake_bytes",
            "gauge",
            "Bytes of a table's Parquet files.",
            bytes,
        );

        let unknown = projection.unknown_values().map(|(column, value, rows)| {
            let value = label_value(value);
            (
                format!("{{column=\"{column}\",value=\"{value}\"}}"),
                rows.to_string(),
            )
        });
        family(
            &mut out,
            "parwatch_projection_unknown_values_total",
            "counter",
            "Rows of events not folded into the projections: a value this build cannot read back, by column and value.",
            unknown,
        );

        if let Some(s) = ingest {
            let lag = [(String::new(), load(&s.consumer_lag).to_string())];
            family(
                &mut out,
                "parwatch_consumer_lag",
                "gauge",
                "Messages the broker still holds for the ingest consumer.",
                lag,
            );
            let faults = s
                .rejections_by_fault()
                .into_iter()
                .map(|(fault, n)| (format!("{{fault=\"{fault}\"}}"), n.to_string()));
            family(
                &mut out,
                "parwatch_rejected_by_fault_total",
                "counter",
                "Invalid messages stored, by fault.",
                faults,
            );
            let (buckets, count, sum) = s.flush_latency.snapshot();
            let name = "parwatch_flush_seconds";
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
                &mut out,
                name,
                "histogram",
                "Time from a batch's validation to its commit to the lake.",
                samples,
            );
        }
        out
    }
}

/// `value` escaped for a label value: backslash, double quote and line feed.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its HELP and TYPE lines once, then each sample as `name<suffix> value`
/// (the suffix holds labels, or `_bucket{...}`, `_sum`, `_count` for histograms).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, value) in samples {
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_what_would_end_them() {
        assert_eq!(label_value("fax"), "fax");
        assert_eq!(
            label_value("a\"b\\c\nd"),
            "a\\\"b\\\\c\\nd",
            "quote, backslash and line feed escaped"
        );
    }
}
