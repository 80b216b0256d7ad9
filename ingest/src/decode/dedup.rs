//! Duplicate `event_id`s over a bounded window of recent accepted events.
//!
//! Producers retry, so the same event can arrive twice. The window holds a
//! 128-bit keyed hash of each of the last `capacity` accepted ids: a ring
//! buffer gives the eviction order, a hash set the membership test. Memory is
//! about 52 bytes per id (16 in the ring, ~36 in the set at hashbrown's load
//! factor), so the default window of 1 000 000 ids costs about 52 MB. Older
//! duplicates than that pass through; a false duplicate needs a 128-bit
//! collision under a per-process random seed, which does not happen.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Default number of recent event ids remembered.
pub const DEFAULT_DEDUP_WINDOW: usize = 1_000_000;

/// The window of recently accepted event ids.
#[derive(Debug)]
pub struct DedupWindow {
    seed: u64,
    capacity: usize,
    ring: VecDeque<u128>,
    set: HashSet<u128, BuildHasherDefault<PassThrough>>,
}

impl DedupWindow {
    /// A window of `capacity` ids (0 disables duplicate detection).
    pub fn new(capacity: usize) -> Self {
        let seed = rand::random();
        Self {
            seed,
            capacity,
            ring: VecDeque::new(),
            set: HashSet::default(),
        }
    }

    /// Records `event_id`; returns false when it is already in the window.
    pub fn insert(&mut self, event_id: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let h = xxhash_rust::xxh3::xxh3_128_with_seed(event_id.as_bytes(), self.seed);
        if !self.set.insert(h) {
            return false;
        }
        if self.ring.len() == self.capacity
            && let Some(old) = self.ring.pop_front()
        {
            self.set.remove(&old);
        }
        self.ring.push_back(h);
        true
    }

    /// Whether `event_id` is in the window, without recording it.
    pub fn contains(&self, event_id: &str) -> bool {
        let h = xxhash_rust::xxh3::xxh3_128_with_seed(event_id.as_bytes(), self.seed);
        self.set.contains(&h)
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

/// The keys are already uniform 128-bit hashes: use their low 64 bits.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, i: u128) {
        self.0 = i as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_repeats_within_the_window_and_forgets_beyond_it() {
        let mut w = DedupWindow::new(3);
        assert!(w.insert("a"));
        assert!(!w.insert("a"));
        assert!(w.insert("b"));
        assert!(w.insert("c"));
        assert!(w.insert("d")); // evicts "a"
        assert_eq!(w.len(), 3);
        assert!(!w.contains("a"));
        assert!(w.insert("a"));
        assert!(!w.insert("d"));
    }

    #[test]
    fn zero_capacity_disables() {
        let mut w = DedupWindow::new(0);
        assert!(w.insert("a"));
        assert!(w.insert("a"));
        assert!(w.is_empty());
    }
}
