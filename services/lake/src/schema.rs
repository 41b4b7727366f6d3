//! Arrow schemas of the stored tables (the columns of api-v1's `events` and `rejected_events`),
//! derived from the column catalogue (`catalogue.rs`).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Fields, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::catalogue::{ColumnSpec, EventColumn, RejectedColumn};

/// SQL name of the table of stored events.
pub const EVENTS_TABLE: &str = "events";
/// SQL name of the table of rejected messages.
pub const REJECTED_TABLE: &str = "rejected_events";

fn schema(columns: impl Iterator<Item = ColumnSpec>) -> SchemaRef {
    Arc::new(Schema::new(columns.map(|c| c.field()).collect::<Vec<_>>()))
}

/// Columns of `events`, as stored and as SQL sees them (Delta has no unsigned integers:
/// `stream_seq` is a signed 64-bit integer, as in PostgreSQL).
pub fn events_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| schema(EventColumn::ALL.iter().map(|c| c.spec())));
    Arc::clone(&SCHEMA)
}

/// Columns of `rejected_events`, as stored and as SQL sees them.
pub fn rejected_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| schema(RejectedColumn::ALL.iter().map(|c| c.spec())));
    Arc::clone(&SCHEMA)
}

/// `data_type` with Arrow's view types of text and bytes (which scans produce: they decode
/// faster) as the plain types the tables declare, within lists and structs too.
fn plain_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(item) => DataType::List(plain_field(item)),
        DataType::LargeList(item) => DataType::LargeList(plain_field(item)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(plain_field).collect()),
        other => other.clone(),
    }
}

fn plain_field(field: &FieldRef) -> FieldRef {
    Arc::new(
        field
            .as_ref()
            .clone()
            .with_data_type(plain_type(field.data_type())),
    )
}

/// `schema` with plain text and bytes (see [`plain_batch`]).
pub(crate) fn plain_schema(schema: &Schema) -> SchemaRef {
    let fields: Fields = schema.fields().iter().map(plain_field).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with text and bytes as the tables declare them (`Utf8`, `Binary`) wherever a scan
/// made them views: what clients of SQL results and readers of files get.
pub(crate) fn plain_batch(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = plain_schema(batch.schema_ref());
    if schema == batch.schema() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<Result<_, _>>()?;
    let rows = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema, columns, &rows)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};

    use super::*;

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    /// The stored columns as other engines, migrations and tests know them (the list written
    /// out by hand before the catalogue): a change here is a change of the lake's format.
    #[test]
    fn the_events_schema_is_the_stored_one() {
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        let ts = |name: &str, nullable| Field::new(name, ts(), nullable);
        let expected = Schema::new(vec![
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
            Field::new("event_date", DataType::Date32, false),
        ]);
        assert_eq!(*events_schema(), expected);
    }

    #[test]
    fn the_rejected_schema_is_the_stored_one() {
        let expected = Schema::new(vec![
            Field::new("subject", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, true),
            Field::new("raw_bytes", DataType::Binary, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("fault", DataType::Utf8, false),
            Field::new("agency_code", DataType::Utf8, true),
            Field::new("received_at", ts(), false),
            Field::new("stream_seq", DataType::Int64, false),
            Field::new("received_date", DataType::Date32, false),
        ]);
        assert_eq!(*rejected_schema(), expected);
    }
}
