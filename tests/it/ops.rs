//! What an operator sees of `orderpulse ingest` over HTTP (`--http-addr`):
//! `/readyz` flips while storage fails and recovers on its own, and
//! `/metrics` counts what the Parquet files hold, with CONTRACT §7 names.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::support::ledger::{self, Decoding, parquet_files};
use crate::support::process::{Running, acknowledged, free_addr};
use crate::support::{TansuBroker, http};

const SECRET: &str = "ops-test-secret-0123456789";
const TOPIC: &str = "order-attempts";

/// `GET path`: (status, body); `None` while nothing listens.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http::get(addr, path, &[]).map(|r| (r.status, r.text()))
}

fn wait_until(what: &str, within: Duration, log: &Path, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}; ingest log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn produce(broker: &TansuBroker, seed: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
        ])
        .args(["--seed", seed, "--scenario", "malformed:share=0.05"])
        .args(["--start", &(ledger::now_ms() - 3_600_000).to_string()])
        .args(["--duration", "2m", "--rate", "100", "--flat"])
        .output()
        .expect("run simulate");
    acknowledged(&out)
}

/// The samples `name{labels} value` (or `name value`) of one metric.
fn samples(metrics: &str, name: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let labels = series.strip_prefix(name)?;
            if !(labels.is_empty() || labels.starts_with('{')) {
                return None;
            }
            Some((labels.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn sum(metrics: &str, name: &str) -> f64 {
    samples(metrics, name).iter().map(|(_, v)| v).sum()
}

/// Accepted rows, rejected rows and failures per cause, read back from the
/// Parquet files with the plain parquet crate.
fn stored_counts(data_dir: &Path) -> (u64, u64, BTreeMap<String, u64>) {
    let (mut accepted, mut rejected) = (0, 0);
    let mut by_cause = BTreeMap::new();
    for path in parquet_files(data_dir) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            if batch.schema().index_of("reason").is_ok() {
                rejected += batch.num_rows() as u64;
                continue;
            }
            accepted += batch.num_rows() as u64;
            let cause = batch.column_by_name("failure_cause").unwrap();
            let cause = cause.as_dictionary::<Int32Type>();
            let values = cause.values().as_string::<i32>();
            for i in 0..cause.len() {
                if cause.is_valid(i) {
                    let k = cause.keys().value(i) as usize;
                    *by_cause.entry(values.value(k).to_string()).or_default() += 1;
                }
            }
        }
    }
    (accepted, rejected, by_cause)
}

#[test]
fn readiness_and_metrics_follow_what_ingest_really_did() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("ingest.log");
    let addr = free_addr();
    let sent = produce(&broker, "21");
    let mut ingest = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["ingest", "--brokers", &broker.bootstrap(), "--topic", TOPIC])
            .args(["--data-dir", data_dir.to_str().unwrap(), "--dlq-topic", ""])
            .args(["--flush-interval", "1s", "--http-addr", &addr.to_string()])
            .env("ORDERPULSE_USER_KEY_SECRET", SECRET)
            .env("ORDERPULSE_LOG", "info,ingest=debug")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start ingest"),
    );
    let status = |path: &str| http_get(addr, path).map(|(s, _)| s);
    wait_until("/readyz 200", Duration::from_secs(30), &log, || {
        status("/readyz") == Some(200)
    });
    assert_eq!(status("/healthz"), Some(200));
    let records = || {
        http_get(addr, "/metrics").map_or(0.0, |(_, m)| sum(&m, "orderpulse_ingest_records_total"))
    };
    wait_until(
        "all records consumed",
        Duration::from_secs(60),
        &log,
        || records() >= sent as f64,
    );
    // Everything flushed (1 s interval) and live rows released.
    wait_until("live rows flushed", Duration::from_secs(20), &log, || {
        http_get(addr, "/metrics")
            .is_some_and(|(_, m)| sum(&m, "orderpulse_ingest_live_rows") == 0.0)
    });

    // Storage breaks: the next flush fails, readiness says so, nothing is lost.
    let table = data_dir.join("order_attempts");
    let aside = data_dir.join("order_attempts.aside");
    std::fs::rename(&table, &aside).unwrap();
    std::fs::write(&table, b"not a directory").unwrap();
    let more = produce(&broker, "22");
    wait_until("/readyz 503", Duration::from_secs(30), &log, || {
        http_get(addr, "/readyz").is_some_and(|(s, body)| s == 503 && body.contains("not writable"))
    });
    assert_eq!(status("/healthz"), Some(200), "alive while not ready");
    std::fs::remove_file(&table).unwrap();
    std::fs::rename(&aside, &table).unwrap();
    wait_until("/readyz 200 again", Duration::from_secs(60), &log, || {
        status("/readyz") == Some(200)
    });
    wait_until("everything stored", Duration::from_secs(60), &log, || {
        http_get(addr, "/metrics")
            .is_some_and(|(_, m)| sum(&m, "orderpulse_ingest_live_rows") == 0.0)
            && records() >= (sent + more) as f64
    });
    let (_, metrics) = http_get(addr, "/metrics").unwrap();

    // Stop: SIGTERM, bounded, exit 0.
    let exit = ingest.sigterm(Duration::from_secs(15), &log);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "{log_text}");
    assert!(
        log_text.contains("flush failed; keeping the records"),
        "{log_text}"
    );

    // The files hold every record once...
    let expected = ledger::expected(
        &broker,
        TOPIC,
        SECRET,
        sent + more,
        &Decoding {
            dedup_window: 250_000,
            ..Decoding::default()
        },
        |_, _, _| {},
    );
    ledger::assert_exactly_once(&data_dir, TOPIC, &expected);

    // ...and the metrics say what the files say.
    let (accepted, rejected, by_cause) = stored_counts(&data_dir);
    assert_eq!(
        sum(&metrics, "orderpulse_ingest_records_total"),
        (sent + more) as f64
    );
    assert_eq!(
        sum(&metrics, "orderpulse_order_attempts_total"),
        accepted as f64
    );
    assert_eq!(
        sum(&metrics, "orderpulse_ingest_rejected_total"),
        rejected as f64
    );
    assert!(rejected > 0, "the malformed scenario sends rejects");
    for (cause, n) in &by_cause {
        let got: f64 = samples(&metrics, "orderpulse_order_failures_total")
            .iter()
            .filter(|(labels, _)| labels.contains(&format!("failure_cause=\"{cause}\"")))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(got, *n as f64, "failures of {cause}");
    }
    for name in [
        "orderpulse_ingest_duplicates_total",
        "orderpulse_ingest_unknown_values_total",
        "orderpulse_ingest_lag_records",
        "orderpulse_ingest_lag_seconds",
        "orderpulse_ingest_flush_duration_seconds_count",
        "orderpulse_ingest_files_written_total",
        "orderpulse_ingest_bytes_written_total",
    ] {
        assert!(
            !samples(&metrics, name).is_empty(),
            "{name} missing:\n{metrics}"
        );
    }
    assert!(sum(&metrics, "orderpulse_ingest_flushes_total") >= 2.0);
    let failed: f64 = samples(&metrics, "orderpulse_ingest_flushes_total")
        .iter()
        .filter(|(l, _)| l.contains("error"))
        .map(|(_, v)| v)
        .sum();
    assert!(failed >= 1.0, "the failed flush is counted");
    // Labels stay bounded: every partition label is a number, every
    // channel a vocabulary word or `other`.
    for (labels, _) in samples(&metrics, "orderpulse_ingest_lag_seconds") {
        assert!(labels.starts_with("{partition=\""), "{labels}");
    }
}

/// `--retention-days`: old flushes go, whole; the partition's newest stays
/// (it is where the partition resumes), whatever its date.
#[test]
fn retention_removes_old_flushes_but_keeps_where_partitions_resume() {
    use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher};
    use ingest::sink::{FlushRange, ParquetSink, SinkOptions, scan};

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let sink = ParquetSink::new(&data_dir, SinkOptions::default());
    let day = 86_400_000;
    let old = ledger::now_ms() - 60 * day;
    // Partition 0: flushes 60, 59 and 58 days old; partition 1: one, 60 days old.
    for (partition, first, age_days) in [(0, 0, 60), (0, 10, 59), (0, 20, 58), (1, 0, 60)] {
        let t = old + (60 - age_days) * day;
        let mut d = Decoder::new(DecoderConfig::new(
            UserKeyHasher::new(SECRET.as_bytes()).unwrap(),
        ));
        for offset in first..first + 10 {
            let ev = format!(
                r#"{{"event_id":"p{partition}-{offset}","ts":{t},"outcome":"success","channel":"web"}}"#
            );
            let src = Source {
                topic: TOPIC,
                partition,
                offset,
                now_ms: t,
            };
            d.decode(ev.as_bytes(), &src);
        }
        let range = FlushRange {
            topic: TOPIC.into(),
            partition,
            first,
            last: first + 9,
        };
        let batch = d.finish_batch().unwrap();
        sink.write_flush(&range, &[batch], None, t).unwrap();
    }
    let log = dir.path().join("ingest.log");
    let addr = free_addr();
    // No broker is needed for retention: it runs in the worker's loop.
    let mut ingest = Running(
        Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["ingest", "--brokers", "127.0.0.1:1", "--topic", TOPIC])
            .args(["--data-dir", data_dir.to_str().unwrap(), "--dlq-topic", ""])
            .args(["--retention-days", "30", "--http-addr", &addr.to_string()])
            .env("ORDERPULSE_USER_KEY_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start ingest"),
    );
    let remaining = || scan(&data_dir, TOPIC).unwrap().flushes;
    wait_until("old flushes removed", Duration::from_secs(20), &log, || {
        remaining().get(&0).is_some_and(|f| f.len() == 1)
    });
    let ledger = scan(&data_dir, TOPIC).unwrap();
    assert_eq!(
        ledger.next_offset(0),
        Some(30),
        "partition 0 still resumes at 30"
    );
    assert_eq!(
        ledger.next_offset(1),
        Some(10),
        "partition 1's only flush is kept"
    );
    assert!(ledger.incomplete.is_empty(), "{:?}", ledger.incomplete);
    let (_, metrics) = http_get(addr, "/metrics").unwrap();
    assert!(
        sum(&metrics, "orderpulse_ingest_retention_removed_files_total") >= 2.0,
        "{metrics}"
    );
    let _ = ingest.0.kill();
}
