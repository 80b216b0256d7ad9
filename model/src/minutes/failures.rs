//! `order_attempts_failures`: the failed attempts that name an order, as
//! (`ts`, `order_id`) rows. Not a count: one row per such attempt, so it is
//! exact for any window, not just whole minutes.
//!
//! A question that follows orders across attempts (`retry_recovery_rate`)
//! starts from "the orders with a failure in the window". From
//! `order_attempts` that is a scan of `outcome`, `order_id` and `ts` over
//! every attempt (the bench week: 10.8 M rows, ~390 MB decoded) to keep the
//! ~4 % that failed; here it is those rows alone. Written, compacted and
//! read exactly like `order_attempts_minutes` (see [`super::Rollup`]).

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{and, cast, concat_batches, filter, is_not_null, take_record_batch};
use arrow::datatypes::{DataType, Schema, SchemaRef, TimestampMillisecondType};
use arrow::error::ArrowError;

use crate::schema::{col, order_attempts_schema};
use crate::vocab::Outcome;

/// SQL table name.
pub const ORDER_ATTEMPTS_FAILURES: &str = "order_attempts_failures";
/// Its directory under the data directory.
pub const FAILURES_DIR: &str = "order_attempts_failures";

/// The `order_attempts` columns the selection reads.
pub(super) const COLUMNS: &[&str] = &["ts", "outcome", "order_id"];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let attempts = order_attempts_schema();
    Arc::new(Schema::new(vec![
        attempts.field(col::TS).clone(),
        attempts.field(col::ORDER_ID).clone().with_nullable(false),
    ]))
});

/// Schema of `order_attempts_failures`: `ts` and `order_id`, typed as in
/// `order_attempts` (`order_id` never null here).
pub fn failures_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The failed attempts with an `order_id` among `batches` (of
/// `order_attempts`, or a projection holding at least `ts`, `outcome` and
/// `order_id`): one [`failures_schema`] batch, sorted by `ts` (ties in input
/// order).
pub fn failed_orders(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let failure = StringArray::new_scalar(Outcome::Failure.as_str());
    let mut kept = Vec::with_capacity(batches.len());
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let by_name = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
        };
        let outcome = cast(by_name("outcome")?, &DataType::Utf8)?;
        let order_id = cast(by_name("order_id")?, &DataType::Utf8)?;
        let keep: BooleanArray = and(&eq(&outcome, &failure)?, &is_not_null(&order_id)?)?;
        let columns = [by_name("ts")?, &order_id]
            .into_iter()
            .map(|c| filter(c, &keep))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        kept.push(RecordBatch::try_new(failures_schema(), columns)?);
    }
    sorted(&kept)
}

/// Puts [`failures_schema`] batches (stored files) together, sorted by `ts`.
pub fn merge_failed_orders(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let kept = batches
        .iter()
        .map(|b| RecordBatch::try_new(failures_schema(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    sorted(&kept)
}

/// All of `batches` in one, ordered by `ts` with ties in their order
/// (a stable sort: the same input always gives the same file).
fn sorted(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let all = concat_batches(&failures_schema(), batches)?;
    let ts = all
        .column(0)
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| ArrowError::SchemaError("ts is not a millisecond timestamp".into()))?;
    let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
    order.sort_by_key(|&i| ts.value(i as usize));
    take_record_batch(&all, &UInt32Array::from(order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringDictionaryBuilder, TimestampMillisecondArray};
    use arrow::datatypes::Int32Type;

    type Event<'a> = (i64, &'a str, Option<&'a str>);

    fn events(rows: &[Event<'_>]) -> RecordBatch {
        let mut outcome = StringDictionaryBuilder::<Int32Type>::new();
        for r in rows {
            outcome.append_value(r.1);
        }
        RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            ("outcome", Arc::new(outcome.finish()) as ArrayRef),
            (
                "order_id",
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))) as ArrayRef,
            ),
        ])
        .expect("batch")
    }

    fn rows(b: &RecordBatch) -> Vec<(i64, String)> {
        let ts = b.column(0).as_primitive::<TimestampMillisecondType>();
        let order = b.column(1).as_string::<i32>();
        (0..b.num_rows())
            .map(|i| (ts.value(i), order.value(i).to_string()))
            .collect()
    }

    #[test]
    fn keeps_the_failed_attempts_that_name_an_order_sorted_by_time() {
        let batch = events(&[
            (30, "failure", Some("o-3")),
            (10, "success", Some("o-1")),
            (20, "failure", None),
            (10, "failure", Some("o-1")),
            (30, "failure", Some("o-2")),
        ]);
        let got = failed_orders(&[batch]).expect("selected");
        assert_eq!(got.schema(), failures_schema());
        assert_eq!(
            rows(&got),
            [(10, "o-1".into()), (30, "o-3".into()), (30, "o-2".into())],
            "failures with an order, by ts, ties in input order"
        );
    }

    #[test]
    fn merging_puts_files_together_in_time_order() {
        let a = failed_orders(&[events(&[
            (5, "failure", Some("a")),
            (50, "failure", Some("b")),
        ])])
        .expect("a");
        let b = failed_orders(&[events(&[
            (7, "failure", Some("c")),
            (9, "success", Some("d")),
        ])])
        .expect("b");
        let merged = merge_failed_orders(&[a, b]).expect("merged");
        assert_eq!(
            rows(&merged),
            [(5, "a".into()), (7, "c".into()), (50, "b".into())]
        );
        assert_eq!(failed_orders(&[]).expect("empty").num_rows(), 0);
    }

    #[test]
    fn a_batch_without_the_columns_is_an_error() {
        let batch = RecordBatch::try_from_iter([(
            "ts",
            Arc::new(TimestampMillisecondArray::from(vec![1])) as ArrayRef,
        )])
        .expect("batch");
        assert!(failed_orders(&[batch]).is_err());
    }
}
