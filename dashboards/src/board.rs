//! The dashboard pages' data: one server function per page section, each
//! running SQL that this module writes, with every value the caller chose
//! (times, bucket, filter values) bound as a typed parameter, never pasted
//! into the text.
//!
//! - [`overview`]: totals now vs the comparison period, per-dimension
//!   breakdowns ranked by contribution ("what changed"), the
//!   channel × payment-method heat map and the failure-rate trend by cause.
//!   Both the Overview and the Drill-down page read it (the latter with
//!   filters). Without filters it is counted from the in-memory rollup
//!   ([`analytics::rollup`]: no raw scan per refresh); with filters, or
//!   when the rollup declines, by scanning raw events ([`overview_scan`]).
//!   The answer's `counted_from` says which.
//! - [`samples`]: recent failed attempts of a slice, for the drill-down.
//! - [`rejected`]: rejected records per reason over time, and samples.
//!
//! Submodules: `window` parses and checks the query string, `breakdown`
//! does the arithmetic.

pub mod breakdown;
pub mod window;

use std::collections::BTreeMap;

use analytics::detect::rfc3339;
use analytics::{Analytics, QueryOutput};
use axum::http::StatusCode;
use datafusion::common::ParamValues;
use datafusion::scalar::ScalarValue;
use serde_json::{Value, json};

use crate::api::ApiError;
use breakdown::{Counts, Slice};
pub use window::{Accepts, BoardQuery, DIMENSIONS, Window};

/// Values per dimension in a breakdown.
pub const BREAKDOWN_LIMIT: usize = 25;
/// Characters of `error_message`, `detail` and `raw` sent to the page.
pub const TEXT_CHARS: usize = 1024;

/// A breakdown row tagged with its dimension: `''` for the totals,
/// `channel_payment` for the heat map (value and value2).
fn overview_sql(filters: &str) -> String {
    let mut branches = vec![
        "SELECT '' AS dimension, CAST(NULL AS VARCHAR) AS value, CAST(NULL AS VARCHAR) AS value2, \
         cur, count(*) AS attempts, sum(failed) AS failures FROM w GROUP BY cur"
            .to_string(),
    ];
    for dim in DIMENSIONS {
        branches.push(format!(
            "SELECT '{dim}', CAST({dim} AS VARCHAR), CAST(NULL AS VARCHAR), cur, count(*), \
             sum(failed) FROM w GROUP BY {dim}, cur"
        ));
    }
    branches.push(
        "SELECT 'channel_payment', CAST(channel AS VARCHAR), CAST(payment_method AS VARCHAR), \
         cur, count(*), sum(failed) FROM w WHERE cur = 1 GROUP BY channel, payment_method, cur"
            .to_string(),
    );
    format!(
        "WITH w AS (\n\
           SELECT CASE WHEN ts >= $start AND ts < $end THEN 1 ELSE 0 END AS cur,\n\
                  CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END AS failed,\n\
                  {dims}\n\
           FROM order_attempts\n\
           WHERE ts >= $lo AND ts < $hi\n\
             AND ((ts >= $start AND ts < $end) OR (ts >= $base_start AND ts < $base_end)){filters}\n\
         )\n{union}",
        dims = DIMENSIONS.join(", "),
        union = branches.join("\nUNION ALL\n"),
    )
}

fn trend_sql(filters: &str) -> String {
    format!(
        "SELECT date_bin($bucket, ts) AS bucket, CAST(failure_cause AS VARCHAR) AS failure_cause,\n\
                count(*) AS attempts,\n\
                sum(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures\n\
         FROM order_attempts\n\
         WHERE ts >= $start AND ts < $end{filters}\n\
         GROUP BY 1, 2"
    )
}

/// ` AND col = $f_col` for each filter; the values are bound separately.
fn filter_clause(q: &BoardQuery) -> String {
    q.filters
        .iter()
        .map(|(col, _)| format!(" AND {col} = $f_{col}"))
        .collect()
}

fn ts(ms: i64) -> ScalarValue {
    ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()))
}

fn params(q: &BoardQuery) -> Vec<(String, ScalarValue)> {
    let w = &q.window;
    let mut p = vec![
        ("start".to_string(), ts(w.start_ms)),
        ("end".to_string(), ts(w.end_ms)),
    ];
    for (col, value) in &q.filters {
        p.push((format!("f_{col}"), ScalarValue::Utf8(Some(value.clone()))));
    }
    p
}

/// Plans `sql` (ours, with `$name` placeholders), binds `values` and runs
/// it under the analytics guardrails.
async fn run(
    analytics: &Analytics,
    sql: &str,
    values: Vec<(String, ScalarValue)>,
) -> Result<Vec<Vec<Value>>, ApiError> {
    let ctx = analytics.session()?;
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .and_then(|plan| plan.with_param_values(ParamValues::from(values)))
        .map_err(|e| ours(format!("planning a dashboard query: {e}")))?;
    let out = analytics.run_plan(ctx, plan).await?;
    rows(&out)
}

fn ours(message: String) -> ApiError {
    tracing::error!(%message, "dashboard query failed");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// Every row as JSON values in column order (timestamps as RFC 3339).
fn rows(out: &QueryOutput) -> Result<Vec<Vec<Value>>, ApiError> {
    let value = analytics::format::to_json(out)
        .map_err(|e| ours(format!("reading a dashboard result: {e}")))?;
    let Some(Value::Array(rows)) = value.get("rows") else {
        return Err(ours("a result without rows".into()));
    };
    Ok(rows
        .iter()
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect())
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn range_json(q: &BoardQuery) -> Value {
    let w = &q.window;
    json!({
        "start": rfc3339(w.start_ms),
        "end": rfc3339(w.end_ms),
        "base_start": rfc3339(w.base_start_ms),
        "base_end": rfc3339(w.base_end_ms),
        "bucket_seconds": w.bucket_ms / 1000,
    })
}

fn filters_json(q: &BoardQuery) -> Value {
    Value::Object(
        q.filters
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect(),
    )
}

/// What the overview is made of, however it was counted.
#[derive(Debug, Default)]
struct Tally {
    total: Slice,
    by_dim: BTreeMap<String, BTreeMap<Option<String>, Slice>>,
    /// `(channel, payment_method, counts)` in the window.
    cells: Vec<(Option<String>, Option<String>, Counts)>,
    /// `(bucket start, failure_cause, counts)`.
    trend: Vec<(i64, Option<String>, Counts)>,
}

/// The Overview and Drill-down data for `q` (see the module docs): from the
/// in-memory rollup when it can count `q` exactly (no filters; its window
/// edges moved to slot boundaries, which `range` reports), else by scanning
/// raw events ([`overview_scan`]).
pub async fn overview(analytics: &Analytics, q: &BoardQuery) -> Result<Value, ApiError> {
    overview_at(analytics, q, chrono::Utc::now().timestamp_millis()).await
}

/// [`overview`] with the clock given (which rollup levels are kept depends
/// on it): for benchmarks over stored data of another day.
pub async fn overview_at(
    analytics: &Analytics,
    q: &BoardQuery,
    now_ms: i64,
) -> Result<Value, ApiError> {
    if q.filters.is_empty() {
        let w = q.window;
        let request = analytics::rollup::OverviewRequest {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            base_start_ms: w.base_start_ms,
            base_end_ms: w.base_end_ms,
            bucket_ms: w.bucket_ms,
        };
        match analytics.rollup_overview(request, now_ms).await {
            Ok(Some(counted)) => return Ok(from_rollup(q, counted)),
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "the rollup failed; the overview scans raw events"),
        }
    }
    overview_scan(analytics, q).await
}

fn counts(c: analytics::rollup::Counts) -> Counts {
    Counts {
        attempts: c.attempts as i64,
        failures: c.failures as i64,
    }
}

fn from_rollup(q: &BoardQuery, o: analytics::rollup::Overview) -> Value {
    let w = o.window;
    let q = BoardQuery {
        window: Window {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            base_start_ms: w.base_start_ms,
            base_end_ms: w.base_end_ms,
            bucket_ms: w.bucket_ms,
        },
        ..q.clone()
    };
    let name = |v: &Option<std::sync::Arc<str>>| v.as_deref().map(str::to_string);
    let mut tally = Tally {
        total: Slice {
            now: counts(o.total_now),
            base: counts(o.total_base),
        },
        ..Tally::default()
    };
    for v in &o.values {
        tally
            .by_dim
            .entry(DIMENSIONS[v.dimension].to_string())
            .or_default()
            .insert(
                name(&v.value),
                Slice {
                    now: counts(v.now),
                    base: counts(v.base),
                },
            );
    }
    tally.cells = o
        .heat
        .iter()
        .map(|(c, m, n)| (name(c), name(m), counts(*n)))
        .collect();
    tally.trend = o
        .trend
        .iter()
        .map(|(b, c, n)| (*b, name(c), counts(*n)))
        .collect();
    assemble(&q, tally, "rollup")
}

/// The Overview and Drill-down data for `q`, counted from raw events.
pub async fn overview_scan(analytics: &Analytics, q: &BoardQuery) -> Result<Value, ApiError> {
    let w = q.window;
    let filters = filter_clause(q);
    let mut values = params(q);
    values.extend([
        ("base_start".to_string(), ts(w.base_start_ms)),
        ("base_end".to_string(), ts(w.base_end_ms)),
        ("lo".to_string(), ts(w.start_ms.min(w.base_start_ms))),
        ("hi".to_string(), ts(w.end_ms.max(w.base_end_ms))),
    ]);
    let mut trend_values = params(q);
    trend_values.push((
        "bucket".to_string(),
        ScalarValue::IntervalMonthDayNano(Some(
            datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, 0, w.bucket_ms * 1_000_000),
        )),
    ));
    let (breakdown_sql, trend_sql) = (overview_sql(&filters), trend_sql(&filters));
    let (breakdown_rows, trend_rows) = tokio::try_join!(
        run(analytics, &breakdown_sql, values),
        run(analytics, &trend_sql, trend_values),
    )?;

    let mut tally = Tally::default();
    for row in &breakdown_rows {
        let [dim, value, value2, cur, attempts, failures] = row.as_slice() else {
            return Err(ours(format!("an overview row of {} columns", row.len())));
        };
        let counts = Counts {
            attempts: int(attempts),
            failures: int(failures),
        };
        let now = int(cur) == 1;
        let dim = dim.as_str().unwrap_or_default();
        if dim == "channel_payment" {
            tally.cells.push((text(value), text(value2), counts));
            continue;
        }
        let slice = if dim.is_empty() {
            &mut tally.total
        } else {
            tally
                .by_dim
                .entry(dim.to_string())
                .or_default()
                .entry(text(value))
                .or_default()
        };
        if now {
            slice.now.add(counts);
        } else {
            slice.base.add(counts);
        }
    }
    tally.trend = trend_rows
        .iter()
        .filter_map(|row| {
            let [bucket, cause, attempts, failures] = row.as_slice() else {
                return None;
            };
            let ms = chrono::DateTime::parse_from_rfc3339(bucket.as_str()?)
                .ok()?
                .timestamp_millis();
            Some((
                ms,
                text(cause),
                Counts {
                    attempts: int(attempts),
                    failures: int(failures),
                },
            ))
        })
        .collect();
    Ok(assemble(q, tally, "scan"))
}

/// The overview's JSON; `counted_from` is `rollup` or `scan`.
fn assemble(q: &BoardQuery, mut tally: Tally, counted_from: &str) -> Value {
    tally.cells.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let (mut channels, mut methods) = (Vec::new(), Vec::new());
    let cells: Vec<Value> = tally
        .cells
        .iter()
        .map(|(c, m, counts)| {
            if !channels.contains(c) {
                channels.push(c.clone());
            }
            if !methods.contains(m) {
                methods.push(m.clone());
            }
            json!({
                "channel": c, "payment_method": m,
                "attempts": counts.attempts, "failures": counts.failures,
                "failure_rate": counts.rate(),
            })
        })
        .collect();
    channels.sort();
    methods.sort();
    let empty = BTreeMap::new();
    let breakdowns: serde_json::Map<String, Value> = DIMENSIONS
        .iter()
        .map(|dim| {
            let values = tally.by_dim.get(*dim).unwrap_or(&empty);
            (
                dim.to_string(),
                breakdown::ranked(dim, values, &tally.total, BREAKDOWN_LIMIT),
            )
        })
        .collect();
    json!({
        "range": range_json(q),
        "filters": filters_json(q),
        "counted_from": counted_from,
        "totals": breakdown::totals_json(&tally.total),
        "breakdown": breakdowns,
        "heatmap": { "channels": channels, "payment_methods": methods, "cells": cells },
        "trend": breakdown::trend_json(&q.window.bucket_starts(), &tally.trend),
    })
}

/// Columns of a failed-attempt sample.
const SAMPLE_COLUMNS: [&str; 10] = [
    "ts",
    "event_id",
    "failure_cause",
    "channel",
    "payment_method",
    "region",
    "app_version",
    "error_code",
    "error_message",
    "latency_ms",
];

/// The most recent failed attempts of the slice, newest first.
pub async fn samples(
    analytics: &Analytics,
    q: &BoardQuery,
    limit: usize,
) -> Result<Value, ApiError> {
    let sql = format!(
        "SELECT ts, event_id, CAST(failure_cause AS VARCHAR), CAST(channel AS VARCHAR),\n\
                CAST(payment_method AS VARCHAR), CAST(region AS VARCHAR), CAST(app_version AS VARCHAR),\n\
                CAST(error_code AS VARCHAR), substr(error_message, 1, {TEXT_CHARS}), latency_ms\n\
         FROM order_attempts\n\
         WHERE outcome = 'failure' AND ts >= $start AND ts < $end{filters}\n\
         ORDER BY ts DESC LIMIT {limit}",
        filters = filter_clause(q),
    );
    let rows = run(analytics, &sql, params(q)).await?;
    Ok(json!({
        "range": range_json(q),
        "filters": filters_json(q),
        "columns": SAMPLE_COLUMNS,
        "rows": rows,
    }))
}

/// Rejected records: per reason and bucket (by `ingested_at`), totals per
/// reason, and the newest samples (optionally of one reason).
pub async fn rejected(
    analytics: &Analytics,
    q: &BoardQuery,
    limit: usize,
) -> Result<Value, ApiError> {
    let w = q.window;
    let base = vec![
        ("start".to_string(), ts(w.start_ms)),
        ("end".to_string(), ts(w.end_ms)),
    ];
    let mut bucketed = base.clone();
    bucketed.push((
        "bucket".to_string(),
        ScalarValue::IntervalMonthDayNano(Some(
            datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, 0, w.bucket_ms * 1_000_000),
        )),
    ));
    let by_reason = "SELECT date_bin($bucket, ingested_at) AS bucket, CAST(reason AS VARCHAR) AS reason, \
                     count(*) AS records FROM rejected_events \
                     WHERE ingested_at >= $start AND ingested_at < $end GROUP BY 1, 2";
    let mut sample_values = base;
    let reason_clause = match &q.reason {
        Some(r) => {
            sample_values.push(("reason".to_string(), ScalarValue::Utf8(Some(r.clone()))));
            " AND reason = $reason"
        }
        None => "",
    };
    let sample_sql = format!(
        "SELECT ingested_at, CAST(reason AS VARCHAR), substr(detail, 1, {TEXT_CHARS}),\n\
                substr(raw, 1, {TEXT_CHARS}), CAST(kafka_topic AS VARCHAR), kafka_partition, kafka_offset\n\
         FROM rejected_events\n\
         WHERE ingested_at >= $start AND ingested_at < $end{reason_clause}\n\
         ORDER BY ingested_at DESC, kafka_offset DESC LIMIT {limit}"
    );
    let (trend_rows, sample_rows) = tokio::try_join!(
        run(analytics, by_reason, bucketed),
        run(analytics, &sample_sql, sample_values),
    )?;
    let buckets = w.bucket_starts();
    let index: BTreeMap<i64, usize> = buckets.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in &trend_rows {
        let [bucket, reason, records] = row.as_slice() else {
            continue;
        };
        let Some(ms) = bucket
            .as_str()
            .and_then(|b| chrono::DateTime::parse_from_rfc3339(b).ok())
            .map(|t| t.timestamp_millis())
        else {
            continue;
        };
        if let Some(&i) = index.get(&ms) {
            let reason = reason.as_str().unwrap_or("").to_string();
            series
                .entry(reason)
                .or_insert_with(|| vec![0; buckets.len()])[i] += int(records);
        }
    }
    let mut totals: Vec<(String, i64)> = series
        .iter()
        .map(|(r, v)| (r.clone(), v.iter().sum()))
        .collect();
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(json!({
        "range": range_json(q),
        "trend": {
            "times": buckets.iter().map(|b| b / 1000).collect::<Vec<_>>(),
            "series": series.iter().map(|(r, v)| json!({"reason": r, "records": v})).collect::<Vec<_>>(),
        },
        "totals": totals.iter().map(|(r, n)| json!({"reason": r, "records": n})).collect::<Vec<_>>(),
        "columns": ["ingested_at", "reason", "detail", "raw", "kafka_topic", "kafka_partition", "kafka_offset"],
        "samples": sample_rows,
    }))
}
