//! Dead letters: every rejected record, as its original bytes, to a Kafka
//! topic with the CONTRACT section 1 headers (`orderpulse-reason`,
//! `orderpulse-detail`, `orderpulse-source-topic`,
//! `orderpulse-source-partition`, `orderpulse-source-offset`).
//!
//! Sent before the flush that stores the same records in `rejected_events`
//! is written, and waited for (bounded): a crash in between sends them again,
//! so the topic is at-least-once while the table stays exactly-once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::decode::Rejected;
use crate::{Error, Result};

/// What became of one batch of dead letters: every record is counted here
/// by its own delivery report, so a batch never counts another's losses.
#[derive(Debug, Default)]
pub struct Batch {
    queued: AtomicU64,
    not_queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Batch {
    /// Records not delivered (yet): refused, failed, or still in flight.
    pub fn lost(&self) -> u64 {
        let queued = self.queued.load(Ordering::Relaxed);
        let done = self.delivered.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        self.not_queued.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
            + queued.saturating_sub(done)
    }

    /// Records the broker acknowledged.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

/// Delivery reports go to the batch each record came from.
struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Arc<Batch>;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: Arc<Batch>) {
        match result {
            Ok(_) => batch.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                tracing::warn!(error = %e, "dead letter not delivered");
                batch.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// A producer of dead letters to one topic.
pub struct DeadLetters {
    producer: BaseProducer<Deliveries>,
    topic: String,
}

impl DeadLetters {
    pub fn new(brokers: &str, topic: &str, options: &[(String, String)]) -> Result<Self> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("message.max.bytes", "16777216");
        for (k, v) in options {
            config.set(k, v);
        }
        let producer = config
            .create_with_context(Deliveries)
            .map_err(Error::kafka(format!(
                "creating the dead-letter producer for {topic}"
            )))?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Sends `rejected` and waits until each is acknowledged or failed (at
    /// most `timeout`). Returns how many of them were not delivered.
    pub fn send(&self, rejected: &[Rejected], timeout: Duration) -> u64 {
        let batch = self.queue(rejected);
        self.wait(timeout);
        batch.lost()
    }

    /// Queues `rejected` without waiting; [`DeadLetters::wait`] then waits
    /// for every queued batch at once.
    pub fn queue(&self, rejected: &[Rejected]) -> Arc<Batch> {
        let batch = Arc::new(Batch::default());
        for r in rejected {
            let partition = r.partition.to_string();
            let offset = r.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(header("orderpulse-reason", r.reason.as_str()))
                .insert(header("orderpulse-detail", &r.detail))
                .insert(header("orderpulse-source-topic", &r.topic))
                .insert(header("orderpulse-source-partition", &partition))
                .insert(header("orderpulse-source-offset", &offset));
            let mut record = BaseRecord::with_opaque_to(&self.topic, batch.clone())
                .payload(&r.raw[..])
                .headers(headers);
            loop {
                match self.producer.send::<(), _>(record) {
                    Ok(()) => {
                        batch.queued.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err((e, back)) => {
                        if matches!(
                            e.rdkafka_error_code(),
                            Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ) {
                            self.producer.poll(Duration::from_millis(50));
                            record = back;
                        } else {
                            tracing::warn!(error = %e, "dead letter not queued");
                            batch.not_queued.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
        }
        batch
    }

    /// Waits until everything queued is acknowledged or failed, at most
    /// `timeout`.
    pub fn wait(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, in_flight = self.producer.in_flight_count(), "dead letters still in flight");
        }
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
