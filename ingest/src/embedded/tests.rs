//! The embedded broker in-process: real rdkafka clients produce and consume
//! through it, faults show up as the clients see them.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaApiKey, RDKafkaErrorCode, RDKafkaRespErr};

use super::*;

const TOPIC: &str = "order-attempts";

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

fn produce(producer: &BaseProducer, n: usize) {
    for i in 0..n {
        let key = format!("order-{i}");
        let value = format!(r#"{{"event_id":"e{i}"}}"#);
        producer
            .send(BaseRecord::to(TOPIC).key(&key).payload(&value))
            .expect("queue a record");
    }
    producer.flush(Duration::from_secs(10)).expect("delivered");
}

/// Reads `want` records from every partition of `TOPIC` as one group member.
fn consume_group(bootstrap: &str, want: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "embedded-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < want && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    got
}

fn port_of(server: &str) -> u16 {
    server
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("host:port")
}

#[test]
fn listens_on_loopback_and_carries_records_between_clients() {
    let broker = EmbeddedBroker::start(EmbeddedOptions {
        brokers: 2,
        bootstrap_port: None,
    })
    .unwrap();
    broker.create_topic(TOPIC, 3).unwrap();
    let servers: Vec<&str> = broker.broker_servers().split(',').collect();
    assert_eq!(servers.len(), 2, "{servers:?}");
    for server in &servers {
        assert!(server.starts_with("127.0.0.1:"), "{server}");
        TcpStream::connect(server).expect("a broker accepts TCP on 127.0.0.1");
    }
    assert_eq!(broker.bootstrap_servers(), broker.broker_servers());

    let producer = producer(&broker.bootstrap_servers());
    produce(&producer, 300);
    let got = consume_group(&broker.bootstrap_servers(), 300);
    assert_eq!(got.len(), 300);
    let mut ids: Vec<&str> = got.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300, "every record once");

    // High watermarks are exact (record lag can be tested against it).
    let total: i64 = (0..3)
        .map(|p| {
            let (low, high) = producer
                .client()
                .fetch_watermarks(TOPIC, p, Duration::from_secs(5))
                .unwrap();
            assert_eq!(low, 0);
            high
        })
        .sum();
    assert_eq!(total, 300);
    assert!(broker.create_topic(TOPIC, 3).is_err(), "exists already");
}

#[test]
fn a_broker_down_refuses_connections_until_it_is_up() {
    let broker = EmbeddedBroker::start(EmbeddedOptions::default()).unwrap();
    let server = broker.broker_servers().to_string();
    broker.broker_down(Brokers::All).unwrap();
    assert!(TcpStream::connect(&server).is_err(), "down but accepting");
    broker.broker_up(Brokers::Id(1)).unwrap();
    TcpStream::connect(&server).expect("up again on the same port");
    assert!(broker.broker_down(Brokers::Id(7)).is_err(), "no broker 7");
}

/// Records the error code of every failed delivery.
#[derive(Default)]
struct Failures(std::sync::Mutex<Vec<RDKafkaErrorCode>>);

impl rdkafka::ClientContext for Failures {}

impl rdkafka::producer::ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && let Some(code) = e.rdkafka_error_code()
        {
            self.0.lock().unwrap().push(code);
        }
    }
}

#[test]
fn injected_request_errors_fail_the_next_requests_in_order() {
    let broker = EmbeddedBroker::start(EmbeddedOptions::default()).unwrap();
    broker.create_topic(TOPIC, 1).unwrap();
    let producer: BaseProducer<Failures> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("message.send.max.retries", "0")
        .create_with_context(Failures::default())
        .unwrap();
    let send = |payload: &str| {
        producer
            .send(BaseRecord::<(), _>::to(TOPIC).payload(payload))
            .unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
    };
    send("accepted");
    broker
        .request_errors(
            RDKafkaApiKey::Produce,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            ],
        )
        .unwrap();
    send("refused");
    send("refused again");
    send("accepted again");
    assert_eq!(
        *producer.context().0.lock().unwrap(),
        [
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::RequestTimedOut
        ]
    );
    let (_, high) = producer
        .client()
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!(high, 2, "refused records are not appended");

    broker
        .request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS],
        )
        .unwrap();
    broker.clear_request_errors(RDKafkaApiKey::Produce).unwrap();
    send("accepted after clearing");
    assert_eq!(producer.context().0.lock().unwrap().len(), 2);
}

#[test]
fn a_fixed_bootstrap_port_forwards_and_falls_back_when_taken() {
    // Port 0: the forwarder takes any free port (a fixed one in the demo).
    let broker = EmbeddedBroker::start(EmbeddedOptions {
        brokers: 1,
        bootstrap_port: Some(0),
    })
    .unwrap();
    broker.create_topic(TOPIC, 2).unwrap();
    let port = broker.fixed_port().expect("forwarder");
    assert_eq!(broker.bootstrap_servers(), format!("127.0.0.1:{port}"));
    assert_ne!(port, port_of(broker.broker_servers()));
    produce(&producer(&broker.bootstrap_servers()), 50);

    // A consumer that only knows the fixed port reads from a given offset.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "assign-only")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(TOPIC, p, Offset::Offset(0))
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let (mut n, deadline) = (0, Instant::now() + Duration::from_secs(20));
    while n < 50 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m.expect("consume");
            n += 1;
        }
    }
    assert_eq!(n, 50);

    // The port is taken now: a second broker falls back to its own ports.
    let second = EmbeddedBroker::start(EmbeddedOptions {
        brokers: 1,
        bootstrap_port: Some(port),
    })
    .unwrap();
    assert_eq!(second.fixed_port(), None);
    assert_eq!(second.bootstrap_servers(), second.broker_servers());
}

#[test]
fn dropping_it_closes_every_port() {
    let broker = EmbeddedBroker::start(EmbeddedOptions {
        brokers: 2,
        bootstrap_port: Some(0),
    })
    .unwrap();
    let mut servers: Vec<String> = broker
        .broker_servers()
        .split(',')
        .map(str::to_string)
        .collect();
    servers.push(broker.bootstrap_servers());
    drop(broker);
    for server in servers {
        assert!(TcpStream::connect(&server).is_err(), "{server} still open");
    }
    let err = EmbeddedBroker::start(EmbeddedOptions {
        brokers: 0,
        bootstrap_port: None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("brokers"), "{err}");
}
