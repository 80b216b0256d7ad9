//! Query results as text: an aligned table, CSV, or JSON
//! `{"columns": [...], "rows": [[...], ...]}` (the shape of CONTRACT
//! section 6's `/api/sql`). Numbers and booleans stay JSON numbers and
//! booleans; timestamps are RFC 3339; everything else is its display text.

use std::io::Write;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

use crate::engine::QueryOutput;

/// How to print a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Writes `out` to `w` in `format`.
pub fn write(out: &QueryOutput, format: Format, w: &mut dyn Write) -> Result<(), ArrowError> {
    match format {
        Format::Table => {
            let options = FormatOptions::default().with_null("NULL");
            if out.batches.is_empty() {
                let table = arrow::util::pretty::pretty_format_batches_with_schema(
                    out.schema.clone(),
                    &[],
                )?;
                writeln!(w, "{table}")?;
            } else {
                let table = arrow::util::pretty::pretty_format_batches_with_options(
                    &out.batches,
                    &options,
                )?;
                writeln!(w, "{table}")?;
            }
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *w);
            if out.batches.is_empty() {
                let names: Vec<&str> = out
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                drop(writer);
                writeln!(w, "{}", names.join(","))?;
            } else {
                for batch in &out.batches {
                    // CSV has no dictionaries: decode them to plain strings.
                    let columns = batch
                        .columns()
                        .iter()
                        .map(plain)
                        .collect::<Result<Vec<_>, _>>()?;
                    let fields: Vec<_> = batch
                        .schema()
                        .fields()
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                        .collect();
                    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
                    writer.write(&arrow::record_batch::RecordBatch::try_new(schema, columns)?)?;
                }
            }
        }
        Format::Json => {
            serde_json::to_writer(&mut *w, &to_json(out)?)
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            writeln!(w)?;
        }
    }
    Ok(())
}

/// `{"columns": [names], "rows": [[values]]}`.
pub fn to_json(out: &QueryOutput) -> Result<Value, ArrowError> {
    let columns: Vec<Value> = out
        .schema
        .fields()
        .iter()
        .map(|f| Value::String(f.name().clone()))
        .collect();
    let mut rows: Vec<Value> = Vec::with_capacity(out.rows);
    for batch in &out.batches {
        let cols = batch
            .columns()
            .iter()
            .map(|c| json_values(c.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..batch.num_rows() {
            rows.push(Value::Array(cols.iter().map(|c| c[i].clone()).collect()));
        }
    }
    let mut obj = Map::new();
    obj.insert("columns".into(), Value::Array(columns));
    obj.insert("rows".into(), Value::Array(rows));
    Ok(Value::Object(obj))
}

/// Dictionary columns decoded to their value type; others as they are.
fn plain(c: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match c.data_type() {
        DataType::Dictionary(_, value) => arrow::compute::cast(c, value),
        _ => Ok(c.clone()),
    }
}

fn json_values(array: &dyn Array) -> Result<Vec<Value>, ArrowError> {
    macro_rules! ints {
        ($t:ty) => {
            array
                .as_primitive::<$t>()
                .iter()
                .map(|v| v.map_or(Value::Null, |v| Value::from(v)))
                .collect()
        };
    }
    macro_rules! floats {
        ($t:ty) => {
            array
                .as_primitive::<$t>()
                .iter()
                .map(|v| {
                    v.and_then(|v| Number::from_f64(f64::from(v)))
                        .map_or(Value::Null, Value::Number)
                })
                .collect()
        };
    }
    Ok(match array.data_type() {
        DataType::Null => vec![Value::Null; array.len()],
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Bool))
            .collect(),
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::Float32 => floats!(Float32Type),
        DataType::Float64 => floats!(Float64Type),
        DataType::Dictionary(_, value) => {
            let decoded = arrow::compute::cast(array, value)?;
            return json_values(decoded.as_ref());
        }
        _ => {
            let options = FormatOptions::default();
            let formatter = ArrayFormatter::try_new(array, &options)?;
            (0..array.len())
                .map(|i| {
                    if array.is_null(i) {
                        Value::Null
                    } else {
                        Value::String(formatter.value(i).to_string())
                    }
                })
                .collect()
        }
    })
}
