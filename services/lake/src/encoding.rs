//! How the tables' Parquet files are encoded: compression, dictionaries and encodings per
//! column, measured on simulated events. Used by every write of a table file (`writer.rs`)
//! and by compaction (`compact.rs`).

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder,
};
use datafusion::parquet::schema::types::ColumnPath;

/// How a table's `batch` is written by a flush: the table's encodings at zstd's fastest level,
/// and no compression of the columns without a value in it (an event type's own fields, in a
/// file of other types): their pages are a few bits of levels.
pub(crate) fn writer_properties(batch: &RecordBatch) -> WriterProperties {
    // A flush's file lives until compaction merges it, re-encoded at the tables' level (3): the
    // fastest level cut the write step from 1.9 to 1.3–1.5 µs of worker CPU an event, for 29.8
    // bytes an event instead of 29.5 until then (29.1 after, unchanged).
    let mut builder = table_properties().set_compression(Compression::ZSTD(
        ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
    ));
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if column.null_count() == column.len() {
            builder = builder.set_column_compression(
                ColumnPath::from(field.name().as_str()),
                Compression::UNCOMPRESSED,
            );
        }
    }
    builder.build()
}

/// Rows of a row group in a merged file: the unit the statistics let a scan skip (a merged
/// file of 128 MiB holds about four million events), and what the writer buffers.
const MERGED_ROW_GROUP_ROWS: usize = 131_072;

/// How compaction writes a table's merged files.
pub(crate) fn compaction_properties() -> WriterProperties {
    table_properties()
        .set_max_row_group_row_count(Some(MERGED_ROW_GROUP_ROWS))
        .build()
}

/// The encodings of the tables' columns: see the comments within.
fn table_properties() -> WriterPropertiesBuilder {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("3 is a valid zstd level"),
        ))
        // Files are ordered by day, type, agency and time: row-group statistics prune as well
        // as page indexes would, for less work and fewer bytes.
        .set_statistics_enabled(EnabledStatistics::Chunk);
    // Ids are unique and random (UUID-shaped text, two thirds of a file's bytes): a dictionary
    // only adds indices before it gives up. Their lengths apart from their characters leave
    // zstd only hex digits and dashes to code, and zstd's fastest level codes those as well
    // as any (20.5 bytes an event as plain strings at level 3; 18.5 so, in half the time).
    builder = builder
        .set_column_dictionary_enabled(ColumnPath::from("event_id"), false)
        .set_column_encoding(
            ColumnPath::from("event_id"),
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
        )
        .set_column_compression(
            ColumnPath::from("event_id"),
            Compression::ZSTD(ZstdLevel::try_new(1).expect("1 is a valid zstd level")),
        );
    // Not worth a zstd context per column and file (its set-up costs more than compressing):
    // delta-packed sequences, and the enumerations, flags and constants, which dictionary and
    // run-length encoding already make a few bits a row.
    for column in [
        "stream_seq",
        "event_date",
        "type",
        "schema_version",
        "source",
        "channel",
        "online_mode",
        "mode",
        "kind",
        "outcome",
        "digitized",
        "portal",
        "ingested_at",
    ] {
        builder =
            builder.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
    }
    // Encodings measured on a simulated million events (bytes per event after zstd):
    // - sequences run in order within a (type, agency) group: small deltas;
    // - times too, with larger deltas (4.2; zstd did better, 3.8, with BYTE_STREAM_SPLIT, but
    //   DuckDB 1.5 reads that encoding only for floating-point columns, and other engines
    //   read these files);
    // - dossier ids of one agency share long prefixes (2.5 with prefix deltas, 3.7 as a
    //   dictionary).
    for (column, encoding) in [
        ("stream_seq", Encoding::DELTA_BINARY_PACKED),
        ("occurred_at", Encoding::DELTA_BINARY_PACKED),
        ("dossier_id", Encoding::DELTA_BYTE_ARRAY),
    ] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), encoding);
    }
    builder
}
