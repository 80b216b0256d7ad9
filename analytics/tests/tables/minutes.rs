//! `order_attempts_minutes` (and `order_attempts_latency_hours`) add up to
//! `order_attempts`, and `order_attempts_failures` holds exactly its failed
//! attempts with an order: from the files ingest writes, from files stored without
//! them, and from live rows; and a minutes file is what is read when there
//! is one.

use analytics::Analytics;
use model::LiveRows;
use serde_json::Value;

use super::{fixture, start};

const KEYS: &str =
    "outcome, channel, failure_cause, payment_method, stage, error_code, app_version";

async fn rows(a: &Analytics, sql: &str) -> Vec<Value> {
    let out = a.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let json = analytics::format::to_json(&out).expect("json");
    json["rows"].as_array().expect("rows").clone()
}

/// Both tables counted per minute and key, in the same order.
async fn both(a: &Analytics, filter: &str) -> (Vec<Value>, Vec<Value>) {
    let minutes = format!(
        "SELECT date_trunc('minute', minute) AS minute, {KEYS}, sum(attempts) AS n \
         FROM order_attempts_minutes {filter} GROUP BY 1, {KEYS} ORDER BY minute, {KEYS}, n"
    );
    let events = format!(
        "SELECT date_trunc('minute', ts) AS minute, {KEYS}, count(*) AS n FROM order_attempts \
         {} GROUP BY 1, {KEYS} ORDER BY minute, {KEYS}, n",
        filter.replace("minute", "ts")
    );
    (rows(a, &minutes).await, rows(a, &events).await)
}

#[tokio::test]
async fn the_minutes_table_adds_up_to_order_attempts_from_files_old_files_and_live_rows() {
    let dir = tempfile::tempdir().expect("dir");
    fixture::fixed(dir.path());
    // A flush stored before minutes files existed.
    let old: Vec<String> = (0..90)
        .map(|i| {
            let ts = format!("2026-11-01T12:{:02}:{:02}.{:03}Z", i / 30, (i * 2) % 60, i);
            let outcome = if i % 4 == 0 { "failure" } else { "success" };
            let latency = (100 + i % 7).to_string();
            let extra: Vec<(&str, &str)> = if i % 8 == 0 {
                vec![("failure_cause", "network_error"), ("error_code", "E_NET")]
            } else if i % 4 == 0 {
                // A failed order, retried within the minute.
                let order = ORDERS[i % 3];
                vec![("failure_cause", "card_declined"), ("order_id", order)]
            } else if i % 9 == 0 {
                vec![("order_id", ORDERS[i % 3])]
            } else if i % 5 == 0 {
                vec![("payment_method", "alipay")]
            } else {
                vec![("payment_method", "alipay"), ("latency_ms", &latency)]
            };
            fixture::event(&format!("old{i}"), &ts, outcome, "ios_app", &extra)
        })
        .collect();
    let files = fixture::write_flush(dir.path(), 5, 0, &old);
    let twins = ingest::sink::minutes_paths(dir.path(), &files[0]);
    assert_eq!(twins.len(), 3, "{twins:?}");
    assert!(twins[0].starts_with(dir.path().join("order_attempts_minutes/date=2026-11-01")));
    for twin in twins {
        std::fs::remove_file(&twin).expect("rollup file written with the flush");
    }
    // Live rows ingest holds, not yet flushed.
    let live = LiveRows::new();
    let (batch, _) = fixture::live(6, 0, &old[..40]);
    live.push_attempts(batch);
    let a = start(dir.path(), Some(live)).await;

    let (minutes, events) = both(&a, "").await;
    assert!(minutes.len() > 10, "{minutes:?}");
    assert_eq!(minutes, events);
    let total = rows(&a, "SELECT sum(attempts) FROM order_attempts_minutes").await;
    assert_eq!(total[0][0], Value::from(22 + 90 + 40));
    // A window, cut on the minute column, pruned to its date.
    let window = "WHERE minute >= TIMESTAMP '2026-11-01T12:01:00Z' \
                  AND minute < TIMESTAMP '2026-11-02T00:00:00Z'";
    let (minutes, events) = both(&a, window).await;
    assert!(!minutes.is_empty());
    assert_eq!(minutes, events);

    // The latency counts, per hour, the same way (NULL latencies included).
    let latency = |table: &str, time: &str, n: &str, filter: &str| {
        format!(
            "SELECT date_trunc('hour', {time}) AS h, outcome, channel, latency_ms, {n} AS n \
             FROM {table} {filter} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4, 5"
        )
    };
    for (hours, events) in [
        ("", ""),
        (
            "WHERE hour >= TIMESTAMP '2026-11-01T12:00:00Z'",
            "WHERE ts >= TIMESTAMP '2026-11-01T12:00:00Z'",
        ),
    ] {
        let counted = rows(
            &a,
            &latency(
                "order_attempts_latency_hours",
                "hour",
                "sum(attempts)",
                hours,
            ),
        )
        .await;
        let counted_events = rows(&a, &latency("order_attempts", "ts", "count(*)", events)).await;
        assert!(counted.len() > 5, "{counted:?}");
        assert!(
            counted.iter().any(|r| r[3].is_null()),
            "NULL latencies kept"
        );
        assert_eq!(counted, counted_events, "{hours}");
    }
    let total = rows(&a, "SELECT sum(attempts) FROM order_attempts_latency_hours").await;
    assert_eq!(total[0][0], Value::from(22 + 90 + 40));

    // The failed attempts with an order, as rows, in any window (whole
    // minutes or not: they are rows, not counts).
    for window in [
        "",
        "AND ts >= TIMESTAMP '2026-11-01T12:00:31.5Z' AND ts < TIMESTAMP '2026-11-01T12:02:00.1Z'",
    ] {
        let failures = rows(
            &a,
            &format!(
                "SELECT ts, order_id FROM order_attempts_failures WHERE true {window} \
                 ORDER BY ts, order_id"
            ),
        )
        .await;
        let events = rows(
            &a,
            &format!(
                "SELECT ts, order_id FROM order_attempts WHERE outcome = 'failure' \
                 AND order_id IS NOT NULL {window} ORDER BY ts, order_id"
            ),
        )
        .await;
        assert!(failures.len() > 3, "{window}: {failures:?}");
        assert_eq!(failures, events, "{window}");
    }
}

const ORDERS: [&str; 3] = ["ord-a", "ord-b", "ord-c"];

#[tokio::test]
async fn a_minutes_file_is_read_instead_of_its_event_file() {
    let dir = tempfile::tempdir().expect("dir");
    let lines: Vec<String> = (0..30)
        .map(|i| {
            let ts = format!("2026-11-01T10:0{}:{:02}Z", i / 10, i);
            fixture::event(&format!("e{i}"), &ts, "success", "web", &[])
        })
        .collect();
    let files = fixture::write_flush(dir.path(), 0, 0, &lines);
    // The event file is damaged: only its minutes file can answer.
    std::fs::write(&files[0], b"damaged").expect("damage");
    let a = start(dir.path(), None).await;
    assert!(a.sql("SELECT count(*) FROM order_attempts").await.is_err());
    let total = rows(
        &a,
        "SELECT sum(attempts), count(*) FROM order_attempts_minutes",
    )
    .await;
    assert_eq!(
        total[0],
        Value::from(vec![30, 3]),
        "three minutes of web successes"
    );
}

#[tokio::test]
async fn a_compacted_file_stands_for_its_files_only_while_they_are_all_listed() {
    let dir = tempfile::tempdir().expect("dir");
    let mut flushes = Vec::new();
    for (k, prefix) in ["a", "b", "c"].iter().enumerate() {
        let lines: Vec<String> = (0..10)
            .map(|i| {
                let ts = format!("2026-11-01T10:{:02}:{:02}Z", k * 10 + i / 4, i);
                fixture::event(&format!("{prefix}{i}"), &ts, "success", "web", &[])
            })
            .collect();
        flushes.push(fixture::write_flush(dir.path(), 0, k as i64 * 10, &lines));
    }
    let options = ingest::sink::CompactOptions {
        min_files: 2,
        grace: std::time::Duration::from_secs(600),
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"),
    };
    let done = ingest::sink::compact(dir.path(), &options).expect("compact");
    // One each for the minutes, the latency hours and the failures.
    assert_eq!((done.written, done.files), (3, 9));
    // Only the compacted file is left to answer for the three files.
    for files in &flushes {
        for twin in ingest::sink::minutes_paths(dir.path(), &files[0]) {
            std::fs::remove_file(twin).expect("remove twin");
        }
    }
    std::fs::write(&flushes[0][0], b"damaged").expect("damage");
    let a = start(dir.path(), None).await;
    let sum = "SELECT sum(attempts) FROM order_attempts_minutes";
    assert_eq!(rows(&a, sum).await[0][0], Value::from(30));
    // Retention removed the first flush: the compacted file no longer
    // stands for what is listed; the other two are counted from their rows.
    for f in &flushes[0] {
        std::fs::remove_file(f).expect("remove");
    }
    assert_eq!(rows(&a, sum).await[0][0], Value::from(20));
    let (minutes, events) = both(&a, "").await;
    assert_eq!(minutes, events);
}

#[tokio::test]
async fn the_rejected_minutes_table_adds_up_to_rejected_events() {
    let dir = tempfile::tempdir().expect("dir");
    fixture::fixed(dir.path());
    // A file stored before minutes files existed, and live rejections.
    let bad: Vec<String> = (0..7).map(|i| format!("{{\"event_id\":\"x{i}\"")).collect();
    let files = fixture::write_flush(dir.path(), 3, 0, &bad);
    let twins = ingest::sink::minutes_paths(dir.path(), &files[0]);
    assert_eq!(twins.len(), 1, "{twins:?}");
    std::fs::remove_file(&twins[0]).expect("written with the flush");
    let live = LiveRows::new();
    let (_, rejected) = fixture::live(4, 0, &bad[..3]);
    live.push_rejected(rejected);
    let a = start(dir.path(), Some(live)).await;
    let per_minute = |table: &str| {
        if table == "m" {
            "SELECT date_trunc('minute', minute) AS m, CAST(reason AS VARCHAR) AS r, \
             sum(records) AS n, min(first_seen) AS f, max(last_seen) AS l \
             FROM rejected_events_minutes GROUP BY 1, 2 ORDER BY 1, 2"
        } else {
            "SELECT date_trunc('minute', ingested_at) AS m, CAST(reason AS VARCHAR) AS r, \
             count(*) AS n, min(ingested_at) AS f, max(ingested_at) AS l \
             FROM rejected_events GROUP BY 1, 2 ORDER BY 1, 2"
        }
    };
    let (m, e) = (
        rows(&a, per_minute("m")).await,
        rows(&a, per_minute("e")).await,
    );
    assert!(!m.is_empty());
    assert_eq!(m, e);
    let total = rows(&a, "SELECT sum(records) FROM rejected_events_minutes").await;
    let events = rows(&a, "SELECT count(*) FROM rejected_events").await;
    assert_eq!(total[0][0], events[0][0]);
    assert!(events[0][0].as_i64().expect("count") >= 4 + 7 + 3);
}
