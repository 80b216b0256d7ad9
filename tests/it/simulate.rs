//! `orderpulse simulate` end to end: to a file, to a real broker, and what it
//! says when it cannot.

use std::collections::HashMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::TansuBroker;

fn orderpulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run orderpulse")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The number before `word` in the summary line, e.g. "3829 acknowledged".
fn count_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(&format!(" {word}"))
        .unwrap_or_else(|| panic!("no '{word}' in {text}"));
    let digits: String = text[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no count before '{word}' in {text}"))
}

const RUN: &[&str] = &[
    "simulate",
    "--start",
    "2026-11-01T09:00:00+08:00",
    "--duration",
    "20m",
    "--rate",
    "30",
    "--seed",
    "42",
    "--scenario",
    "payment-outage,malformed:oversized=0",
];

#[test]
fn every_event_produced_to_kafka_matches_the_ndjson_of_the_same_seed() {
    let broker = TansuBroker::start();
    broker.create_topic("order-attempts", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.ndjson");

    let to_file = orderpulse(&[RUN, &["--output", file.to_str().unwrap()]].concat());
    assert!(to_file.status.success(), "{}", stderr(&to_file));
    let skipped = count_before(&stderr(&to_file), "skipped");
    assert!(
        skipped > 0,
        "the malformed scenario sends invalid UTF-8 records"
    );

    let bootstrap = broker.bootstrap();
    let to_kafka = orderpulse(&[RUN, &["--brokers", &bootstrap]].concat());
    assert!(to_kafka.status.success(), "{}", stderr(&to_kafka));
    let acked = count_before(&stderr(&to_kafka), "acknowledged");
    assert_eq!(count_before(&stderr(&to_kafka), "failed"), 0);

    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "simulate-e2e")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&["order-attempts"]).expect("subscribe");
    let mut records: Vec<(Option<Vec<u8>>, Vec<u8>, i32)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (records.len() as u64) < acked && Instant::now() < deadline {
        if let Some(msg) = consumer.poll(Duration::from_millis(200)) {
            let msg = msg.expect("consume");
            records.push((
                msg.key().map(<[u8]>::to_vec),
                msg.payload().unwrap_or_default().to_vec(),
                msg.partition(),
            ));
        }
    }
    // Nothing more than was acknowledged arrives.
    assert!(consumer.poll(Duration::from_secs(2)).is_none());
    assert_eq!(records.len() as u64, acked, "records read back");

    // The same seed gives the same records: the file holds every UTF-8
    // record's lines, Kafka every record's exact bytes.
    let mut from_kafka: Vec<String> = Vec::new();
    let mut not_utf8 = 0;
    for (_, value, _) in &records {
        match std::str::from_utf8(value) {
            Ok(text) => from_kafka.extend(text.lines().map(str::to_string)),
            Err(_) => not_utf8 += 1,
        }
    }
    let text = std::fs::read_to_string(&file).expect("read ndjson");
    let mut from_file: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(from_file.len() > 30_000, "{} lines", from_file.len());
    from_kafka.sort();
    from_file.sort();
    assert_eq!(not_utf8, skipped);
    assert!(from_kafka == from_file, "Kafka and NDJSON differ");

    // Keys are order ids, and one order's attempts share a partition.
    let mut partition_of: HashMap<String, i32> = HashMap::new();
    let mut keyed = 0;
    for (key, value, partition) in &records {
        let Ok(serde_json::Value::Object(ev)) = serde_json::from_slice(value) else {
            continue;
        };
        let Some(order) = ev.get("order_id").and_then(|o| o.as_str()) else {
            continue;
        };
        if order.len() > 128 {
            continue; // the malformed scenario's field_too_long record
        }
        assert_eq!(key.as_deref(), Some(order.as_bytes()), "key of {order}");
        let first = *partition_of.entry(order.to_string()).or_insert(*partition);
        assert_eq!(first, *partition, "order {order} split across partitions");
        keyed += 1;
    }
    assert!(keyed as f64 > records.len() as f64 * 0.9);
    let used: std::collections::HashSet<i32> = records.iter().map(|r| r.2).collect();
    assert_eq!(used.len(), 3, "records spread over the partitions");
}

#[test]
fn an_unreachable_broker_is_a_clear_error_not_a_hang() {
    let started = Instant::now();
    let out = orderpulse(&[
        "simulate",
        "--start",
        "2026-11-01T00:00:00Z",
        "--duration",
        "1m",
        "--brokers",
        "127.0.0.1:1",
        "--flush-timeout",
        "3s",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("error: kafka"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for (args, says) in [
        (&["--rate", "0"][..], "rate"),
        (&["--rate", "-1"][..], "rate"),
        (&["--rate", "1e12"][..], "rate"),
        (&["--duration", "0s"][..], "duration"),
        (&["--duration", "forever"][..], "duration"),
        (&["--scenario", "alien-invasion"][..], "alien-invasion"),
        (&["--scenario", "payment-outage:factor=-2"][..], "factor"),
        (&["--start", "yesterday"][..], "start"),
        (
            &[
                "--output",
                "/nonexistent-dir/x.ndjson",
                "--start",
                "2026-11-01T00:00:00Z",
            ][..],
            "nonexistent-dir",
        ),
    ] {
        let out = orderpulse(&[&["simulate"], args].concat());
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_file_run_is_deterministic_and_writes_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |name: &str| {
        let file = dir.path().join(format!("{name}.ndjson"));
        let truth = dir.path().join(format!("{name}.json"));
        let out = orderpulse(
            &[
                RUN,
                &[
                    "--output",
                    file.to_str().unwrap(),
                    "--truth",
                    truth.to_str().unwrap(),
                ],
            ]
            .concat(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        (std::fs::read(file).unwrap(), std::fs::read(truth).unwrap())
    };
    let (a, truth) = run("a");
    let (b, _) = run("b");
    assert!(a == b, "same seed, different bytes");
    let truth: serde_json::Value = serde_json::from_slice(&truth).expect("truth is JSON");
    let incidents = truth["incidents"].as_array().expect("incidents");
    assert!(
        incidents
            .iter()
            .any(|i| i["slice"]["payment_method"].is_string()),
        "{truth}"
    );
}
