//! Query results as JSON (api-v1 shape), CSV or Arrow IPC stream.

use std::time::Duration;

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use parwatch_lake::QueryOutput;
use warp::http::header;
use warp::reply::Response;

use crate::error::ApiError;

/// Output format of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Csv,
    Arrow,
}

impl Format {
    pub(crate) fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("arrow") => Ok(Format::Arrow),
            Some(other) => Err(format!(
                "unknown format {other:?}: expected json, csv or arrow"
            )),
        }
    }
}

pub(crate) fn reply(
    output: &QueryOutput,
    format: Format,
    elapsed: Duration,
) -> Result<Response, ApiError> {
    let internal = |e: datafusion::arrow::error::ArrowError| ApiError::Internal(e.to_string());
    let (body, content_type) = match format {
        Format::Json => (json(output, elapsed).map_err(internal)?, "application/json"),
        Format::Csv => (csv(output).map_err(internal)?, "text/csv; charset=utf-8"),
        Format::Arrow => (
            arrow(output).map_err(internal)?,
            "application/vnd.apache.arrow.stream",
        ),
    };
    let mut response = Response::new(body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    Ok(response)
}

type ArrowResult<T> = Result<T, datafusion::arrow::error::ArrowError>;

/// `{"columns":[{"name","type"}],"rows":[[...]],"row_count":N,"elapsed_ms":X}`, written
/// straight from the Arrow arrays.
fn json(output: &QueryOutput, elapsed: Duration) -> ArrowResult<Vec<u8>> {
    let columns: Vec<_> = output
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"columns\":");
    out.extend_from_slice(serde_json::Value::from(columns).to_string().as_bytes());
    out.extend_from_slice(b",\"rows\":[");
    let options = EncoderOptions::default();
    let mut first_row = true;
    for batch in &output.batches {
        let fields = batch.schema_ref().fields().clone();
        let mut encoders = fields
            .iter()
            .zip(batch.columns())
            .map(|(field, array)| make_encoder(field, array.as_ref(), &options))
            .collect::<ArrowResult<Vec<_>>>()?;
        for row in 0..batch.num_rows() {
            if !std::mem::take(&mut first_row) {
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
                    encoder.encode(row, &mut out);
                }
            }
            out.push(b']');
        }
    }
    let tail = format!(
        "],\"row_count\":{},\"elapsed_ms\":{:.3}}}",
        output.row_count(),
        elapsed.as_secs_f64() * 1000.0
    );
    out.extend_from_slice(tail.as_bytes());
    Ok(out)
}

fn csv(output: &QueryOutput) -> ArrowResult<Vec<u8>> {
    let mut writer = CsvWriterBuilder::new().with_header(true).build(Vec::new());
    for batch in &output.batches {
        writer.write(batch)?;
    }
    if output.batches.is_empty() {
        // The header alone, so an empty result is still a valid CSV with its columns.
        let names: Vec<_> = output
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        return Ok(format!("{}\n", names.join(",")).into_bytes());
    }
    Ok(writer.into_inner())
}

fn arrow(output: &QueryOutput) -> ArrowResult<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), &output.schema)?;
    for batch in &output.batches {
        writer.write(batch)?;
    }
    writer.into_inner()
}
