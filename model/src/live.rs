//! Live rows: what ingest has decoded but not yet stored in a Parquet file.
//!
//! Ingest [`push`](LiveRows::push_attempts)es a batch every second or so per
//! partition and [`release`](LiveRows::release)s a partition's batches once
//! the flush that covers them is on disk. Analytics takes a
//! [`snapshot`](LiveRows::snapshot) per query and unions it with the files.
//!
//! Every [`LiveBatch`] knows the Kafka offsets it covers, and a flush always
//! covers whole live batches. A reader therefore takes the snapshot FIRST,
//! lists the files SECOND, and drops the live batches a listed file covers
//! ([`LiveBatch::is_covered_by`]): a flush that lands in between is then seen
//! exactly once (from the file), and one that lands after the listing is seen
//! from the snapshot. Neither doubled nor missed.
//!
//! Memory is bounded by ingest's flush policy: a partition holds at most
//! `--flush-records` rows and at most `--flush-interval` of them before they
//! are flushed and released. A snapshot clones `Arc`s, not rows.

use std::sync::{Arc, RwLock};

use arrow::record_batch::RecordBatch;

use crate::files::FlushRange;

/// Decoded rows of one partition's offsets `first..=last`.
#[derive(Debug, Clone)]
pub struct LiveBatch {
    pub topic: Arc<str>,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
    pub batch: RecordBatch,
}

impl LiveBatch {
    /// True when a stored flush already holds every offset of this batch.
    pub fn is_covered_by(&self, range: &FlushRange) -> bool {
        *self.topic == *range.topic
            && self.partition == range.partition
            && range.first <= self.first
            && self.last <= range.last
    }
}

/// A consistent copy of the live rows at one moment.
#[derive(Debug, Clone, Default)]
pub struct LiveSnapshot {
    /// `order_attempts` rows (the schema of [`crate::schema::order_attempts_schema`]).
    pub attempts: Vec<LiveBatch>,
    /// `rejected_events` rows (the schema of [`crate::schema::rejected_events_schema`]).
    pub rejected: Vec<LiveBatch>,
}

impl LiveSnapshot {
    /// Drops the batches a stored flush covers (see the module docs for the
    /// order in which to snapshot and list).
    pub fn without_stored(mut self, stored: &[FlushRange]) -> Self {
        let keep = |b: &LiveBatch| !stored.iter().any(|r| b.is_covered_by(r));
        self.attempts.retain(keep);
        self.rejected.retain(keep);
        self
    }

    pub fn attempt_rows(&self) -> usize {
        self.attempts.iter().map(|b| b.batch.num_rows()).sum()
    }
}

/// The shared buffer of live rows; cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct LiveRows {
    inner: Arc<RwLock<LiveSnapshot>>,
}

impl LiveRows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds decoded `order_attempts` rows (empty batches are ignored).
    pub fn push_attempts(&self, batch: LiveBatch) {
        if batch.batch.num_rows() > 0 {
            self.write(|s| s.attempts.push(batch));
        }
    }

    /// Adds decoded `rejected_events` rows (empty batches are ignored).
    pub fn push_rejected(&self, batch: LiveBatch) {
        if batch.batch.num_rows() > 0 {
            self.write(|s| s.rejected.push(batch));
        }
    }

    /// Forgets a partition's batches up to offset `through` (inclusive): they
    /// are stored now, or the partition moved to another worker.
    pub fn release(&self, topic: &str, partition: i32, through: i64) {
        let keep =
            |b: &LiveBatch| !(*b.topic == *topic && b.partition == partition && b.last <= through);
        self.write(|s| {
            s.attempts.retain(keep);
            s.rejected.retain(keep);
        });
    }

    /// The live rows now.
    pub fn snapshot(&self) -> LiveSnapshot {
        match self.inner.read() {
            Ok(s) => s.clone(),
            // A writer panicked mid-update; the data is still whole batches.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rows held (both tables), for metrics and tests.
    pub fn rows(&self) -> usize {
        let count = |s: &LiveSnapshot| {
            s.attempt_rows() + s.rejected.iter().map(|b| b.batch.num_rows()).sum::<usize>()
        };
        match self.inner.read() {
            Ok(s) => count(&s),
            Err(poisoned) => count(&poisoned.into_inner()),
        }
    }

    fn write(&self, f: impl FnOnce(&mut LiveSnapshot)) {
        match self.inner.write() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(partition: i32, first: i64, last: i64) -> LiveBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("o", DataType::Int64, false)]));
        let offsets = Int64Array::from_iter_values(first..=last);
        LiveBatch {
            topic: "t".into(),
            partition,
            first,
            last,
            batch: RecordBatch::try_new(schema, vec![Arc::new(offsets)]).unwrap(),
        }
    }

    fn range(partition: i32, first: i64, last: i64) -> FlushRange {
        FlushRange {
            topic: "t".into(),
            partition,
            first,
            last,
        }
    }

    #[test]
    fn release_drops_only_what_the_flush_covered() {
        let live = LiveRows::new();
        live.push_attempts(batch(0, 0, 9));
        live.push_attempts(batch(0, 10, 19));
        live.push_attempts(batch(1, 0, 4));
        live.push_rejected(batch(0, 5, 5));
        assert_eq!(live.rows(), 26);
        live.release("t", 0, 9);
        let s = live.snapshot();
        assert_eq!(s.attempt_rows(), 15);
        assert!(s.rejected.is_empty());
        live.release("other", 1, i64::MAX);
        assert_eq!(live.rows(), 15);
    }

    #[test]
    fn a_flush_landing_between_snapshot_and_listing_is_seen_once() {
        let live = LiveRows::new();
        live.push_attempts(batch(0, 0, 9));
        live.push_attempts(batch(0, 10, 19));
        let snap = live.snapshot();
        // The flush of 0..=9 lands (file written, then released) before the listing.
        live.release("t", 0, 9);
        let listed = [range(0, 0, 9)];
        let visible = snap.without_stored(&listed);
        assert_eq!(visible.attempts.len(), 1);
        assert_eq!(visible.attempts[0].first, 10);
        // Other partitions and topics are not covered by it.
        assert!(!batch(1, 0, 9).is_covered_by(&listed[0]));
    }
}
