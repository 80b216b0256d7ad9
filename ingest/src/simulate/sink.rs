//! Where simulated records go: an NDJSON file (or stdout), or Kafka.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// Writes record values as NDJSON: one value per line.
///
/// A value that is not valid UTF-8 cannot be a line of an NDJSON text file,
/// so it is skipped (and counted); everything else is written as it is. An
/// NDJSON message of several events becomes several lines, which is the
/// same thing to an NDJSON reader. The malformed scenario never puts a
/// newline inside a broken record, so every written line is exactly one
/// event or one broken record.
pub struct NdjsonSink<W: Write> {
    out: BufWriter<W>,
    written: u64,
    skipped: u64,
}

impl<W: Write> NdjsonSink<W> {
    pub fn new(out: W) -> Self {
        NdjsonSink {
            out: BufWriter::with_capacity(1 << 20, out),
            written: 0,
            skipped: 0,
        }
    }

    /// Writes one value; `Ok(false)` when it was skipped (invalid UTF-8).
    pub fn write(&mut self, value: &[u8]) -> io::Result<bool> {
        if std::str::from_utf8(value).is_err() {
            self.skipped += 1;
            return Ok(false);
        }
        self.out.write_all(value)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(true)
    }

    /// Records written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Records skipped because they were not valid UTF-8.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Flushes and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Where and how to produce.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    pub topic: String,
    /// Extra librdkafka settings, applied last (they override the defaults
    /// below).
    pub options: Vec<(String, String)>,
    /// Most messages waiting in the producer at once
    /// (`queue.buffering.max.messages`); sending blocks beyond it.
    pub max_in_flight: usize,
    /// How long [`KafkaSink::new`] waits for the brokers to answer.
    pub connect_timeout: Duration,
}

impl KafkaSinkConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSinkConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            options: Vec::new(),
            max_in_flight: 100_000,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What became of the records handed to a [`KafkaSink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Handed to the producer.
    pub sent: u64,
    /// Acknowledged by the brokers.
    pub acked: u64,
    /// Refused by the producer or the brokers (including `too_large`).
    pub failed: u64,
    /// Of `failed`: refused as too large (the malformed scenario's
    /// messages over 1 MiB, when the topic's `max.message.bytes` is lower).
    pub too_large: u64,
    /// Still unacknowledged when the flush timed out.
    pub unflushed: u64,
}

#[derive(Default)]
struct Counts {
    acked: AtomicU64,
    failed: AtomicU64,
    too_large: AtomicU64,
}

/// Counts delivery reports; logs the first few failures.
struct DeliveryCounter {
    counts: Arc<Counts>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.counts.acked.fetch_add(1, Relaxed);
            }
            Err((err, _)) => {
                let failed = self.counts.failed.fetch_add(1, Relaxed);
                if is_too_large(err) {
                    self.counts.too_large.fetch_add(1, Relaxed);
                }
                if failed < 5 {
                    tracing::warn!(%err, "kafka delivery failed");
                }
            }
        }
    }
}

fn is_too_large(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
    )
}

/// Produces records to one topic with an rdkafka producer, keyed by order
/// id, at most `max_in_flight` messages queued at once.
pub struct KafkaSink {
    producer: ThreadedProducer<DeliveryCounter>,
    topic: String,
    counts: Arc<Counts>,
    sent: u64,
    refused: u64,
    refused_too_large: u64,
}

impl KafkaSink {
    /// Creates the producer and checks that the brokers answer (blocking,
    /// up to `connect_timeout`).
    ///
    /// Defaults: `message.max.bytes` 4 MiB (so the malformed scenario's
    /// 1 MiB+ messages reach the broker, which decides), `linger.ms` 20,
    /// `message.timeout.ms` 60000. Message timestamps are the produce time,
    /// not the event time: event times days in the past would otherwise
    /// fall outside the topic's retention at once.
    pub fn new(cfg: &KafkaSinkConfig) -> Result<Self> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &cfg.brokers)
            .set("message.max.bytes", "4194304")
            .set("linger.ms", "20")
            .set("message.timeout.ms", "60000")
            .set(
                "queue.buffering.max.messages",
                cfg.max_in_flight.max(1).to_string(),
            )
            .set("queue.buffering.max.kbytes", "1048576");
        for (k, v) in &cfg.options {
            config.set(k, v);
        }
        let counts = Arc::new(Counts::default());
        let context = DeliveryCounter {
            counts: Arc::clone(&counts),
        };
        let producer: ThreadedProducer<DeliveryCounter> = config
            .create_with_context(context)
            .map_err(Error::kafka(format!(
                "creating a producer for {}",
                cfg.brokers
            )))?;
        producer
            .client()
            .fetch_metadata(Some(&cfg.topic), cfg.connect_timeout)
            .map_err(Error::kafka(format!(
                "reaching brokers {} (topic {})",
                cfg.brokers, cfg.topic
            )))?;
        Ok(KafkaSink {
            producer,
            topic: cfg.topic.clone(),
            counts,
            sent: 0,
            refused: 0,
            refused_too_large: 0,
        })
    }

    /// Hands one record to the producer, waiting while its queue is full.
    /// Returns `false` if `cancel` fired while waiting (the record is not
    /// sent). A record the producer refuses outright is counted as failed.
    pub fn send(&mut self, key: Option<&str>, value: &[u8], cancel: &CancellationToken) -> bool {
        let mut record = BaseRecord::<str, [u8]>::to(&self.topic).payload(value);
        if let Some(k) = key {
            record = record.key(k);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return true;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if cancel.is_cancelled() {
                        return false;
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((err, _)) => {
                    self.sent += 1;
                    self.refused += 1;
                    if is_too_large(&err) {
                        self.refused_too_large += 1;
                    }
                    if self.refused <= 5 {
                        tracing::warn!(%err, "kafka producer refused a record");
                    }
                    return true;
                }
            }
        }
    }

    /// The counts so far.
    pub fn report(&self) -> DeliveryReport {
        DeliveryReport {
            sent: self.sent,
            acked: self.counts.acked.load(Relaxed),
            failed: self.counts.failed.load(Relaxed) + self.refused,
            too_large: self.counts.too_large.load(Relaxed) + self.refused_too_large,
            unflushed: 0,
        }
    }

    /// Waits up to `timeout` for every queued record to be acknowledged or
    /// fail, then reports. Records still queued count as `unflushed`.
    pub fn flush(&self, timeout: Duration) -> DeliveryReport {
        if let Err(err) = self.producer.flush(timeout) {
            tracing::warn!(%err, "kafka flush did not complete");
        }
        DeliveryReport {
            unflushed: u64::try_from(self.producer.in_flight_count()).unwrap_or(0),
            ..self.report()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_skips_invalid_utf8_and_keeps_the_rest() {
        let mut sink = NdjsonSink::new(Vec::new());
        assert!(sink.write(br#"{"a":1}"#).unwrap());
        assert!(!sink.write(b"{\"a\":\"\xff\"}").unwrap());
        assert!(sink.write(b"{\"a\":2}\n{\"a\":3}").unwrap());
        assert_eq!((sink.written(), sink.skipped()), (2, 1));
        let out = sink.finish().unwrap();
        assert_eq!(out, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    }

    #[test]
    fn kafka_sink_reports_unreachable_brokers() {
        let mut cfg = KafkaSinkConfig::new("127.0.0.1:1", "order-attempts");
        cfg.connect_timeout = Duration::from_secs(1);
        match KafkaSink::new(&cfg) {
            Err(Error::Kafka { context, .. }) => {
                assert!(context.contains("127.0.0.1:1"), "{context}")
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("port 1 answered as a Kafka broker"),
        }
    }
}
