//! Arrow columns of the stored rows: builds the batches of `events` and `rejected_events` in the
//! column order of `schema.rs`. Called by `commit.rs` when a commit is laid out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use parwatch_proto::{EventData, local_date};

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
    events: &[StoredEvent<'_>],
    ingested_at: DateTime<Utc>,
) -> Result<RecordBatch> {
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
    let mut version = Int32Builder::with_capacity(n);
    let (mut occurred, mut due, mut new_due, mut ingested) =
        (ts_builder(n), ts_builder(n), ts_builder(n), ts_builder(n));
    let mut digitized = BooleanBuilder::with_capacity(n);
    let mut seq = Int64Builder::with_capacity(n);
    let mut date = Date32Builder::with_capacity(n);

    for stored in events {
        let e = &stored.event;
        id.append_value(&*e.event_id);
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
        seq.append_value(stored.stream_seq as i64);
        date.append_value(local_days(e.occurred_at));

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
        Arc::new(date.finish()),
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
    let columns: Vec<ArrayRef> = vec![
        Arc::new(subject.finish()),
        Arc::new(raw.finish()),
        Arc::new(raw_bytes.finish()),
        Arc::new(reason.finish()),
        Arc::new(fault.finish()),
        Arc::new(agency.finish()),
        Arc::new(received.finish()),
        Arc::new(seq.finish()),
        Arc::new(date.finish()),
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
