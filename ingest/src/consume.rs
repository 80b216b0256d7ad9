//! The ingest worker: a Kafka consumer-group member that decodes what it is
//! assigned and stores it through the [`sink`](crate::sink), exactly once.
//!
//! Progress lives in the files, not in Kafka: when partitions are assigned,
//! the worker takes each one's [`PartitionLock`] (waiting, paused, while the
//! previous owner still holds it), then reads the [`Ledger`](crate::sink::Ledger),
//! deletes what a crash left half-written, and starts the partition one past
//! its highest stored offset. Per partition it batches decoded rows; a flush (by rows, by age, on
//! revocation and on shutdown) writes the files for the offsets it covers,
//! then commits those offsets to Kafka as an advisory hint for other tools.
//! A record is therefore stored once however the worker stops: what was
//! flushed is skipped on restart, what was not is read again.
//!
//! The worker is two threads. The poll thread owns the librdkafka
//! `BaseConsumer`: it polls, checks resume offsets, and hands records in
//! batches to the decode thread over a bounded channel; its rebalance
//! callback (which runs inside `poll`) positions assigned partitions from the
//! files and, for revoked ones, waits until the decode thread has stored what
//! they hold. The decode thread decodes, batches and writes, so neither
//! decoding nor a slow disk keeps the consumer from polling (and from
//! `max.poll.interval.ms`). Decoded rows are published as
//! [`LiveRows`] about twice a second (queryable before they are stored), and
//! the worker reports metrics ([`IngestMetrics`]) and readiness ([`Health`]).
//!
//! Layout: `worker.rs` is the decode thread (per-partition state, the flush)
//! and the `Command`s it takes, `resume.rs` the resume-offset check.

mod minutes;
mod resume;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::live::LiveRows;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use tokio_util::sync::CancellationToken;

use crate::decode::{DecodeStats, UserKeyHasher};
use crate::dlq::DeadLetters;
use crate::health::Health;
use crate::metrics::IngestMetrics;
use crate::sink::{Claim, Ledger, PartitionLock, SinkOptions, scan};
use crate::{Error, Result, retention};
use resume::{Resume, Verdict};
use worker::{Assignment, Command, Record, Shared, Worker, now_ms};

/// Settings of one ingest worker.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// Extra librdkafka settings, applied last.
    pub kafka_options: Vec<(String, String)>,
    pub data_dir: PathBuf,
    pub user_keys: UserKeyHasher,
    /// Flush a partition once it holds this many decoded records.
    pub flush_records: usize,
    /// Flush a partition whose oldest unflushed record is this old.
    pub flush_interval: Duration,
    /// Recent event ids remembered per partition for duplicate detection (at
    /// least this many, at most twice).
    pub dedup_window: usize,
    pub sink: SinkOptions,
    /// Dead-letter topic for rejected records; `None` disables it.
    pub dlq_topic: Option<String>,
    /// Where decoded-but-unstored rows are published for queries.
    pub live: LiveRows,
    /// How often decoded rows become live (a batch per partition).
    pub live_interval: Duration,
    /// Metrics to update; `None` when nothing exports them.
    pub metrics: Option<IngestMetrics>,
    /// Readiness flags to update.
    pub health: Health,
    /// Remove flushes whose date partitions are older than this many days.
    pub retention_days: Option<u32>,
    /// How long shutdown may wait for the dead-letter topic and the last
    /// offset commit when the broker is slow or gone.
    pub shutdown_grace: Duration,
}

impl IngestConfig {
    /// Defaults for everything but where to read and write.
    pub fn new(brokers: &str, topic: &str, data_dir: PathBuf, user_keys: UserKeyHasher) -> Self {
        Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            group: "orderpulse".to_string(),
            kafka_options: Vec::new(),
            data_dir,
            user_keys,
            flush_records: 200_000,
            flush_interval: Duration::from_secs(30),
            dedup_window: 250_000,
            sink: SinkOptions::default(),
            dlq_topic: Some(format!("{topic}.dlq")),
            live: LiveRows::new(),
            live_interval: Duration::from_millis(500),
            metrics: None,
            health: Health::new(),
            retention_days: None,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// What a worker did, for its caller and its tests.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    pub records: u64,
    pub flushes: u64,
    /// Rejected records acknowledged by the dead-letter topic, and not.
    pub dead_letters: u64,
    pub dead_letters_failed: u64,
    pub stats: DecodeStats,
}

/// Records per batch sent to the decode thread, and batches in flight:
/// at most ~64 × 512 records are between the threads.
const BATCH: usize = 512;
const BATCHES_IN_FLIGHT: usize = 64;

/// The consumer context: positions assigned partitions from the ledger,
/// hands revoked ones to the decode thread to store, and turns librdkafka's
/// statistics and errors into readiness and lag.
struct IngestContext {
    poll: Mutex<PollState>,
    shared: Arc<Shared>,
    health: Health,
    metrics: Option<IngestMetrics>,
    topic: String,
    data_dir: PathBuf,
}

/// The poll thread's state.
struct PollState {
    /// Partitions just assigned, until their first record at the resume
    /// offset arrives (see [`Resume`]).
    resuming: BTreeMap<i32, Resume>,
    /// Partitions assigned whose lock another worker still holds (it has not
    /// yet stored what it read, or not yet heard of the rebalance): paused,
    /// their records dropped, since when.
    waiting: BTreeMap<i32, Instant>,
    last_claim: Instant,
    buffer: Vec<Record>,
    /// `None` once shutdown has handed everything over.
    commands: Option<SyncSender<Command>>,
    /// The first error; the loop stops on it.
    failure: Option<Error>,
}

impl PollState {
    fn send(&mut self, command: Command) {
        let sent = self.commands.as_ref().map(|tx| tx.send(command));
        if let Some(Err(_)) = sent {
            // The decode thread stopped; its own error says why.
            self.commands = None;
        }
    }

    fn send_buffer(&mut self) {
        if !self.buffer.is_empty() {
            let records = std::mem::take(&mut self.buffer);
            self.send(Command::Records(records));
        }
    }

    /// Takes one record, unless it is below a resume point or a seek back
    /// is needed first.
    fn take(
        &mut self,
        consumer: &BaseConsumer<IngestContext>,
        topic: &str,
        partition: i32,
        offset: i64,
        value: &[u8],
    ) {
        if self.waiting.contains_key(&partition) {
            return;
        }
        if let Some(resume) = self.resuming.get_mut(&partition) {
            match resume.judge(offset) {
                Verdict::Drop => return,
                Verdict::SeekBack(to) => {
                    tracing::debug!(
                        partition,
                        offset,
                        to,
                        target = resume.target,
                        "fetch started past the resume offset; seeking back"
                    );
                    // Records of this partition already buffered are below
                    // the target or at it; none past it were taken.
                    if let Err(e) =
                        consumer.seek(topic, partition, Offset::Offset(to), Duration::from_secs(5))
                    {
                        self.failure
                            .get_or_insert(Error::kafka("seeking back to the resume offset")(e));
                    }
                    return;
                }
                Verdict::Take => {
                    if offset != resume.target {
                        tracing::warn!(
                            partition,
                            from = resume.target,
                            to = offset,
                            "offsets missing from the broker"
                        );
                    }
                    self.resuming.remove(&partition);
                }
            }
        }
        self.buffer.push(Record {
            partition,
            offset,
            value: value.to_vec(),
        });
        if self.buffer.len() >= BATCH {
            self.send_buffer();
        }
    }
}

impl IngestContext {
    fn broker(&self, up: bool) {
        if self.health.set_broker_up(up) {
            if up {
                tracing::info!("Kafka broker reachable");
            } else {
                tracing::warn!("no Kafka broker reachable; retrying");
            }
        }
        if let Some(m) = &self.metrics {
            m.broker_up(up);
        }
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, PollState>> {
        self.poll
            .lock()
            .map_err(|_| Error::Config("ingest poll state poisoned".into()))
    }

    /// Tries again, every 200 ms, to take the lock of each partition that
    /// waits for its previous owner; a partition whose lock is taken is
    /// positioned from the files as they are now (the previous owner's last
    /// flush included), handed to the decode thread and resumed.
    fn claim_waiting(
        &self,
        consumer: &BaseConsumer<Self>,
        state: &mut PollState,
        storage_paused: bool,
    ) {
        if state.waiting.is_empty() || state.last_claim.elapsed() < Duration::from_millis(200) {
            return;
        }
        state.last_claim = Instant::now();
        let mut locks = Vec::new();
        for (&partition, since) in &state.waiting {
            match PartitionLock::try_take(&self.data_dir, &self.topic, partition) {
                Ok(Claim::Taken(lock)) => locks.push(lock),
                Ok(Claim::HeldBy(holder)) => {
                    let waited = since.elapsed();
                    // Once every 30 s: the holder may be stuck.
                    if waited.as_millis() % 30_000 < 200 && waited >= Duration::from_secs(30) {
                        tracing::warn!(
                            partition,
                            %holder,
                            waited_s = waited.as_secs(),
                            "still waiting for the previous owner to let go of the partition"
                        );
                    }
                }
                Err(e) => {
                    state.failure.get_or_insert(e);
                    return;
                }
            }
        }
        if locks.is_empty() {
            return;
        }
        let ledger = match scan(&self.data_dir, &self.topic) {
            Ok(l) => l,
            Err(e) => {
                state.failure.get_or_insert(e);
                return;
            }
        };
        let held: BTreeSet<i32> = locks.iter().map(PartitionLock::partition).collect();
        if let Err(e) = clean_up(&ledger, &held) {
            state.failure.get_or_insert(e);
            return;
        }
        let mut assigned = Vec::with_capacity(locks.len());
        for lock in locks {
            let partition = lock.partition();
            let next = ledger.next_offset(partition).unwrap_or(0);
            let offset = Offset::Offset(next);
            if let Err(e) = consumer.seek(&self.topic, partition, offset, Duration::from_secs(5)) {
                state
                    .failure
                    .get_or_insert(Error::kafka("positioning a partition")(e));
                return;
            }
            let waited = state.waiting.remove(&partition).map(|t| t.elapsed());
            tracing::info!(
                partition,
                ?offset,
                ?waited,
                "assigned, after its previous owner let go"
            );
            state.resuming.insert(partition, Resume::new(next));
            if !storage_paused
                && let Err(e) = consumer.resume(&partition_list(&self.topic, &[partition]))
            {
                tracing::warn!(partition, error = %e, "resuming a partition");
            }
            assigned.push(Assignment { next, lock });
        }
        state.send(Command::Assigned(assigned));
    }

    /// Commits the offsets of what was stored (advisory: the files decide).
    fn commit(&self, consumer: &BaseConsumer<Self>, mode: CommitMode) {
        let commits = self.shared.take_commits();
        if commits.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in commits {
            let _ = tpl.add_partition_offset(&self.topic, partition, Offset::Offset(next));
        }
        if let Err(e) = consumer.commit(&tpl, mode) {
            tracing::debug!(error = %e, "offset commit failed (advisory only)");
        }
    }
}

impl ClientContext for IngestContext {
    fn stats(&self, stats: Statistics) {
        // Learned brokers have node ids >= 0; bootstrap entries have -1. A
        // connection counts only while it answers: the consumer's fetches
        // (fetch.wait.max.ms, 500 ms) get a reply well within 5 s, whereas a
        // connection librdkafka still calls UP can be silent for a broker
        // that went away.
        let up = stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP" && (0..5_000_000).contains(&b.rxidle));
        self.broker(up);
        if let (Some(topic), Ok(mut watermarks)) =
            (stats.topics.get(&self.topic), self.shared.watermarks.lock())
        {
            for (&partition, p) in &topic.partitions {
                if partition >= 0 && p.hi_offset >= 0 {
                    watermarks.insert(partition, p.hi_offset);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // End of a partition is not an error (it reaches `poll` as lag 0);
        // librdkafka also reports it here as a global error.
        if matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF)
        {
            return;
        }
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.broker(false);
        }
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let Ok(mut state) = self.state() else {
            return;
        };
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                let mut locks = Vec::new();
                let mut waiting = Vec::new();
                for partition in partitions {
                    match PartitionLock::try_take(&self.data_dir, &self.topic, partition) {
                        Ok(Claim::Taken(lock)) => locks.push(lock),
                        Ok(Claim::HeldBy(holder)) => {
                            tracing::info!(
                                partition,
                                %holder,
                                "assigned, but its previous owner still holds it; \
                                 waiting for it to store what it read"
                            );
                            waiting.push(partition);
                        }
                        Err(e) => {
                            state.failure.get_or_insert(e);
                        }
                    }
                }
                match position(&self.data_dir, &self.topic, tpl, locks) {
                    Ok(assigned) => {
                        for a in &assigned {
                            state
                                .resuming
                                .insert(a.lock.partition(), Resume::new(a.next));
                        }
                        state.send(Command::Assigned(assigned));
                    }
                    Err(e) => {
                        state.failure.get_or_insert(e);
                    }
                }
                if let Err(e) = consumer.assign(tpl) {
                    state
                        .failure
                        .get_or_insert(Error::kafka("assigning partitions")(e));
                }
                if !waiting.is_empty() {
                    if let Err(e) = consumer.pause(&partition_list(&self.topic, &waiting)) {
                        state
                            .failure
                            .get_or_insert(Error::kafka("pausing partitions")(e));
                    }
                    let now = Instant::now();
                    state.waiting.extend(waiting.into_iter().map(|p| (p, now)));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(?partitions, "revoked");
                for p in &partitions {
                    state.resuming.remove(p);
                    state.waiting.remove(p);
                }
                // Everything consumed so far goes first, then the revocation;
                // wait until the decode thread has stored it.
                state.send_buffer();
                let (done, stored) = sync_channel(1);
                state.send(Command::Revoked(partitions, done));
                let _ = stored.recv();
                self.commit(consumer, CommitMode::Sync);
                if let Err(e) = consumer.unassign() {
                    state
                        .failure
                        .get_or_insert(Error::kafka("unassigning partitions")(e));
                }
            }
            other => tracing::error!(?other, "rebalance error"),
        }
    }
}

/// Sets each assigned partition's start to one past its highest stored
/// offset. For the partitions whose lock is held (`locks`), removes first
/// what a crash left (incomplete flushes, temp files) and returns them with
/// their resume offsets; the others get the offset as it stands now (they
/// stay paused, and are positioned again once their lock is taken).
fn position(
    data_dir: &std::path::Path,
    topic: &str,
    tpl: &mut TopicPartitionList,
    locks: Vec<PartitionLock>,
) -> Result<Vec<Assignment>> {
    let ledger = scan(data_dir, topic)?;
    let held: BTreeSet<i32> = locks.iter().map(PartitionLock::partition).collect();
    clean_up(&ledger, &held)?;
    let assigned: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    for partition in assigned {
        // A partition with no files starts at offset 0, not "beginning":
        // resolving "beginning" asks the broker (ListOffsets), which some
        // brokers get wrong on an empty partition. If retention removed
        // offset 0, auto.offset.reset=earliest takes over.
        let offset = Offset::Offset(ledger.next_offset(partition).unwrap_or(0));
        tpl.set_partition_offset(topic, partition, offset)
            .map_err(Error::kafka("positioning a partition"))?;
        if held.contains(&partition) {
            tracing::info!(partition, ?offset, "assigned");
        }
    }
    Ok(locks
        .into_iter()
        .map(|lock| Assignment {
            next: ledger.next_offset(lock.partition()).unwrap_or(0),
            lock,
        })
        .collect())
}

/// Removes what a dead writer left of the `held` partitions (files of
/// incomplete flushes, temp files). Only a lock holder may: another worker
/// may still be writing the partitions it holds.
fn clean_up(ledger: &Ledger, held: &BTreeSet<i32>) -> Result<()> {
    for (path, file) in ledger.incomplete.iter().chain(&ledger.temp) {
        if held.contains(&file.range.partition) {
            tracing::warn!(path = %path.display(), "removing what a dead writer left");
            match std::fs::remove_file(path) {
                Ok(()) => {}
                // Retention removed it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path)(e)),
            }
        }
    }
    for overlap in &ledger.overlaps {
        if held.contains(&overlap.0.partition) {
            tracing::warn!(
                ?overlap,
                "overlapping flushes: a second writer stored these offsets"
            );
        }
    }
    Ok(())
}

/// A list of partitions of `topic`, without offsets.
fn partition_list(topic: &str, partitions: &[i32]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition(topic, p);
    }
    tpl
}

/// The librdkafka settings of a worker's consumer: manual offsets (the files
/// decide), bounded prefetch memory, partition EOF events (lag 0) and
/// statistics each second (readiness, watermarks); `kafka_options` last.
/// Public so benchmarks can run a bare consumer with the same settings.
pub fn client_config(config: &IngestConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("queued.max.messages.kbytes", "65536")
        .set("fetch.max.bytes", "52428800")
        .set("session.timeout.ms", "10000")
        .set("enable.partition.eof", "true")
        .set("statistics.interval.ms", "1000")
        .set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in &config.kafka_options {
        client.set(k, v);
    }
    client
}

/// Runs one worker until `shutdown` is cancelled, then stores what it holds
/// and leaves the group. Blocking: call it from a thread of its own (it
/// starts the decode thread itself).
///
/// Shutdown is bounded even when the broker is gone: the last dead letters
/// and the final commit wait at most [`IngestConfig::shutdown_grace`] each,
/// and leaving the group happens on a detached thread that the caller does
/// not wait for (the files already say where every partition resumes).
pub fn run(config: IngestConfig, shutdown: &CancellationToken) -> Result<IngestReport> {
    let client = client_config(&config);
    let topic = config.topic.clone();
    let grace = config.shutdown_grace;
    let retention_days = config.retention_days;
    let dlq = match config.dlq_topic.as_deref() {
        Some(t) if !t.is_empty() => {
            Some(DeadLetters::new(&config.brokers, t, &config.kafka_options)?)
        }
        _ => None,
    };
    std::fs::create_dir_all(&config.data_dir).map_err(Error::io(&config.data_dir))?;
    let _minutes = minutes::in_background(&config.data_dir);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT);
    let context = IngestContext {
        poll: Mutex::new(PollState {
            resuming: BTreeMap::new(),
            waiting: BTreeMap::new(),
            last_claim: Instant::now(),
            buffer: Vec::with_capacity(BATCH),
            commands: Some(tx),
            failure: None,
        }),
        shared: shared.clone(),
        health: config.health.clone(),
        metrics: config.metrics.clone(),
        topic: topic.clone(),
        data_dir: config.data_dir.clone(),
    };
    let worker = Worker::new(config, dlq, shared.clone());
    let decode = std::thread::Builder::new()
        .name("ingest-decode".into())
        .spawn(move || worker.run(rx))
        .map_err(|e| Error::Config(format!("starting the decode thread: {e}")))?;
    let consumer: BaseConsumer<IngestContext> = client
        .create_with_context(context)
        .map_err(Error::kafka("creating the consumer"))?;
    consumer
        .subscribe(&[&topic])
        .map_err(Error::kafka("subscribing"))?;
    let data_dir = consumer.context().data_dir.clone();
    let mut paused = false;
    let mut last_sweep: Option<Instant> = None;
    let mut failure = None;
    while !shutdown.is_cancelled() && !decode.is_finished() {
        let message = consumer.poll(Duration::from_millis(100));
        let context = consumer.context();
        let mut state = context.state()?;
        let idle = message.is_none();
        match message {
            Some(Ok(m)) => state.take(
                &consumer,
                &topic,
                m.partition(),
                m.offset(),
                m.payload().unwrap_or(&[]),
            ),
            Some(Err(KafkaError::PartitionEOF(partition)))
                if !state.waiting.contains_key(&partition) =>
            {
                state.send_buffer();
                state.send(Command::CaughtUp(partition));
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            None => {}
        }
        if idle {
            state.send_buffer();
        }
        let pause = shared.pause.load(Ordering::Relaxed);
        context.claim_waiting(&consumer, &mut state, pause);
        if let Some(e) = state.failure.take() {
            failure = Some(e);
            break;
        }
        drop(state);
        if pause != paused {
            paused = pause;
            let waiting: Vec<i32> = context.state()?.waiting.keys().copied().collect();
            if let Ok(mut assignment) = consumer.assignment() {
                // Partitions waiting for their lock stay paused.
                assignment = partition_list(
                    &topic,
                    &assignment
                        .elements()
                        .iter()
                        .map(|e| e.partition())
                        .filter(|p| !waiting.contains(p))
                        .collect::<Vec<_>>(),
                );
                let r = if paused {
                    tracing::warn!("storage failing: pausing consumption until writes succeed");
                    consumer.pause(&assignment)
                } else {
                    tracing::info!("resuming consumption");
                    consumer.resume(&assignment)
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "pausing or resuming partitions");
                }
            }
        }
        if let Some(days) = retention_days
            && last_sweep.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600))
        {
            last_sweep = Some(Instant::now());
            sweep(&data_dir, &topic, days, context.metrics.as_ref());
        }
        context.commit(&consumer, CommitMode::Async);
    }
    // Hand over what was consumed, then let the decode thread store it.
    if let Ok(mut state) = consumer.context().state() {
        state.send_buffer();
        state.send(Command::Finish(grace));
        state.commands = None;
    }
    let stored = decode
        .join()
        .map_err(|_| Error::Config("the ingest decode thread panicked".into()))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let report = stored?;
    let broker_up = consumer.context().health.broker_up();
    if broker_up {
        consumer.context().commit(&consumer, CommitMode::Sync);
    }
    // Leave the group (LeaveGroup, so the others take the partitions over at
    // once instead of after the session timeout). That can hang while the
    // broker is unreachable, so it runs on its own thread, waited for at most
    // the grace period, and not at all when the broker is known to be down:
    // progress is already in the files.
    let (closed, left) = sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("ingest-close".into())
        .spawn(move || {
            // Dropping closes the consumer: revoke, LeaveGroup, destroy.
            drop(consumer);
            let _ = closed.send(());
        });
    if spawned.is_ok() && broker_up && left.recv_timeout(grace).is_err() {
        tracing::warn!("leaving the group took longer than {grace:?}; exiting anyway");
    }
    Ok(report)
}

fn sweep(data_dir: &std::path::Path, topic: &str, days: u32, metrics: Option<&IngestMetrics>) {
    let cutoff = retention::cutoff(now_ms(), days);
    match retention::sweep(data_dir, topic, &cutoff) {
        Ok(swept) => {
            if swept.files > 0 {
                tracing::info!(
                    %cutoff,
                    flushes = swept.flushes,
                    files = swept.files,
                    "retention removed old flushes"
                );
            }
            if let Some(m) = metrics {
                m.retention_removed(swept.files);
            }
        }
        Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying in an hour"),
    }
}
