//! Query results streamed as JSON (api-v1 shape), CSV, Arrow IPC stream or Parquet, and the
//! one CSV writer of the API ([`Csv`]), which neutralises text cells a spreadsheet would
//! take for a formula.
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
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
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
    /// The name a `format` parameter gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
            Format::Parquet => "parquet",
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
    /// The statement's running slot among all the server's; released with `permit`.
    pub(crate) slot: Option<parwatch_auth::BudgetPermit>,
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
                    finish.slot = None;
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
        finish.slot = None;
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
    /// The header goes out as the head.
    Csv(Box<Csv>),
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
            Format::Csv => {
                let mut csv = Csv::default();
                csv.header(schema.fields().iter().map(|f| f.name().as_str()))?;
                Encoder::Csv(Box::new(csv))
            }
            Format::Arrow => Encoder::Arrow(Box::new(StreamWriter::try_new(Vec::new(), &schema)?)),
            Format::Parquet => Encoder::Parquet(Box::new(
                ArrowWriter::try_new(Vec::new(), schema, None)
                    .map_err(|e| datafusion::arrow::error::ArrowError::ExternalError(e.into()))?,
            )),
        })
    }

    /// The opening bytes: JSON's column list, CSV's header (the binary formats open with
    /// their first batch).
    fn head(&mut self) -> Bytes {
        match self {
            Encoder::Json { schema, .. } => json_head(schema).into(),
            Encoder::Csv(csv) => csv.take().into(),
            _ => Bytes::new(),
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> ArrowResult<Bytes> {
        let mut out = Vec::new();
        match self {
            Encoder::Json { first_row, .. } => json_rows(batch, first_row, &mut out)?,
            Encoder::Csv(csv) => {
                csv.batch(batch)?;
                out = csv.take();
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
            Encoder::Csv(_) => {}
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

/// A query's JSON result, as [`respond`] streams it piece by piece (so never built whole).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SqlResult {
    /// The result's columns.
    columns: Vec<SqlColumn>,
    /// One array per row, values in column order.
    rows: Vec<Vec<serde_json::Value>>,
    /// Rows sent.
    row_count: u64,
    /// Time from the request to the last row, in milliseconds.
    elapsed_ms: f64,
    /// Why the result is incomplete, when a limit stopped it after its first rows (absent
    /// from a complete result).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
}

/// One column of a query's JSON result.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SqlColumn {
    /// Its name.
    name: String,
    /// Its Arrow type, e.g. `Utf8`, `Int64`, `Timestamp(Microsecond, Some("UTC"))`.
    #[serde(rename = "type")]
    data_type: String,
}

/// `{"columns":[{"name","type"}],"rows":[`.
fn json_head(schema: &SchemaRef) -> Vec<u8> {
    let mut out = Vec::new();
    let columns: Vec<SqlColumn> = schema
        .fields()
        .iter()
        .map(|f| SqlColumn {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
        })
        .collect();
    out.extend_from_slice(b"{\"columns\":");
    out.extend_from_slice(&serde_json::to_vec(&columns).unwrap_or_default());
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

/// A CSV cell: text is neutralised, numbers are written as they are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    Number(&'a str),
}

/// The characters that make a spreadsheet read a cell as a formula (or, for tab and carriage
/// return, hide one): `=`, `+`, `-`, `@`, as OWASP's CSV injection guidance lists them.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text`, prefixed with `'` when a spreadsheet would evaluate it (OWASP's neutralisation:
/// Excel, LibreOffice and Google Sheets then show it as text).
pub(crate) fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The API's CSV writer (SQL results, panel data, embeds): RFC 4180 quoting by the `csv`
/// crate, text cells neutralised, numeric columns untouched so `-3` stays a number.
#[derive(Debug)]
pub(crate) struct Csv {
    writer: csv::Writer<Vec<u8>>,
}

impl Default for Csv {
    fn default() -> Self {
        Self {
            writer: csv::Writer::from_writer(Vec::new()),
        }
    }
}

fn csv_error(e: csv::Error) -> datafusion::arrow::error::ArrowError {
    datafusion::arrow::error::ArrowError::CsvError(e.to_string())
}

impl Csv {
    /// The header line; column names are text (a SQL alias can be anything).
    pub(crate) fn header<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> ArrowResult<()> {
        self.record(names.into_iter().map(Cell::Text))
    }

    /// One line.
    pub(crate) fn record<'a>(
        &mut self,
        cells: impl IntoIterator<Item = Cell<'a>>,
    ) -> ArrowResult<()> {
        for cell in cells {
            match cell {
                Cell::Text(text) => self.writer.write_field(neutralise(text).as_bytes()),
                Cell::Number(number) => self.writer.write_field(number),
            }
            .map_err(csv_error)?;
        }
        self.writer.write_record(None::<&[u8]>).map_err(csv_error)
    }

    /// Every row of `batch`, formatted as Arrow displays values (nulls empty).
    pub(crate) fn batch(&mut self, batch: &RecordBatch) -> ArrowResult<()> {
        let options = FormatOptions::default().with_null("");
        let columns = batch
            .columns()
            .iter()
            .map(|array| {
                let numeric = array.data_type().is_numeric();
                ArrayFormatter::try_new(array.as_ref(), &options).map(|f| (f, numeric))
            })
            .collect::<ArrowResult<Vec<_>>>()?;
        let mut texts: Vec<String> = vec![String::new(); columns.len()];
        for row in 0..batch.num_rows() {
            for ((formatter, _), text) in columns.iter().zip(texts.iter_mut()) {
                text.clear();
                formatter
                    .value(row)
                    .write(text)
                    .map_err(|e| datafusion::arrow::error::ArrowError::CsvError(e.to_string()))?;
            }
            self.record(columns.iter().zip(&texts).map(|((_, numeric), text)| {
                if *numeric {
                    Cell::Number(text)
                } else {
                    Cell::Text(text)
                }
            }))?;
        }
        Ok(())
    }

    /// The bytes written since the last call.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let full = std::mem::replace(&mut self.writer, csv::Writer::from_writer(Vec::new()));
        // Flushing into a Vec cannot fail.
        full.into_inner().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_numbers_kept() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("=name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let texts = [
            "=1+2", "+A1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "a,b",
        ];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter(texts.iter().map(Some).chain([None]))),
                Arc::new(Int64Array::from_iter((0..9).map(|i| Some(-3 - i)))),
                Arc::new(Float64Array::from_iter(
                    (0..9).map(|i| Some(-0.5 * f64::from(i))),
                )),
            ],
        )
        .unwrap();
        let mut csv = Csv::default();
        csv.header(schema.fields().iter().map(|f| f.name().as_str()))
            .unwrap();
        csv.batch(&batch).unwrap();
        let text = String::from_utf8(csv.take()).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][0], "'=name");
        for (i, original) in texts.iter().enumerate() {
            let cell = &rows[i + 1][0];
            if *original == "plain" || *original == "a,b" {
                assert_eq!(cell, *original);
            } else {
                assert_eq!(cell, format!("'{original}"), "{original:?}");
            }
        }
        assert_eq!(&rows[9][0], "", "null is empty");
        assert_eq!(&rows[1][1], "-3", "a negative number stays a number");
        assert_eq!(&rows[2][2], "-0.5");
    }
}
