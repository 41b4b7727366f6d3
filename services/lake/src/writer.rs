//! Durable Parquet writer: one file per partition touched by a commit, each written to
//! `_staging/`, fsynced, renamed into its partition directory and the directory fsynced.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Int32Builder,
    StringBuilder, TimestampMicrosecondBuilder, UInt32Array, UInt64Builder,
};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use parwatch_proto::{Event, EventData, local_date};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::error::{Error, Result};
use crate::schema::{
    EVENTS_PARTITION, EVENTS_TABLE, REJECTED_PARTITION, REJECTED_TABLE, events_schema,
    rejected_schema,
};
use crate::uuid::UUID_COLUMN;

/// A valid event with the JetStream stream sequence it arrived with.
#[derive(Debug, Clone)]
pub struct StoredEvent<'a> {
    /// The validated event.
    pub event: Event<'a>,
    /// Stream sequence of the message that carried it.
    pub stream_seq: u64,
}

/// A message that failed validation, kept with its reason.
#[derive(Debug, Clone)]
pub struct RejectedMessage {
    /// NATS subject it was published on.
    pub subject: String,
    /// The body exactly as received.
    pub raw: Vec<u8>,
    /// Field and rule it broke.
    pub reason: String,
    /// Stable fault code (see `parwatch_proto::Fault::code`).
    pub fault: &'static str,
    /// When the broker stored it.
    pub received_at: DateTime<Utc>,
    /// Stream sequence of the message.
    pub stream_seq: u64,
}

/// What one flush of the ingest worker stores.
#[derive(Debug, Clone, Default)]
pub struct Commit<'a> {
    /// New (not yet stored) valid events.
    pub events: Vec<StoredEvent<'a>>,
    /// New rejected messages.
    pub rejected: Vec<RejectedMessage>,
}

impl Commit<'_> {
    /// Lays the commit out as the files to write: one per table and day, events ordered by
    /// type, agency and time within their day. The result owns its data.
    pub fn prepare(&self, ingested_at: DateTime<Utc>) -> Result<Prepared> {
        let mut files = Vec::new();
        if !self.events.is_empty() {
            // Built in arrival order, which reads the events (and the messages their text
            // borrows from) front to back; then each day's rows are gathered from the columns
            // in their sorted order, which touches far less memory than visiting the events
            // in that order would.
            let all = events_batch(&self.events, ingested_at)?;
            for (day, rows) in events_by_day(&self.events) {
                let batch = take_record_batch(&all, &UInt32Array::from(rows))?;
                // From the gathered column: the events themselves are not visited again.
                let seqs = seq_range(
                    batch
                        .column_by_name("stream_seq")
                        .expect("events have stream_seq")
                        .as_primitive::<UInt64Type>()
                        .values()
                        .iter()
                        .copied(),
                );
                files.push(PreparedFile {
                    table: EVENTS_TABLE,
                    partition: EVENTS_PARTITION,
                    day,
                    batch,
                    seqs,
                });
            }
        }
        let mut rejected_by_day: BTreeMap<NaiveDate, Vec<&RejectedMessage>> = BTreeMap::new();
        for r in &self.rejected {
            rejected_by_day
                .entry(local_date(r.received_at))
                .or_default()
                .push(r);
        }
        for (day, rejected) in rejected_by_day {
            files.push(PreparedFile {
                table: REJECTED_TABLE,
                partition: REJECTED_PARTITION,
                day,
                batch: rejected_batch(&rejected)?,
                seqs: seq_range(rejected.iter().map(|r| r.stream_seq)),
            });
        }
        Ok(Prepared { files })
    }
}

/// A commit laid out as Arrow batches, one per file to write (see [`Commit::prepare`]).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    files: Vec<PreparedFile>,
}

#[derive(Debug, Clone)]
struct PreparedFile {
    table: &'static str,
    partition: &'static str,
    day: NaiveDate,
    batch: RecordBatch,
    /// Lowest and highest stream sequence of its rows.
    seqs: (u64, u64),
}

fn seq_range(seqs: impl Iterator<Item = u64>) -> (u64, u64) {
    seqs.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)))
}

/// The positions of the events grouped by local day of `occurred_at`, each day ordered by type,
/// agency and time: the columns then compress well and row-group statistics prune agency and
/// time filters.
fn events_by_day(events: &[StoredEvent<'_>]) -> Vec<(NaiveDate, Vec<u32>)> {
    // Agencies as small integers ranked by name, so sorting compares no strings.
    let mut ids: HashMap<&str, u32, Xxh3DefaultBuilder> = HashMap::default();
    let agency: Vec<u32> = events
        .iter()
        .map(|e| {
            let next = ids.len() as u32;
            *ids.entry(&e.event.agency_code).or_insert(next)
        })
        .collect();
    let mut names: Vec<(&str, u32)> = ids.into_iter().collect();
    names.sort_unstable();
    let mut rank = vec![0; names.len()];
    for (r, (_, id)) in names.into_iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let mut order: Vec<_> = events
        .iter()
        .zip(agency)
        .zip(0u32..)
        .map(|((e, id), row)| {
            let at = e.event.occurred_at;
            (
                local_date(at),
                e.event.event_type(),
                rank[id as usize],
                at,
                row,
            )
        })
        .collect();
    order.sort_unstable();
    let mut days: Vec<(NaiveDate, Vec<u32>)> = Vec::new();
    for (day, .., row) in order {
        match days.last_mut() {
            Some((d, rows)) if *d == day => rows.push(row),
            _ => days.push((day, vec![row])),
        }
    }
    days
}

/// Progress of writing one commit: the partitions already durable, so that a retry after a
/// failure part-way writes only the rest (and stores nothing twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteProgress {
    /// Files created.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    done: BTreeSet<(&'static str, NaiveDate)>,
}

/// The Parquet lake under `<data-dir>/lake`. Clones share the write guard.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    /// Held by writes and by compaction of a partition, so neither sees the other half done.
    guard: Arc<Mutex<()>>,
}

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Mode of every file the lake writes (events, rejections, snapshots, markers): the service
/// reads and writes, its group (a backup or reporting account) reads, nobody else. Citizens'
/// raw submissions are in these files.
pub(crate) const FILE_MODE: u32 = 0o640;
/// Mode of every directory the lake makes, the data directory included when it makes it.
pub(crate) const DIR_MODE: u32 = 0o750;

/// `create_dir_all`, making each missing directory with [`DIR_MODE`].
pub(crate) fn create_dirs(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// A new (or truncated) file for writing, with [`FILE_MODE`].
pub(crate) fn create_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

impl Lake {
    /// Opens (creating when missing) the lake under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let root = data_dir.join("lake");
        for dir in [EVENTS_TABLE, REJECTED_TABLE, STAGING] {
            let path = root.join(dir);
            create_dirs(&path).map_err(Error::io(&path))?;
        }
        Ok(Self {
            root,
            guard: Arc::default(),
        })
    }

    pub(crate) fn write_guard(&self) -> MutexGuard<'_, ()> {
        self.guard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Root directory of the lake.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of one table.
    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    /// Whether the lake's directories are present and readable.
    pub fn is_readable(&self) -> bool {
        [EVENTS_TABLE, REJECTED_TABLE]
            .iter()
            .all(|t| std::fs::read_dir(self.table_dir(t)).is_ok())
    }

    /// Stores a commit durably: [`Commit::prepare`], then [`Lake::write_prepared`].
    pub fn write(
        &self,
        commit: &Commit<'_>,
        ingested_at: DateTime<Utc>,
        progress: &mut WriteProgress,
    ) -> Result<()> {
        self.write_prepared(&commit.prepare(ingested_at)?, progress)
    }

    /// Stores a prepared commit durably, one file per partition it touches, skipping the
    /// partitions `progress` says are already written (retry the same commit with the same
    /// progress). Blocking: call from a blocking thread.
    ///
    /// When this returns `Ok`, every row of the commit is in a file that has been fsynced and
    /// atomically renamed into place, so the messages may be acknowledged.
    pub fn write_prepared(&self, prepared: &Prepared, progress: &mut WriteProgress) -> Result<()> {
        for file in &prepared.files {
            if progress.done.contains(&(file.table, file.day)) {
                continue;
            }
            // Encoding and fsyncing need no lock (the staged file is ours alone), so another
            // flush can publish meanwhile; only the rename waits for compaction.
            let staged = self.stage(&file.batch, writer_properties(&file.batch))?;
            let _guard = self.write_guard();
            let dir = self.partition_dir(file.table, file.partition, file.day)?;
            let (lo, hi) = file.seqs;
            self.publish(&staged, &dir, &part_name(lo, hi))?;
            progress.bytes += staged.bytes;
            progress.files += 1;
            progress.done.insert((file.table, file.day));
        }
        Ok(())
    }
}

impl Lake {
    /// Writes `batch` as `dir/name` atomically and durably: [`Lake::stage`], then
    /// [`Lake::publish`]. Returns the bytes written.
    pub(crate) fn durable_write(
        &self,
        dir: &Path,
        name: &str,
        batch: &RecordBatch,
        properties: WriterProperties,
    ) -> Result<u64> {
        let staged = self.stage(batch, properties)?;
        self.publish(&staged, dir, name)?;
        Ok(staged.bytes)
    }

    /// Writes `batch` as a new Parquet file in staging, outside every table, and fsyncs it.
    fn stage(&self, batch: &RecordBatch, properties: WriterProperties) -> Result<Staged> {
        // A unique name, so concurrent writers never share a file.
        let path = self.root.join(STAGING).join(part_name(0, 0));
        let file = create_file(&path).map_err(Error::io(&path))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
            .map_err(Error::parquet(&path))?;
        writer.write(batch).map_err(Error::parquet(&path))?;
        let file = writer.into_inner().map_err(Error::parquet(&path))?;
        file.sync_all().map_err(Error::io(&path))?;
        let bytes = file.metadata().map_err(Error::io(&path))?.len();
        Ok(Staged { path, bytes })
    }

    /// Moves a staged file to `dir/name` atomically and makes the move durable: fsyncs the
    /// directory (and its parent when it was created). On failure the file is in neither place,
    /// so a retry cannot store its rows twice.
    fn publish(&self, staged: &Staged, dir: &Path, name: &str) -> Result<()> {
        let discard = |e: Error, path: &Path| {
            let _ = std::fs::remove_file(path);
            e
        };
        let created_dir = !dir.exists();
        create_dirs(dir).map_err(|e| discard(Error::io(dir)(e), &staged.path))?;
        let target = dir.join(name);
        std::fs::rename(&staged.path, &target)
            .map_err(|e| discard(Error::io(&target)(e), &staged.path))?;
        sync_dir(dir).map_err(|e| discard(e, &target))?;
        if created_dir && let Some(parent) = dir.parent() {
            sync_dir(parent).map_err(|e| discard(e, &target))?;
        }
        Ok(())
    }

    /// Removes staged files left by a writer that died before publishing them (an hour old:
    /// no live writer takes that long).
    pub(crate) fn clear_stale_staging(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join(STAGING)) else {
            return;
        };
        for entry in entries.flatten() {
            let age = entry.metadata().and_then(|m| m.modified()).ok();
            if age
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Replaces the snapshot `name` (a projection's state) atomically, with key-value metadata.
    pub fn write_snapshot(
        &self,
        name: &str,
        batch: &RecordBatch,
        metadata: Vec<(String, String)>,
    ) -> Result<u64> {
        let metadata = metadata
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_key_value_metadata(Some(metadata))
            .build();
        let dir = self.root.join(SNAPSHOTS);
        self.durable_write(&dir, &format!("{name}.parquet"), batch, properties)
    }

    /// Reads the snapshot `name`, when there is one: its batches and key-value metadata.
    pub fn read_snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        let path = self.root.join(SNAPSHOTS).join(format!("{name}.parquet"));
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path)(e)),
        };
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(&path))?;
        let metadata = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
            .collect();
        let batches = builder
            .build()
            .map_err(Error::parquet(&path))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Snapshot { batches, metadata }))
    }

    /// Removes the snapshot `name`, if any.
    pub fn remove_snapshot(&self, name: &str) -> Result<()> {
        let path = self.root.join(SNAPSHOTS).join(format!("{name}.parquet"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path)(e)),
            _ => Ok(()),
        }
    }
}

/// A durable file in staging, not yet in any table.
struct Staged {
    path: PathBuf,
    bytes: u64,
}

/// A stored snapshot: its rows and key-value metadata.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Key-value metadata written with it.
    pub metadata: std::collections::HashMap<String, String>,
}

/// Snapshots of projections live here, outside every table directory.
const SNAPSHOTS: &str = "projections";

/// Temporary files are written here, outside every table directory, so no reader sees them.
const STAGING: &str = "_staging";

/// A unique file name recording the stream sequences it holds.
pub(crate) fn part_name(lo: u64, hi: u64) -> String {
    let unique = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "part-{lo:020}-{hi:020}-{}-{unique}.parquet",
        std::process::id()
    )
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

/// How a table's `batch` is written: see the comments within.
pub(crate) fn writer_properties(batch: &RecordBatch) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("3 is a valid zstd level"),
        ))
        // Files hold a partition's day, ordered by type, agency and time: row-group statistics
        // prune as well as page indexes would, for less work and fewer bytes.
        .set_statistics_enabled(EnabledStatistics::Chunk);
    // Ids are unique: a dictionary only adds indices before it gives up, and random UUID bytes
    // do not compress.
    builder = builder
        .set_column_dictionary_enabled(ColumnPath::from("event_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from(UUID_COLUMN), false);
    // Not worth a zstd context per column and file (its set-up costs more than compressing):
    // random UUID bytes, delta-packed sequences, and the enumerations, flags and constants,
    // which dictionary and run-length encoding already make a few bits a row.
    for column in [
        UUID_COLUMN,
        "stream_seq",
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
    // Nor are columns without a value in this file (an event type's own fields, in a file of
    // other types; text ids, when all are UUIDs): their pages are a few bits of levels.
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if column.null_count() == column.len() {
            builder = builder.set_column_compression(
                ColumnPath::from(field.name().as_str()),
                Compression::UNCOMPRESSED,
            );
        }
    }
    // Encodings measured on a simulated million events (bytes per event after zstd):
    // - sequences run in order within a (type, agency) group: small deltas;
    // - times too, but their deltas are large, and zstd does better with the bytes of each
    //   value split into streams (3.8 against 4.2 as deltas);
    // - dossier ids of one agency share long prefixes (2.5 with prefix deltas, 3.7 as a
    //   dictionary).
    for (column, encoding) in [
        ("stream_seq", Encoding::DELTA_BINARY_PACKED),
        ("occurred_at", Encoding::BYTE_STREAM_SPLIT),
        ("dossier_id", Encoding::DELTA_BYTE_ARRAY),
    ] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), encoding);
    }
    builder.build()
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn ts_builder(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

/// Builds the Arrow batch of `events` rows in the order given.
fn events_batch(events: &[StoredEvent<'_>], ingested_at: DateTime<Utc>) -> Result<RecordBatch> {
    let n = events.len();
    // Sized for the text they will hold: no reallocation, no memory asked for and left unused.
    let mut bytes = [0; 8];
    for stored in events {
        let e = &stored.event;
        let optional = |text: Option<&str>| text.map_or(0, str::len);
        for (total, len) in bytes.iter_mut().zip([
            e.event_id.len(),
            e.source.len(),
            e.agency_code.len(),
            optional(e.dossier_id.as_deref()),
            optional(e.procedure_code.as_deref()),
            e.data_json.len(),
            optional(e.extra_json.as_deref()),
            e.event_type().as_str().len(),
        ]) {
            *total += len;
        }
    }
    let [
        mut id,
        mut source,
        mut agency,
        mut dossier,
        mut procedure,
        mut data,
        mut extra,
        mut ty,
    ] = bytes.map(|total| StringBuilder::with_capacity(n, total));
    // Short values of one type each, null in the rows of other types: left to grow.
    let text = || StringBuilder::with_capacity(n, 0);
    let (mut channel, mut online_mode, mut mode, mut kind, mut outcome, mut portal, mut letter) =
        (text(), text(), text(), text(), text(), text(), text());
    let mut uuid = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut version = Int32Builder::with_capacity(n);
    let (mut occurred, mut due, mut new_due, mut ingested) =
        (ts_builder(n), ts_builder(n), ts_builder(n), ts_builder(n));
    let mut digitized = BooleanBuilder::with_capacity(n);
    let mut seq = UInt64Builder::with_capacity(n);

    for stored in events {
        let e = &stored.event;
        match crate::uuid::parse(&e.event_id) {
            Some(bytes) => {
                id.append_null();
                uuid.append_value(bytes)?;
            }
            None => {
                id.append_value(&*e.event_id);
                uuid.append_null();
            }
        }
        ty.append_value(e.event_type().as_str());
        version.append_value(e.schema_version);
        occurred.append_value(micros(e.occurred_at));
        source.append_value(&e.source);
        agency.append_value(&e.agency_code);
        dossier.append_option(e.dossier_id.as_deref());
        procedure.append_option(e.procedure_code.as_deref());
        data.append_value(&e.data_json);
        extra.append_option(e.extra_json.as_deref());
        ingested.append_value(micros(ingested_at));
        seq.append_value(stored.stream_seq);

        // Typed data columns: each type fills its own and leaves the others null.
        let mut row = TypedRow::default();
        match &e.data {
            EventData::DossierReceived {
                channel,
                due_at,
                online_mode,
            } => {
                row.channel = Some(channel.as_str());
                row.due_at = Some(*due_at);
                row.online_mode = online_mode.map(|m| m.as_str());
            }
            EventData::OnlineApplication { mode, portal } => {
                row.mode = Some(mode.as_str());
                row.portal = portal.map(|p| p.as_str());
            }
            EventData::PostalSubmission { kind } => row.kind = Some(kind.as_str()),
            EventData::DossierLate { due_at } => row.due_at = Some(*due_at),
            EventData::DossierApology {
                new_due_at,
                letter_no,
            } => {
                row.new_due_at = Some(*new_due_at);
                row.letter_no = letter_no.as_deref();
            }
            EventData::DossierResolved { outcome, digitized } => {
                row.outcome = Some(outcome.as_str());
                row.digitized = *digitized;
            }
            // Their deadline is `due_at`; the rest of their fields is in `data` only.
            EventData::PlanActivity { due_at, .. } | EventData::DirectiveTask { due_at, .. } => {
                row.due_at = Some(*due_at)
            }
            EventData::ParScore { .. } => {}
        }
        channel.append_option(row.channel);
        online_mode.append_option(row.online_mode);
        due.append_option(row.due_at.map(micros));
        mode.append_option(row.mode);
        kind.append_option(row.kind);
        new_due.append_option(row.new_due_at.map(micros));
        outcome.append_option(row.outcome);
        digitized.append_option(row.digitized);
        portal.append_option(row.portal);
        letter.append_option(row.letter_no);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(uuid.finish()),
        Arc::new(ty.finish()),
        Arc::new(version.finish()),
        Arc::new(occurred.finish()),
        Arc::new(source.finish()),
        Arc::new(agency.finish()),
        Arc::new(dossier.finish()),
        Arc::new(procedure.finish()),
        Arc::new(channel.finish()),
        Arc::new(online_mode.finish()),
        Arc::new(due.finish()),
        Arc::new(mode.finish()),
        Arc::new(kind.finish()),
        Arc::new(new_due.finish()),
        Arc::new(outcome.finish()),
        Arc::new(digitized.finish()),
        Arc::new(portal.finish()),
        Arc::new(letter.finish()),
        Arc::new(data.finish()),
        Arc::new(extra.finish()),
        Arc::new(ingested.finish()),
        Arc::new(seq.finish()),
    ];
    batch(events_schema(), columns)
}

/// The typed data columns of one event row.
#[derive(Default)]
struct TypedRow<'a> {
    channel: Option<&'a str>,
    online_mode: Option<&'a str>,
    due_at: Option<DateTime<Utc>>,
    mode: Option<&'a str>,
    kind: Option<&'a str>,
    new_due_at: Option<DateTime<Utc>>,
    outcome: Option<&'a str>,
    digitized: Option<bool>,
    portal: Option<&'a str>,
    letter_no: Option<&'a str>,
}

fn rejected_batch(rows: &[&RejectedMessage]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut subject = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut raw_bytes = BinaryBuilder::new();
    let mut reason = StringBuilder::new();
    let mut fault = StringBuilder::new();
    let mut agency = StringBuilder::new();
    let mut received = ts_builder(n);
    let mut seq = UInt64Builder::with_capacity(n);
    for r in rows {
        subject.append_value(&r.subject);
        raw.append_option(std::str::from_utf8(&r.raw).ok());
        raw_bytes.append_value(&r.raw);
        reason.append_value(&r.reason);
        fault.append_value(r.fault);
        agency.append_option(claimed_agency(&r.raw));
        received.append_value(micros(r.received_at));
        seq.append_value(r.stream_seq);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(subject.finish()),
        Arc::new(raw.finish()),
        Arc::new(raw_bytes.finish()),
        Arc::new(reason.finish()),
        Arc::new(fault.finish()),
        Arc::new(agency.finish()),
        Arc::new(received.finish()),
        Arc::new(seq.finish()),
    ];
    batch(rejected_schema(), columns)
}

/// The agency a rejected body names, if it is a JSON object with a string `agency_code`.
fn claimed_agency(raw: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claim {
        agency_code: Option<String>,
    }
    serde_json::from_slice::<Claim>(raw).ok()?.agency_code
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(schema, columns)?)
}
