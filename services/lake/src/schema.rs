//! Arrow schemas of the stored tables (the columns of api-v1's `events` and `rejected_events`).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// SQL name of the table of stored events.
pub const EVENTS_TABLE: &str = "events";
/// SQL name of the table of rejected messages.
pub const REJECTED_TABLE: &str = "rejected_events";

/// Column of `events` with the local date of `occurred_at`: what files are ordered by.
pub(crate) const EVENT_DATE: &str = "event_date";
/// Column of `rejected_events` with the local date of `received_at`.
pub(crate) const RECEIVED_DATE: &str = "received_date";

pub(crate) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Columns of `events`, as stored and as SQL sees them (Delta has no unsigned integers:
/// `stream_seq` is a signed 64-bit integer, as in PostgreSQL).
pub fn events_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        let ts = |name: &str, nullable| Field::new(name, timestamp(), nullable);
        Arc::new(Schema::new(vec![
            text("event_id", false),
            text("type", false),
            Field::new("schema_version", DataType::Int32, false),
            ts("occurred_at", false),
            text("source", false),
            text("agency_code", false),
            text("dossier_id", true),
            text("procedure_code", true),
            text("channel", true),
            text("online_mode", true),
            ts("due_at", true),
            text("mode", true),
            text("kind", true),
            ts("new_due_at", true),
            text("outcome", true),
            Field::new("digitized", DataType::Boolean, true),
            text("portal", true),
            text("letter_no", true),
            text("data", false),
            text("extra", true),
            ts("ingested_at", false),
            Field::new("stream_seq", DataType::Int64, false),
            Field::new(EVENT_DATE, DataType::Date32, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// Columns of `rejected_events`, as stored and as SQL sees them.
pub fn rejected_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("subject", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, true),
            Field::new("raw_bytes", DataType::Binary, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("fault", DataType::Utf8, false),
            // The body's `agency_code` when it has a string one: lets agency scopes see their own.
            Field::new("agency_code", DataType::Utf8, true),
            Field::new("received_at", timestamp(), false),
            Field::new("stream_seq", DataType::Int64, false),
            Field::new(RECEIVED_DATE, DataType::Date32, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}
