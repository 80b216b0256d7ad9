//! Rebalances: several `orderpulse ingest` processes in one consumer group on
//! a real broker while a producer runs. Three start, one is killed with
//! SIGKILL, one is added; partitions move between them, the rest stop with
//! SIGTERM, and every record still ends up stored exactly once, read back
//! from the Parquet files.
//!
//! Settings, chosen consciously:
//! - Dynamic membership (no `--instance-id`, the default). With static
//!   membership a restarted worker takes its partitions straight back, but a
//!   static member that dies and is not restarted must be expired by the
//!   broker after `session.timeout.ms`, and tansu 0.6 never does that: it
//!   checks for missed heartbeats only while handling a request from a
//!   dynamic member (`tansu-broker` 0.6.0, `coordinator/group/administrator.rs`,
//!   `missed_heartbeat` is called under `group_instance_id.is_none()`). In a
//!   group of static workers the killed worker's partitions then stay
//!   unconsumed until it comes back (measured: no move within 45 s). On a
//!   real Kafka broker they would move after the session timeout.
//! - The product's `session.timeout.ms` (10 s, `ingest::consume::run`), not
//!   a shortened one: after a SIGKILL an operator sees the dead worker's
//!   partitions stall for the session timeout plus one join round, then
//!   move. On tansu 0.6 the round that follows the timeout gives the dead
//!   worker's partitions back to it (the logs show the survivors assigned
//!   only what they had), so they move at the next join: here, the added
//!   worker's. The test prints how long that took.
//! - SIGTERM stops every worker at the end, each one storing what it holds.
//!   (Not mid-stream: `ingest::consume::run` drops its consumer on a
//!   detached thread and the process exits before LeaveGroup goes out, so a
//!   stopped worker is seen as a crash, and on tansu its partitions wait for
//!   a later join, like b's.)
//! - `--flush-interval 1s` and `--flush-records 20000`, so that many small
//!   flushes happen around every move.
//!
//! The producer is `orderpulse simulate` in real time with the `malformed`
//! scenario (rejected records and NDJSON messages of several events), plus a
//! second producer that sends some events twice, the copy a few seconds
//! after the original, so that moves fall between some originals and their
//! copies: every copy must be skipped as a duplicate all the same (a newly
//! assigned partition's duplicate window is seeded from the stored files).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::TansuBroker;
use crate::support::ledger::{self, Decoding, now_ms};
use crate::support::process::acknowledged;

const SECRET: &str = "rebalance-test-secret-0123456789";
const TOPIC: &str = "order-attempts";
const DLQ: &str = "order-attempts.dlq";
const GROUP: &str = "rebalance-test";
const PARTITIONS: i32 = 6;
/// Event ids of the events the duplicate producer sends twice.
const DUP_PREFIX: &str = "rebalance-dup-";

/// One `orderpulse ingest` child process, killed if the test ends first.
struct Worker {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(broker: &TansuBroker, data_dir: &Path, logs: &Path, name: &'static str) -> Self {
        let log = logs.join(format!("{name}.log"));
        let stderr = File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
            .args(["ingest", "--brokers", &broker.bootstrap()])
            .args(["--topic", TOPIC, "--group", GROUP])
            .args(["--data-dir", data_dir.to_str().unwrap()])
            .args(["--flush-records", "20000", "--flush-interval", "1s"])
            .env("ORDERPULSE_USER_KEY_SECRET", SECRET)
            .env("ORDERPULSE_LOG", "info,ingest=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start ingest");
        Self { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Offsets it logged as stored: (partition, first, last) per flush.
    fn flushes(&self) -> Vec<(i32, i64, i64)> {
        flushes(&self.log())
    }

    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits for a clean exit; returns its log.
    fn sigterm(&mut self) -> String {
        // A SIGTERM before the signal handler is installed would kill it
        // outright: it logs `ingesting` once it is.
        wait_until("the worker to start", Duration::from_secs(10), &[], || {
            self.log().contains("ingesting")
        });
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{} did not stop within 15 s of SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = self.log();
        assert!(status.success(), "{}: {status}\n{log}", self.name);
        assert!(log.contains("ingested"), "{}: no summary\n{log}", self.name);
        log
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of `key=` in a tracing log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..].split_whitespace().next()
}

/// (partition, first, last) of every `flushed` line.
fn flushes(log: &str) -> Vec<(i32, i64, i64)> {
    log.lines()
        .filter(|l| l.contains("ingest::consume") && l.contains(": flushed "))
        .filter_map(|l| {
            Some((
                field(l, "partition")?.parse().ok()?,
                field(l, "first")?.parse().ok()?,
                field(l, "last")?.parse().ok()?,
            ))
        })
        .collect()
}

/// (partition, resume offset) of every `assigned` line: where a fresh
/// decoder started.
fn assignments(log: &str) -> Vec<(i32, i64)> {
    log.lines()
        .filter(|l| l.contains("ingest::consume") && l.contains(": assigned "))
        .filter_map(|l| {
            let offset = field(l, "offset")?
                .strip_prefix("Offset(")?
                .strip_suffix(')')?;
            Some((field(l, "partition")?.parse().ok()?, offset.parse().ok()?))
        })
        .collect()
}

/// Polls `done` until it holds; fails after `within` with every worker's log.
#[track_caller]
fn wait_until(what: &str, within: Duration, workers: &[&Worker], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            let logs: String = workers
                .iter()
                .map(|w| format!("--- {} ---\n{}\n", w.name, story(&w.log())))
                .collect();
            panic!("waited {within:?} for {what}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The lines of a worker log that tell what happened to it: assignments,
/// warnings and errors (not the per-flush lines), and its last 5 lines.
fn story(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut out: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            (l.contains(": assigned ") || l.contains(" WARN ") || l.contains(" ERROR "))
                && !l.contains("PartitionEOF")
        })
        .collect();
    out.push("...");
    out.extend(&lines[lines.len().saturating_sub(5)..]);
    out.join("\n")
}

/// Partitions whose latest flush (highest offset) among `workers` is by `of`.
fn held_by(of: &Worker, workers: &[&Worker]) -> BTreeSet<i32> {
    let mut latest: BTreeMap<i32, (i64, &str)> = BTreeMap::new();
    for w in workers {
        for (p, _, last) in w.flushes() {
            let e = latest.entry(p).or_insert((last, w.name));
            if last >= e.0 {
                *e = (last, w.name);
            }
        }
    }
    latest
        .into_iter()
        .filter(|(_, (_, name))| *name == of.name)
        .map(|(p, _)| p)
        .collect()
}

/// Whether every partition in `parts` has been stored past what `from`
/// stored of it, by one of `others`.
fn taken_over(from: &Worker, parts: &BTreeSet<i32>, others: &[&Worker]) -> bool {
    let mine = from.flushes();
    parts.iter().all(|&p| {
        let last = mine.iter().filter(|f| f.0 == p).map(|f| f.2).max();
        others
            .iter()
            .flat_map(|w| w.flushes())
            .any(|(q, first, _)| q == p && last.is_none_or(|l| first > l))
    })
}

/// `orderpulse simulate` in real time; returns the records acknowledged.
fn produce(bootstrap: String) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_orderpulse"))
        .args(["simulate", "--brokers", &bootstrap, "--topic", TOPIC])
        .args(["--seed", "11", "--rate", "1500", "--duration", "40s"])
        .args(["--flat", "--pace", "realtime"])
        .args(["--scenario", "malformed:share=0.03,oversized=0"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run simulate");
    acknowledged(&out)
}

/// Sends an event every 100 ms and its copy 20 events later (keyed alike,
/// so both land in one partition) until `stop`; returns the records sent.
fn send_duplicates(bootstrap: String, stop: Arc<AtomicBool>) -> u64 {
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    let send = |key: &str, payload: &str| {
        producer
            .send(BaseRecord::to(TOPIC).key(key).payload(payload))
            .map_err(|(e, _)| e)
            .expect("send");
        // One at a time, so the copy is always after its original.
        producer.flush(Duration::from_secs(10)).expect("delivered");
    };
    let (mut pending, mut sent) = (VecDeque::new(), 0u64);
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let payload = format!(
            r#"{{"event_id":"{DUP_PREFIX}{i}","ts":{},"outcome":"failure","channel":"web","failure_cause":"network_error","user_id":"u{i}"}}"#,
            now_ms()
        );
        let key = format!("dup-{i}");
        send(&key, &payload);
        pending.push_back((key, payload));
        if pending.len() > 20
            && let Some((key, payload)) = pending.pop_front()
        {
            send(&key, &payload);
            sent += 1;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    for (key, payload) in pending {
        send(&key, &payload);
        sent += 1;
    }
    sent
}

#[test]
fn a_worker_killed_and_one_added_mid_stream_store_every_record_once() {
    let broker = TansuBroker::start();
    broker.create_topic(TOPIC, PARTITIONS);
    broker.create_topic(DLQ, 1);
    let dir = tempfile::tempdir().unwrap();
    let (data, logs) = (dir.path().join("data"), dir.path().join("logs"));
    std::fs::create_dir_all(&logs).unwrap();
    let began = Instant::now();

    let producer = std::thread::spawn({
        let bootstrap = broker.bootstrap();
        move || produce(bootstrap)
    });
    let stop_dups = Arc::new(AtomicBool::new(false));
    let dups = std::thread::spawn({
        let (bootstrap, stop) = (broker.bootstrap(), stop_dups.clone());
        move || send_duplicates(bootstrap, stop)
    });

    let mut a = Worker::start(&broker, &data, &logs, "worker-a");
    let mut b = Worker::start(&broker, &data, &logs, "worker-b");
    let mut c = Worker::start(&broker, &data, &logs, "worker-c");

    // The group forms and every member stores something.
    wait_until(
        "a, b and c to flush",
        Duration::from_secs(60),
        &[&a, &b, &c],
        || [&a, &b, &c].iter().all(|w| !w.flushes().is_empty()),
    );
    std::thread::sleep(Duration::from_millis(1500));
    eprintln!("group of three formed after {:?}", began.elapsed());

    // SIGKILL b. Its session times out (10 s) and the group rebalances, but
    // tansu 0.6 hands b's partitions back to the dead b in that round (seen
    // in the logs: a and c are assigned the partitions they had, nobody the
    // rest). They move at the next join: the fourth worker's.
    let b_parts = held_by(&b, &[&a, &b, &c]);
    assert!(!b_parts.is_empty(), "b holds nothing:\n{}", b.log());
    let joins = |w: &Worker| assignments(&w.log()).len();
    let (a_joins, c_joins) = (joins(&a), joins(&c));
    b.sigkill();
    let killed = Instant::now();
    wait_until(
        "the group to rebalance without b",
        Duration::from_secs(30),
        &[&a, &b, &c],
        || joins(&a) > a_joins || joins(&c) > c_joins,
    );
    eprintln!(
        "the group rebalanced {:?} after b's SIGKILL",
        killed.elapsed()
    );

    // A fourth worker joins; b's partitions move in that round.
    let mut d = Worker::start(&broker, &data, &logs, "worker-d");
    let added = Instant::now();
    wait_until(
        "b's partitions to be taken over",
        Duration::from_secs(45),
        &[&a, &b, &c, &d],
        || taken_over(&b, &b_parts, &[&a, &c, &d]) && !d.flushes().is_empty(),
    );
    eprintln!(
        "partitions {b_parts:?} of SIGKILLed worker-b stored by others {:?} after the kill, \
         {:?} after worker-d started",
        killed.elapsed(),
        added.elapsed()
    );

    let sent = producer.join().expect("producer");
    stop_dups.store(true, Ordering::Relaxed);
    let dup_sent = dups.join().expect("duplicate producer");
    let records = sent + dup_sent;
    assert!(sent > 40_000, "{sent} records");

    // Done when the file names cover every offset of every partition.
    wait_until(
        "every offset stored",
        Duration::from_secs(60),
        &[&a, &c, &d],
        || {
            ingest::sink::scan(&data, TOPIC).is_ok_and(|l| {
                (0..PARTITIONS)
                    .map(|p| l.next_offset(p).unwrap_or(0))
                    .sum::<i64>()
                    == records as i64
            })
        },
    );
    for w in [&mut a, &mut c, &mut d] {
        w.sigterm();
    }
    eprintln!("all stored and stopped after {:?}", began.elapsed());

    // Partitions really moved: the added worker stored partitions others
    // had stored before it, and what b and c held went to the others.
    let workers = [&a, &b, &c, &d];
    let d_parts: BTreeSet<i32> = d.flushes().iter().map(|f| f.0).collect();
    let earlier: BTreeSet<i32> = [&a, &b, &c]
        .iter()
        .flat_map(|w| w.flushes())
        .map(|f| f.0)
        .collect();
    assert!(
        !d_parts.is_empty() && d_parts.is_subset(&earlier),
        "d stored {d_parts:?}"
    );
    assert!(taken_over(&b, &b_parts, &[&a, &c, &d]));

    // The ledger: every record once, NDJSON messages as several rows,
    // duplicates skipped as one decoder per partition counts them: a newly
    // assigned partition's duplicate window is seeded from the stored files,
    // so a copy is skipped even when a move came between it and its original.
    let decoding = Decoding {
        dedup_window: ingest::consume::IngestConfig::new(
            "",
            TOPIC,
            PathBuf::new(),
            ingest::decode::UserKeyHasher::new(SECRET.as_bytes()).unwrap(),
        )
        .dedup_window,
        ..Decoding::default()
    };
    let mut copies: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    let expected = ledger::expected(&broker, TOPIC, SECRET, records, &decoding, |p, o, v| {
        let v = String::from_utf8_lossy(v);
        if let Some(id) = v
            .strip_prefix(r#"{"event_id":""#)
            .filter(|s| s.starts_with(DUP_PREFIX))
            .and_then(|s| s.split('"').next())
        {
            copies.entry(id.to_string()).or_default().push((p, o));
        }
    });
    // Who owned what when (shown when the test fails).
    for w in workers {
        for line in w.log().lines().filter(|l| {
            ["assigned", "revoked", "previous owner", "overlapping"]
                .iter()
                .any(|k| l.contains(k))
        }) {
            eprintln!("{}: {line}", w.name);
        }
    }
    ledger::assert_exactly_once(&data, TOPIC, &expected);

    let pairs: Vec<_> = copies.values().filter(|c| c.len() == 2).collect();
    assert_eq!(pairs.len() as u64 * 2, dup_sent, "every copy read back");
    assert!(pairs.len() >= 100, "{} events sent twice", pairs.len());
    for c in &pairs {
        assert_eq!(expected.get(&c[0]), Some(&1), "{c:?}");
        assert_eq!(expected.get(&c[1]), Some(&0), "{c:?}");
    }
    // Copies with an assignment between them and their original: only the
    // seeded window catches those.
    let resumes: BTreeSet<(i32, i64)> =
        workers.iter().flat_map(|w| assignments(&w.log())).collect();
    let across = pairs
        .iter()
        .filter(|c| {
            resumes
                .iter()
                .any(|&(p, s)| p == c[0].0 && c[0].1 < s && s <= c[1].1)
        })
        .count();
    eprintln!(
        "{} events sent twice, every copy skipped; {across} of them across a move",
        pairs.len()
    );
    let rows: u64 = expected.values().map(|&n| u64::from(n)).sum();
    eprintln!(
        "{records} records ({sent} simulated), {rows} rows, {} flushes, in {:?}",
        workers.iter().map(|w| w.flushes().len()).sum::<usize>(),
        began.elapsed()
    );
}
