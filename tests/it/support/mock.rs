//! [`MockKafka`]: librdkafka's mock cluster (`ingest::embedded`) hosted in
//! the test process, for fault injection: brokers taken down and brought
//! back, request errors. The processes under test (`orderpulse ingest`,
//! `orderpulse simulate`) reach it over TCP on 127.0.0.1 like any broker.
//!
//! It is librdkafka's own test double: a test that only passes against it
//! proves nothing about interoperability, which stays on [`TansuBroker`]
//! (`../shared/BROKER-NOTES.md`). Unlike tansu 0.6, its high watermarks are
//! exact, so the topic is read back to them and record lag can be checked.
//!
//! Each partition keeps at most 5 MiB (older batches are dropped), so a test
//! keeps well below that per partition.
//!
//! [`TansuBroker`]: super::TansuBroker

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher};
use ingest::embedded::{Brokers, EmbeddedBroker, EmbeddedOptions};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use super::ledger::{Ledger, now_ms};

/// How long reading a topic back may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A mock Kafka cluster for one test, stopped on drop.
pub(crate) struct MockKafka {
    broker: EmbeddedBroker,
}

impl MockKafka {
    /// Starts `brokers` mock brokers on kernel-picked ports of 127.0.0.1.
    #[track_caller]
    pub(crate) fn start(brokers: i32) -> Self {
        let broker = EmbeddedBroker::start(EmbeddedOptions {
            brokers,
            bootstrap_port: None,
        })
        .unwrap_or_else(|e| panic!("cannot start the librdkafka mock cluster: {e}"));
        Self { broker }
    }

    /// The `bootstrap.servers` value: every broker's `127.0.0.1:PORT`.
    pub(crate) fn bootstrap(&self) -> String {
        self.broker.bootstrap_servers()
    }

    /// A client configuration pointing at this cluster.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    #[track_caller]
    pub(crate) fn create_topic(&self, name: &str, partitions: i32) {
        self.broker
            .create_topic(name, partitions)
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    }

    /// Every broker refuses connections (existing ones are closed).
    #[track_caller]
    pub(crate) fn all_down(&self) {
        self.broker.broker_down(Brokers::All).expect("brokers down");
    }

    #[track_caller]
    pub(crate) fn all_up(&self) {
        self.broker.broker_up(Brokers::All).expect("brokers up");
    }

    /// The next requests of `api` fail with `errors`, in order.
    #[track_caller]
    pub(crate) fn request_errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        self.broker
            .request_errors(api, errors)
            .expect("inject request errors");
    }

    /// The high watermark (next offset) of each partition of `topic`, in
    /// partition order. Exact on the mock cluster.
    #[track_caller]
    pub(crate) fn high_watermarks(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let client: BaseConsumer = self.client_config().create().expect("client");
        (0..partitions)
            .map(|p| {
                client
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("watermarks of {topic} [{p}]: {e}"))
                    .1
            })
            .collect()
    }

    /// Reads `topic` from offset 0 up to its high watermarks and decodes
    /// every record again, one decoder per partition like ingest (whose
    /// duplicate window of 250 000 ids per partition is seeded from the
    /// stored files on each assignment, so it runs on across outages and
    /// rebalances): the rows each (partition, offset) must become. Returns
    /// the ledger and how many duplicate events it skipped.
    #[track_caller]
    pub(crate) fn expected(&self, topic: &str, partitions: i32, secret: &str) -> (Ledger, u32) {
        let highs = self.high_watermarks(topic, partitions);
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", "outage-test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Offset(0))
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let mut decoders: BTreeMap<i32, Decoder> = BTreeMap::new();
        let mut ledger = Ledger::new();
        let total: i64 = highs.iter().sum();
        let mut duplicates = 0;
        let deadline = Instant::now() + READ_TIMEOUT;
        while (ledger.len() as i64) < total && Instant::now() < deadline {
            let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            // Errors injected into fetches may still be queued: go on.
            let msg = match msg {
                Ok(msg) => msg,
                Err(e) => {
                    eprintln!("reading {topic} back: {e} (retrying)");
                    continue;
                }
            };
            let (partition, offset) = (msg.partition(), msg.offset());
            let decoder = decoders.entry(partition).or_insert_with(|| {
                Decoder::new(DecoderConfig {
                    user_keys: UserKeyHasher::new(secret.as_bytes()).unwrap(),
                    dedup_window: 250_000,
                })
            });
            let src = Source {
                topic,
                partition,
                offset,
                now_ms: now_ms(),
            };
            let out = decoder.decode(msg.payload().unwrap_or_default(), &src);
            duplicates += out.duplicates;
            ledger.insert((partition, offset), out.accepted + out.rejected);
            if decoder.pending_rows() > 50_000 {
                decoder.finish_batch().unwrap();
                decoder.take_rejected();
            }
        }
        assert_eq!(
            ledger.len() as i64,
            total,
            "read back {topic} up to its high watermarks {highs:?}"
        );
        (ledger, duplicates)
    }
}

impl MockKafka {
    /// The source (partition, offset) of every record on the dead-letter
    /// topic `dlq` (one partition), from its `orderpulse-source-*` headers.
    #[track_caller]
    pub(crate) fn dead_letter_sources(&self, dlq: &str) -> BTreeSet<(i32, i64)> {
        use rdkafka::message::Headers;
        let high = self.high_watermarks(dlq, 1)[0];
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", "outage-test-dlq-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(dlq, 0, Offset::Offset(0))
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let (mut read, mut sources) = (0, BTreeSet::new());
        let deadline = Instant::now() + READ_TIMEOUT;
        while read < high && Instant::now() < deadline {
            let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let msg = match msg {
                Ok(msg) => msg,
                Err(e) => {
                    eprintln!("reading {dlq} back: {e} (retrying)");
                    continue;
                }
            };
            let headers = msg.headers().expect("dead letters have headers");
            let header = |key: &str| -> String {
                headers
                    .iter()
                    .find(|h| h.key == key)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_else(|| panic!("a dead letter without {key}"))
            };
            let partition = header("orderpulse-source-partition").parse().unwrap();
            let offset = header("orderpulse-source-offset").parse().unwrap();
            sources.insert((partition, offset));
            read += 1;
        }
        assert_eq!(read, high, "read back {dlq} up to its high watermark");
        sources
    }
}
