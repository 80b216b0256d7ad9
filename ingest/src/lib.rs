//! Kafka order-attempt events → validated Arrow batches → Parquet, and the
//! traffic simulator that feeds them.
//!
//! # Layout
//! - [`decode`]: one Kafka message value → accepted rows appended to Arrow
//!   column builders, plus rejected records with a reason code
//!   (CONTRACT section 1). The hot path.
//! - [`consume`]: the ingest worker: a consumer-group member that positions
//!   partitions from the stored files, decodes, flushes and commits.
//! - [`dlq`]: rejected records to the dead-letter topic, with their headers.
//! - [`metrics`]: ingest's Prometheus collectors; [`health`]: readiness.
//! - [`retention`]: `--retention-days`, in whole flushes.
//! - [`embedded`]: librdkafka's mock Kafka cluster in-process on 127.0.0.1,
//!   for `orderpulse demo` and fault-injection tests (brokers down, errors).
//! - [`sink`]: Parquet files written whole and named by the Kafka offsets
//!   they cover; [`sink::scan`] reads progress back from the names.
//! - [`simulate`]: believable order-attempt traffic with incidents, to a file
//!   or to Kafka, with its ground truth.
//! - [`error`]: the crate's error type.

pub mod consume;
pub mod decode;
pub mod dlq;
pub mod embedded;
pub mod error;
pub mod health;
pub mod metrics;
pub mod retention;
pub mod simulate;
pub mod sink;

pub use error::{Error, Result};
