//! `/api/v1/status`: freshness and health for the data-quality page.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use parwatch_auth::Principal;
use parwatch_lake::{EVENTS_TABLE, REJECTED_TABLE};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::freshness::Freshness;
use crate::reply::Json;

/// Freshness and health of the data.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusReport {
    /// Events stored.
    events: u64,
    /// Dossiers seen.
    dossiers: usize,
    /// Agencies with data.
    agencies: usize,
    /// When the newest event occurred (UTC), or null.
    newest_event_at: Option<String>,
    /// When a file last landed in the lake (RFC 3339), or null.
    last_landed_at: Option<String>,
    /// Invalid messages stored as rejected.
    rejected: u64,
    /// The Delta version of `events` these figures read (`events_at(version)` reads it again).
    events_version: u64,
    /// The Delta version of `rejected_events` these figures read.
    rejected_version: u64,
    /// The version of `events` the metrics, rankings and the PAR Index answer from (behind
    /// `events_version` while newly landed files are being folded in); null before the first
    /// fold.
    projections_version: Option<u64>,
    /// The ingest worker's counters, when it runs in this process.
    ingest: Option<IngestCounters>,
    /// How complete the lake is: each partition of the stream's position, the claim holding
    /// it and up to when it is complete, and the time up to which every partition is (as of
    /// the last version the server's background refresh read); with each partition's lag
    /// when the server watches the broker (`serve --nats-url`).
    #[schema(value_type = Freshness)]
    freshness: Arc<Freshness>,
    /// Rows of `events` the projections (metrics, rankings, the PAR Index) did not fold in
    /// because they hold a value this build's contract cannot read back, e.g. a channel a
    /// newer publisher sent: by column and value, empty when every row was read.
    unknown_values: Vec<UnknownValue>,
    /// The time zone of local dates.
    #[schema(example = "Asia/Ho_Chi_Minh")]
    tz: &'static str,
}

/// Rows holding one stored value the projections cannot read back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnknownValue {
    /// The column of `events` it is in.
    #[schema(example = "channel")]
    column: &'static str,
    /// The value as stored (cut to 64 characters; `(other)` for the rows of a column's
    /// values beyond 16; for `data`, the field and fault that stopped it).
    #[schema(example = "fax")]
    value: String,
    /// Rows holding it, not folded in.
    rows: u64,
}

/// The ingest worker's counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestCounters {
    /// Connected and consuming.
    ready: bool,
    /// Messages the broker still holds for the worker.
    consumer_lag: u64,
    /// Valid events stored.
    events_stored: u64,
    /// Invalid messages stored as rejected.
    rejected: u64,
    /// Redelivered or re-published messages skipped.
    duplicates: u64,
    /// Lake writes that failed and were retried.
    write_failures: u64,
}

/// Freshness and health for the data-quality page: events and rejections stored, the newest
/// event's time, when a file last landed, the worker's lag, and stored values the projections
/// could not read back.
#[utoipa::path(get, path = "/api/v1/status", tag = "dashboards",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Freshness and health", body = StatusReport),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A token scoped to an agency (this covers the province)", body = ErrorBody)))]
pub(crate) async fn status(
    _caller: Principal,
    state: AppState,
) -> Result<Json<StatusReport>, ApiError> {
    let state = &state;
    // From the Delta log's state as last loaded: no file is listed or read.
    let (events, rejected) = (
        state.lake.stats(EVENTS_TABLE),
        state.lake.stats(REJECTED_TABLE),
    );
    let last_landed = events
        .committed_at
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339());
    // The files' statistics bound the newest event to its millisecond; the query reads only
    // the files that can hold it.
    let newest_event = match &events.newest {
        Some(bound) => {
            let sql = format!(
                "SELECT CAST(max(occurred_at) AS VARCHAR) FROM {EVENTS_TABLE} \
                 WHERE occurred_at >= TIMESTAMP '{bound}' - INTERVAL '1 second'"
            );
            scalar(state, &sql).await?
        }
        None => None,
    };
    let (stored, events_version) = (events.rows, events.version);
    let (rejected, rejected_version) = (rejected.rows, rejected.version);
    let ingest = state.ingest.as_ref().map(|s| {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        IngestCounters {
            ready: s.ready.load(Ordering::Relaxed),
            consumer_lag: load(&s.consumer_lag),
            events_stored: load(&s.events_stored),
            rejected: load(&s.rejected),
            duplicates: load(&s.duplicates),
            write_failures: load(&s.write_failures),
        }
    });
    let (dossiers, agencies, unknown_values) = {
        let p = state.projector.read();
        let unknown = p
            .unknown_values()
            .map(|(column, value, rows)| UnknownValue {
                column,
                value: value.to_owned(),
                rows,
            })
            .collect();
        (p.dossier_count(), p.rollups().agencies().len(), unknown)
    };
    Ok(Json::ok(StatusReport {
        events: stored,
        dossiers,
        agencies,
        newest_event_at: newest_event,
        last_landed_at: last_landed,
        rejected,
        events_version,
        rejected_version,
        projections_version: state.projector.version(),
        ingest,
        freshness: match &state.lags {
            Some(lags) => Arc::new(state.freshness().with_lags(lags)),
            None => state.freshness(),
        },
        unknown_values,
        tz: parwatch_proto::LOCAL_TZ_NAME,
    }))
}

/// The single value of a one-row query of ours, as text; `None` when empty or null.
async fn scalar(state: &AppState, sql: &str) -> Result<Option<String>, ApiError> {
    let output = state.engine.sql(sql).await?;
    Ok(output
        .batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .filter(|b| b.column(0).is_valid(0))
        .and_then(|b| datafusion::arrow::util::display::array_value_to_string(b.column(0), 0).ok()))
}
