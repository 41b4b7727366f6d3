//! `parwatch lake migrate`: converts a lake of the format before Delta Lake (each partition a
//! symlink to its current generation folder, under `<data-dir>/lake/`) into the Delta tables.
//!
//! The Delta lake defaults to the same folder, so the old layout is first moved aside to
//! `<data-dir>/lake-v1/`, one rename per entry (a run cut short part-way is finished by the
//! next). Then the current files of each old table, only those its partition links point to
//! (replaced generations are never read), are converted to the table's schema in a fixed order
//! and appended a chunk at a time. Each commit records in the table's log how many old files
//! are done (the application id [`MIGRATE_APP_ID`]), so a re-run, or a run after a crash,
//! starts after them and stores nothing twice. Last, the migrated events are folded into the
//! projections once and their snapshot saved, so the server starts without refolding (the old
//! snapshots named the old layout's files and are not reused).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringBuilder, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options, concat_batches};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parwatch_lake::{EVENTS_TABLE, Lake, REJECTED_TABLE, events_schema, rejected_schema};

use crate::cli::MigrateArgs;

/// Application id of the migration's commits; its version in a table's log is the number of
/// that table's old files migrated (in [`old_files`] order).
pub(crate) const MIGRATE_APP_ID: &str = "parwatch-migrate";

/// Where the old layout is moved to, in the data directory.
const OLD_LAKE: &str = "lake-v1";

/// The old layout's entries beside the tables, moved aside with them: the projection
/// snapshots, the partitions' generations, the writer's staging folder and its lock.
const OLD_ENTRIES: [&str; 4] = ["projections", "generations", "_staging", "LOCK"];

/// A table of the old layout and its partition column (the partition folders' names).
struct OldTable {
    name: &'static str,
    partition: &'static str,
    schema: fn() -> SchemaRef,
}

const OLD_TABLES: [OldTable; 2] = [
    OldTable {
        name: EVENTS_TABLE,
        partition: "event_date",
        schema: events_schema,
    },
    OldTable {
        name: REJECTED_TABLE,
        partition: "received_date",
        schema: rejected_schema,
    },
];

/// A current file of an old table.
struct OldFile {
    path: PathBuf,
    /// The date its partition is named after.
    day: NaiveDate,
    bytes: u64,
}

/// What one run did.
#[derive(Default)]
struct Done {
    files: usize,
    events: u64,
    rejected: u64,
}

/// Runs `parwatch lake migrate`.
pub(crate) fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = &args.lake.data_dir;
    let old = data_dir.join(OLD_LAKE);
    let moved = move_aside(&data_dir.join("lake"), &old)?;
    if !old.exists() {
        println!(
            "nothing to migrate: no lake of the format before Delta in {}",
            data_dir.join("lake").display()
        );
        return Ok(());
    }
    if moved > 0 {
        eprintln!("old lake moved aside to {}", old.display());
    }
    let lake = args.lake.open()?;
    if let Some(dir) = lake.location().local_dir() {
        ensure!(
            std::fs::canonicalize(&old).is_ok_and(|o| o != dir),
            "the Delta lake cannot be {}, where the old lake is kept",
            old.display()
        );
    }

    let mut plan = Vec::new();
    for table in &OLD_TABLES {
        let files = old_files(&old, table)?;
        let done = lake.app_version(table.name, MIGRATE_APP_ID)?.unwrap_or(0) as usize;
        ensure!(
            done <= files.len(),
            "{} records {done} old files of {} migrated, but {} has only {}: the old lake changed \
             since; restore it as it was",
            MIGRATE_APP_ID,
            table.name,
            old.display(),
            files.len()
        );
        plan.push((table, files, done));
    }
    let bytes: u64 = plan
        .iter()
        .flat_map(|(_, files, done)| &files[*done..])
        .map(|f| f.bytes)
        .sum();
    let bar =
        indicatif::ProgressBar::new(bytes).with_style(indicatif::ProgressStyle::with_template(
            "{spinner} migrating [{bar:40}] {bytes}/{total_bytes} {msg}, {elapsed} (ETA {eta})",
        )?);
    let mut done = Done::default();
    for (table, files, skip) in &plan {
        migrate_table(
            &lake,
            table,
            files,
            *skip,
            args.rows_per_file,
            &bar,
            &mut done,
        )?;
    }
    bar.finish_and_clear();

    if done.files > 0 {
        let projector = parwatch_metrics::Projector::load(lake.clone())?;
        crate::catch_up_with_bar(&projector, "projections")?;
    }

    let skipped: usize = plan.iter().map(|(_, _, skip)| skip).sum();
    if done.files == 0 {
        println!(
            "nothing to migrate: the {skipped} files of {} are already in the Delta lake at {}",
            old.display(),
            lake.location()
        );
    } else {
        println!(
            "migrated {} old files ({} events, {} rejected messages) into {} in {:.1} s{}; the \
             old lake stays in {} until you remove it",
            done.files,
            done.events,
            done.rejected,
            lake.location(),
            started.elapsed().as_secs_f64(),
            match skipped {
                0 => String::new(),
                n => format!(" ({n} files done by an earlier run)"),
            },
            old.display()
        );
    }
    Ok(())
}

/// Moves the old layout found in `lake` to `old`, one rename per entry (the partition links
/// keep resolving: they point to `../generations/…`, which moves with them); returns how many
/// entries moved. Nothing moves when `lake` holds no old partition or generation.
fn move_aside(lake: &Path, old: &Path) -> anyhow::Result<usize> {
    let mut links = Vec::new();
    for table in &OLD_TABLES {
        for (link, _) in partitions(&lake.join(table.name), table.partition)? {
            links.push((table.name, link));
        }
    }
    if links.is_empty() && !lake.join("generations").exists() {
        return Ok(0);
    }
    for table in &OLD_TABLES {
        let dir = old.join(table.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut moved = 0;
    let entries = OLD_ENTRIES
        .iter()
        .map(|name| (lake.join(name), old.join(name)));
    let links = links.into_iter().map(|(table, link)| {
        let to = old
            .join(table)
            .join(link.file_name().expect("a partition is named"));
        (link, to)
    });
    for (from, to) in entries.chain(links) {
        if from.symlink_metadata().is_err() || to.symlink_metadata().is_ok() {
            continue;
        }
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        moved += 1;
    }
    Ok(moved)
}

/// The partitions of an old table's folder (`<column>=YYYY-MM-DD`, a link to a generation or
/// a folder), in date order.
fn partitions(dir: &Path, column: &str) -> anyhow::Result<Vec<(PathBuf, NaiveDate)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let day = name
            .to_str()
            .and_then(|n| n.strip_prefix(column)?.strip_prefix('='))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let kind = entry.file_type()?;
        if let Some(day) = day
            && (kind.is_symlink() || kind.is_dir())
        {
            found.push((entry.path(), day));
        }
    }
    found.sort_by_key(|(_, day)| *day);
    Ok(found)
}

/// The current files of an old table in `old`: through its partitions, in date then name
/// order (the order the migration's progress counts).
fn old_files(old: &Path, table: &OldTable) -> anyhow::Result<Vec<OldFile>> {
    let mut files = Vec::new();
    for (partition, day) in partitions(&old.join(table.name), table.partition)? {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(&partition)
            .with_context(|| format!("listing {}", partition.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "parquet") {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let bytes = std::fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            files.push(OldFile { path, day, bytes });
        }
    }
    Ok(files)
}

/// Appends the old files of `table` after the first `skip`, gathered into files of about
/// `rows_per_file` rows, each commit recording how many old files are done.
fn migrate_table(
    lake: &Lake,
    table: &OldTable,
    files: &[OldFile],
    skip: usize,
    rows_per_file: usize,
    bar: &indicatif::ProgressBar,
    done: &mut Done,
) -> anyhow::Result<()> {
    let schema = (table.schema)();
    let (mut pending, mut rows, mut chunk_files) = (Vec::new(), 0, 0);
    for (i, file) in files.iter().enumerate().skip(skip) {
        let reading = || format!("reading {}", file.path.display());
        let reader = File::open(&file.path).with_context(reading)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(reader)
            .and_then(|b| b.with_batch_size(65_536).build())
            .with_context(reading)?;
        for batch in reader {
            let converted = convert(
                &schema,
                table.partition,
                &batch.with_context(reading)?,
                file.day,
            )
            .with_context(|| format!("converting {}", file.path.display()))?;
            rows += converted.num_rows();
            pending.push(converted);
        }
        bar.inc(file.bytes);
        chunk_files += 1;
        if rows >= rows_per_file || i + 1 == files.len() {
            if rows > 0 {
                let batch = concat_batches(&schema, &pending)?;
                lake.append_batch(table.name, batch, (MIGRATE_APP_ID, (i + 1) as u64))
                    .with_context(|| format!("appending to {}", table.name))?;
            }
            done.files += chunk_files;
            match table.name {
                EVENTS_TABLE => done.events += rows as u64,
                _ => done.rejected += rows as u64,
            }
            bar.set_message(format!(
                "{} events, {} rejected",
                done.events, done.rejected
            ));
            (pending, rows, chunk_files) = (Vec::new(), 0, 0);
        }
    }
    Ok(())
}

/// An old file's rows in the table's schema: the partition column from the folder's name, the
/// text `event_id` of a UUID stored as bytes, `stream_seq` signed; a column the file lacks is
/// null (files written before it was added).
fn convert(
    schema: &SchemaRef,
    partition: &str,
    batch: &RecordBatch,
    day: NaiveDate,
) -> anyhow::Result<RecordBatch> {
    let n = batch.num_rows();
    let cast = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let column: ArrayRef = if name == partition {
            let days = (day - NaiveDate::default()).num_days() as i32;
            Arc::new(Date32Array::from(vec![days; n]))
        } else if name == "event_id" {
            event_ids(batch)?
        } else {
            match batch.column_by_name(name) {
                Some(column) => Arc::clone(column),
                None if field.is_nullable() => new_null_array(field.data_type(), n),
                None => bail!("the file has no column {name}"),
            }
        };
        let column = if column.data_type() == field.data_type() {
            column
        } else {
            cast_with_options(&column, field.data_type(), &cast)
                .with_context(|| format!("column {name}"))?
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The text ids of an old events batch: `event_id`, or where it is null the canonical text of
/// the UUID in `event_uuid`.
fn event_ids(batch: &RecordBatch) -> anyhow::Result<ArrayRef> {
    let text = match batch.column_by_name("event_id") {
        Some(text) => Some(cast_with_options(
            text,
            &DataType::Utf8,
            &CastOptions::default(),
        )?),
        None => None,
    };
    let Some(uuids) = batch.column_by_name("event_uuid") else {
        return text.context("the file has no column event_id");
    };
    let Some(uuids) = uuids
        .as_fixed_size_binary_opt()
        .filter(|u| u.value_length() == 16)
    else {
        bail!("event_uuid is {}, not 16-byte binary", uuids.data_type());
    };
    let text = text.as_ref().map(|t| t.as_string::<i32>());
    let mut ids = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 36);
    for row in 0..batch.num_rows() {
        match text.filter(|t| t.is_valid(row)) {
            Some(text) => ids.append_value(text.value(row)),
            None if uuids.is_valid(row) => ids.append_value(uuid_text(uuids.value(row))),
            None => ids.append_null(),
        }
    }
    Ok(Arc::new(ids.finish()))
}

/// The canonical (lowercase, 8-4-4-4-12) text of a UUID's 16 bytes.
fn uuid_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{b:02x}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        BinaryArray, FixedSizeBinaryArray, StringArray, TimestampMicrosecondArray, UInt64Array,
    };
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;

    /// A rejected file from before `agency_code` was stored: that column comes out null, the
    /// partition's date and a signed `stream_seq` are added.
    #[test]
    fn an_old_rejected_file_gets_todays_columns() {
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Schema::new(vec![
            text("subject"),
            Field::new("raw", DataType::Utf8, true),
            Field::new("raw_bytes", DataType::Binary, false),
            text("reason"),
            text("fault"),
            Field::new("received_at", utc, false),
            Field::new("stream_seq", DataType::UInt64, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["par.in.x", "par.in.x"])),
            Arc::new(StringArray::from(vec![Some("{}"), None])),
            Arc::new(BinaryArray::from(vec![b"{}".as_ref(), b"\xff".as_ref()])),
            Arc::new(StringArray::from(vec!["occurred_at: missing"; 2])),
            Arc::new(StringArray::from(vec!["missing", "not_json"])),
            Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("UTC")),
            Arc::new(UInt64Array::from(vec![41, 42])),
        ];
        let old = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let day = NaiveDate::from_ymd_opt(2024, 4, 1).unwrap();
        let new = convert(&rejected_schema(), "received_date", &old, day).unwrap();
        assert_eq!(new.schema(), rejected_schema());
        assert_eq!(new.column_by_name("agency_code").unwrap().null_count(), 2);
        let seqs = new.column_by_name("stream_seq").unwrap();
        assert_eq!(
            seqs.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[41, 42]
        );
        let days = new.column_by_name("received_date").unwrap();
        let days = days.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        assert_eq!(
            days.value(1),
            (day - NaiveDate::default()).num_days() as i32
        );

        // A column today's table requires and the file lacks is named, not made up.
        let no_reason = old.project(&[0, 1, 2, 4, 5, 6]).unwrap();
        let err = convert(&rejected_schema(), "received_date", &no_reason, day).unwrap_err();
        assert!(format!("{err:#}").contains("reason"), "{err:#}");
    }

    /// Ids stored as UUID bytes read back as their canonical text; text ids stay as they were.
    #[test]
    fn uuid_bytes_become_their_text() {
        let id = "0190f3c2-7a1b-7cc0-9d1e-2f3a4b5c6d7e";
        let bytes: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&id.replace('-', "")[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let schema = Schema::new(vec![
            Field::new("event_id", DataType::Utf8, true),
            Field::new("event_uuid", DataType::FixedSizeBinary(16), true),
        ]);
        let uuids = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            [Some(bytes.as_slice()), None].into_iter(),
            16,
        )
        .unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![None, Some("ev-000001")])),
                Arc::new(uuids),
            ],
        )
        .unwrap();
        let ids = event_ids(&batch).unwrap();
        let ids = ids.as_string::<i32>();
        assert_eq!(ids.value(0), id);
        assert_eq!(ids.value(1), "ev-000001");
    }
}
