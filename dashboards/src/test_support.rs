//! Helpers shared by the crate's unit tests.

use std::sync::Arc;

/// NDJSON rows of `schema` as one batch (dictionary columns cast from text;
/// fields a line leaves out are null).
pub(crate) fn batch(
    schema: arrow::datatypes::SchemaRef,
    lines: &[String],
) -> arrow::record_batch::RecordBatch {
    use arrow::datatypes::{DataType, Field, Schema};
    let plain: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, v) => Field::new(f.name(), (**v).clone(), f.is_nullable()),
            _ => f.as_ref().clone(),
        })
        .collect();
    let plain = Arc::new(Schema::new(plain));
    let text = lines.join("\n");
    let reader = arrow_json::ReaderBuilder::new(plain.clone())
        .build(std::io::Cursor::new(text))
        .expect("reader");
    let batches: Vec<_> = reader.map(|b| b.expect("decodes")).collect();
    let b = arrow::compute::concat_batches(&plain, &batches).expect("one batch");
    let columns = b
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()).expect("cast"))
        .collect();
    arrow::record_batch::RecordBatch::try_new(schema, columns).expect("batch")
}
