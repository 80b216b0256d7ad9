//! Duplicate `event_id`s over a bounded window of recent accepted events.
//!
//! Producers retry, so the same event can arrive twice. The window holds a
//! 128-bit keyed hash of each recently accepted id in two generations: new
//! ids go into the current one, and when it holds `capacity` ids it becomes
//! the previous one, and the old previous one, emptied, becomes current. So
//! the last `capacity` ids at least (and at most `2 × capacity - 1`) are
//! remembered, always the newest ones, and nothing is ever deleted one by
//! one: no eviction order to keep, no deleted entries to probe past.
//!
//! A generation keeps its hashes in arrival order and finds them through a
//! linear-probing table of eight-byte entries (see `Generation`), half the
//! size of a table of the hashes themselves, so that a lookup in the hot path
//! mostly touches one cache line of a smaller table: on the decode bench this
//! made the whole decoder ~10 % faster than hashbrown's set of hashes with a
//! ring of them for eviction.
//!
//! Memory: per generation, the hashes (16 bytes each, in a vector that grows
//! by doubling) and the table (the power of two at or above 8/7 × `capacity`
//! entries of 8 bytes): for the default window of 1 000 000 ids 2 × 33.5 MB,
//! for `orderpulse ingest`'s 250 000 per partition 2 × 8.4 MB. Older
//! duplicates than the window pass through; a false duplicate needs a
//! 128-bit collision under a per-process random seed, which does not happen.

use xxhash_rust::xxh3::xxh3_128_with_seed;

/// Default number of recent event ids remembered (at least).
pub const DEFAULT_DEDUP_WINDOW: usize = 1_000_000;

/// The window of recently accepted event ids.
#[derive(Debug)]
pub struct DedupWindow {
    seed: u64,
    capacity: usize,
    current: Generation,
    previous: Generation,
}

impl DedupWindow {
    /// A window of at least `capacity` ids (0 disables duplicate detection).
    pub fn new(capacity: usize) -> Self {
        Self {
            seed: rand::random(),
            capacity,
            current: Generation::default(),
            previous: Generation::default(),
        }
    }

    #[inline]
    fn hash(&self, event_id: &str) -> IdHash {
        IdHash(xxh3_128_with_seed(event_id.as_bytes(), self.seed))
    }

    /// The hash of `event_id`, with the table lines an insert of it will
    /// read already requested from memory: called before an event is
    /// validated, its window lookup then overlaps the validation instead of
    /// waiting on a cache miss (in a full window, one in each generation).
    #[inline]
    pub(crate) fn prefetch(&self, event_id: &str) -> IdHash {
        let h = self.hash(event_id);
        self.current.prefetch(h.0);
        self.previous.prefetch(h.0);
        h
    }

    /// Records `event_id`; returns false when it is already in the window.
    #[inline]
    pub fn insert(&mut self, event_id: &str) -> bool {
        self.insert_hash(self.hash(event_id))
    }

    /// [`DedupWindow::insert`] of the id `h` is the hash of (from
    /// [`DedupWindow::prefetch`]).
    #[inline]
    pub(crate) fn insert_hash(&mut self, IdHash(h): IdHash) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.previous.contains(h) || !self.current.insert(h) {
            return false;
        }
        if self.current.len() >= self.capacity {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        true
    }

    /// Whether `event_id` is in the window, without recording it.
    pub fn contains(&self, event_id: &str) -> bool {
        let IdHash(h) = self.hash(event_id);
        self.previous.contains(h) || self.current.contains(h)
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.previous.len() + self.current.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The window's keyed hash of one event id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHash(u128);

/// One generation: the hashes in arrival order, and a linear-probing table
/// that finds them by eight-byte entries (the top 32 bits of a hash and its
/// place in the list, plus one; 0 when empty), so the table is half the size
/// of one of the hashes themselves and a probe mostly stays in a cache line.
/// A whole hash is read only when its 32 bits match.
#[derive(Debug, Default)]
struct Generation {
    hashes: Vec<u128>,
    /// A power of two long (or empty), at most 7/8 full.
    slots: Vec<u64>,
}

impl Generation {
    #[inline(always)]
    fn tag(h: u128) -> u64 {
        ((h >> 96) as u64) << 32
    }

    /// The table entry of the `n`th hash, `h`.
    #[inline(always)]
    fn entry(h: u128, n: usize) -> u64 {
        Self::tag(h) | (n as u64 + 1)
    }

    /// The slot where a probe for `h` starts (the table is not empty).
    #[inline(always)]
    fn home(&self, h: u128) -> usize {
        h as usize & (self.slots.len() - 1)
    }

    /// The slot holding `h`, or the empty slot where it would go.
    #[inline]
    fn find(&self, h: u128) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let tag = Self::tag(h);
        let mut at = self.home(h);
        loop {
            let e = self.slots[at];
            if e == 0 {
                return (at, false);
            }
            if e & !0xFFFF_FFFF == tag && self.hashes.get((e as u32 - 1) as usize) == Some(&h) {
                return (at, true);
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks for the table line where a lookup of `h` starts.
    #[inline(always)]
    fn prefetch(&self, h: u128) {
        if !self.slots.is_empty() {
            prefetch_index::prefetch_index(&self.slots, self.home(h));
        }
    }

    #[inline]
    fn contains(&self, h: u128) -> bool {
        !self.slots.is_empty() && self.find(h).1
    }

    /// Adds `h`; false when it is already there.
    #[inline]
    fn insert(&mut self, h: u128) -> bool {
        if (self.hashes.len() + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let (at, found) = self.find(h);
        if found {
            return false;
        }
        self.slots[at] = Self::entry(h, self.hashes.len());
        self.hashes.push(h);
        true
    }

    /// Doubles the table and places every hash again, in arrival order.
    #[cold]
    fn grow(&mut self) {
        self.slots = vec![0; (self.slots.len() * 2).max(1024)];
        for n in 0..self.hashes.len() {
            let h = self.hashes[n];
            let (at, _) = self.find(h);
            self.slots[at] = Self::entry(h, n);
        }
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Empties the generation, keeping its memory.
    fn clear(&mut self) {
        self.slots.fill(0);
        self.hashes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_at_least_the_last_capacity_ids_and_at_most_twice_that() {
        let mut w = DedupWindow::new(3);
        assert!(w.insert("a"));
        assert!(!w.insert("a"));
        assert!(w.insert("b"));
        assert!(w.insert("c")); // the first generation is full: a, b, c
        assert!(w.insert("d"));
        assert!(w.insert("e"));
        assert_eq!(w.len(), 5);
        for id in ["a", "b", "c", "d", "e"] {
            assert!(w.contains(id), "{id}");
            assert!(!w.insert(id), "{id}");
        }
        assert!(w.insert("f")); // d, e, f become the previous generation
        assert_eq!(w.len(), 3);
        assert!(!w.contains("a"));
        assert!(w.insert("a"));
        assert!(!w.insert("d"));
    }

    proptest::proptest! {
        /// Against a model of the accepted ids: what is remembered is always
        /// the newest `len()` of them, with `capacity <= len() < 2 *
        /// capacity` once `capacity` were accepted; an id among them is a
        /// duplicate, any other is accepted.
        #[test]
        fn remembers_a_suffix_of_the_accepted_ids(
            capacity in 1usize..6,
            ids in proptest::collection::vec(0u8..12, 0..200),
        ) {
            let mut w = DedupWindow::new(capacity);
            let mut accepted: Vec<String> = Vec::new();
            for id in ids.iter().map(|i| format!("id-{i}")) {
                let len = w.len();
                let remembered = &accepted[accepted.len() - len..];
                proptest::prop_assert!(len >= capacity.min(accepted.len()));
                proptest::prop_assert!(len < 2 * capacity);
                let duplicate = remembered.contains(&id);
                proptest::prop_assert_eq!(w.contains(&id), duplicate);
                proptest::prop_assert_eq!(w.insert(&id), !duplicate, "{} after {:?}", id, accepted);
                if !duplicate {
                    accepted.push(id);
                }
            }
        }
    }

    #[test]
    fn a_generation_that_grows_still_finds_every_id() {
        // 5 000 ids: the first table of 1 024 slots doubles three times.
        let mut w = DedupWindow::new(10_000);
        let ids: Vec<String> = (0..5_000).map(|i| format!("id-{i}")).collect();
        assert!(ids.iter().all(|id| w.insert(id)));
        assert!(ids.iter().all(|id| !w.insert(id)));
        assert!(w.insert("one more"));
        assert_eq!(w.len(), 5_001);
    }

    #[test]
    fn zero_capacity_disables() {
        let mut w = DedupWindow::new(0);
        assert!(w.insert("a"));
        assert!(w.insert("a"));
        assert!(w.is_empty());
    }
}
