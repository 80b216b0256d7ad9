//! `orderpulse ingest` against a real broker: every Kafka record becomes
//! exactly one stored row (or one row per event of an NDJSON message), read
//! back from the Parquet files with the plain parquet crate, across restarts.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::TansuBroker;
use crate::support::ledger::{self, Decoding, Ledger, now_ms, stored_rows};
use crate::support::process::{Running, acknowledged};

const SECRET: &str = "ingest-test-secret-0123456789";
const TOPIC: &str = "order-attempts";
const DLQ: &str = "order-attempts.dlq";

fn simulate(broker: &TansuBroker, extra: &[&str]) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
            "--seed",
            "9",
            "--scenario",
            "malformed:share=0.03,oversized=2",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run simulate");
    acknowledged(&out)
}

/// Reads the whole topic back and decodes every record independently.
fn expected(broker: &TansuBroker, records: u64) -> Ledger {
    ledger::expected(
        broker,
        TOPIC,
        SECRET,
        records,
        &Decoding::default(),
        |_, _, _| {},
    )
}

fn start_ingest(broker: &TansuBroker, data_dir: &Path) -> Running {
    start_ingest_with(broker, data_dir, &[])
}

/// Starts `orderpulse ingest`; its stderr goes to a new log file under
/// `data_dir/logs` (see [`log_of`]).
fn start_ingest_with(broker: &TansuBroker, data_dir: &Path, extra: &[&str]) -> Running {
    let logs = data_dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let n = std::fs::read_dir(&logs).unwrap().count();
    let stderr = File::create(logs.join(format!("ingest-{n:03}.log"))).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "ingest",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--flush-records",
            "20000",
            "--flush-interval",
            "1s",
        ])
        .args(extra)
        .env("ORDERPULSE_USER_KEY_SECRET", SECRET)
        .env("ORDERPULSE_LOG", "info,ingest=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map(Running)
        .expect("start ingest")
}

/// The log of the latest ingest started on `data_dir`.
fn log_of(data_dir: &Path) -> String {
    let logs = data_dir.join("logs");
    let n = std::fs::read_dir(&logs).map_or(0, Iterator::count);
    std::fs::read_to_string(logs.join(format!("ingest-{:03}.log", n.saturating_sub(1))))
        .unwrap_or_default()
}

fn stop(mut running: Running, data_dir: &Path) -> String {
    let child = &mut running.0;
    // A SIGTERM before the signal handler is installed would kill it
    // outright: wait until it says it is running.
    wait_for_log(data_dir, "ingesting", Duration::from_secs(10));
    let pid = child.id().to_string();
    let started = Instant::now();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "ingest did not stop within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = log_of(data_dir);
    assert!(status.success(), "{err}");
    err
}

fn wait_for_rows(data_dir: &Path, rows: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = stored_rows(data_dir);
        if got >= rows {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored {got} of {rows} rows; ingest log:\n{}",
            log_of(data_dir)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every stored rejection is on the dead-letter topic with its headers.
fn assert_dead_letters(broker: &TansuBroker, data_dir: &Path, expected: &Ledger) {
    use rdkafka::message::Headers;
    let rejected_rows = stored_rows(&data_dir.join("rejected_events"));
    assert!(rejected_rows > 1_000, "{rejected_rows} rejected rows");
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[DLQ]).expect("subscribe");
    let (mut n, deadline) = (0u64, Instant::now() + Duration::from_secs(60));
    while n < rejected_rows && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.expect("consume dlq");
        let headers = msg.headers().expect("headers");
        let get = |k: &str| {
            headers
                .iter()
                .find(|h| h.key == k)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| panic!("no {k} header"))
        };
        assert!(model::Reason::parse(&get("orderpulse-reason")).is_some());
        assert!(!get("orderpulse-detail").is_empty());
        assert_eq!(get("orderpulse-source-topic"), TOPIC);
        let p: i32 = get("orderpulse-source-partition").parse().unwrap();
        let o: i64 = get("orderpulse-source-offset").parse().unwrap();
        assert!(expected.contains_key(&(p, o)), "({p}, {o})");
        n += 1;
    }
    assert_eq!(n, rejected_rows, "dead letters vs rejected_events rows");
    assert!(
        consumer.poll(Duration::from_secs(1)).is_none(),
        "more dead letters than rejections"
    );
}

#[test]
fn every_record_is_stored_exactly_once() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 3);
    broker.create_topic(DLQ, 1);
    let sent = simulate(
        &broker,
        &[
            "--start",
            "2026-11-01T10:00:00+08:00",
            "--duration",
            "30m",
            "--rate",
            "100",
        ],
    );
    assert!(sent >= 200_000, "{sent} records");
    let expected = expected(&broker, sent);
    let rows: u64 = expected.values().map(|&n| u64::from(n)).sum();

    let dir = tempfile::tempdir().unwrap();
    let ingest = start_ingest(&broker, dir.path());
    wait_for_rows(dir.path(), rows, Duration::from_secs(240));
    let summary = stop(ingest, dir.path());
    assert!(summary.contains("ingested"), "{summary}");
    ledger::assert_exactly_once(dir.path(), TOPIC, &expected);
    assert_dead_letters(&broker, dir.path(), &expected);

    // Restarted, it resumes after what it stored: nothing is read twice.
    let again = start_ingest(&broker, dir.path());
    std::thread::sleep(Duration::from_secs(5));
    let summary = stop(again, dir.path());
    assert!(summary.contains("ingested 0 records"), "{summary}");
    ledger::assert_exactly_once(dir.path(), TOPIC, &expected);
}

/// One writer per partition. A consumer group can hand a partition to a new
/// member while the old one still writes it (a member that has not yet heard
/// of the rebalance); the old one holds the partition's lock until it has
/// stored what it read. Here the test process plays that old owner: ingest
/// leaves the partition alone while the lock is held, and once it is let go
/// resumes exactly after the old owner's last flush. (Without the lock,
/// ingest would start at offset 0 and store the old owner's offsets again.)
#[test]
fn a_partition_its_previous_owner_still_holds_is_resumed_after_what_it_stored() {
    use ingest::sink::{Claim, PartitionLock};

    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DLQ, 1);
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("events.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args([
            "simulate",
            "--brokers",
            &broker.bootstrap(),
            "--topic",
            TOPIC,
        ])
        .args(["--seed", "5", "--start", "2026-11-01T10:00:00+08:00"])
        .args(["--duration", "2m", "--rate", "30", "--kafka", "--output"])
        .arg(&ndjson)
        .env("NO_COLOR", "1")
        .output()
        .expect("run simulate");
    let sent = acknowledged(&out);
    assert!(sent > 2_000, "{sent} records");
    let expected = expected(&broker, sent);
    let rows: u64 = expected.values().map(|&n| u64::from(n)).sum();

    let data = dir.path().join("data");
    let Claim::Taken(lock) = PartitionLock::try_take(&data, TOPIC, 0).unwrap() else {
        panic!("the lock of a new data directory is taken");
    };
    let ingest = start_ingest(&broker, &data);
    assert!(
        wait_for_log(
            &data,
            "previous owner still holds it",
            Duration::from_secs(30)
        ),
        "ingest did not wait for the partition's lock:\n{}",
        log_of(&data)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        stored_rows(&data),
        0,
        "ingest wrote a partition whose lock another writer holds:\n{}",
        log_of(&data)
    );

    // The old owner stores its last flush (the first 1 000 records, through
    // the real sink), then lets go.
    let head: String = std::fs::read_to_string(&ndjson)
        .unwrap()
        .lines()
        .take(1_000)
        .map(|l| format!("{l}\n"))
        .collect();
    let head_file = dir.path().join("head.ndjson");
    std::fs::write(&head_file, head).unwrap();
    ledger::store_ndjson(&head_file, &data, SECRET.as_bytes());
    drop(lock);

    wait_for_rows(&data, rows, Duration::from_secs(60));
    let log = stop(ingest, &data);
    assert!(
        log.contains("after its previous owner let go") && log.contains("Offset(1000)"),
        "{log}"
    );
    ledger::assert_exactly_once(&data, TOPIC, &expected);
}

/// Waits until the latest ingest log on `data_dir` contains `needle`.
fn wait_for_log(data_dir: &Path, needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if log_of(data_dir).contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A killed member's place in the group is taken over at once by its
/// restart (static membership), instead of after its session times out.
const STATIC: &[&str] = &["--instance-id", "ingest-under-test"];

#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, 3);
    broker.create_topic(DLQ, 1);
    let dir = tempfile::tempdir().unwrap();

    // A producer running in real time while ingest is killed again and again.
    let producer = {
        let bootstrap = broker.bootstrap();
        std::thread::spawn(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
                .args([
                    "simulate",
                    "--brokers",
                    &bootstrap,
                    "--topic",
                    TOPIC,
                    "--seed",
                    "4",
                ])
                .args([
                    "--rate",
                    "1000",
                    "--duration",
                    "75s",
                    "--flat",
                    "--pace",
                    "realtime",
                ])
                .args(["--scenario", "malformed:share=0.03,oversized=0"])
                .env("NO_COLOR", "1")
                .output()
                .expect("run simulate");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{err}");
            let at = err.find(" acknowledged").expect("summary");
            err[..at]
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("count")
        })
    };
    let mut seed = now_ms() as u64 | 1;
    eprintln!("kill schedule seed {seed}");
    let mut kills = 0;
    let mut flushes_seen = 0;
    while kills < 10 {
        let mut child = start_ingest_with(&broker, dir.path(), STATIC);
        // Kill it at a random moment after it holds partitions (a kill before
        // that tests nothing): while it decodes, writes or renames.
        let assigned = wait_for_log(
            dir.path(),
            "ingest::consume: assigned",
            Duration::from_secs(60),
        );
        assert!(assigned, "never assigned:\n{}", log_of(dir.path()));
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if kills % 2 == 1 {
            // Around a flush: after one, when the next may be under way.
            wait_for_log(dir.path(), "flushed", Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis((seed >> 33) % 1200));
        } else {
            std::thread::sleep(Duration::from_millis((seed >> 33) % 3000));
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        flushes_seen += log_of(dir.path()).matches("flushed").count();
        kills += 1;
    }
    assert!(
        flushes_seen > 0,
        "no killed worker ever flushed: the kills tested nothing"
    );
    let sent = producer.join().expect("producer");
    assert!(sent > 20_000, "{sent}");
    let expected = expected(&broker, sent);
    let rows: u64 = expected.values().map(|&n| u64::from(n)).sum();
    let last = start_ingest_with(&broker, dir.path(), STATIC);
    wait_for_rows(dir.path(), rows, Duration::from_secs(60));
    stop(last, dir.path());
    ledger::assert_exactly_once(dir.path(), TOPIC, &expected);
}

#[test]
fn ingest_refuses_to_start_without_a_secret_or_with_bad_flags() {
    let run = |args: &[&str], secret: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderpulse"));
        cmd.arg("ingest").args(args).env("NO_COLOR", "1");
        cmd.env_remove("ORDERPULSE_USER_KEY_SECRET");
        if let Some(s) = secret {
            cmd.env("ORDERPULSE_USER_KEY_SECRET", s);
        }
        let out = cmd.output().expect("run ingest");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--brokers", "127.0.0.1:1"], None);
    assert!(!ok && err.contains("ORDERPULSE_USER_KEY_SECRET"), "{err}");
    let (ok, err) = run(&["--brokers", "127.0.0.1:1"], Some("short"));
    assert!(!ok && err.contains("at least 16 bytes"), "{err}");
    for (args, says) in [
        (&["--flush-interval", "0s"][..], "flush-interval"),
        (&["--flush-interval", "soon"][..], "flush-interval"),
        (&["--flush-records", "0"][..], "flush-records"),
        (&["--kafka-option", "novalue"][..], "KEY=VALUE"),
    ] {
        let (ok, err) = run(args, Some(SECRET));
        assert!(!ok && err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
