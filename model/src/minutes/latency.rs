//! `order_attempts_latency_hours`: `order_attempts` counted per hour of
//! event time, outcome, channel and exact `latency_ms` (NULL included). One
//! row says "`attempts` attempts in this hour had exactly this outcome,
//! channel and latency".
//!
//! Exact latency percentiles need every latency value, and a minute keeps
//! nearly as many distinct values as it has attempts; an hour of a channel
//! repeats them (the bench week: 10.8 M attempts, 2.1 M rows), so the saved
//! query `latency_percentiles_by_channel` reads whole hours from here and
//! the part-hours at its window's ends from `order_attempts`, with the same
//! answer to the last digit. Written, compacted and read exactly like
//! `order_attempts_minutes` (see [`super::Rollup`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::TimestampMillisecondType;
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use arrow::error::ArrowError;

use super::Interner;
use crate::schema::{col, dict_type, order_attempts_schema, ts_type};

/// SQL table name.
pub const ORDER_ATTEMPTS_LATENCY_HOURS: &str = "order_attempts_latency_hours";
/// Its directory under the data directory.
pub const LATENCY_HOURS_DIR: &str = "order_attempts_latency_hours";

const HOUR_MS: i64 = 3_600_000;

/// The `order_attempts` columns the counting reads.
pub(super) const COLUMNS: &[&str] = &["ts", "outcome", "channel", "latency_ms"];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let attempts = order_attempts_schema();
    Arc::new(Schema::new(vec![
        Field::new("hour", ts_type(), false),
        attempts.field(col::OUTCOME).clone(),
        attempts.field(col::CHANNEL).clone(),
        attempts.field(col::LATENCY_MS).clone(),
        Field::new("attempts", DataType::Int64, false),
    ]))
});

/// Schema of `order_attempts_latency_hours`: `hour` (the hour's start, UTC),
/// `outcome`, `channel`, `latency_ms` (typed as in `order_attempts`) and
/// `attempts`.
pub fn latency_hours_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Counts `batches` (of `order_attempts`, or a projection holding at least
/// `ts`, `outcome`, `channel` and `latency_ms`) per hour, outcome, channel
/// and latency: one [`latency_hours_schema`] batch, sorted by hour.
pub fn latency_hour_counts(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    count(batches, false)
}

/// Adds up [`latency_hours_schema`] batches.
pub fn merge_latency_hours(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    count(batches, true)
}

/// (hour, outcome id, channel id, latency) -> attempts
type Key = (i64, u32, u32, Option<i64>);

fn count(batches: &[RecordBatch], counted: bool) -> Result<RecordBatch, ArrowError> {
    let mut interners: [Interner; 2] = Default::default();
    let mut counts: HashMap<Key, i64> = HashMap::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let by_name = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
        };
        let time = by_name(if counted { "hour" } else { "ts" })?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| ArrowError::SchemaError("time is not a millisecond timestamp".into()))?;
        let latency = by_name("latency_ms")?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| ArrowError::SchemaError("latency_ms is not Int64".into()))?;
        let weights = if counted {
            Some(
                by_name("attempts")?
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| ArrowError::SchemaError("attempts is not Int64".into()))?,
            )
        } else {
            None
        };
        // Each key column as (row -> dictionary key, dictionary key -> id).
        let mut keys = Vec::with_capacity(2);
        for (k, name) in ["outcome", "channel"].into_iter().enumerate() {
            let column = by_name(name)?;
            let dict = if column.data_type() == &dict_type() {
                column.as_dictionary::<Int32Type>().clone()
            } else {
                cast(column, &dict_type())?
                    .as_dictionary::<Int32Type>()
                    .clone()
            };
            let values = dict.values().as_string::<i32>();
            let ids: Vec<u32> = (0..values.len())
                .map(|i| {
                    if values.is_null(i) {
                        super::NULL
                    } else {
                        interners[k].id(values.value(i))
                    }
                })
                .collect();
            keys.push((dict, ids));
        }
        let id = |k: usize, row: usize| {
            let (dict, ids) = &keys[k];
            if dict.is_valid(row) {
                ids[dict.keys().value(row) as usize]
            } else {
                super::NULL
            }
        };
        for row in 0..batch.num_rows() {
            if time.is_null(row) {
                continue;
            }
            let hour = time.value(row).div_euclid(HOUR_MS) * HOUR_MS;
            let ms = latency.is_valid(row).then(|| latency.value(row));
            *counts
                .entry((hour, id(0, row), id(1, row), ms))
                .or_insert(0) += weights.map_or(1, |w| w.value(row));
        }
    }
    let mut rows: Vec<(Key, i64)> = counts.into_iter().collect();
    rows.sort_unstable();
    let hour = TimestampMillisecondArray::from_iter_values(rows.iter().map(|(k, _)| k.0))
        .with_timezone("UTC");
    let mut out: Vec<ArrayRef> = vec![Arc::new(hour)];
    for (k, interner) in interners.into_iter().enumerate() {
        let keys = Int32Array::from_iter(rows.iter().map(|(key, _)| {
            let id = if k == 0 { key.1 } else { key.2 };
            (id != super::NULL).then_some(id as i32)
        }));
        let values = Arc::new(StringArray::from(interner.values));
        out.push(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys, values,
        )?));
    }
    out.push(Arc::new(Int64Array::from_iter(
        rows.iter().map(|(key, _)| key.3),
    )));
    out.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|(_, n)| *n),
    )));
    RecordBatch::try_new(latency_hours_schema(), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringDictionaryBuilder;

    type Event<'a> = (i64, &'a str, &'a str, Option<i64>);

    fn events(rows: &[Event<'_>]) -> RecordBatch {
        let dict = |values: Vec<&str>| -> ArrayRef {
            let mut b = StringDictionaryBuilder::<Int32Type>::new();
            for v in values {
                b.append_value(v);
            }
            Arc::new(b.finish())
        };
        RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            ("outcome", dict(rows.iter().map(|r| r.1).collect())),
            ("channel", dict(rows.iter().map(|r| r.2).collect())),
            (
                "latency_ms",
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))) as ArrayRef,
            ),
        ])
        .expect("batch")
    }

    /// (hour, outcome, channel, latency, attempts) of every row.
    fn rows(b: &RecordBatch) -> Vec<(i64, String, String, Option<i64>, i64)> {
        let text = |c: usize, i: usize| {
            let s = cast(b.column(c), &DataType::Utf8).expect("cast");
            s.as_string::<i32>().value(i).to_string()
        };
        let hour = b.column(0).as_primitive::<TimestampMillisecondType>();
        let latency = b.column(3).as_primitive::<Int64Type>();
        let n = b.column(4).as_primitive::<Int64Type>();
        (0..b.num_rows())
            .map(|i| {
                (
                    hour.value(i),
                    text(1, i),
                    text(2, i),
                    latency.is_valid(i).then(|| latency.value(i)),
                    n.value(i),
                )
            })
            .collect()
    }

    #[test]
    fn attempts_are_counted_per_hour_outcome_channel_and_exact_latency() {
        let h = 1_793_491_200_000; // a whole hour
        let batch = events(&[
            (h + 5, "success", "web", Some(120)),
            (h + HOUR_MS - 1, "success", "web", Some(120)),
            (h + HOUR_MS, "success", "web", Some(120)),
            (h + 9, "failure", "web", Some(120)),
            (h + 9, "success", "ios_app", Some(121)),
            (h + 9, "success", "web", None),
        ]);
        let counted = latency_hour_counts(&[batch]).expect("counted");
        assert_eq!(counted.schema(), latency_hours_schema());
        let got = rows(&counted);
        let row = |hour: i64, o: &str, c: &str, l: Option<i64>, n: i64| {
            (hour, o.to_string(), c.to_string(), l, n)
        };
        assert_eq!(got.len(), 5, "{got:?}");
        for want in [
            row(h, "success", "web", Some(120), 2),
            row(h + HOUR_MS, "success", "web", Some(120), 1),
            row(h, "failure", "web", Some(120), 1),
            row(h, "success", "ios_app", Some(121), 1),
            row(h, "success", "web", None, 1),
        ] {
            assert!(got.contains(&want), "{want:?} missing from {got:?}");
        }
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "sorted by hour");
    }

    #[test]
    fn merging_counted_files_adds_them_up() {
        let h = 1_793_491_200_000;
        let a = latency_hour_counts(&[events(&[
            (h, "success", "web", Some(7)),
            (h + 1, "success", "web", Some(7)),
        ])])
        .expect("a");
        let b = latency_hour_counts(&[events(&[
            (h + 2, "success", "web", Some(7)),
            (h + 3, "failure", "mobile_web", None),
        ])])
        .expect("b");
        let merged = merge_latency_hours(&[a, b]).expect("merged");
        let got = rows(&merged);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&(h, "success".into(), "web".into(), Some(7), 3)));
        assert!(got.contains(&(h, "failure".into(), "mobile_web".into(), None, 1)));
        let total: i64 = got.iter().map(|r| r.4).sum();
        assert_eq!(total, 4, "every attempt counted once");
    }
}
