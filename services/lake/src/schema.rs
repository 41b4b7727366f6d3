//! Arrow schemas of the stored tables (the columns of api-v1's `events` and `rejected_events`).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::uuid::UUID_COLUMN;

/// SQL name of the table of stored events.
pub const EVENTS_TABLE: &str = "events";
/// SQL name of the table of rejected messages.
pub const REJECTED_TABLE: &str = "rejected_events";

/// Hive partition column of `events`: local date of `occurred_at`.
pub(crate) const EVENTS_PARTITION: &str = "event_date";
/// Hive partition column of `rejected_events`: local date of `received_at`.
pub(crate) const REJECTED_PARTITION: &str = "received_date";

pub(crate) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Columns of `events` as stored in each file (the partition column `event_date` comes from the
/// directory name). SQL sees them with `event_id` and `event_uuid` made one text `event_id`.
pub fn events_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        let ts = |name: &str, nullable| Field::new(name, timestamp(), nullable);
        Arc::new(Schema::new(vec![
            // The id as text, unless it is a UUID: then its 16 bytes are in `event_uuid` (see
            // `uuid.rs`); SQL sees one text `event_id`.
            text("event_id", true),
            Field::new(UUID_COLUMN, DataType::FixedSizeBinary(16), true),
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
            Field::new("stream_seq", DataType::UInt64, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// Columns of `rejected_events` as stored in each file (partition column `received_date`).
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
            Field::new("stream_seq", DataType::UInt64, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}
