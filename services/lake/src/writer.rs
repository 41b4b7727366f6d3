//! Durable Parquet writer: one file per partition touched by a commit, each written to
//! `_staging/`, fsynced, renamed into its partition directory and the directory fsynced.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Int32Builder, StringBuilder,
    TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use parwatch_proto::{Event, EventData, local_date};

use crate::error::{Error, Result};
use crate::schema::{
    EVENTS_PARTITION, EVENTS_TABLE, REJECTED_PARTITION, REJECTED_TABLE, events_schema,
    rejected_schema,
};
use crate::uuid::UUID_COLUMN;

/// A valid event with the JetStream stream sequence it arrived with.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The validated event.
    pub event: Event,
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
pub struct Commit {
    /// New (not yet stored) valid events.
    pub events: Vec<StoredEvent>,
    /// New rejected messages.
    pub rejected: Vec<RejectedMessage>,
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

impl Lake {
    /// Opens (creating when missing) the lake under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let root = data_dir.join("lake");
        for dir in [EVENTS_TABLE, REJECTED_TABLE, STAGING] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(Error::io(&path))?;
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

    /// Stores a commit durably, one file per partition it touches, skipping the partitions
    /// `progress` says are already written (retry the same commit with the same progress).
    /// Blocking: call from a blocking thread.
    ///
    /// When this returns `Ok`, every row of the commit is in a file that has been fsynced and
    /// atomically renamed into place, so the messages may be acknowledged.
    pub fn write(
        &self,
        commit: &Commit,
        ingested_at: DateTime<Utc>,
        progress: &mut WriteProgress,
    ) -> Result<()> {
        let _guard = self.write_guard();
        let mut by_day: BTreeMap<NaiveDate, Vec<&StoredEvent>> = BTreeMap::new();
        for e in &commit.events {
            by_day
                .entry(local_date(e.event.occurred_at))
                .or_default()
                .push(e);
        }
        for (day, mut events) in by_day {
            if progress.done.contains(&(EVENTS_TABLE, day)) {
                continue;
            }
            // Grouping by type and agency, then time, makes columns compress well and lets
            // row-group statistics prune agency and time filters.
            fn key(e: &StoredEvent) -> (&'static str, &str, DateTime<Utc>) {
                let e = &e.event;
                (e.event_type().as_str(), &e.agency_code, e.occurred_at)
            }
            events.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
            let batch = events_batch(&events, ingested_at)?;
            let seqs = events.iter().map(|e| e.stream_seq);
            self.write_file(EVENTS_TABLE, EVENTS_PARTITION, day, &batch, seqs, progress)?;
        }
        let mut rejected_by_day: BTreeMap<NaiveDate, Vec<&RejectedMessage>> = BTreeMap::new();
        for r in &commit.rejected {
            rejected_by_day
                .entry(local_date(r.received_at))
                .or_default()
                .push(r);
        }
        for (day, rejected) in rejected_by_day {
            if progress.done.contains(&(REJECTED_TABLE, day)) {
                continue;
            }
            let batch = rejected_batch(&rejected)?;
            let seqs = rejected.iter().map(|r| r.stream_seq);
            self.write_file(
                REJECTED_TABLE,
                REJECTED_PARTITION,
                day,
                &batch,
                seqs,
                progress,
            )?;
        }
        Ok(())
    }

    fn write_file(
        &self,
        table: &'static str,
        partition: &str,
        day: NaiveDate,
        batch: &RecordBatch,
        seqs: impl Iterator<Item = u64>,
        progress: &mut WriteProgress,
    ) -> Result<()> {
        let (lo, hi) = seqs.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        let dir = self.partition_dir(table, partition, day)?;
        progress.bytes +=
            self.durable_write(&dir, &part_name(lo, hi), batch, writer_properties())?;
        progress.files += 1;
        progress.done.insert((table, day));
        Ok(())
    }
}

impl Lake {
    /// Writes `batch` as `dir/name` atomically and durably: to staging, fsync, rename, fsync
    /// the directory (and its parent when it was created). Returns the bytes written.
    pub(crate) fn durable_write(
        &self,
        dir: &Path,
        name: &str,
        batch: &RecordBatch,
        properties: WriterProperties,
    ) -> Result<u64> {
        // Unique in staging, so concurrent writers of one name (snapshots) never share a file.
        let staging = self.root.join(STAGING).join(part_name(0, 0) + name);
        let created_dir = !dir.exists();
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;

        let file = File::create(&staging).map_err(Error::io(&staging))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
            .map_err(Error::parquet(&staging))?;
        writer.write(batch).map_err(Error::parquet(&staging))?;
        let file = writer.into_inner().map_err(Error::parquet(&staging))?;
        file.sync_all().map_err(Error::io(&staging))?;
        let bytes = file.metadata().map_err(Error::io(&staging))?.len();
        drop(file);

        let target = dir.join(name);
        std::fs::rename(&staging, &target).map_err(Error::io(&target))?;
        sync_dir(dir)?;
        if created_dir && let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        Ok(bytes)
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

pub(crate) fn writer_properties() -> WriterProperties {
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
        .set_column_dictionary_enabled(ColumnPath::from(UUID_COLUMN), false)
        .set_column_compression(ColumnPath::from(UUID_COLUMN), Compression::UNCOMPRESSED);
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
fn events_batch(events: &[&StoredEvent], ingested_at: DateTime<Utc>) -> Result<RecordBatch> {
    let n = events.len();
    let text = || StringBuilder::with_capacity(n, n * 16);
    let (mut id, mut ty, mut source, mut agency, mut dossier, mut procedure) =
        (text(), text(), text(), text(), text(), text());
    let (mut channel, mut online_mode, mut mode, mut kind, mut outcome, mut portal, mut letter) =
        (text(), text(), text(), text(), text(), text(), text());
    let (mut data, mut extra) = (text(), text());
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
                id.append_value(&e.event_id);
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
