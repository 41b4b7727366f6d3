//! Query results streamed as JSON (api-v1 shape), CSV, Arrow IPC stream or Parquet.
//!
//! A task pulls batches from the query, encodes each and hands the bytes to the response body,
//! so a large result never sits whole in memory; a client that goes away cancels the query.
//! A failure after the first bytes (a limit reached mid-way) ends a JSON body with an `error`
//! member and aborts the other formats' bodies, so a truncated result is never mistaken for
//! a complete one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use parwatch_auth::{Audit, BudgetPermit};
use parwatch_lake::QueryStream;
use tokio::sync::mpsc;
use warp::http::header;
use warp::reply::Response;

use crate::telemetry::Telemetry;

/// Output format of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Csv,
    Arrow,
    Parquet,
}

impl Format {
    pub(crate) fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("arrow") => Ok(Format::Arrow),
            Some("parquet") => Ok(Format::Parquet),
            Some(other) => Err(format!(
                "unknown format {other:?}: expected json, csv, arrow or parquet"
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// Downloads get a file name; JSON is for scripts and pages.
    fn attachment(self) -> Option<&'static str> {
        match self {
            Format::Json => None,
            Format::Csv => Some("attachment; filename=\"parwatch-query.csv\""),
            Format::Arrow => Some("attachment; filename=\"parwatch-query.arrows\""),
            Format::Parquet => Some("attachment; filename=\"parwatch-query.parquet\""),
        }
    }
}

/// What a finished (or failed) response reports to: the audit line, counters, the budget slot.
pub(crate) struct Finish {
    pub(crate) audit: Audit,
    /// Released as soon as the last row is encoded, before the client reads it.
    pub(crate) permit: Option<BudgetPermit>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) started: Instant,
}

/// Encoded chunks in flight between the encoding task and the body.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The streaming response for a running query.
pub(crate) fn respond(rows: QueryStream, format: Format, finish: Finish) -> Response {
    let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    tokio::spawn(pump(rows, format, finish, sender));
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = warp::reply::Reply::into_response(warp::reply::stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(format.content_type()),
    );
    if let Some(disposition) = format.attachment() {
        headers.insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_static(disposition),
        );
    }
    response
}

/// Pulls, encodes and sends every batch; ends the body cleanly or with the error.
async fn pump(
    mut rows: QueryStream,
    format: Format,
    mut finish: Finish,
    sender: mpsc::Sender<std::io::Result<Bytes>>,
) {
    let gone = || Failure::Abort("the client went away".to_owned());
    let outcome: Result<(), Failure> = async {
        let mut encoder = Encoder::new(format, rows.schema()).map_err(Failure::abort)?;
        let head = encoder.head();
        if !head.is_empty() && sender.send(Ok(head)).await.is_err() {
            return Err(gone());
        }
        while let Some(batch) = rows.next().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    let message = e.to_string();
                    finish.permit = None;
                    return match encoder.abort(&message, rows.rows(), &finish) {
                        // Said in the body: the response itself ends well-formed.
                        Some(tail) => {
                            let _ = sender.send(Ok(tail)).await;
                            Err(Failure::InBand(message))
                        }
                        None => Err(Failure::Abort(message)),
                    };
                }
            };
            finish.audit.add_rows(batch.num_rows());
            let chunk = encoder.batch(&batch).map_err(Failure::abort)?;
            if !chunk.is_empty() && sender.send(Ok(chunk)).await.is_err() {
                return Err(gone());
            }
        }
        let tail = encoder
            .finish(rows.rows(), &finish)
            .map_err(Failure::abort)?;
        finish.permit = None;
        sender.send(Ok(tail)).await.map_err(|_| gone())
    }
    .await;
    let telemetry = &finish.telemetry;
    telemetry.query_micros.fetch_add(
        finish.started.elapsed().as_micros() as u64,
        Ordering::Relaxed,
    );
    match outcome {
        Ok(()) => {
            telemetry.queries_ok.fetch_add(1, Ordering::Relaxed);
        }
        Err(failure) => {
            telemetry.queries_failed.fetch_add(1, Ordering::Relaxed);
            match failure {
                Failure::InBand(message) => finish.audit.fail(&message),
                Failure::Abort(message) => {
                    finish.audit.fail(&message);
                    // Aborts the body (if the client is still there): the transfer ends
                    // incomplete, never looking like a whole result.
                    let _ = sender.send(Err(std::io::Error::other(message))).await;
                }
            }
        }
    }
}

/// How a response that cannot complete ends.
enum Failure {
    /// The error is written into the body (JSON), which stays well-formed.
    InBand(String),
    /// The body is cut off.
    Abort(String),
}

impl Failure {
    fn abort(e: impl std::fmt::Display) -> Self {
        Failure::Abort(e.to_string())
    }
}

type ArrowResult<T> = Result<T, datafusion::arrow::error::ArrowError>;

/// Per-format encoding state.
enum Encoder {
    /// Whether no row went out yet (no comma before the next).
    Json {
        schema: SchemaRef,
        first_row: bool,
    },
    /// Whether the header is still to be written.
    Csv {
        schema: SchemaRef,
        header: bool,
    },
    Arrow(Box<StreamWriter<Vec<u8>>>),
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(format: Format, schema: SchemaRef) -> ArrowResult<Self> {
        Ok(match format {
            Format::Json => Encoder::Json {
                schema,
                first_row: true,
            },
            Format::Csv => Encoder::Csv {
                schema,
                header: true,
            },
            Format::Arrow => Encoder::Arrow(Box::new(StreamWriter::try_new(Vec::new(), &schema)?)),
            Format::Parquet => Encoder::Parquet(Box::new(
                ArrowWriter::try_new(Vec::new(), schema, None)
                    .map_err(|e| datafusion::arrow::error::ArrowError::ExternalError(e.into()))?,
            )),
        })
    }

    /// The opening bytes: JSON's column list (the other formats open with their first batch).
    fn head(&self) -> Bytes {
        match self {
            Encoder::Json { schema, .. } => json_head(schema).into(),
            _ => Bytes::new(),
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> ArrowResult<Bytes> {
        let mut out = Vec::new();
        match self {
            Encoder::Json { first_row, .. } => json_rows(batch, first_row, &mut out)?,
            Encoder::Csv { header, .. } => {
                let mut writer = CsvWriterBuilder::new()
                    .with_header(std::mem::take(header))
                    .build(&mut out);
                writer.write(batch)?;
            }
            Encoder::Arrow(writer) => {
                writer.write(batch)?;
                out = std::mem::take(writer.get_mut());
            }
            Encoder::Parquet(writer) => {
                writer
                    .write(batch)
                    .map_err(|e| datafusion::arrow::error::ArrowError::ExternalError(e.into()))?;
                out = std::mem::take(writer.inner_mut());
            }
        }
        Ok(out.into())
    }

    /// The closing bytes of a complete result.
    fn finish(&mut self, rows: usize, finish: &Finish) -> ArrowResult<Bytes> {
        let mut out = Vec::new();
        match self {
            Encoder::Json { .. } => out = json_tail(rows, finish, None),
            Encoder::Csv { schema, header } => {
                if *header {
                    // No rows: the header alone, so the CSV still names its columns.
                    let names: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    out = format!("{}\n", names.join(",")).into_bytes();
                }
            }
            Encoder::Arrow(writer) => {
                writer.finish()?;
                out = std::mem::take(writer.get_mut());
            }
            Encoder::Parquet(writer) => {
                writer
                    .finish()
                    .map_err(|e| datafusion::arrow::error::ArrowError::ExternalError(e.into()))?;
                out = std::mem::take(writer.inner_mut());
            }
        }
        Ok(out.into())
    }

    /// JSON's in-band end for a failure mid-way; `None` for formats that cannot say it.
    fn abort(&self, message: &str, rows: usize, finish: &Finish) -> Option<Bytes> {
        match self {
            Encoder::Json { .. } => Some(json_tail(rows, finish, Some(message)).into()),
            _ => None,
        }
    }
}

/// `{"columns":[{"name","type"}],"rows":[`.
fn json_head(schema: &SchemaRef) -> Vec<u8> {
    let mut out = Vec::new();
    let columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    out.extend_from_slice(b"{\"columns\":");
    out.extend_from_slice(serde_json::Value::from(columns).to_string().as_bytes());
    out.extend_from_slice(b",\"rows\":[");
    out
}

/// Each row as a JSON array, written straight from the Arrow arrays.
fn json_rows(batch: &RecordBatch, first_row: &mut bool, out: &mut Vec<u8>) -> ArrowResult<()> {
    let options = EncoderOptions::default();
    let fields = batch.schema_ref().fields().clone();
    let mut encoders = fields
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| make_encoder(field, array.as_ref(), &options))
        .collect::<ArrowResult<Vec<_>>>()?;
    for row in 0..batch.num_rows() {
        if !std::mem::take(first_row) {
            out.push(b',');
        }
        out.push(b'[');
        for (i, encoder) in encoders.iter_mut().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if encoder.is_null(row) {
                out.extend_from_slice(b"null");
            } else {
                encoder.encode(row, out);
            }
        }
        out.push(b']');
    }
    Ok(())
}

/// `],"row_count":N,"elapsed_ms":X}`, with `"error"` when the result is incomplete.
fn json_tail(rows: usize, finish: &Finish, error: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let elapsed_ms = finish.started.elapsed().as_secs_f64() * 1000.0;
    out.extend_from_slice(
        format!("],\"row_count\":{rows},\"elapsed_ms\":{elapsed_ms:.3}").as_bytes(),
    );
    if let Some(error) = error {
        out.extend_from_slice(b",\"error\":");
        out.extend_from_slice(serde_json::Value::from(error).to_string().as_bytes());
    }
    out.push(b'}');
    out
}
