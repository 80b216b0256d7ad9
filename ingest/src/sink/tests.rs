//! Flushes written and read back with the plain parquet API, and the ledger
//! that resumes from them.

use std::fs::File;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMillisecondType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::*;
use crate::decode::{Decoder, DecoderConfig, Source, UserKeyHasher};
use model::minutes::ATTEMPTS;

const TOPIC: &str = "order-attempts";
/// 2026-11-01T23:50:00Z: ten minutes before a date boundary.
const START: i64 = 1_793_577_000_000;

/// Decodes `n` events a second apart from START, plus `bad` broken records.
fn decoded(n: usize, bad: usize) -> (RecordBatch, RecordBatch) {
    let users = UserKeyHasher::new(b"test-secret-0123456789").unwrap();
    let mut d = Decoder::new(DecoderConfig::new(users));
    for i in 0..n {
        let ev = format!(
            r#"{{"event_id":"e{i}","ts":{},"outcome":"success","channel":"web","user_id":"u{i}"}}"#,
            START + i as i64 * 1_000
        );
        let src = Source {
            topic: TOPIC,
            partition: 1,
            offset: i as i64,
            now_ms: START + 3_600_000,
        };
        d.decode(ev.as_bytes(), &src);
    }
    for i in 0..bad {
        let src = Source {
            topic: TOPIC,
            partition: 1,
            offset: (n + i) as i64,
            now_ms: START,
        };
        d.decode(b"{oops", &src);
    }
    let rejected = crate::decode::rejected_batch(&d.take_rejected()).unwrap();
    (d.finish_batch().unwrap(), rejected)
}

fn range(first: i64, last: i64) -> FlushRange {
    FlushRange {
        topic: TOPIC.into(),
        partition: 1,
        first,
        last,
    }
}

#[test]
fn a_flush_is_split_by_event_date_and_readable_by_a_plain_parquet_reader() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    let (accepted, rejected) = decoded(1200, 3); // 20 minutes: crosses midnight
    let report = sink
        .write_flush(&range(0, 1202), &[accepted], Some(&rejected), START)
        .unwrap();
    assert_eq!(report.files.len(), 3);
    assert_eq!((report.accepted_rows, report.rejected_rows), (1200, 3));
    let names: Vec<String> = report
        .files
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "order_attempts/date=2026-11-01/order-attempts-p1-00000000000000000000-00000000000000001202-1of3.parquet",
            "order_attempts/date=2026-11-02/order-attempts-p1-00000000000000000000-00000000000000001202-2of3.parquet",
            "rejected_events/date=2026-11-01/order-attempts-p1-00000000000000000000-00000000000000001202-3of3.parquet",
        ]
    );
    let mut rows = 0;
    for (path, date) in report.files[..2].iter().zip(["2026-11-01", "2026-11-02"]) {
        // The footer says which offsets the file covers.
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .clone();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(get(meta::TOPIC).as_deref(), Some(TOPIC));
        assert_eq!(get(meta::PARTITION).as_deref(), Some("1"));
        assert_eq!(get(meta::FIRST_OFFSET).as_deref(), Some("0"));
        assert_eq!(get(meta::LAST_OFFSET).as_deref(), Some("1202"));
        assert_eq!(get(meta::FILE_COUNT).as_deref(), Some("3"));
        // Every row's event date is its directory's date.
        let batches = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in batches {
            let b = b.unwrap();
            assert_eq!(b.schema(), model::schema::order_attempts_schema());
            let ts = b
                .column(model::schema::col::TS)
                .as_primitive::<TimestampMillisecondType>();
            for t in ts.values() {
                let day = chrono::DateTime::from_timestamp_millis(*t)
                    .unwrap()
                    .date_naive();
                assert_eq!(day.to_string(), date);
            }
            rows += b.num_rows();
        }
    }
    assert_eq!(rows, 1200);
    // No temp file is left behind.
    let leftovers: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn a_flush_of_only_duplicates_still_records_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    let report = sink.write_flush(&range(50, 60), &[], None, START).unwrap();
    assert_eq!(report.files.len(), 1);
    assert_eq!(scan(dir.path(), TOPIC).unwrap().next_offset(1), Some(61));
}

#[test]
fn the_ledger_resumes_after_the_highest_complete_flush_and_finds_crash_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    let (accepted, rejected) = decoded(1200, 3);
    assert_eq!(scan(dir.path(), TOPIC).unwrap().next_offset(1), None);
    sink.write_flush(
        &range(0, 1202),
        std::slice::from_ref(&accepted),
        Some(&rejected),
        START,
    )
    .unwrap();
    let second = sink
        .write_flush(&range(1203, 2405), &[accepted], Some(&rejected), START)
        .unwrap();
    let ledger = scan(dir.path(), TOPIC).unwrap();
    assert_eq!(ledger.next_offset(1), Some(2406));
    assert!(ledger.incomplete.is_empty() && ledger.overlaps.is_empty() && ledger.gaps.is_empty());
    // A crash between two renames of the second flush: one file missing.
    std::fs::remove_file(&second.files[1]).unwrap();
    let ledger = scan(dir.path(), TOPIC).unwrap();
    assert_eq!(
        ledger.next_offset(1),
        Some(1203),
        "resume where the last complete flush ended"
    );
    let mut leftover: Vec<_> = ledger.incomplete.iter().map(|(p, _)| p.clone()).collect();
    leftover.sort();
    // The flush's two remaining files ...
    let mut expect = vec![second.files[0].clone(), second.files[2].clone()];
    // ... and every rollup's file of each of them.
    for file in &second.files {
        expect.extend(minutes_paths(dir.path(), file));
    }
    expect.sort();
    assert_eq!(leftover, expect);
    // A writer that died mid-write left a temp file: reported, not counted.
    let tmp = second.files[0].with_file_name(format!(
        ".{}.tmp",
        second.files[0].file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&tmp, b"half a file").unwrap();
    let ledger = scan(dir.path(), TOPIC).unwrap();
    assert_eq!(ledger.temp.len(), 1);
    assert_eq!(ledger.temp[0].0, tmp);
    assert_eq!(ledger.next_offset(1), Some(1203));
    // Other topics and partitions are separate.
    assert_eq!(ledger.next_offset(0), None);
    assert_eq!(scan(dir.path(), "other").unwrap(), Ledger::default());
}

#[test]
fn overlapping_flushes_from_a_zombie_writer_and_gaps_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    for (a, b) in [(0, 99), (100, 199), (150, 260), (300, 310)] {
        sink.write_flush(&range(a, b), &[], None, START).unwrap();
    }
    let ledger = scan(dir.path(), TOPIC).unwrap();
    assert_eq!(ledger.overlaps, vec![(range(100, 199), range(150, 260))]);
    assert_eq!(ledger.gaps, vec![range(261, 299)]);
    assert_eq!(ledger.next_offset(1), Some(311));
}

#[test]
fn the_newest_stored_event_ids_come_back_oldest_first_across_flushes_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    // 1 200 events crossing midnight: each flush is split over two dates.
    let (batch, rejected) = decoded(1_200, 0);
    sink.write_flush(
        &range(0, 599),
        &[batch.slice(0, 600)],
        Some(&rejected),
        START,
    )
    .unwrap();
    sink.write_flush(
        &range(600, 1_199),
        &[batch.slice(600, 600)],
        Some(&rejected),
        START,
    )
    .unwrap();
    let ids = recent_event_ids(dir.path(), TOPIC, 1, 700).unwrap();
    let want: Vec<String> = (500..1_200).map(|i| format!("e{i}")).collect();
    assert_eq!(ids, want);
    assert_eq!(
        recent_event_ids(dir.path(), TOPIC, 1, 5_000).unwrap().len(),
        1_200
    );
    assert!(
        recent_event_ids(dir.path(), TOPIC, 2, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        recent_event_ids(dir.path(), "other", 1, 10)
            .unwrap()
            .is_empty()
    );
}

/// The `order_attempts_minutes` rows of the file at `path`, as
/// (minute, outcome, channel, attempts).
fn minute_rows(path: &std::path::Path) -> Vec<(i64, String, String, i64)> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let text = |c: usize| {
            arrow::compute::cast(b.column(c), &arrow::datatypes::DataType::Utf8).unwrap()
        };
        let (outcome, channel) = (text(1), text(2));
        let (outcome, channel) = (outcome.as_string::<i32>(), channel.as_string::<i32>());
        let minute = b.column(0).as_primitive::<TimestampMillisecondType>();
        let n = b.column(8).as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            rows.push((
                minute.value(i),
                outcome.value(i).to_string(),
                channel.value(i).to_string(),
                n.value(i),
            ));
        }
    }
    rows
}

#[test]
fn each_order_attempts_file_gets_a_minutes_file_and_backfill_writes_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    // 1200 events a second apart from 23:50: 10 minutes on each date.
    let (accepted, rejected) = decoded(1200, 3);
    let report = sink
        .write_flush(&range(0, 1202), &[accepted], Some(&rejected), START)
        .unwrap();
    let first = minutes_path(dir.path(), &ATTEMPTS, &report.files[0]).unwrap();
    let second = minutes_path(dir.path(), &ATTEMPTS, &report.files[1]).unwrap();
    assert!(
        first.ends_with(
            "order_attempts_minutes/date=2026-11-01/order-attempts-p1-00000000000000000000-00000000000000001202-1of3.parquet"
        ),
        "{}",
        first.display()
    );
    let rows = minute_rows(&first);
    assert_eq!(rows.len(), 10, "one row per minute: {rows:?}");
    assert!(
        rows.iter()
            .all(|(_, o, c, n)| o == "success" && c == "web" && *n == 60)
    );
    assert_eq!(rows[0].0, START);
    assert_eq!(minute_rows(&second).iter().map(|r| r.3).sum::<i64>(), 600);
    // The minutes files are not the flush's: the ledger sees one complete flush.
    let ledger = scan(dir.path(), TOPIC).unwrap();
    assert_eq!(ledger.next_offset(1), Some(1203));
    assert!(ledger.incomplete.is_empty(), "{:?}", ledger.incomplete);

    // Data stored before minutes files existed: backfill writes the same file.
    let written = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    let done = backfill(dir.path()).unwrap();
    assert_eq!(
        done,
        Backfilled {
            files: 1,
            rows: 600,
            failed: 0
        }
    );
    assert_eq!(minute_rows(&first), rows);
    assert_eq!(std::fs::read(&first).unwrap().len(), written.len());
    assert_eq!(
        backfill(dir.path()).unwrap(),
        Backfilled::default(),
        "nothing left"
    );
    // A damaged order_attempts file is reported, not fatal, and gets no minutes file.
    std::fs::remove_file(&second).unwrap();
    std::fs::write(&report.files[1], b"not parquet").unwrap();
    let done = backfill(dir.path()).unwrap();
    assert_eq!((done.files, done.failed), (0, 1));
    assert!(!second.exists());

    // A backfill that died mid-write, and a minutes file whose flush is gone.
    let tmp = first.with_file_name(format!(
        ".{}.backfill-77.tmp",
        first.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&tmp, b"half").unwrap();
    let orphan = dir.path().join(format!(
        "order_attempts_minutes/date=2026-11-01/{}",
        FlushFile {
            range: range(5000, 5001),
            index: 1,
            count: 1
        }
        .file_name()
    ));
    std::fs::write(&orphan, b"x").unwrap();
    let ledger = scan(dir.path(), TOPIC).unwrap();
    assert_eq!(ledger.temp.iter().map(|t| &t.0).collect::<Vec<_>>(), [&tmp]);
    assert_eq!(
        ledger.incomplete.iter().map(|t| &t.0).collect::<Vec<_>>(),
        [&orphan]
    );
    assert_eq!(
        ledger.next_offset(1),
        Some(1203),
        "neither counts as progress"
    );
}

#[test]
fn minutes_are_compacted_per_date_and_partition_and_replaced_files_removed() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    let (accepted, rejected) = decoded(1200, 0); // 10 minutes on each of two dates
    let flush = |first: i64| {
        sink.write_flush(
            &range(first, first + 1199),
            std::slice::from_ref(&accepted),
            Some(&rejected),
            START,
        )
        .unwrap()
    };
    for k in 0..3 {
        flush(k * 1200);
    }
    let day = |d: &str| dir.path().join(format!("order_attempts_minutes/date={d}"));
    let compacted = |d: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(day(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| model::minutes::Compacted::parse(n).is_some())
            .collect();
        names.sort();
        names
    };
    let total = |d: &str| -> i64 {
        compacted(d)
            .iter()
            .flat_map(|n| minute_rows(&day(d).join(n)))
            .map(|r| r.3)
            .sum()
    };
    let options = |min_files: usize, grace_s: u64| CompactOptions {
        min_files,
        grace: std::time::Duration::from_secs(grace_s),
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
    };
    // Today (11-02) waits for 4 new files; a past date compacts at once.
    // (Every count below is three times: order_attempts_minutes,
    // order_attempts_latency_hours and order_attempts_failures are compacted
    // alike.)
    let done = compact(dir.path(), &options(4, 600)).unwrap();
    assert_eq!((done.written, done.files), (3, 9));
    assert_eq!(compacted("2026-11-01").len(), 1);
    assert!(compacted("2026-11-02").is_empty());
    // Three flushes x 600 events of 11-01, one row per minute and key.
    assert_eq!(total("2026-11-01"), 1800);
    let rows = minute_rows(&day("2026-11-01").join(&compacted("2026-11-01")[0]));
    assert_eq!(rows.len(), 10, "the same minutes added up: {rows:?}");
    assert_eq!(
        compact(dir.path(), &options(4, 600)).unwrap().written,
        0,
        "nothing new"
    );

    // A fourth flush: both dates compacted again; the replaced file stays
    // for the grace time, then goes.
    flush(3600);
    let done = compact(dir.path(), &options(4, 600)).unwrap();
    assert_eq!((done.written, done.files, done.removed), (6, 24, 0));
    assert_eq!(compacted("2026-11-01").len(), 2);
    assert_eq!(compact(dir.path(), &options(4, 0)).unwrap().removed, 3);
    assert_eq!(compacted("2026-11-01").len(), 1);
    assert_eq!((total("2026-11-01"), total("2026-11-02")), (2400, 2400));

    // Retention took the first flush: the compacted file stands for files
    // that are not all there; it is replaced and removed.
    let gone = scan(dir.path(), TOPIC).unwrap().flushes[&1][0].clone();
    for table in [
        "order_attempts",
        "rejected_events",
        "order_attempts_minutes",
        "order_attempts_latency_hours",
        "order_attempts_failures",
    ] {
        for d in ["2026-11-01", "2026-11-02"] {
            for i in 1..=2 {
                let f = FlushFile {
                    range: gone.clone(),
                    index: i,
                    count: 2,
                };
                let _ = std::fs::remove_file(
                    dir.path()
                        .join(format!("{table}/date={d}/{}", f.file_name())),
                );
            }
        }
    }
    let done = compact(dir.path(), &options(4, 0)).unwrap();
    // 11-01 (past) is compacted anew; 11-02's file goes (nothing replaces
    // it until four new files); 11-01's old one goes once its replacement
    // has been there for the grace time (here: the next round).
    assert_eq!((done.written, done.removed), (3, 3), "{done:?}");
    assert!(compacted("2026-11-02").is_empty());
    assert_eq!(compact(dir.path(), &options(4, 0)).unwrap().removed, 3);
    assert_eq!(total("2026-11-01"), 1800);
    // No temp file is left.
    assert!(walk(dir.path()).iter().all(|p| !p.ends_with(".tmp")));
}
