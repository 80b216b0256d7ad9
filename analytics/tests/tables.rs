//! The tables over a data directory: what is read, what is not, and when.

#[path = "support/fixture.rs"]
mod fixture;
#[path = "tables/minutes.rs"]
mod minutes;
#[path = "tables/rollup.rs"]
mod rollup;

use std::path::Path;
use std::sync::Arc;

use analytics::{Analytics, AnalyticsConfig};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use model::LiveRows;

async fn start(dir: &Path, live: Option<LiveRows>) -> Analytics {
    let mut config = AnalyticsConfig::new(dir).expect("config");
    config.live = live;
    Analytics::new(config).await.expect("analytics")
}

/// The first column of the first row, as i64.
async fn scalar(a: &Analytics, sql: &str) -> i64 {
    let out = a.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    out.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

/// `n` distinct events in one hour of 2026-11-01, ids prefixed `prefix`.
fn events(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let ts = format!("2026-11-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60);
            fixture::event(&format!("{prefix}{i}"), &ts, "success", "web", &[])
        })
        .collect()
}

#[tokio::test]
async fn files_that_appear_while_it_runs_are_seen() {
    let dir = tempfile::tempdir().expect("dir");
    let a = start(dir.path(), None).await;
    let count = "SELECT count(*) FROM order_attempts";
    assert_eq!(scalar(&a, count).await, 0);
    fixture::write_flush(dir.path(), 0, 0, &events("a", 10));
    assert_eq!(scalar(&a, count).await, 10);
    fixture::write_flush(dir.path(), 0, 10, &events("b", 5));
    assert_eq!(scalar(&a, count).await, 15);
}

#[tokio::test]
async fn temp_files_incomplete_flushes_and_foreign_files_are_not_read() {
    let dir = tempfile::tempdir().expect("dir");
    let files = fixture::write_flush(dir.path(), 0, 0, &events("a", 10));
    let day = files[0].parent().expect("date dir").to_path_buf();
    // A writer died mid-write: its temp file holds garbage.
    std::fs::write(
        day.join(".order-attempts-p0-00000000000000000010-00000000000000000019-1of1.parquet.tmp"),
        b"half a file",
    )
    .expect("tmp");
    // A flush of two files (events on two dates) that lost one of them.
    let mut two_days = events("c", 3);
    two_days.push(fixture::event(
        "c-next-day",
        "2026-11-02T01:00:00Z",
        "success",
        "web",
        &[],
    ));
    let partial = fixture::write_flush(dir.path(), 1, 0, &two_days);
    assert_eq!(partial.len(), 2, "{partial:?}");
    std::fs::remove_file(&partial[1]).expect("remove");
    // Files that are not ours, even with a parquet name.
    std::fs::write(day.join("part-00000.parquet"), b"not parquet").expect("foreign");
    std::fs::write(day.join("notes.txt"), b"hello").expect("foreign");

    let a = start(dir.path(), None).await;
    assert_eq!(scalar(&a, "SELECT count(*) FROM order_attempts").await, 10);
    // The missing file arrives (the writer finished): the flush counts whole.
    fixture::write_flush(dir.path(), 1, 0, &two_days);
    assert_eq!(scalar(&a, "SELECT count(*) FROM order_attempts").await, 14);
}

#[tokio::test]
async fn overlapping_flushes_are_not_double_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let lines = events("e", 30);
    // The owner wrote 0..=9, 10..=19, 20..=29; a zombie wrote 5..=24 too.
    fixture::write_flush(dir.path(), 0, 0, &lines[0..10]);
    fixture::write_flush(dir.path(), 0, 5, &lines[5..25]);
    fixture::write_flush(dir.path(), 0, 10, &lines[10..20]);
    fixture::write_flush(dir.path(), 0, 20, &lines[20..30]);
    let a = start(dir.path(), None).await;
    assert_eq!(scalar(&a, "SELECT count(*) FROM order_attempts").await, 30);
    assert_eq!(
        scalar(&a, "SELECT count(DISTINCT event_id) FROM order_attempts").await,
        30
    );
    assert_eq!(
        scalar(
            &a,
            "SELECT count(DISTINCT kafka_offset) FROM order_attempts"
        )
        .await,
        30
    );
}

#[tokio::test]
async fn live_rows_are_unioned_and_seen_once_when_flushed() {
    let dir = tempfile::tempdir().expect("dir");
    let live = LiveRows::new();
    let a = start(dir.path(), Some(live.clone())).await;
    let count = "SELECT count(*) FROM order_attempts";
    let lines = events("l", 20);
    let (batch, rejected) = fixture::live(0, 0, &lines[0..10]);
    live.push_attempts(batch);
    live.push_rejected(rejected);
    assert_eq!(scalar(&a, count).await, 10, "live rows only");
    // The flush lands before ingest releases the live batch: read once.
    fixture::write_flush(dir.path(), 0, 0, &lines[0..10]);
    assert_eq!(scalar(&a, count).await, 10, "file and live batch");
    live.release(fixture::TOPIC, 0, 9);
    assert_eq!(scalar(&a, count).await, 10, "file only");
    let (batch, _) = fixture::live(0, 10, &lines[10..20]);
    live.push_attempts(batch);
    assert_eq!(scalar(&a, count).await, 20, "file and newer live rows");
    let rejected = scalar(&a, "SELECT count(*) FROM rejected_events").await;
    assert_eq!(rejected, 0);
}

/// Flushes race with queries: every query sees every pushed row exactly
/// once, whichever side of a flush it lands on (snapshot first, list second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_racing_a_query_is_seen_exactly_once() {
    let dir = tempfile::tempdir().expect("dir");
    let live = LiveRows::new();
    let a = start(dir.path(), Some(live.clone())).await;
    let lines = events("r", 300);
    for k in 0..30usize {
        let chunk = lines[k * 10..k * 10 + 10].to_vec();
        let (batch, _) = fixture::live(0, (k * 10) as i64, &chunk);
        live.push_attempts(batch);
        let (data, live2) = (dir.path().to_path_buf(), live.clone());
        let flush = tokio::task::spawn_blocking(move || {
            fixture::write_flush(&data, 0, (k * 10) as i64, &chunk);
            live2.release(fixture::TOPIC, 0, (k * 10 + 9) as i64);
        });
        for _ in 0..3 {
            let n = scalar(&a, "SELECT count(*) FROM order_attempts").await;
            assert_eq!(n, (k as i64 + 1) * 10, "round {k}");
        }
        flush.await.expect("flush");
    }
}

#[tokio::test]
async fn date_directories_outside_the_ts_filter_are_not_opened() {
    let dir = tempfile::tempdir().expect("dir");
    fixture::fixed(dir.path());
    // A complete flush (1of1) in a far date directory whose file is corrupt:
    // any query that opens it fails.
    let far = dir.path().join("order_attempts/date=2020-01-01");
    std::fs::create_dir_all(&far).expect("dir");
    std::fs::write(
        far.join("order-attempts-p7-00000000000000000000-00000000000000000009-1of1.parquet"),
        b"corrupt",
    )
    .expect("corrupt file");
    let a = start(dir.path(), None).await;
    let err = a.sql("SELECT count(*) FROM order_attempts").await;
    assert!(err.is_err(), "the corrupt file is read without a ts filter");
    let pruned = "SELECT count(*) FROM order_attempts WHERE ts >= TIMESTAMP '2026-11-01T00:00:00Z'";
    assert_eq!(scalar(&a, pruned).await, 22);
    let day_one = "SELECT count(*) FROM order_attempts \
        WHERE ts BETWEEN TIMESTAMP '2026-11-01T00:00:00Z' AND TIMESTAMP '2026-11-01T23:59:59Z'";
    assert_eq!(scalar(&a, day_one).await, 18);
    // Saved queries bind their window the same way.
    let params = [
        ("start".to_string(), "2026-11-01T00:00:00Z".to_string()),
        ("end".to_string(), "2026-11-03T00:00:00Z".to_string()),
    ];
    let out = a
        .query("failures_by_channel", &params)
        .await
        .expect("saved query");
    assert_eq!(out.rows, 5);
    // `now() - interval` is folded to a literal before the scan: pruned too.
    let recent = "SELECT count(*) FROM order_attempts WHERE ts > now() - INTERVAL '300 days'";
    assert_eq!(scalar(&a, recent).await, 22);
}

#[tokio::test]
async fn row_group_statistics_prune_within_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    // 120 events a second apart, in row groups of 10: ts ranges do not overlap.
    let options = ingest::sink::SinkOptions {
        row_group_rows: 10,
        ..Default::default()
    };
    fixture::write_flush_with(dir.path(), 0, 0, &events("s", 120), options);
    let a = start(dir.path(), None).await;
    let sql = "SELECT count(*) FROM order_attempts WHERE ts >= TIMESTAMP '2026-11-01T10:01:50Z'";
    assert_eq!(scalar(&a, sql).await, 10);
    let out = a
        .sql(&format!("EXPLAIN ANALYZE {sql}"))
        .await
        .expect("explain");
    let plan = arrow::util::pretty::pretty_format_batches(&out.batches)
        .expect("plan")
        .to_string();
    let pruned = plan
        .split("row_groups_pruned_statistics=")
        .nth(1)
        .unwrap_or_else(|| panic!("no row group statistics in\n{plan}"));
    assert!(
        pruned.starts_with("12 total \u{2192} 1 matched"),
        "row groups not pruned by statistics:\n{plan}"
    );
}

#[tokio::test]
async fn rejected_events_and_alerts_tables() {
    let dir = tempfile::tempdir().expect("dir");
    fixture::fixed(dir.path());
    let a = start(dir.path(), None).await;
    assert_eq!(scalar(&a, "SELECT count(*) FROM rejected_events").await, 4);
    assert_eq!(scalar(&a, "SELECT count(*) FROM alerts").await, 0);
    // An alerts file written by a plain Parquet writer is read; temp files are not.
    let alerts_dir = dir.path().join("alerts");
    std::fs::create_dir_all(&alerts_dir).expect("alerts dir");
    let file = std::fs::File::create(alerts_dir.join("2026-11-01.parquet")).expect("file");
    let row = alert_row();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, row.schema(), None).expect("writer");
    writer.write(&row).expect("write");
    writer.close().expect("close");
    std::fs::write(alerts_dir.join(".next.parquet.tmp"), b"partial").expect("tmp");
    assert_eq!(
        scalar(&a, "SELECT count(*) FROM alerts WHERE status = 'firing'").await,
        1
    );
    // A damaged file, and a Parquet file of another table, are left out
    // (with a warning): the readable history stays queryable.
    std::fs::write(alerts_dir.join("2026-11-02.parquet"), b"not parquet").expect("junk");
    let good = std::fs::read(alerts_dir.join("2026-11-01.parquet")).expect("read");
    std::fs::write(
        alerts_dir.join("2026-11-03.parquet"),
        &good[..good.len() / 2],
    )
    .expect("truncated");
    let other = std::fs::File::create(alerts_dir.join("2026-11-04.parquet")).expect("file");
    let batch = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        ])),
        vec![Arc::new(arrow::array::Int64Array::from(vec![1]))],
    )
    .expect("batch");
    let mut writer = parquet::arrow::ArrowWriter::try_new(other, batch.schema(), None).expect("w");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    assert_eq!(scalar(&a, "SELECT count(*) FROM alerts").await, 1);
}

fn alert_row() -> RecordBatch {
    use arrow::array::{
        ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
    };
    let s = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let ts = |v: Option<i64>| {
        Arc::new(TimestampMillisecondArray::from(vec![v]).with_timezone("UTC")) as ArrayRef
    };
    let i = |v: i64| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
    let f = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
    RecordBatch::try_new(
        model::schema::alerts_schema(),
        vec![
            s("a1"),
            s("firing"),
            s(r#"{"payment_method":"alipay"}"#),
            ts(Some(1_793_534_400_000)),
            ts(None),
            i(300),
            i(1000),
            i(250),
            f(0.25),
            f(0.03),
            f(7.5),
            s("[]"),
            s("check the payment provider"),
        ],
    )
    .expect("alert row")
}
