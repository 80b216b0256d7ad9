//! Ingest's Prometheus metrics (names in [`model::metrics`]).
//!
//! Counting happens per batch, not per event: the worker cuts a batch of
//! decoded rows about every half second and [`IngestMetrics::observe_batch`]
//! counts it by its dictionary keys, so the decoder's hot path never touches
//! a metric. Label values are bounded: a value outside its vocabulary is
//! counted as `other`.

use std::collections::HashMap;
use std::time::Duration;

use arrow::array::{Array, AsArray, DictionaryArray};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use model::metrics as names;
use model::schema::col;
use model::vocab::{Channel, FailureCause, Outcome, PaymentMethod, VocabField};
use model::{Reason, metrics::INGEST_LIVE_ROWS};
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::decode::DecodeStats;
use crate::sink::FlushReport;
use crate::{Error, Result};

/// The `payment_method` label of an attempt without one (the field is
/// optional); a value outside the vocabulary is `other`.
pub const NO_PAYMENT_METHOD: &str = "none";

/// The collectors of one ingest worker, registered on a shared [`Registry`].
#[derive(Clone)]
pub struct IngestMetrics {
    attempts: IntCounterVec,
    failures: IntCounterVec,
    records: IntCounter,
    record_bytes: IntCounter,
    rejected: IntCounterVec,
    duplicates: IntCounter,
    unknown_values: IntCounterVec,
    lag_records: IntGaugeVec,
    lag_seconds: IntGaugeVec,
    flush_seconds: Histogram,
    flushes: IntCounterVec,
    files_written: IntCounterVec,
    bytes_written: IntCounter,
    dead_letters: IntCounterVec,
    live_rows: IntGauge,
    retention_removed: IntCounter,
    broker_up: IntGauge,
    storage_writable: IntGauge,
}

impl std::fmt::Debug for IngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestMetrics")
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels).map_err(metric_error)?;
    r.register(Box::new(c.clone())).map_err(metric_error)?;
    Ok(c)
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).map_err(metric_error)?;
    r.register(Box::new(g.clone())).map_err(metric_error)?;
    Ok(g)
}

fn counter(r: &Registry, name: &str, help: &str) -> Result<IntCounter> {
    let c = IntCounter::new(name, help).map_err(metric_error)?;
    r.register(Box::new(c.clone())).map_err(metric_error)?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge> {
    let g = IntGauge::new(name, help).map_err(metric_error)?;
    r.register(Box::new(g.clone())).map_err(metric_error)?;
    Ok(g)
}

fn metric_error(e: prometheus::Error) -> Error {
    Error::Config(format!("registering ingest metrics: {e}"))
}

impl IngestMetrics {
    /// Registers every ingest metric on `registry` (once per registry).
    pub fn register(registry: &Registry) -> Result<Self> {
        let r = registry;
        let flush_seconds = Histogram::with_opts(
            HistogramOpts::new(
                names::INGEST_FLUSH_DURATION_SECONDS,
                "Time to write one flush: encode, fsync and rename all its Parquet files.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )
        .map_err(metric_error)?;
        r.register(Box::new(flush_seconds.clone()))
            .map_err(metric_error)?;
        let m = Self {
            attempts: counter_vec(
                r,
                names::ORDER_ATTEMPTS_TOTAL,
                "Accepted order attempts.",
                &["outcome", "channel", "payment_method"],
            )?,
            failures: counter_vec(
                r,
                names::ORDER_FAILURES_TOTAL,
                "Accepted failed order attempts, by cause.",
                &["failure_cause", "channel", "payment_method"],
            )?,
            records: counter(
                r,
                names::INGEST_RECORDS_TOTAL,
                "Kafka records consumed (an NDJSON record may hold several events).",
            )?,
            record_bytes: counter(
                r,
                names::INGEST_RECORD_BYTES_TOTAL,
                "Bytes of Kafka record values consumed.",
            )?,
            rejected: counter_vec(
                r,
                names::INGEST_REJECTED_TOTAL,
                "Events rejected, by reason code.",
                &["reason"],
            )?,
            duplicates: counter(
                r,
                names::INGEST_DUPLICATES_TOTAL,
                "Events skipped because their event_id was seen recently.",
            )?,
            unknown_values: counter_vec(
                r,
                names::INGEST_UNKNOWN_VALUES_TOTAL,
                "Accepted events with a value outside a vocabulary, by field.",
                &["field"],
            )?,
            lag_records: gauge_vec(
                r,
                names::INGEST_LAG_RECORDS,
                "Records between the last consumed one and the partition's high watermark.",
                &["partition"],
            )?,
            lag_seconds: gauge_vec(
                r,
                names::INGEST_LAG_SECONDS,
                "Event age of the last consumed record; 0 when the partition is caught up.",
                &["partition"],
            )?,
            flush_seconds,
            flushes: counter_vec(
                r,
                names::INGEST_FLUSHES_TOTAL,
                "Flushes written (ok) or failed and retried (error).",
                &["result"],
            )?,
            files_written: counter_vec(
                r,
                names::INGEST_FILES_WRITTEN_TOTAL,
                "Parquet files written, by table.",
                &["table"],
            )?,
            bytes_written: counter(
                r,
                names::INGEST_BYTES_WRITTEN_TOTAL,
                "Bytes of Parquet written.",
            )?,
            dead_letters: counter_vec(
                r,
                names::INGEST_DEAD_LETTERS_TOTAL,
                "Rejected records sent to the dead-letter topic (ok) or not delivered (error).",
                &["result"],
            )?,
            live_rows: gauge(
                r,
                INGEST_LIVE_ROWS,
                "Rows decoded but not yet in a Parquet file.",
            )?,
            retention_removed: counter(
                r,
                names::INGEST_RETENTION_REMOVED_FILES_TOTAL,
                "Parquet files removed by --retention-days.",
            )?,
            broker_up: gauge(
                r,
                names::INGEST_BROKER_UP,
                "1 when a Kafka broker is reachable, 0 while none is.",
            )?,
            storage_writable: gauge(
                r,
                names::INGEST_STORAGE_WRITABLE,
                "1 when the data directory is writable, 0 while writes fail.",
            )?,
        };
        // Every reason and field exists from the start, so rate() works on
        // the first increment and dashboards show zeros instead of gaps.
        for reason in Reason::ALL {
            m.rejected.with_label_values(&[reason.as_str()]);
        }
        for field in VocabField::ALL {
            m.unknown_values.with_label_values(&[field.as_str()]);
        }
        for result in ["ok", "error"] {
            m.flushes.with_label_values(&[result]);
            m.dead_letters.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// Counts one batch of accepted rows by outcome, channel, payment method
    /// and failure cause.
    pub fn observe_batch(&self, batch: &RecordBatch) {
        let (Some(outcome), Some(channel), Some(method), Some(cause)) = (
            dict(batch, col::OUTCOME),
            dict(batch, col::CHANNEL),
            dict(batch, col::PAYMENT_METHOD),
            dict(batch, col::FAILURE_CAUSE),
        ) else {
            return;
        };
        let (ko, kc, km, kf) = (outcome.keys(), channel.keys(), method.keys(), cause.keys());
        // Count by dictionary keys first (cheap), translate to labels after.
        let mut attempts: HashMap<(i32, i32, i32), u64> = HashMap::new();
        let mut failures: HashMap<(i32, i32, i32), u64> = HashMap::new();
        for i in 0..batch.num_rows() {
            // payment_method is optional: a missing one is key -1 (`none`).
            let m = if km.is_valid(i) { km.value(i) } else { -1 };
            let (o, c) = (ko.value(i), kc.value(i));
            *attempts.entry((o, c, m)).or_default() += 1;
            if kf.is_valid(i) {
                *failures.entry((kf.value(i), c, m)).or_default() += 1;
            }
        }
        let label = |a: &DictionaryArray<Int32Type>, key: i32, f: fn(&str) -> &str| -> String {
            let values = a.values().as_string::<i32>();
            let v = usize::try_from(key)
                .ok()
                .filter(|&k| k < values.len())
                .map_or("", |k| values.value(k));
            f(v).to_string()
        };
        let method_label = |key: i32| match key {
            -1 => NO_PAYMENT_METHOD.to_string(),
            key => label(method, key, PaymentMethod::label),
        };
        for ((o, c, m), n) in attempts {
            let labels = [
                label(outcome, o, Outcome::label),
                label(channel, c, Channel::label),
                method_label(m),
            ];
            self.attempts
                .with_label_values(&[&labels[0], &labels[1], &labels[2]])
                .inc_by(n);
        }
        for ((f, c, m), n) in failures {
            let labels = [
                label(cause, f, FailureCause::label),
                label(channel, c, Channel::label),
                method_label(m),
            ];
            self.failures
                .with_label_values(&[&labels[0], &labels[1], &labels[2]])
                .inc_by(n);
        }
    }

    /// Adds a decoder's counts since its last `take_stats`.
    pub fn observe_stats(&self, s: &DecodeStats) {
        for reason in Reason::ALL {
            let n = s.rejected(reason);
            if n > 0 {
                self.rejected
                    .with_label_values(&[reason.as_str()])
                    .inc_by(n);
            }
        }
        for field in VocabField::ALL {
            let n = s.unknown_values(field);
            if n > 0 {
                self.unknown_values
                    .with_label_values(&[field.as_str()])
                    .inc_by(n);
            }
        }
        self.duplicates.inc_by(s.duplicates);
    }

    pub fn record(&self, value_bytes: usize) {
        self.records.inc();
        self.record_bytes.inc_by(value_bytes as u64);
    }

    pub fn flushed(&self, took: Duration, report: &FlushReport) {
        self.flush_seconds.observe(took.as_secs_f64());
        self.flushes.with_label_values(&["ok"]).inc();
        for file in &report.files {
            let table = if file
                .components()
                .any(|c| c.as_os_str() == model::files::REJECTED_DIR)
            {
                model::files::REJECTED_DIR
            } else {
                model::files::ATTEMPTS_DIR
            };
            self.files_written.with_label_values(&[table]).inc();
        }
        self.bytes_written.inc_by(report.bytes);
    }

    pub fn flush_failed(&self) {
        self.flushes.with_label_values(&["error"]).inc();
    }

    pub fn dead_letters(&self, sent: u64, lost: u64) {
        self.dead_letters.with_label_values(&["ok"]).inc_by(sent);
        self.dead_letters.with_label_values(&["error"]).inc_by(lost);
    }

    pub fn lag(&self, partition: i32, records: Option<i64>, seconds: Option<i64>) {
        let p = partition.to_string();
        if let Some(r) = records {
            self.lag_records.with_label_values(&[&p]).set(r.max(0));
        }
        if let Some(s) = seconds {
            self.lag_seconds.with_label_values(&[&p]).set(s.max(0));
        }
    }

    /// Drops a partition's lag series when it moves to another worker, so a
    /// group's workers do not report stale lag for it.
    pub fn forget_partition(&self, partition: i32) {
        let p = partition.to_string();
        let _ = self.lag_records.remove_label_values(&[&p]);
        let _ = self.lag_seconds.remove_label_values(&[&p]);
    }

    pub fn live_rows(&self, rows: usize) {
        self.live_rows.set(rows as i64);
    }

    pub fn retention_removed(&self, files: u64) {
        self.retention_removed.inc_by(files);
    }

    pub fn broker_up(&self, up: bool) {
        self.broker_up.set(i64::from(up));
    }

    pub fn storage_writable(&self, ok: bool) {
        self.storage_writable.set(i64::from(ok));
    }
}

fn dict(batch: &RecordBatch, i: usize) -> Option<&DictionaryArray<Int32Type>> {
    batch.columns().get(i)?.as_dictionary_opt::<Int32Type>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, DecoderConfig, Source, UserKeyHasher};
    use prometheus::Encoder;

    fn text(registry: &Registry) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn batches_are_counted_with_bounded_labels() {
        let registry = Registry::new();
        let m = IngestMetrics::register(&registry).unwrap();
        let mut d = Decoder::new(DecoderConfig::new(
            UserKeyHasher::from_config(None, true).unwrap(),
        ));
        let now = 1_764_000_000_000;
        let lines = [
            r#"{"event_id":"a","ts":1764000000000,"outcome":"failure","channel":"web","failure_cause":"payment_declined","payment_method":"credit_card"}"#,
            r#"{"event_id":"b","ts":1764000000000,"outcome":"failure","channel":"web","failure_cause":"payment_declined","payment_method":"credit_card"}"#,
            r#"{"event_id":"c","ts":1764000000000,"outcome":"success","channel":"smart_fridge","payment_method":"credit_card"}"#,
            r#"{"event_id":"c","ts":1764000000000,"outcome":"success","channel":"web","payment_method":"credit_card"}"#,
            r#"{"event_id":"d","ts":"not a time","outcome":"success","channel":"web","payment_method":"credit_card"}"#,
            r#"{"event_id":"e","ts":1764000000000,"outcome":"failure","channel":"web","failure_cause":"network_error"}"#,
        ];
        for (i, line) in lines.iter().enumerate() {
            let src = Source {
                topic: "t",
                partition: 0,
                offset: i as i64,
                now_ms: now,
            };
            d.decode(line.as_bytes(), &src);
        }
        m.observe_batch(&d.finish_batch().unwrap());
        m.observe_stats(&d.take_stats());
        let t = text(&registry);
        assert!(
            t.contains(r#"orderpulse_order_failures_total{channel="web",failure_cause="payment_declined",payment_method="credit_card"} 2"#),
            "{t}"
        );
        assert!(
            t.contains(r#"orderpulse_order_attempts_total{channel="other",outcome="success",payment_method="credit_card"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(r#"orderpulse_order_failures_total{channel="web",failure_cause="network_error",payment_method="none"} 1"#),
            "a missing payment method is `none`, not the dictionary's first word: {t}"
        );
        assert!(
            !t.contains(r#"failure_cause="network_error",payment_method="credit_card""#),
            "{t}"
        );
        assert!(t.contains("orderpulse_ingest_duplicates_total 1"), "{t}");
        assert!(
            t.contains(r#"orderpulse_ingest_unknown_values_total{field="channel"} 1"#),
            "{t}"
        );
        assert!(!t.contains("smart_fridge"), "{t}");
        let rejected: u64 = Reason::ALL
            .iter()
            .filter_map(|r| {
                let key = format!(
                    "orderpulse_ingest_rejected_total{{reason=\"{}\"}} ",
                    r.as_str()
                );
                t.lines()
                    .find_map(|l| l.strip_prefix(&key)?.parse::<u64>().ok())
            })
            .sum();
        assert_eq!(rejected, 1, "{t}");
    }
}
