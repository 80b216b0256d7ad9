//! The ingest worker: a Kafka consumer-group member that decodes what it is
//! assigned and stores it through the [`sink`](crate::sink), exactly once.
//!
//! Progress lives in the files, not in Kafka: when partitions are assigned,
//! the worker reads the [`Ledger`](crate::sink::Ledger), deletes what a crash
//! left half-written, and starts each partition one past its highest stored
//! offset. Per partition it batches decoded rows; a flush (by rows, by age, on
//! revocation and on shutdown) writes the files for the offsets it covers,
//! then commits those offsets to Kafka as an advisory hint for other tools.
//! A record is therefore stored once however the worker stops: what was
//! flushed is skipped on restart, what was not is read again.
//!
//! The worker is one thread around a librdkafka `BaseConsumer`: the
//! rebalance callback runs inside `poll` on that same thread, so it can flush
//! a revoked partition before giving it up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use tokio_util::sync::CancellationToken;

use crate::decode::{DecodeStats, Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use crate::dlq::DeadLetters;
use crate::sink::{FlushRange, ParquetSink, SinkOptions, scan};
use crate::{Error, Result};

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
    /// Recent event ids remembered per partition for duplicate detection.
    pub dedup_window: usize,
    pub sink: SinkOptions,
    /// Dead-letter topic for rejected records; `None` disables it.
    pub dlq_topic: Option<String>,
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

/// Where a partition must resume, and how far back we fetch to get there.
///
/// Some brokers answer a fetch from an offset inside a record batch with the
/// *next* batch (tansu 0.6 does), which would silently skip the rest of the
/// batch. So the first record after an assignment must be the resume offset:
/// when it comes later, the worker seeks further back (doubling the step) and
/// drops records below the resume offset until it arrives. Only when even a
/// fetch from before it skips it is the gap real (a deleted or compacted
/// offset), and it is accepted (the ledger reports it).
#[derive(Debug, Clone, Copy)]
struct Resume {
    target: i64,
    step: i64,
    /// A record below the target has been seen: the fetch started early enough.
    reached_before: bool,
}

/// What to do with a record of a resuming partition.
enum Verdict {
    Take,
    Drop,
    SeekBack(i64),
}

impl Resume {
    fn new(target: i64) -> Self {
        Self {
            target,
            step: 64,
            reached_before: target == 0,
        }
    }

    fn judge(&mut self, offset: i64) -> Verdict {
        if offset < self.target {
            self.reached_before = true;
            return Verdict::Drop;
        }
        if offset == self.target || self.reached_before {
            return Verdict::Take;
        }
        let back = (self.target - self.step).max(0);
        self.step = self.step.saturating_mul(2);
        if back == 0 {
            self.reached_before = true;
        }
        Verdict::SeekBack(back)
    }
}

/// One partition's unflushed work.
struct Pending {
    decoder: Decoder,
    first: i64,
    last: i64,
    records: usize,
    since: Instant,
}

/// Everything the poll loop and the rebalance callback share.
struct Worker {
    config: IngestConfig,
    sink: ParquetSink,
    dlq: Option<DeadLetters>,
    /// Decoders of assigned partitions, kept across flushes (their duplicate
    /// windows outlive a batch).
    decoders: BTreeMap<i32, Decoder>,
    /// Partitions just assigned, until their first record at the resume
    /// offset arrives (see [`Resume`]).
    resuming: BTreeMap<i32, Resume>,
    pending: BTreeMap<i32, Pending>,
    report: IngestReport,
    /// The first error a callback hit; the loop stops on it.
    failure: Option<Error>,
    /// Next offsets of flushed partitions, to commit to Kafka (advisory).
    to_commit: BTreeMap<i32, i64>,
}

impl Worker {
    fn decoder(&mut self, partition: i32) -> Decoder {
        self.decoders.remove(&partition).unwrap_or_else(|| {
            Decoder::new(DecoderConfig {
                user_keys: self.config.user_keys.clone(),
                dedup_window: self.config.dedup_window,
            })
        })
    }

    /// Takes one record, unless it is below a resume point or a seek back
    /// is needed first.
    fn handle(
        &mut self,
        consumer: &BaseConsumer<IngestContext>,
        partition: i32,
        offset: i64,
        value: &[u8],
    ) {
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
                    if let Err(e) = consumer.seek(
                        &self.config.topic,
                        partition,
                        Offset::Offset(to),
                        Duration::from_secs(5),
                    ) {
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
        self.take(partition, offset, value);
    }

    fn take(&mut self, partition: i32, offset: i64, value: &[u8]) {
        let now_ms = now_ms();
        let mut p = match self.pending.remove(&partition) {
            Some(p) => p,
            None => Pending {
                decoder: self.decoder(partition),
                first: offset,
                last: offset,
                records: 0,
                since: Instant::now(),
            },
        };
        let src = Source {
            topic: &self.config.topic,
            partition,
            offset,
            now_ms,
        };
        p.decoder.decode(value, &src);
        p.last = offset;
        p.records += 1;
        self.report.records += 1;
        let due = p.records >= self.config.flush_records;
        self.pending.insert(partition, p);
        if due {
            self.flush(partition);
        }
    }

    /// Flushes partitions whose oldest record is older than the interval.
    fn flush_aged(&mut self) {
        let aged: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.since.elapsed() >= self.config.flush_interval)
            .map(|(k, _)| *k)
            .collect();
        for partition in aged {
            self.flush(partition);
        }
    }

    fn flush_all(&mut self) {
        let all: Vec<i32> = self.pending.keys().copied().collect();
        for partition in all {
            self.flush(partition);
        }
    }

    /// Writes one partition's pending records; on failure keeps the error.
    fn flush(&mut self, partition: i32) {
        let Some(mut p) = self.pending.remove(&partition) else {
            return;
        };
        let result = (|| -> Result<()> {
            let batch = p.decoder.finish_batch()?;
            let rejected = p.decoder.take_rejected();
            if let Some(dlq) = &self.dlq
                && !rejected.is_empty()
            {
                let lost = dlq.send(&rejected);
                self.report.dead_letters += rejected.len() as u64 - lost;
                self.report.dead_letters_failed += lost;
            }
            let rejected = rejected_batch(&rejected)?;
            let range = FlushRange {
                topic: self.config.topic.clone(),
                partition,
                first: p.first,
                last: p.last,
            };
            let report = self
                .sink
                .write_flush(&range, &[batch], Some(&rejected), now_ms())?;
            tracing::debug!(
                partition,
                first = p.first,
                last = p.last,
                rows = report.accepted_rows,
                rejected = report.rejected_rows,
                bytes = report.bytes,
                "flushed"
            );
            Ok(())
        })();
        self.report.flushes += 1;
        accumulate(&mut self.report.stats, &p.decoder.take_stats());
        // The decoder keeps its duplicate window for the next batch.
        self.decoders.insert(partition, p.decoder);
        match result {
            Ok(()) => {
                self.to_commit.insert(partition, p.last + 1);
            }
            Err(e) => {
                self.failure.get_or_insert(e);
            }
        }
    }

    /// Commits the offsets of what was flushed (advisory: the files decide).
    fn commit(&mut self, consumer: &BaseConsumer<IngestContext>, mode: CommitMode) {
        if self.to_commit.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in std::mem::take(&mut self.to_commit) {
            let _ = tpl.add_partition_offset(&self.config.topic, partition, Offset::Offset(next));
        }
        if let Err(e) = consumer.commit(&tpl, mode) {
            tracing::debug!(error = %e, "offset commit failed (advisory only)");
        }
    }
}

fn accumulate(total: &mut DecodeStats, s: &DecodeStats) {
    total.messages += s.messages;
    total.accepted += s.accepted;
    total.duplicates += s.duplicates;
    total.unknown_fields += s.unknown_fields;
    total.truncated_error_messages += s.truncated_error_messages;
    for (t, v) in total.rejected.iter_mut().zip(s.rejected) {
        *t += v;
    }
    for (t, v) in total.unknown_values.iter_mut().zip(s.unknown_values) {
        *t += v;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The consumer context: positions assigned partitions from the ledger and
/// flushes revoked ones.
struct IngestContext {
    worker: Mutex<Worker>,
}

impl ClientContext for IngestContext {}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let Ok(mut worker) = self.worker.lock() else {
            return;
        };
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = position(&mut worker, tpl) {
                    worker.failure.get_or_insert(e);
                }
                if let Err(e) = consumer.assign(tpl) {
                    worker
                        .failure
                        .get_or_insert(Error::kafka("assigning partitions")(e));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                for elem in tpl.elements() {
                    worker.flush(elem.partition());
                    worker.decoders.remove(&elem.partition());
                    worker.resuming.remove(&elem.partition());
                }
                worker.commit(consumer, CommitMode::Sync);
                if let Err(e) = consumer.unassign() {
                    worker
                        .failure
                        .get_or_insert(Error::kafka("unassigning partitions")(e));
                }
            }
            other => tracing::error!(?other, "rebalance error"),
        }
    }
}

/// Sets each assigned partition's start to one past its highest stored
/// offset, after removing what a crash left (incomplete flushes, temp files).
fn position(worker: &mut Worker, tpl: &mut TopicPartitionList) -> Result<()> {
    let ledger = scan(&worker.config.data_dir, &worker.config.topic)?;
    let assigned: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    // What a dead writer left: files of incomplete flushes and temp files.
    for (path, file) in ledger.incomplete.iter().chain(&ledger.temp) {
        if assigned.contains(&file.range.partition) {
            tracing::warn!(path = %path.display(), "removing what a dead writer left");
            std::fs::remove_file(path).map_err(Error::io(path))?;
        }
    }
    for (partition, overlap) in ledger.overlaps.iter().map(|o| (o.0.partition, o)) {
        if assigned.contains(&partition) {
            tracing::warn!(
                ?overlap,
                "overlapping flushes: a second writer stored these offsets"
            );
        }
    }
    for partition in assigned {
        let next = ledger.next_offset(partition).unwrap_or(0);
        worker.resuming.insert(partition, Resume::new(next));
        // A partition with no files starts at offset 0, not "beginning":
        // resolving "beginning" asks the broker (ListOffsets), which some
        // brokers get wrong on an empty partition. If retention removed
        // offset 0, auto.offset.reset=earliest takes over.
        let offset = Offset::Offset(next);
        tpl.set_partition_offset(&worker.config.topic, partition, offset)
            .map_err(Error::kafka("positioning a partition"))?;
        tracing::info!(partition, ?offset, "assigned");
    }
    Ok(())
}

/// Runs one worker until `shutdown` is cancelled, then flushes what it holds
/// and leaves the group. Blocking: call it from a thread of its own.
pub fn run(config: IngestConfig, shutdown: &CancellationToken) -> Result<IngestReport> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("queued.max.messages.kbytes", "65536")
        .set("session.timeout.ms", "10000")
        .set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in &config.kafka_options {
        client.set(k, v);
    }
    let topic = config.topic.clone();
    let dlq = match config.dlq_topic.as_deref() {
        Some(t) if !t.is_empty() => {
            Some(DeadLetters::new(&config.brokers, t, &config.kafka_options)?)
        }
        _ => None,
    };
    let context = IngestContext {
        worker: Mutex::new(Worker {
            sink: ParquetSink::new(&config.data_dir, config.sink.clone()),
            dlq,
            config,
            decoders: BTreeMap::new(),
            resuming: BTreeMap::new(),
            pending: BTreeMap::new(),
            report: IngestReport::default(),
            failure: None,
            to_commit: BTreeMap::new(),
        }),
    };
    let consumer: BaseConsumer<IngestContext> = client
        .create_with_context(context)
        .map_err(Error::kafka("creating the consumer"))?;
    consumer
        .subscribe(&[&topic])
        .map_err(Error::kafka("subscribing"))?;
    while !shutdown.is_cancelled() {
        let message = consumer.poll(Duration::from_millis(100));
        let mut worker = consumer
            .context()
            .worker
            .lock()
            .map_err(|_| Error::Config("ingest worker state poisoned".into()))?;
        match message {
            Some(Ok(m)) => worker.handle(
                &consumer,
                m.partition(),
                m.offset(),
                m.payload().unwrap_or(&[]),
            ),
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            None => {}
        }
        worker.flush_aged();
        worker.commit(&consumer, CommitMode::Async);
        if let Some(e) = worker.failure.take() {
            return Err(e);
        }
    }
    let mut worker = consumer
        .context()
        .worker
        .lock()
        .map_err(|_| Error::Config("ingest worker state poisoned".into()))?;
    worker.flush_all();
    if let Some(e) = worker.failure.take() {
        return Err(e);
    }
    worker.commit(&consumer, CommitMode::Sync);
    Ok(worker.report.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verdicts as the worker applies them: once taken, resuming is over.
    fn verdicts(target: i64, offsets: &[i64]) -> Vec<String> {
        let mut r = Some(Resume::new(target));
        offsets
            .iter()
            .map(
                |&o| match r.as_mut().map_or(Verdict::Take, |r| r.judge(o)) {
                    Verdict::Take => {
                        r = None;
                        "take".to_string()
                    }
                    Verdict::Drop => "drop".to_string(),
                    Verdict::SeekBack(to) => format!("seek {to}"),
                },
            )
            .collect()
    }

    #[test]
    fn resume_takes_the_target_and_seeks_back_when_the_broker_skips_it() {
        assert_eq!(verdicts(100, &[100, 101]), ["take", "take"]);
        // The broker answered with the next batch: go back 64, then 128...
        assert_eq!(
            verdicts(1000, &[1020, 1020, 950, 999, 1000]),
            ["seek 936", "seek 872", "drop", "drop", "take"]
        );
        // Even from before the target the broker skips it: a real gap.
        assert_eq!(
            verdicts(1000, &[1020, 990, 1005]),
            ["seek 936", "drop", "take"]
        );
        // Near the start, going back reaches offset 0 and then takes.
        assert_eq!(verdicts(10, &[30, 30]), ["seek 0", "take"]);
        assert_eq!(verdicts(0, &[5]), ["take"]);
    }
}
