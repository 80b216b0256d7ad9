//! The decode thread: per-partition decoders, what is decoded but not yet
//! stored, and the flush that stores it. The poll thread sends it
//! [`Command`]s in consumption order (records in batches, assignments,
//! revocations it waits for) and never decodes or writes itself, so a slow
//! flush delays polling by at most one channel's worth of records.
//!
//! A partition's records go through three places. The [`Decoder`] appends
//! them to its column builders; about every half second [`Worker::cut`] turns
//! those into a batch that joins the partition's [`Pending`] work and is
//! published as live rows (queryable at once); [`Worker::flush`] writes the
//! pending batches as one flush and releases the live rows. A failed write
//! keeps everything pending and is retried with backoff; it never loses or
//! re-decodes a record (re-decoding would count its event ids as duplicates).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use model::live::LiveBatch;
use model::schema::col;

use super::{IngestConfig, IngestReport};
use crate::decode::{DecodeStats, Decoder, DecoderConfig, Rejected, Source, rejected_batch};
use crate::dlq::{Batch, DeadLetters};
use crate::health::probe_storage;
use crate::sink::{FlushRange, ParquetSink, PartitionLock, recent_event_ids};
use crate::{Error, Result};

/// One consumed record, copied off the poll thread.
pub(super) struct Record {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) value: Vec<u8>,
}

/// What the poll thread tells the decode thread, in consumption order.
pub(super) enum Command {
    Records(Vec<Record>),
    /// Partitions assigned and locked, with the offset each resumes at.
    Assigned(Vec<Assignment>),
    /// Partitions revoked: store what they hold, then acknowledge.
    Revoked(Vec<i32>, SyncSender<()>),
    /// The partition reached its end (lag 0).
    CaughtUp(i32),
    /// Shutdown: store everything, waiting at most this long for dead letters.
    Finish(Duration),
}

/// A partition this worker now writes: where it resumes, and the lock that
/// keeps every other worker from writing it until it is revoked and stored.
pub(super) struct Assignment {
    pub(super) next: i64,
    pub(super) lock: PartitionLock,
}

/// State both threads touch, each briefly.
#[derive(Default)]
pub(super) struct Shared {
    /// High watermarks from librdkafka's statistics (poll thread → here).
    pub(super) watermarks: Mutex<BTreeMap<i32, i64>>,
    /// Next offsets of stored flushes, to commit (here → poll thread).
    pub(super) to_commit: Mutex<BTreeMap<i32, i64>>,
    /// Storage is failing and a partition holds too much: stop fetching.
    pub(super) pause: AtomicBool,
}

impl Shared {
    pub(super) fn take_commits(&self) -> BTreeMap<i32, i64> {
        self.to_commit
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

/// One partition's decoded but unstored work.
pub(super) struct Pending {
    first: i64,
    last: i64,
    records: usize,
    since: Instant,
    /// First offset not yet in a cut batch, if any record is uncut.
    uncut: Option<i64>,
    batches: Vec<RecordBatch>,
    rejected: Vec<Rejected>,
    /// The rejected records went to the dead-letter topic already (a retried
    /// flush does not send them twice).
    dead_lettered: bool,
}

/// The decode thread's state.
pub(super) struct Worker {
    pub(super) config: IngestConfig,
    pub(super) sink: ParquetSink,
    pub(super) dlq: Option<DeadLetters>,
    topic: Arc<str>,
    /// Decoders of assigned partitions, kept across flushes (their duplicate
    /// windows outlive a batch).
    decoders: BTreeMap<i32, Decoder>,
    /// The lock of every partition this worker may write (see
    /// [`PartitionLock`]); dropped once a revoked partition is stored.
    locks: BTreeMap<i32, PartitionLock>,
    pending: BTreeMap<i32, Pending>,
    /// Next offset to consume per assigned partition (for lag).
    next: BTreeMap<i32, i64>,
    shared: Arc<Shared>,
    report: IngestReport,
    /// The first fatal error; the loop stops on it.
    failure: Option<Error>,
    last_cut: Instant,
    /// While storage fails: when to try again, and the current backoff.
    retry_at: Option<Instant>,
    backoff: Duration,
    last_probe: Instant,
    /// The dead-letter producer's wait for acknowledgements during a flush.
    dlq_timeout: Duration,
}

impl Worker {
    pub(super) fn new(config: IngestConfig, dlq: Option<DeadLetters>, shared: Arc<Shared>) -> Self {
        Self {
            sink: ParquetSink::new(&config.data_dir, config.sink.clone()),
            topic: config.topic.as_str().into(),
            config,
            dlq,
            decoders: BTreeMap::new(),
            locks: BTreeMap::new(),
            pending: BTreeMap::new(),
            next: BTreeMap::new(),
            shared,
            report: IngestReport::default(),
            failure: None,
            last_cut: Instant::now(),
            retry_at: None,
            backoff: Duration::ZERO,
            last_probe: Instant::now(),
            dlq_timeout: Duration::from_secs(10),
        }
    }

    /// The decode thread: runs commands until `Finish` (or until the poll
    /// thread is gone), then stores what it holds.
    pub(super) fn run(mut self, commands: Receiver<Command>) -> Result<IngestReport> {
        loop {
            match commands.recv_timeout(Duration::from_millis(50)) {
                Ok(Command::Records(records)) => {
                    for r in records {
                        self.take(r.partition, r.offset, &r.value);
                    }
                }
                Ok(Command::Assigned(assignments)) => {
                    for a in assignments {
                        self.assigned(a);
                    }
                }
                Ok(Command::Revoked(partitions, done)) => {
                    for partition in partitions {
                        self.revoked(partition);
                    }
                    let _ = done.send(());
                }
                Ok(Command::CaughtUp(partition)) => self.caught_up(partition),
                Ok(Command::Finish(grace)) => return self.finish(grace),
                Err(RecvTimeoutError::Disconnected) => return self.finish(Duration::ZERO),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.tick();
            self.shared
                .pause
                .store(self.must_pause(), Ordering::Relaxed);
            if let Some(e) = self.failure.take() {
                return Err(e);
            }
        }
    }

    fn finish(mut self, grace: Duration) -> Result<IngestReport> {
        // Queue every partition's dead letters, then wait for all of them at
        // once: one grace period however many partitions hold rejections.
        let mut batches = Vec::new();
        let partitions: Vec<i32> = self.pending.keys().copied().collect();
        for partition in partitions {
            self.cut(partition);
            if let Some(mut p) = self.pending.remove(&partition) {
                batches.extend(self.queue_dead_letters(&mut p));
                self.pending.insert(partition, p);
            }
        }
        if let Some(dlq) = &self.dlq
            && !batches.is_empty()
        {
            dlq.wait(grace);
        }
        for batch in &batches {
            self.count_dead_letters(batch);
        }
        self.flush_all();
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        let unstored = self.unstored();
        if unstored > 0 {
            return Err(Error::Config(format!(
                "{unstored} records could not be stored before shutdown (storage failing); \
                 they are read again on the next start"
            )));
        }
        Ok(self.report)
    }

    /// A partition was assigned: it resumes at `next`, with a decoder whose
    /// duplicate window holds the partition's newest stored event ids (so a
    /// duplicate is skipped whichever worker stored its original).
    fn assigned(&mut self, Assignment { next, lock }: Assignment) {
        let partition = lock.partition();
        self.locks.insert(partition, lock);
        let mut decoder = self.new_decoder();
        let (dir, topic, window) = (
            &self.config.data_dir,
            &self.config.topic,
            self.config.dedup_window,
        );
        match recent_event_ids(dir, topic, partition, window) {
            Ok(ids) => {
                for id in &ids {
                    decoder.remember(id);
                }
                tracing::debug!(
                    partition,
                    ids = ids.len(),
                    "duplicate window seeded from the files"
                );
            }
            Err(e) => tracing::warn!(
                partition,
                error = %e,
                "could not read stored event ids; the duplicate window starts empty"
            ),
        }
        self.decoders.insert(partition, decoder);
        self.next.insert(partition, next);
    }

    fn new_decoder(&self) -> Decoder {
        Decoder::new(DecoderConfig {
            user_keys: self.config.user_keys.clone(),
            dedup_window: self.config.dedup_window,
        })
    }

    /// A partition was revoked: store what it holds, forget it.
    fn revoked(&mut self, partition: i32) {
        self.store(partition);
        if let Some(p) = self.pending.remove(&partition) {
            // Storage is failing: the next owner reads these records again.
            tracing::warn!(
                partition,
                first = p.first,
                last = p.last,
                "revoked with unstored records; the next owner reads them again"
            );
            self.config.live.release(&self.topic, partition, i64::MAX);
        }
        self.decoders.remove(&partition);
        self.next.remove(&partition);
        // Stored (or left for the next owner to read again): let it write.
        self.locks.remove(&partition);
        if let Ok(mut w) = self.shared.watermarks.lock() {
            w.remove(&partition);
        }
        if let Some(m) = &self.config.metrics {
            m.forget_partition(partition);
        }
    }

    fn take(&mut self, partition: i32, offset: i64, value: &[u8]) {
        let src = Source {
            topic: &self.config.topic,
            partition,
            offset,
            now_ms: now_ms(),
        };
        // Only partitions this worker holds the lock of are written; the
        // poll thread sends no others.
        let Some(decoder) = self.decoders.get_mut(&partition) else {
            tracing::error!(
                partition,
                offset,
                "record of a partition not assigned here; dropped"
            );
            return;
        };
        decoder.decode(value, &src);
        let p = self.pending.entry(partition).or_insert_with(|| Pending {
            first: offset,
            last: offset,
            records: 0,
            since: Instant::now(),
            uncut: None,
            batches: Vec::new(),
            rejected: Vec::new(),
            dead_lettered: false,
        });
        p.uncut.get_or_insert(offset);
        p.last = offset;
        p.records += 1;
        self.next.insert(partition, offset + 1);
        self.report.records += 1;
        if let Some(m) = &self.config.metrics {
            m.record(value.len());
        }
        if p.records >= self.config.flush_records {
            self.flush(partition);
        }
    }

    /// The periodic work of the poll loop: cut live batches, flush aged
    /// partitions, retry failed writes, probe storage, update gauges.
    fn tick(&mut self) {
        if self.last_cut.elapsed() >= self.config.live_interval {
            self.last_cut = Instant::now();
            let partitions: Vec<i32> = self.pending.keys().copied().collect();
            for partition in partitions {
                self.cut(partition);
            }
            self.update_gauges();
        }
        let aged: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.since.elapsed() >= self.config.flush_interval)
            .map(|(k, _)| *k)
            .collect();
        for partition in aged {
            self.flush(partition);
        }
        if self.last_probe.elapsed() >= Duration::from_secs(5) {
            self.last_probe = Instant::now();
            let ok = probe_storage(&self.config.data_dir).is_ok();
            // A probe only clears a failed write once the write itself works.
            if !ok || self.retry_at.is_none() {
                self.set_storage(ok);
            }
        }
    }

    /// Whether to stop fetching: storage is failing and a partition already
    /// holds more than two flushes' worth of records.
    fn must_pause(&self) -> bool {
        self.retry_at.is_some()
            && self
                .pending
                .values()
                .any(|p| p.records >= 2 * self.config.flush_records)
    }

    /// Turns a partition's uncut records into a batch: pending, and live.
    fn cut(&mut self, partition: i32) {
        let (Some(p), Some(decoder)) = (
            self.pending.get_mut(&partition),
            self.decoders.get_mut(&partition),
        ) else {
            return;
        };
        let Some(first) = p.uncut.take() else {
            return;
        };
        let result = (|| -> Result<()> {
            let batch = decoder.finish_batch()?;
            let rejected = decoder.take_rejected();
            let stats = decoder.take_stats();
            let live = LiveBatch {
                topic: self.topic.clone(),
                partition,
                first,
                last: p.last,
                batch: batch.clone(),
            };
            if let Some(m) = &self.config.metrics {
                m.observe_batch(&batch);
                m.observe_stats(&stats);
                // Lag in seconds: the event age of the newest consumed event.
                if let Some(ts) = last_ts(&batch) {
                    m.lag(partition, None, Some((now_ms() - ts) / 1000));
                }
            }
            accumulate(&mut self.report.stats, &stats);
            if !rejected.is_empty() {
                self.config.live.push_rejected(LiveBatch {
                    batch: rejected_batch(&rejected)?,
                    ..live.clone()
                });
            }
            self.config.live.push_attempts(live);
            p.batches.push(batch);
            p.rejected.extend(rejected);
            Ok(())
        })();
        if let Err(e) = result {
            self.failure.get_or_insert(e);
        }
    }

    fn flush_all(&mut self) {
        let all: Vec<i32> = self.pending.keys().copied().collect();
        for partition in all {
            self.store(partition);
        }
    }

    /// Queues a partition's rejected records to the dead-letter topic, once
    /// (a retried flush does not send them again).
    fn queue_dead_letters(&self, p: &mut Pending) -> Option<Arc<Batch>> {
        if p.dead_lettered {
            return None;
        }
        p.dead_lettered = true;
        let dlq = self.dlq.as_ref()?;
        (!p.rejected.is_empty()).then(|| dlq.queue(&p.rejected))
    }

    fn count_dead_letters(&mut self, batch: &Batch) {
        let (sent, lost) = (batch.delivered(), batch.lost());
        self.report.dead_letters += sent;
        self.report.dead_letters_failed += lost;
        if let Some(m) = &self.config.metrics {
            m.dead_letters(sent, lost);
        }
    }

    /// Stores one partition's pending records, unless a failed write is
    /// waiting for its retry time.
    fn flush(&mut self, partition: i32) {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        self.store(partition);
    }

    /// Writes one partition's pending records now. A storage failure keeps
    /// them pending for a retry; any other failure is fatal.
    fn store(&mut self, partition: i32) {
        self.cut(partition);
        let Some(mut p) = self.pending.remove(&partition) else {
            return;
        };
        if let Some(batch) = self.queue_dead_letters(&mut p) {
            if let Some(dlq) = &self.dlq {
                dlq.wait(self.dlq_timeout);
            }
            self.count_dead_letters(&batch);
        }
        let range = FlushRange {
            topic: self.config.topic.clone(),
            partition,
            first: p.first,
            last: p.last,
        };
        let started = Instant::now();
        let written = rejected_batch(&p.rejected).and_then(|rejected| {
            self.sink
                .write_flush(&range, &p.batches, Some(&rejected), now_ms())
        });
        match written {
            Ok(report) => {
                tracing::debug!(
                    partition,
                    first = p.first,
                    last = p.last,
                    rows = report.accepted_rows,
                    rejected = report.rejected_rows,
                    bytes = report.bytes,
                    "flushed"
                );
                self.report.flushes += 1;
                self.config.live.release(&self.topic, partition, p.last);
                if let Some(m) = &self.config.metrics {
                    m.flushed(started.elapsed(), &report);
                }
                if let Ok(mut c) = self.shared.to_commit.lock() {
                    c.insert(partition, p.last + 1);
                }
                if self.retry_at.take().is_some() {
                    tracing::info!("storage writable again; flushes resumed");
                }
                self.backoff = Duration::ZERO;
                self.set_storage(true);
            }
            Err(e @ (Error::Io { .. } | Error::Parquet(_))) => {
                self.backoff =
                    (self.backoff * 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
                self.retry_at = Some(Instant::now() + self.backoff);
                tracing::error!(
                    partition,
                    error = %e,
                    retry_in = ?self.backoff,
                    "flush failed; keeping the records and retrying"
                );
                if let Some(m) = &self.config.metrics {
                    m.flush_failed();
                }
                self.set_storage(false);
                self.pending.insert(partition, p);
            }
            Err(e) => {
                self.failure.get_or_insert(e);
                self.pending.insert(partition, p);
            }
        }
    }

    /// Records held but not stored, when the worker has to give up on them.
    fn unstored(&self) -> usize {
        self.pending.values().map(|p| p.records).sum()
    }

    fn set_storage(&self, ok: bool) {
        if self.config.health.set_storage_writable(ok) && ok {
            tracing::info!("data directory writable");
        }
        if let Some(m) = &self.config.metrics {
            m.storage_writable(ok);
        }
    }

    fn update_gauges(&self) {
        if let Some(m) = &self.config.metrics {
            m.live_rows(self.config.live.rows());
            let watermarks = self
                .shared
                .watermarks
                .lock()
                .map(|w| w.clone())
                .unwrap_or_default();
            for (&partition, &next) in &self.next {
                let lag = watermarks.get(&partition).map(|&hi| (hi - next).max(0));
                m.lag(partition, lag, None);
            }
        }
    }

    /// The partition has no more records for now.
    fn caught_up(&mut self, partition: i32) {
        if let Some(m) = &self.config.metrics {
            m.lag(partition, Some(0), Some(0));
        }
    }
}

/// The newest event time in a batch of accepted rows.
fn last_ts(batch: &RecordBatch) -> Option<i64> {
    let ts = batch
        .columns()
        .get(col::TS)?
        .as_primitive_opt::<TimestampMillisecondType>()?;
    arrow::compute::max(ts)
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

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
