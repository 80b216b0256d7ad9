//! Dead letters: every rejected record, as its original bytes, to a Kafka
//! topic with the CONTRACT section 1 headers (`orderpulse-reason`,
//! `orderpulse-detail`, `orderpulse-source-topic`,
//! `orderpulse-source-partition`, `orderpulse-source-offset`).
//!
//! Sent before the flush that stores the same records in `rejected_events`
//! is written, and waited for (bounded): a crash in between sends them again,
//! so the topic is at-least-once while the table stays exactly-once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::decode::Rejected;
use crate::{Error, Result};

/// Counts deliveries that failed.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            tracing::warn!(error = %e, "dead letter not delivered");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
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
            .create_with_context(Deliveries::default())
            .map_err(Error::kafka(format!(
                "creating the dead-letter producer for {topic}"
            )))?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Sends `rejected` and waits until each is acknowledged or failed (at
    /// most `timeout`). Returns how many were not delivered.
    pub fn send(&self, rejected: &[Rejected], timeout: Duration) -> u64 {
        let before = self.producer.context().failed.load(Ordering::Relaxed);
        let mut not_queued = 0;
        for r in rejected {
            let partition = r.partition.to_string();
            let offset = r.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(header("orderpulse-reason", r.reason.as_str()))
                .insert(header("orderpulse-detail", &r.detail))
                .insert(header("orderpulse-source-topic", &r.topic))
                .insert(header("orderpulse-source-partition", &partition))
                .insert(header("orderpulse-source-offset", &offset));
            let mut record = BaseRecord::to(&self.topic)
                .payload(&r.raw[..])
                .headers(headers);
            loop {
                match self.producer.send::<(), _>(record) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        if matches!(
                            e.rdkafka_error_code(),
                            Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ) {
                            self.producer.poll(Duration::from_millis(50));
                            record = back;
                        } else {
                            tracing::warn!(error = %e, "dead letter not queued");
                            not_queued += 1;
                            break;
                        }
                    }
                }
            }
        }
        let unflushed = match self.producer.flush(timeout) {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!(error = %e, "dead letters still in flight");
                self.producer.in_flight_count().max(0) as u64
            }
        };
        let failed = self.producer.context().failed.load(Ordering::Relaxed) - before;
        not_queued + failed + unflushed
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
