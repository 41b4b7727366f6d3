//! Stores a prepared commit (see `commit.rs`): each table's rows as one Parquet file put into
//! the table's `data/` folder, then committed to the table's Delta log with the stream position
//! it covers (`table.rs`). Records what is done, so that a retry after a failure part-way
//! uploads and commits only the rest, and never commits a file twice. When a write returns
//! `Ok`, the worker may acknowledge the commit.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{max, max_string, min, min_string};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use deltalake::kernel::{Add, Transaction};
use deltalake::logstore::object_store::{ObjectStoreExt as _, PutPayload};
use serde_json::{Map, Value, json};

use crate::commit::{Prepared, PreparedFile};
use crate::encoding::writer_properties;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema::{EVENTS_TABLE, REJECTED_TABLE, events_schema, rejected_schema};
use crate::table::Writer;

/// Progress of writing one commit: who writes it, the files uploaded and the tables committed,
/// so that a retry after a failure part-way does only the rest (and stores nothing twice).
#[derive(Debug, Clone, Default)]
pub struct WriteProgress {
    /// Whose position the commit raises (by default the sole writer's).
    writer: Writer,
    /// When the newest message of the commit was published (ms since 1970), if known.
    published_ms: Option<i64>,
    /// Files created.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    uploaded: BTreeMap<&'static str, Add>,
    done: BTreeSet<&'static str>,
}

impl WriteProgress {
    /// The progress of a commit `writer` is about to write, whose newest message was
    /// published at `published` (recorded in the log: the partition is complete up to then).
    pub fn by(writer: Writer, published: Option<DateTime<Utc>>) -> Self {
        Self {
            writer,
            published_ms: published.map(|t| t.timestamp_millis()),
            ..Self::default()
        }
    }
}

/// Data files live here in each table's folder, beside `_delta_log/`.
pub(crate) const DATA_DIR: &str = "data";

/// Stores `prepared` in `lake`, skipping what `progress` says is done (see
/// `Lake::write_prepared`).
pub(crate) async fn write_prepared(
    lake: &Lake,
    prepared: &Prepared,
    progress: &mut WriteProgress,
) -> Result<()> {
    for file in &prepared.files {
        if progress.done.contains(file.table) {
            continue;
        }
        let table = lake.table(file.table);
        // A file uploaded by an earlier attempt may have been committed too.
        let (add, retry) = match progress.uploaded.get(file.table) {
            Some(add) => (add.clone(), true),
            None => {
                let add = upload(&table.current(), file).await?;
                table.sync(&add.path)?;
                progress.files += 1;
                progress.bytes += add.size as u64;
                progress.uploaded.insert(file.table, add.clone());
                (add, false)
            }
        };
        table
            .append(
                vec![add],
                (file.seqs.1, progress.published_ms),
                progress.writer,
                None,
                retry,
            )
            .await?;
        progress.done.insert(file.table);
    }
    Ok(())
}

/// Stores ready-made rows of `table` (a batch in its schema) as one file, committed with the
/// ingest position raised to their highest `stream_seq` and the application transaction
/// `(app_id, version)` in the same commit (see `Lake::append_batch`).
pub(crate) async fn append_batch(
    lake: &Lake,
    table: &str,
    batch: RecordBatch,
    (app_id, version): (&str, u64),
) -> Result<()> {
    let (name, schema) = match table {
        EVENTS_TABLE => (EVENTS_TABLE, events_schema()),
        REJECTED_TABLE => (REJECTED_TABLE, rejected_schema()),
        _ => return Err(Error::Location(format!("no table {table} in the lake"))),
    };
    if batch.schema() != schema {
        return Err(Error::Arrow(ArrowError::SchemaError(format!(
            "rows for {table} are not in its schema: {}",
            batch.schema()
        ))));
    }
    let seqs = batch
        .column_by_name("stream_seq")
        .expect("both tables have stream_seq");
    let seqs = seqs.as_primitive::<Int64Type>();
    let (Some(lo), Some(hi)) = (min(seqs), max(seqs)) else {
        return Err(Error::Arrow(ArrowError::InvalidArgumentError(format!(
            "no rows to append to {table}"
        ))));
    };
    let file = PreparedFile {
        table: name,
        batch,
        seqs: (lo.max(0) as u64, hi.max(0) as u64),
    };
    let stored = lake.table(name);
    let add = upload(&stored.current(), &file).await?;
    let also = Transaction::new(app_id, i64::try_from(version).unwrap_or(i64::MAX));
    stored
        .append(
            vec![add],
            (file.seqs.1, None),
            Writer::Sole,
            Some(also),
            false,
        )
        .await
}

/// Encodes a file and puts it into its table's folder; returns its Delta `add` action.
async fn upload(table: &deltalake::DeltaTable, file: &PreparedFile) -> Result<Add> {
    let mut bytes = Vec::with_capacity(file.batch.get_array_memory_size() / 4);
    let parquet = crate::Error::parquet(file.table);
    let properties = writer_properties(&file.batch);
    ArrowWriter::try_new(&mut bytes, file.batch.schema(), Some(properties))
        .and_then(|mut writer| {
            writer.write(&file.batch)?;
            writer.close()
        })
        .map_err(parquet)?;
    let (lo, hi) = file.seqs;
    let path = format!(
        "{DATA_DIR}/part-{lo:012}-{hi:012}-{}.zstd.parquet",
        nonce()?
    );
    let size = bytes.len() as i64;
    table
        .object_store()
        .put(&path.as_str().into(), PutPayload::from(bytes))
        .await?;
    Ok(Add {
        path,
        size,
        modification_time: Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(stats(&file.batch).to_string()),
        ..Default::default()
    })
}

/// Random hex that makes a new file's name unique among writers.
pub(crate) fn nonce() -> Result<String> {
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| crate::Error::Location(e.to_string()))?;
    Ok(nonce.iter().map(|b| format!("{b:02x}")).collect())
}

/// Delta statistics of a file: rows, and per column nulls, least and greatest value, so that
/// readers skip files a filter excludes. A column holding long text (bodies, JSON) gets no
/// bounds.
fn stats(batch: &RecordBatch) -> Value {
    let (mut mins, mut maxs, mut nulls) = (Map::new(), Map::new(), Map::new());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        nulls.insert(field.name().clone(), json!(column.null_count()));
        if let Some((lo, hi)) = bounds(column) {
            mins.insert(field.name().clone(), lo);
            maxs.insert(field.name().clone(), hi);
        }
    }
    json!({
        "numRecords": batch.num_rows(),
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    })
}

/// A text column holding a value this long or longer gets no bounds (Delta readers compare
/// whole values).
const MAX_BOUND_TEXT: usize = 64;

/// Least and greatest value of a column, as Delta statistics write them.
fn bounds(column: &ArrayRef) -> Option<(Value, Value)> {
    match column.data_type() {
        DataType::Utf8 => {
            let text = column.as_string::<i32>();
            // Told by the offsets alone: comparing a column of bodies would cost more than
            // the rest of the statistics.
            let long = text
                .offsets()
                .windows(2)
                .any(|w| w[1].abs_diff(w[0]) as usize >= MAX_BOUND_TEXT);
            if long {
                return None;
            }
            Some((json!(min_string(text)?), json!(max_string(text)?)))
        }
        DataType::Int32 => {
            let values = column.as_primitive::<Int32Type>();
            Some((json!(min(values)?), json!(max(values)?)))
        }
        DataType::Int64 => {
            let values = column.as_primitive::<Int64Type>();
            Some((json!(min(values)?), json!(max(values)?)))
        }
        DataType::Date32 => {
            let values = column.as_primitive::<Date32Type>();
            let day = |d: i32| {
                chrono::NaiveDate::default()
                    .checked_add_signed(chrono::TimeDelta::days(d.into()))
                    .map(|d| json!(d.format("%Y-%m-%d").to_string()))
            };
            Some((day(min(values)?)?, day(max(values)?)?))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let values = column.as_primitive::<TimestampMicrosecondType>();
            // Delta keeps milliseconds: the least rounded down, the greatest up, so that the
            // bounds still hold every value.
            let (lo, hi) = (min(values)?, max(values)?);
            let lo = lo.div_euclid(1000) * 1000;
            let hi = (hi + 999).div_euclid(1000) * 1000;
            Some((millis_text(lo)?, millis_text(hi)?))
        }
        _ => None,
    }
}

fn millis_text(micros: i64) -> Option<Value> {
    let at: DateTime<Utc> = Utc.timestamp_micros(micros).single()?;
    Some(json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn statistics_bound_every_value_and_skip_long_text() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("agency_code", DataType::Utf8, true),
            Field::new("data", DataType::Utf8, false),
            Field::new(
                "occurred_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]));
        let long = "x".repeat(MAX_BOUND_TEXT);
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("SXD"), None, Some("BTP")])),
                Arc::new(StringArray::from(vec!["{}", long.as_str(), "{}"])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_500, 2_000_999, 1_000_001])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let stats = stats(&batch);
        assert_eq!(stats["numRecords"], 3);
        assert_eq!(stats["nullCount"]["agency_code"], 1);
        assert_eq!(stats["minValues"]["agency_code"], "BTP");
        assert_eq!(stats["maxValues"]["agency_code"], "SXD");
        assert!(stats["minValues"].get("data").is_none());
        assert_eq!(
            stats["minValues"]["occurred_at"],
            "1970-01-01T00:00:00.001Z"
        );
        assert_eq!(
            stats["maxValues"]["occurred_at"],
            "1970-01-01T00:00:02.001Z"
        );
    }
}
