//! Arrow columns of the stored rows: builds the batches of `events` and `rejected_events`, one
//! column per entry of the catalogue (`catalogue.rs`). Called by `commit.rs` when a commit is
//! laid out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use parwatch_proto::{Event, EventData, local_date};

use crate::catalogue::{EventColumn, RejectedColumn};
use crate::error::Result;
use crate::rows::{RejectedMessage, StoredEvent};
use crate::schema::{events_schema, rejected_schema};

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Days since 1970-01-01 of the local date of `t`, as Arrow's Date32 counts them.
fn local_days(t: DateTime<Utc>) -> i32 {
    (local_date(t) - chrono::NaiveDate::default()).num_days() as i32
}

fn ts_builder(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

/// Builds the Arrow batch of `events` rows in the order given.
pub(crate) fn events_batch(
    events: &[&StoredEvent<'_>],
    ingested_at: DateTime<Utc>,
) -> Result<RecordBatch> {
    let mut b = EventBuilders::for_events(events);
    for stored in events {
        b.append(stored, ingested_at);
    }
    batch(
        events_schema(),
        EventColumn::ALL.iter().map(|&c| b.finish(c)),
    )
}

/// A builder per column of `events`.
struct EventBuilders {
    id: StringBuilder,
    ty: StringBuilder,
    version: Int32Builder,
    occurred: TimestampMicrosecondBuilder,
    source: StringBuilder,
    agency: StringBuilder,
    dossier: StringBuilder,
    procedure: StringBuilder,
    channel: StringBuilder,
    online_mode: StringBuilder,
    due: TimestampMicrosecondBuilder,
    mode: StringBuilder,
    kind: StringBuilder,
    new_due: TimestampMicrosecondBuilder,
    outcome: StringBuilder,
    digitized: BooleanBuilder,
    portal: StringBuilder,
    letter: StringBuilder,
    data: StringBuilder,
    extra: StringBuilder,
    ingested: TimestampMicrosecondBuilder,
    seq: Int64Builder,
    date: Date32Builder,
}

impl EventBuilders {
    /// Builders sized for `events`: the text columns every row fills hold their total length,
    /// so nothing is reallocated and no memory is asked for and left unused.
    fn for_events(events: &[&StoredEvent<'_>]) -> Self {
        let n = events.len();
        let sized = |len: fn(&Event<'_>) -> usize| {
            let total = events.iter().map(|s| len(&s.event)).sum();
            StringBuilder::with_capacity(n, total)
        };
        // Short values of one type each, null in the rows of other types: left to grow.
        let short = || StringBuilder::with_capacity(n, 0);
        Self {
            id: sized(|e| e.event_id.len()),
            ty: sized(|e| e.event_type().as_str().len()),
            version: Int32Builder::with_capacity(n),
            occurred: ts_builder(n),
            source: sized(|e| e.source.len()),
            agency: sized(|e| e.agency_code.len()),
            dossier: sized(|e| e.dossier_id.as_deref().map_or(0, str::len)),
            procedure: sized(|e| e.procedure_code.as_deref().map_or(0, str::len)),
            channel: short(),
            online_mode: short(),
            due: ts_builder(n),
            mode: short(),
            kind: short(),
            new_due: ts_builder(n),
            outcome: short(),
            digitized: BooleanBuilder::with_capacity(n),
            portal: short(),
            letter: short(),
            data: sized(|e| e.data_json.len()),
            extra: sized(|e| e.extra_json.as_deref().map_or(0, str::len)),
            ingested: ts_builder(n),
            seq: Int64Builder::with_capacity(n),
            date: Date32Builder::with_capacity(n),
        }
    }

    /// Appends one row to every column.
    fn append(&mut self, stored: &StoredEvent<'_>, ingested_at: DateTime<Utc>) {
        let e = &stored.event;
        self.id.append_value(&*e.event_id);
        self.ty.append_value(e.event_type().as_str());
        self.version.append_value(e.schema_version);
        self.occurred.append_value(micros(e.occurred_at));
        self.source.append_value(&e.source);
        self.agency.append_value(&e.agency_code);
        self.dossier.append_option(e.dossier_id.as_deref());
        self.procedure.append_option(e.procedure_code.as_deref());
        self.data.append_value(&e.data_json);
        self.extra.append_option(e.extra_json.as_deref());
        self.ingested.append_value(micros(ingested_at));
        self.seq.append_value(stored.stream_seq as i64);
        self.date.append_value(local_days(e.occurred_at));

        // Typed data columns: each type fills its own and leaves the others null.
        let mut row = TypedRow::default();
        match &e.data {
            // The receiving point and area are in `data` only (the projection's `dossiers`).
            EventData::DossierReceived {
                channel,
                due_at,
                online_mode,
                ..
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
            // The columns of the same meaning: a petition's deadline, the appointment re-set
            // on supplement, the portal synced to; their other fields are in `data` only.
            EventData::PetitionReceived { due_at, .. } => row.due_at = Some(*due_at),
            EventData::SupplementProvided { new_due_at } => row.new_due_at = *new_due_at,
            EventData::DossierSynced { portal } => row.portal = Some(portal.as_str()),
            EventData::ParScore { .. }
            | EventData::AgencyRegistered { .. }
            | EventData::AgencyRenamed { .. }
            | EventData::AgencyMerged { .. }
            | EventData::AgencySplit { .. }
            | EventData::AgencyDissolved { .. }
            | EventData::SupplementRequested { .. }
            | EventData::FeeRequested { .. }
            | EventData::FeePaid { .. }
            | EventData::ComponentDigitised { .. }
            | EventData::ResultIssued { .. }
            | EventData::DossierRated { .. }
            | EventData::PetitionAnswered { .. }
            | EventData::ProcedureCatalogued { .. } => {}
        }
        self.channel.append_option(row.channel);
        self.online_mode.append_option(row.online_mode);
        self.due.append_option(row.due_at.map(micros));
        self.mode.append_option(row.mode);
        self.kind.append_option(row.kind);
        self.new_due.append_option(row.new_due_at.map(micros));
        self.outcome.append_option(row.outcome);
        self.digitized.append_option(row.digitized);
        self.portal.append_option(row.portal);
        self.letter.append_option(row.letter_no);
    }

    /// The finished values of `column`.
    fn finish(&mut self, column: EventColumn) -> ArrayRef {
        use EventColumn as C;
        match column {
            C::EventId => Arc::new(self.id.finish()),
            C::Type => Arc::new(self.ty.finish()),
            C::SchemaVersion => Arc::new(self.version.finish()),
            C::OccurredAt => Arc::new(self.occurred.finish()),
            C::Source => Arc::new(self.source.finish()),
            C::AgencyCode => Arc::new(self.agency.finish()),
            C::DossierId => Arc::new(self.dossier.finish()),
            C::ProcedureCode => Arc::new(self.procedure.finish()),
            C::Channel => Arc::new(self.channel.finish()),
            C::OnlineMode => Arc::new(self.online_mode.finish()),
            C::DueAt => Arc::new(self.due.finish()),
            C::Mode => Arc::new(self.mode.finish()),
            C::Kind => Arc::new(self.kind.finish()),
            C::NewDueAt => Arc::new(self.new_due.finish()),
            C::Outcome => Arc::new(self.outcome.finish()),
            C::Digitized => Arc::new(self.digitized.finish()),
            C::Portal => Arc::new(self.portal.finish()),
            C::LetterNo => Arc::new(self.letter.finish()),
            C::Data => Arc::new(self.data.finish()),
            C::Extra => Arc::new(self.extra.finish()),
            C::IngestedAt => Arc::new(self.ingested.finish()),
            C::StreamSeq => Arc::new(self.seq.finish()),
            C::EventDate => Arc::new(self.date.finish()),
        }
    }
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

/// Builds the Arrow batch of rejected messages in the order given.
pub(crate) fn rejected_batch(rows: &[&RejectedMessage]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut subject = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut raw_bytes = BinaryBuilder::new();
    let mut reason = StringBuilder::new();
    let mut fault = StringBuilder::new();
    let mut agency = StringBuilder::new();
    let mut received = ts_builder(n);
    let mut seq = Int64Builder::with_capacity(n);
    let mut date = Date32Builder::with_capacity(n);
    for r in rows {
        subject.append_value(&r.subject);
        raw.append_option(std::str::from_utf8(&r.raw).ok());
        raw_bytes.append_value(&r.raw);
        reason.append_value(&r.reason);
        fault.append_value(r.fault);
        agency.append_option(claimed_agency(&r.raw));
        received.append_value(micros(r.received_at));
        seq.append_value(r.stream_seq as i64);
        date.append_value(local_days(r.received_at));
    }
    let mut column = |c: RejectedColumn| -> ArrayRef {
        use RejectedColumn as C;
        match c {
            C::Subject => Arc::new(subject.finish()),
            C::Raw => Arc::new(raw.finish()),
            C::RawBytes => Arc::new(raw_bytes.finish()),
            C::Reason => Arc::new(reason.finish()),
            C::Fault => Arc::new(fault.finish()),
            C::AgencyCode => Arc::new(agency.finish()),
            C::ReceivedAt => Arc::new(received.finish()),
            C::StreamSeq => Arc::new(seq.finish()),
            C::ReceivedDate => Arc::new(date.finish()),
        }
    };
    batch(
        rejected_schema(),
        RejectedColumn::ALL.iter().map(|&c| column(c)),
    )
}

/// The agency a rejected body names, if it is a JSON object with a string `agency_code`.
fn claimed_agency(raw: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claim {
        agency_code: Option<String>,
    }
    serde_json::from_slice::<Claim>(raw).ok()?.agency_code
}

/// The batch of `columns`, one per catalogue entry in stored order; Arrow checks each against
/// the schema's type and nullability.
fn batch(schema: SchemaRef, columns: impl Iterator<Item = ArrayRef>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(schema, columns.collect())?)
}
