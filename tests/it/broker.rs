//! The broker harness's own tests: a real librdkafka producer and consumer
//! group move records through a `TansuBroker` with nothing lost or
//! duplicated, and dropping the harness stops the broker.
//!
//! Nothing here looks at high watermarks or lag: tansu reports them wrong.

use std::collections::HashMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::TansuBroker;

const TOPIC: &str = "harness-roundtrip";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 5_000;

/// What the broker said about one record, or what a consumer read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Landed {
    value: String,
    partition: i32,
    offset: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_produced_record_is_consumed_exactly_once() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, PARTITIONS);

    let sent = produce(&broker).await;
    let mut per_partition = [0usize; PARTITIONS as usize];
    for landed in sent.values() {
        let partition = usize::try_from(landed.partition).expect("a partition id is not negative");
        per_partition[partition] += 1;
    }
    assert!(
        per_partition.iter().all(|&count| count > 0),
        "keyed records should spread over all {PARTITIONS} partitions: {per_partition:?}"
    );

    let received = consume(&broker).await;

    let missing: Vec<&String> = sent.keys().filter(|k| !received.contains_key(*k)).collect();
    let unexpected: Vec<&String> = received.keys().filter(|k| !sent.contains_key(*k)).collect();
    let duplicated: Vec<(&String, &Vec<Landed>)> = received
        .iter()
        .filter(|(_, copies)| copies.len() > 1)
        .collect();
    let changed: Vec<(&String, &Landed, &Landed)> = received
        .iter()
        .filter_map(|(key, copies)| {
            let sent = sent.get(key)?;
            let got = copies.first()?;
            (got != sent).then_some((key, sent, got))
        })
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && duplicated.is_empty() && changed.is_empty(),
        "round trip through {} (broker log: {}):\n\
         {} missing, first {:?}\n\
         {} unexpected, first {:?}\n\
         {} duplicated, first {:?}\n\
         {} changed (sent, received), first {:?}",
        broker.bootstrap(),
        broker.log_path().display(),
        missing.len(),
        missing.first(),
        unexpected.len(),
        unexpected.first(),
        duplicated.len(),
        duplicated.first(),
        changed.len(),
        changed.first(),
    );
}

#[test]
fn dropping_the_harness_stops_the_broker() {
    let broker = TansuBroker::start();
    let address = broker.bootstrap();
    let log = broker.log_path();
    assert!(
        broker.log_tail().contains(&address),
        "the broker log should say where it listens:\n{}",
        broker.log_tail()
    );
    TcpStream::connect(&address).expect("the broker accepts connections while running");

    drop(broker);

    assert!(
        TcpStream::connect(&address).is_err(),
        "the broker still accepts connections on {address} after the harness was dropped"
    );
    assert!(
        !log.exists(),
        "a passing test's scratch directory should be removed: {}",
        log.display()
    );
}

fn key(i: usize) -> String {
    format!("order-{i:05}")
}

fn value(i: usize) -> String {
    format!("{{\"seq\":{i},\"padding\":\"{}\"}}", "x".repeat(i % 97))
}

/// Produces `RECORDS` keyed records with acks=all, all in flight at once, and
/// returns where the broker says each one landed.
async fn produce(broker: &TansuBroker) -> HashMap<String, Landed> {
    let producer: FutureProducer = broker
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer config is valid");

    let mut in_flight = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let (key, value) = (key(i), value(i));
        let delivery = producer
            .send_result(FutureRecord::to(TOPIC).key(&key).payload(&value))
            .unwrap_or_else(|(error, _)| panic!("cannot enqueue record {key}: {error}"));
        in_flight.push((key, value, delivery));
    }

    let mut sent = HashMap::with_capacity(RECORDS);
    for (key, value, delivery) in in_flight {
        let delivery = delivery
            .await
            .expect("the producer outlives its deliveries")
            .unwrap_or_else(|(error, _)| panic!("record {key} was not acknowledged: {error}"));
        let landed = Landed {
            value,
            partition: delivery.partition,
            offset: delivery.offset,
        };
        assert!(sent.insert(key, landed).is_none());
    }
    sent
}

/// Reads the topic from the start in a fresh consumer group until `RECORDS`
/// distinct keys arrived (or a deadline passes), then a little longer so a
/// late duplicate would show. Returns every copy of every key.
async fn consume(broker: &TansuBroker) -> HashMap<String, Vec<Landed>> {
    let consumer: StreamConsumer = broker
        .client_config()
        .set("group.id", "harness-roundtrip-check")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer config is valid");
    consumer.subscribe(&[TOPIC]).expect("subscribe");

    let mut received: HashMap<String, Vec<Landed>> = HashMap::with_capacity(RECORDS);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut settle_until = None;
    loop {
        let now = Instant::now();
        let until = settle_until.unwrap_or(deadline);
        if now >= until {
            break;
        }
        let message = match tokio::time::timeout(until - now, consumer.recv()).await {
            Err(_elapsed) => break,
            Ok(Err(error)) => panic!("consumer error after {} keys: {error}", received.len()),
            Ok(Ok(message)) => message,
        };
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        received.entry(key).or_default().push(Landed {
            value,
            partition: message.partition(),
            offset: message.offset(),
        });
        if received.len() == RECORDS && settle_until.is_none() {
            settle_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    received
}
