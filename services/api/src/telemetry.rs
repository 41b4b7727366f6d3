//! Counters of the HTTP server, rendered with the worker's in Prometheus text format.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parwatch_ingest::IngestStatus;
use parwatch_ingest::exposition::{family, label_value};
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
    /// The background refresh's last reading of the lake succeeded.
    pub lake_readable: AtomicBool,
}

impl Telemetry {
    /// Prometheus exposition text of these counters, the lake's and the projections', and,
    /// when given, the worker's ([`IngestStatus::render`]).
    pub fn render(
        &self,
        ingest: Option<&IngestStatus>,
        lake: &Lake,
        projection: &Projection,
    ) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters = [
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
            s.render(&mut out);
        }
        out
    }
}
