//! Attempt counts per time bucket and detector cell (channel, payment
//! method, app version, failure cause), read with one aggregate query: what the spike
//! detector is fed from stored (and live) rows, by `orderpulse backtest
//! --data-dir` and by `serve`'s alert loop alike.

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};

use crate::detect::Attempt;
use crate::{Analytics, Error, Result};

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// Calls `row(bucket_start_ms, attempt, attempts)` for every bucket and
/// cell with events in `[from_ms, to_ms)`, in bucket order. The attempt's
/// `failure_cause` is set exactly for failures (the decoder requires it
/// then and refuses it otherwise). Returns the rows.
pub async fn cell_counts(
    analytics: &Analytics,
    from_ms: i64,
    to_ms: i64,
    bucket_s: i64,
    mut row: impl FnMut(i64, &Attempt<'_>, u32),
) -> Result<u64> {
    let at = |ms: i64| format!("TIMESTAMP '{}'", crate::detect::rfc3339(ms));
    let sql = format!(
        "SELECT date_bin(INTERVAL '{bucket_s} seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket, \
         CAST(channel AS VARCHAR) AS channel, CAST(payment_method AS VARCHAR) AS payment_method, \
         CAST(failure_cause AS VARCHAR) AS failure_cause, \
         CAST(app_version AS VARCHAR) AS app_version, count(*) AS n \
         FROM order_attempts WHERE ts >= {} AND ts < {} \
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1",
        at(from_ms),
        at(to_ms),
    );
    let out = analytics.sql(&sql).await?;
    let unexpected = |e: arrow::error::ArrowError| Error::Runtime(format!("cell counts: {e}"));
    for batch in &out.batches {
        // Cast to the one type read below, whatever the engine returned.
        let cast = |i: usize, to: &DataType| arrow::compute::cast(batch.column(i), to);
        let ts = cast(0, &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(unexpected)?;
        let channel = cast(1, &DataType::Utf8).map_err(unexpected)?;
        let method = cast(2, &DataType::Utf8).map_err(unexpected)?;
        let cause = cast(3, &DataType::Utf8).map_err(unexpected)?;
        let version = cast(4, &DataType::Utf8).map_err(unexpected)?;
        let n = cast(5, &DataType::Int64).map_err(unexpected)?;
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        let (channel, method, cause, version) = (
            channel.as_string::<i32>(),
            method.as_string::<i32>(),
            cause.as_string::<i32>(),
            version.as_string::<i32>(),
        );
        let n = n.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let (false, Some(ch)) = (ts.is_null(i), opt(channel, i)) else {
                continue;
            };
            let count = u32::try_from(n.value(i)).unwrap_or(u32::MAX);
            let attempt = Attempt {
                channel: ch,
                payment_method: opt(method, i),
                app_version: opt(version, i),
                failure_cause: opt(cause, i),
            };
            row(ts.value(i), &attempt, count);
        }
    }
    Ok(out.rows as u64)
}
