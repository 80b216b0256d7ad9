//! A query result as an HTTP response body: JSON, CSV or an Arrow IPC stream.
//!
//! JSON is `{"columns": [names], "types": [types], "rows": [[values]]}`:
//! `columns` holds the column names as strings, in order; `types` (an
//! addition to CONTRACT section 6) holds each column's Arrow data type as
//! text (`Int64`, `Utf8`, `Timestamp(ms, "UTC")`...); each row is an array
//! in column order. Integers, floats and booleans are JSON numbers and
//! booleans, NULL is `null`, timestamps are RFC 3339 strings, everything
//! else its display text. CSV has a header line. Arrow is the IPC streaming
//! format (`application/vnd.apache.arrow.stream`), types kept exactly.

use analytics::QueryOutput;
use arrow::datatypes::DataType;
use arrow::ipc::writer::StreamWriter;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::ApiError;

/// The MIME type of the Arrow IPC streaming format.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// How a result is sent back (`?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultFormat {
    #[default]
    Json,
    Csv,
    Arrow,
}

impl ResultFormat {
    /// Parses `json`, `csv` or `arrow` (case-insensitive).
    pub fn parse(s: &str) -> Result<ResultFormat, ApiError> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(ResultFormat::Json),
            "csv" => Ok(ResultFormat::Csv),
            "arrow" => Ok(ResultFormat::Arrow),
            _ => Err(ApiError::bad_request(format!(
                "unknown format `{}`: use json, csv or arrow",
                s.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// Encodes `out` off the async threads (a big result is CPU work) and
/// builds the response; `name` names a CSV download.
pub(crate) async fn respond(
    out: QueryOutput,
    format: ResultFormat,
    name: &str,
) -> Result<Response, ApiError> {
    let body = tokio::task::spawn_blocking(move || encode(&out, format))
        .await
        .map_err(|e| internal(format!("encoding task failed: {e}")))??;
    let content_type = match format {
        ResultFormat::Json => "application/json",
        ResultFormat::Csv => "text/csv; charset=utf-8",
        ResultFormat::Arrow => ARROW_STREAM,
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if format == ResultFormat::Csv {
        let disposition = format!("attachment; filename=\"{name}.csv\"");
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}

fn internal(message: String) -> ApiError {
    tracing::error!(%message, "encoding a result failed");
    ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// The body bytes of `out` in `format`.
pub fn encode(out: &QueryOutput, format: ResultFormat) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    match format {
        ResultFormat::Json => {
            let mut value = analytics::format::to_json(out)
                .map_err(|e| internal(format!("encoding JSON: {e}")))?;
            if let Value::Object(map) = &mut value {
                let types = out
                    .schema
                    .fields()
                    .iter()
                    .map(|f| Value::String(type_name(f.data_type())))
                    .collect();
                map.insert("types".into(), Value::Array(types));
            }
            serde_json::to_writer(&mut body, &value)
                .map_err(|e| internal(format!("encoding JSON: {e}")))?;
        }
        ResultFormat::Csv => {
            analytics::format::write(out, analytics::Format::Csv, &mut body)
                .map_err(|e| internal(format!("encoding CSV: {e}")))?;
        }
        ResultFormat::Arrow => {
            // Batches carry the exact schema (dictionaries included).
            let schema = out
                .batches
                .first()
                .map_or_else(|| out.schema.clone(), |b| b.schema());
            let mut writer = StreamWriter::try_new(&mut body, &schema)
                .map_err(|e| internal(format!("encoding Arrow: {e}")))?;
            for batch in &out.batches {
                writer
                    .write(batch)
                    .map_err(|e| internal(format!("encoding Arrow: {e}")))?;
            }
            writer
                .finish()
                .map_err(|e| internal(format!("encoding Arrow: {e}")))?;
        }
    }
    Ok(body)
}

/// A column's type as JSON shows it: dictionaries by their value type,
/// since their values are sent decoded.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Dictionary(_, value) => type_name(value),
        t => t.to_string(),
    }
}
