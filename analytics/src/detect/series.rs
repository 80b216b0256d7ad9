//! Per-slice counts over event time: one [`Series`] of minutes (for the
//! recent window) and one of 10-minute blocks (for the baseline).

use std::collections::VecDeque;

/// Attempts and failures of one slice in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub attempts: u64,
    pub failures: u64,
}

impl Counts {
    pub fn new(attempts: u64, failures: u64) -> Self {
        Self { attempts, failures }
    }

    pub fn rate(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.failures as f64 / self.attempts as f64
        }
    }
}

/// Buckets `origin..origin + len` of (attempts, failures); buckets never
/// written read as zero.
#[derive(Debug, Clone, Default)]
pub(crate) struct Series {
    origin: i64,
    data: VecDeque<(u32, u32)>,
}

/// A late event more than this many buckets before a series' first bucket
/// is not stored (it would make the series grow backwards without bound).
const MAX_BACKFILL: i64 = 4_096;

impl Series {
    /// Adds to bucket `idx`; false when it is too far in the past to keep.
    pub(crate) fn add(&mut self, idx: i64, attempts: u32, failures: u32) -> bool {
        if self.data.is_empty() {
            self.origin = idx;
        }
        if idx < self.origin {
            if self.origin - idx > MAX_BACKFILL {
                return false;
            }
            for _ in idx..self.origin {
                self.data.push_front((0, 0));
            }
            self.origin = idx;
        }
        let at = usize::try_from(idx - self.origin).unwrap_or(usize::MAX);
        if at >= self.data.len() {
            if at - self.data.len() > 1 << 24 {
                return false;
            }
            self.data.resize(at + 1, (0, 0));
        }
        let cell = &mut self.data[at];
        cell.0 = cell.0.saturating_add(attempts);
        cell.1 = cell.1.saturating_add(failures);
        true
    }

    /// The first bucket holding data, if any.
    pub(crate) fn first(&self) -> Option<i64> {
        (!self.data.is_empty()).then_some(self.origin)
    }

    pub(crate) fn get(&self, idx: i64) -> Counts {
        if idx < self.origin {
            return Counts::default();
        }
        match usize::try_from(idx - self.origin)
            .ok()
            .and_then(|i| self.data.get(i))
        {
            Some(&(a, f)) => Counts::new(u64::from(a), u64::from(f)),
            None => Counts::default(),
        }
    }

    /// Sum of buckets `from..to`.
    pub(crate) fn sum(&self, from: i64, to: i64) -> Counts {
        let mut c = Counts::default();
        for idx in from.max(self.origin)..to {
            let b = self.get(idx);
            c.attempts += b.attempts;
            c.failures += b.failures;
        }
        c
    }

    /// Forgets buckets before `idx`.
    pub(crate) fn trim_before(&mut self, idx: i64) {
        while self.origin < idx && !self.data.is_empty() {
            self.data.pop_front();
            self.origin += 1;
        }
    }
}
