//! `parwatch lake migrate`: a lake of the format before Delta Lake becomes the Delta tables,
//! with every row as it was, once, however often the migration runs or is cut short.
//!
//! The old lake is laid out as the old code wrote it (partition symlinks into generation
//! folders, `part-<lo>-<hi>-…` files without the partition column, UUID ids as 16 bytes in
//! `event_uuid`, `stream_seq` unsigned, a replaced generation left for its grace period, the
//! projection snapshots beside the tables), from the rows today's worker stored for real
//! events and rejected messages: the migrated lake must answer SQL exactly as that one did.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    ArrayRef, AsArray, FixedSizeBinaryBuilder, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::{
    cast, concat_batches, filter_record_batch, sort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema, UInt64Type};
use datafusion::parquet::arrow::ArrowWriter;
use parwatch_lake::{EVENTS_TABLE, Lake, LakeLocation, REJECTED_TABLE};
use serde_json::{Value, json};

use crate::harness::{LocalNats, Outgoing, Parwatch, delta_rows, publish, valid_event};

const EVENTS: usize = 3_000;
const REJECTED: usize = 30;
/// Rows per old file: many small files, as the old worker's flushes left them.
const ROWS_PER_OLD_FILE: usize = 100;

/// Event `i`'s id: a canonical UUID for even `i` (stored as bytes by the old code), an
/// upper-case UUID (stored as text) for one, `ev-<i>` for the rest.
fn event_id(i: usize) -> String {
    match i {
        7 => "0190F3C2-7A1B-7CC0-9D1E-2F3A4B5C6D7E".to_owned(),
        i if i % 2 == 0 => format!(
            "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
            0x0190_f3c2_u32.wrapping_add(i as u32),
            i % 0xffff,
            i % 0xfff,
            (i * 7) % 0xfff,
            (i as u64).wrapping_mul(0x9e37_79b9_7f4a) & 0xffff_ffff_ffff
        ),
        i => format!("ev-{i:06}"),
    }
}

/// The 16 bytes of a UUID in canonical lower-case form, as the old writer stored it.
fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let b = id.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let digits: Vec<u8> = b
        .iter()
        .filter(|&&c| c != b'-')
        .map(|&c| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (digits[2 * i] << 4) | digits[2 * i + 1];
    }
    Some(out)
}

/// `batch` as the old code stored it: without the partition column, `stream_seq` unsigned,
/// and for events the id split into text `event_id` and 16-byte `event_uuid`.
fn old_format(table: &str, batch: &RecordBatch) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.name().as_str() {
            "event_date" | "received_date" => {}
            "stream_seq" => {
                fields.push(Field::new("stream_seq", DataType::UInt64, false));
                columns.push(cast(column, &DataType::UInt64).unwrap());
            }
            "event_id" => {
                let ids = column.as_string::<i32>();
                let mut text = StringBuilder::new();
                let mut uuid = FixedSizeBinaryBuilder::new(16);
                for id in ids.iter().map(Option::unwrap) {
                    match uuid_bytes(id) {
                        Some(bytes) => {
                            text.append_null();
                            uuid.append_value(bytes).unwrap();
                        }
                        None => {
                            text.append_value(id);
                            uuid.append_null();
                        }
                    }
                }
                fields.push(Field::new("event_id", DataType::Utf8, true));
                fields.push(Field::new(
                    "event_uuid",
                    DataType::FixedSizeBinary(16),
                    true,
                ));
                columns.push(Arc::new(text.finish()));
                columns.push(Arc::new(uuid.finish()));
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(column));
            }
        }
    }
    assert_eq!(
        table == EVENTS_TABLE,
        fields.iter().any(|f| f.name() == "event_uuid")
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Lays the rows of today's lake at `source` out in `old` as the old code did; returns the
/// number of current files per table.
fn write_old_lake(source: &Path, old: &Path) -> [usize; 2] {
    let lake = Lake::open(&LakeLocation::local(source).unwrap()).unwrap();
    let mut counts = [0; 2];
    for (t, (table, partition)) in [
        (EVENTS_TABLE, "event_date"),
        (REJECTED_TABLE, "received_date"),
    ]
    .into_iter()
    .enumerate()
    {
        let schema = match table {
            EVENTS_TABLE => parwatch_lake::events_schema(),
            _ => parwatch_lake::rejected_schema(),
        };
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut batches = Vec::new();
        for file in lake.files(table).unwrap() {
            batches.extend(lake.read_file(table, &file.path, &names, None).unwrap());
        }
        let all = concat_batches(&schema, &batches).unwrap();
        let order = sort_to_indices(all.column_by_name("stream_seq").unwrap(), None, None).unwrap();
        let all = take_record_batch(&all, &order).unwrap();
        let days = all
            .column_by_name(partition)
            .unwrap()
            .as_primitive::<Date32Type>()
            .clone();
        let mut distinct: Vec<i32> = days.values().to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let table_dir = old.join(table);
        std::fs::create_dir_all(&table_dir).unwrap();
        for (g, day) in distinct.into_iter().enumerate() {
            let date = chrono::NaiveDate::default() + chrono::Duration::days(day.into());
            let name = format!("{partition}={date}");
            let mask = datafusion::arrow::array::BooleanArray::from(
                days.values().iter().map(|&d| d == day).collect::<Vec<_>>(),
            );
            let rows = old_format(table, &filter_record_batch(&all, &mask).unwrap());
            let generations = old.join("generations").join(table);
            // The current generation, and the one it replaced (kept for its grace period; its
            // rows are also in the current one: a reader of it would count them twice).
            let current = generations.join(format!("g18d{g:04x}-4242-{}", 2 * g + 1));
            let replaced = generations.join(format!("g18c{g:04x}-4242-{}", 2 * g));
            for generation in [&current, &replaced] {
                std::fs::create_dir_all(generation.join(&name)).unwrap();
            }
            std::fs::File::create(replaced.with_extension("retired")).unwrap();
            write_parquet(&replaced.join(&name).join("part-0-0-4242-0.parquet"), &rows);
            let step = match table {
                EVENTS_TABLE => ROWS_PER_OLD_FILE,
                _ => REJECTED / 3,
            };
            for (n, start) in (0..rows.num_rows()).step_by(step).enumerate() {
                let chunk = rows.slice(start, step.min(rows.num_rows() - start));
                let seqs = chunk.column_by_name("stream_seq").unwrap();
                let seqs = seqs.as_primitive::<UInt64Type>();
                let (lo, hi) = (seqs.value(0), seqs.value(seqs.len() - 1));
                let file = format!("part-{lo:020}-{hi:020}-4242-{n}.parquet");
                write_parquet(&current.join(&name).join(file), &chunk);
                counts[t] += 1;
            }
            let target = Path::new("..")
                .join(current.strip_prefix(old).unwrap())
                .join(&name);
            std::os::unix::fs::symlink(target, table_dir.join(&name)).unwrap();
        }
    }
    std::fs::create_dir_all(old.join("_staging")).unwrap();
    std::fs::File::create(old.join("LOCK")).unwrap();
    let snapshots = old.join("projections");
    std::fs::create_dir_all(&snapshots).unwrap();
    for entry in std::fs::read_dir(source.join("projections")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, snapshots.join(path.file_name().unwrap())).unwrap();
    }
    counts
}

/// Runs `parwatch lake migrate` to the end; its stdout.
fn migrate(data: &Path, extra: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args(["lake", "migrate", "--data-dir", data.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// How many old files of `table` the Delta lake in `data` records as migrated.
fn migrated_files(data: &Path, table: &str) -> Option<u64> {
    let lake = Lake::open(&LakeLocation::local(&data.join("lake")).unwrap()).unwrap();
    lake.app_version(table, "parwatch-migrate").unwrap()
}

const EVENTS_SQL: &str = "SELECT * FROM events ORDER BY stream_seq";
const REJECTED_SQL: &str = "SELECT * FROM rejected_events ORDER BY stream_seq";
const DOSSIERS_SQL: &str = "SELECT count(*) FROM dossiers";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_lake_migrates_once_even_when_cut_short() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let source = tmp.path().join("source");

    // Today's worker stores real events (UUID and text ids) and rejected messages.
    let mut messages = Vec::new();
    for i in 0..EVENTS {
        messages.push(Outgoing::event(&valid_event(i).id(event_id(i))));
    }
    for i in 0..REJECTED {
        let event = valid_event(EVENTS + i);
        let mut body = event.json();
        body.as_object_mut().unwrap().remove("occurred_at");
        messages.push(Outgoing::json(&event.subject(), &body));
    }
    publish(&nats.url(), messages).await;
    let mut up = Parwatch::up(&nats.url(), &source, &[]).await;
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(EVENTS),
        Duration::from_secs(60),
    )
    .await;
    up.wait_for(
        "SELECT count(*) FROM rejected_events",
        json!(REJECTED),
        Duration::from_secs(30),
    )
    .await;
    let events = up.sql(EVENTS_SQL).await["rows"].clone();
    let rejected = up.sql(REJECTED_SQL).await["rows"].clone();
    let uuids = up
        .scalar("SELECT count(*) FROM events WHERE event_id LIKE '%-%-%-%-%'")
        .await;
    assert_eq!(uuids, json!(EVENTS / 2 + 1), "UUID ids, one upper-case");
    let dossiers = up.scalar(DOSSIERS_SQL).await;
    assert!(dossiers.as_u64().unwrap() > 0);
    assert!(up.terminate().success(), "{}", up.log_text());

    // The same rows laid out as the old code wrote them, in the data dir's lake/.
    let data = tmp.path().join("data");
    let [event_files, rejected_files] = write_old_lake(&source.join("lake"), &data.join("lake"));
    assert!(event_files >= EVENTS / ROWS_PER_OLD_FILE, "{event_files}");

    // Cut short: a file per commit, killed after a few commits.
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args(["lake", "migrate", "--data-dir", data.to_str().unwrap()])
        .args(["--rows-per-file", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let third = data.join("lake/events/_delta_log/00000000000000000003.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !third.exists() {
        assert!(
            Instant::now() < deadline,
            "no third migration commit in 60 s"
        );
        assert!(first.try_wait().unwrap().is_none(), "migrate ended early");
        std::thread::sleep(Duration::from_millis(1));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let part_way = migrated_files(&data, EVENTS_TABLE).expect("some files migrated");
    assert!(
        part_way >= 3 && (part_way as usize) < event_files,
        "{part_way} of {event_files}"
    );
    assert!(data.join("lake-v1/events").exists(), "old lake moved aside");
    assert!(!data.join("lake/generations").exists());

    // Resumed: the rest, nothing twice.
    let out = migrate(&data, &[]);
    assert!(out.contains("done by an earlier run"), "{out}");
    assert_eq!(
        migrated_files(&data, EVENTS_TABLE),
        Some(event_files as u64)
    );
    assert_eq!(
        migrated_files(&data, REJECTED_TABLE),
        Some(rejected_files as u64)
    );
    // Two other engines read the Delta table (rejected rows are compared through SQL below).
    assert_eq!(delta_rows(&data.join("lake/events")), EVENTS as i64);

    // The migrated events are folded into a projection snapshot covering the migrated version.
    let lake = Lake::open(&LakeLocation::local(&data.join("lake")).unwrap()).unwrap();
    let snapshot = lake
        .read_snapshot("dossiers")
        .unwrap()
        .expect("a projection snapshot");
    assert_eq!(
        snapshot.metadata["parwatch.events_version"],
        lake.stats(EVENTS_TABLE).version.to_string()
    );
    assert_eq!(snapshot.metadata["parwatch.events"], EVENTS.to_string());
    let version = lake.stats(EVENTS_TABLE).version;
    drop(lake);

    // Once more: nothing to do, nothing committed.
    let out = migrate(&data, &[]);
    assert!(out.contains("nothing to migrate"), "{out}");
    let lake = Lake::open(&LakeLocation::local(&data.join("lake")).unwrap()).unwrap();
    assert_eq!(lake.stats(EVENTS_TABLE).version, version);
    drop(lake);

    // The server over the migrated lake answers as the one over today's did.
    let serve = Parwatch::serve_with(&data, &["--open"], &[]).await;
    let migrated: Value = serve.sql(EVENTS_SQL).await["rows"].clone();
    assert_eq!(migrated.as_array().unwrap().len(), EVENTS);
    assert!(migrated == events, "events differ after migration");
    assert_eq!(serve.sql(REJECTED_SQL).await["rows"], rejected);
    assert_eq!(serve.scalar(DOSSIERS_SQL).await, dossiers);
}

/// A data dir without an old lake: nothing moves, nothing is written.
#[test]
fn nothing_to_migrate_without_an_old_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let out = migrate(tmp.path(), &[]);
    assert!(out.contains("nothing to migrate"), "{out}");
    assert!(!tmp.path().join("lake-v1").exists());
    assert!(!tmp.path().join("lake").exists());
}
