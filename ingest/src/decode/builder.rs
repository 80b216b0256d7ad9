//! Column builders for the `order_attempts` and `rejected_events` schemas.
//!
//! Dictionary columns are built by hand rather than with arrow's
//! `StringDictionaryBuilder`: a vocabulary column's dictionary starts as the
//! vocabulary itself, so a known value is one integer push; open columns intern
//! through a fast hash map. Both cost a fraction of the generic builder.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, PrimitiveArray, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow::datatypes::{ArrowPrimitiveType, Int32Type, Int64Type};
use model::schema::{order_attempts_schema, rejected_events_schema};
use model::vocab::{Channel, FailureCause, Outcome, PaymentMethod, Stage};
use wide::{i32x8, i64x4};

use super::user_key::UserKeyHasher;
use super::validate::{Event, Vocab};
use crate::Result;

/// Where a record came from, and when it was ingested.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The ingest clock, UTC epoch milliseconds: `ingested_at`, and the
    /// reference of the "not more than 24 h ahead" rule.
    pub now_ms: i64,
}

/// The null buffer of a column whose null rows hold `-1`, a value no valid
/// row has (dictionary keys, and integers validated to be at least 0), with
/// those rows set to 0 as arrow's own builders leave them; `None` when no
/// row is null. One pass at `finish` instead of a bit pushed per row: a null
/// row is one whose sign bit is set, so eight rows' validity is one byte of
/// SIMD sign masks.
fn take_nulls<T: Sentinel>(values: &mut [T]) -> Option<NullBuffer> {
    let mut bytes = Vec::with_capacity(values.len().div_ceil(8));
    let mut any_null = 0u8;
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        let negative = T::signs8(chunk);
        any_null |= negative;
        bytes.push(!negative);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Padded with zeros, which are valid (their bits lie past the end).
        let mut padded = [T::default(); 8];
        padded[..rest.len()].copy_from_slice(rest);
        let negative = T::signs8(&padded);
        any_null |= negative;
        bytes.push(!negative);
    }
    if any_null == 0 {
        return None;
    }
    for v in values.iter_mut() {
        *v = v.or_zero();
    }
    let valid = BooleanBuffer::new(Buffer::from_vec(bytes), 0, values.len());
    Some(NullBuffer::new(valid))
}

/// A column value type with `-1` for null (see [`take_nulls`]).
trait Sentinel: Copy + Ord + Default {
    /// Bit `i` set when `chunk[i]` (of 8) is negative.
    fn signs8(chunk: &[Self]) -> u8;

    /// The value, or 0 for a negative one.
    #[inline(always)]
    fn or_zero(self) -> Self {
        self.max(Self::default())
    }
}

impl Sentinel for i32 {
    #[inline(always)]
    fn signs8(chunk: &[i32]) -> u8 {
        let mut a = [0i32; 8];
        a.copy_from_slice(chunk);
        i32x8::new(a).move_mask() as u8
    }
}

impl Sentinel for i64 {
    #[inline(always)]
    fn signs8(chunk: &[i64]) -> u8 {
        let (mut lo, mut hi) = ([0i64; 4], [0i64; 4]);
        lo.copy_from_slice(&chunk[..4]);
        hi.copy_from_slice(&chunk[4..]);
        (i64x4::new(lo).move_mask() | (i64x4::new(hi).move_mask() << 4)) as u8
    }
}

/// A dictionary column whose dictionary begins with a fixed vocabulary.
struct VocabBuilder {
    /// `-1` for a null row.
    keys: Vec<i32>,
    vocab: &'static [&'static str],
    extra: Interner,
}

impl VocabBuilder {
    fn new(vocab: &'static [&'static str], rows: usize) -> Self {
        Self {
            keys: Vec::with_capacity(rows),
            vocab,
            extra: Interner::default(),
        }
    }

    /// A known value: its index in the vocabulary.
    #[inline]
    fn append_known(&mut self, i: usize) {
        self.keys.push(i as i32);
    }

    #[inline]
    fn append(&mut self, v: Option<&Vocab<'_>>) {
        let key = match v {
            Some(Vocab::Known(i)) => *i as i32,
            Some(Vocab::Unknown(s)) => self.vocab.len() as i32 + self.extra.intern(s),
            None => -1,
        };
        self.keys.push(key);
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let mut values = StringBuilder::new();
        for v in self.vocab {
            values.append_value(v);
        }
        self.extra.drain_into(&mut values);
        dictionary(&mut self.keys, values.finish())
    }
}

/// A dictionary column of open but repetitive strings.
struct InternBuilder {
    /// `-1` for a null row.
    keys: Vec<i32>,
    dict: Interner,
}

impl Default for InternBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl InternBuilder {
    fn with_capacity(rows: usize) -> Self {
        Self {
            keys: Vec::with_capacity(rows),
            dict: Interner::default(),
        }
    }

    #[inline]
    fn append(&mut self, v: Option<&str>) {
        let key = match v {
            Some(s) => self.dict.intern(s),
            None => -1,
        };
        self.keys.push(key);
    }

    /// For a column that nearly always repeats its previous value.
    #[inline]
    fn append_repeating(&mut self, s: &str) {
        let key = match self.keys.last() {
            Some(&k) if self.dict.get(k) == Some(s) => k,
            _ => self.dict.intern(s),
        };
        self.keys.push(key);
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let mut values = StringBuilder::new();
        self.dict.drain_into(&mut values);
        dictionary(&mut self.keys, values.finish())
    }
}

fn dictionary(keys: &mut Vec<i32>, values: StringArray) -> Result<ArrayRef> {
    let mut keys = std::mem::take(keys);
    let nulls = take_nulls(&mut keys);
    let keys = Int32Array::new(keys.into(), nulls);
    let array = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))?;
    Ok(Arc::new(array))
}

/// Interns strings to dense `i32` ids in first-seen order: an open-addressing
/// table of ids over one buffer of the strings. Each entry keeps its hash and,
/// for strings of up to 16 bytes (nearly all of them), two words that with the
/// length identify the string, so a probe compares words, not bytes.
struct Interner {
    /// Random per interner: the hash of short strings is seeded with them.
    seeds: (u64, u64),
    hasher: foldhash::fast::RandomState,
    /// `id + 1` per slot, 0 when empty; a power of two long, at most half full.
    slots: Vec<u32>,
    /// Per id: its key, and where its string ends in `bytes`.
    keys: Vec<Key>,
    ends: Vec<usize>,
    bytes: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    hash: u64,
    len: usize,
    words: (u64, u64),
}

/// The eight little-endian bytes of `b` at `at` (which the caller keeps in range).
#[inline(always)]
fn word8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(chunk) = b.get(at..at + 8) {
        w.copy_from_slice(chunk);
    }
    u64::from_le_bytes(w)
}

#[inline(always)]
fn word4(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    if let Some(chunk) = b.get(at..at + 4) {
        w.copy_from_slice(chunk);
    }
    u64::from(u32::from_le_bytes(w))
}

/// Two words that, with its length, identify a string of up to 16 bytes
/// (first and last eight, four, or the first, middle and last byte).
#[inline(always)]
fn short_words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        (word8(b, 0), word8(b, n - 8))
    } else if n >= 4 {
        (word4(b, 0) | (word4(b, n - 4) << 32), 0)
    } else if n > 0 {
        let (x, y, z) = (b[0], b[n / 2], b[n - 1]);
        (u64::from(x) | (u64::from(y) << 8) | (u64::from(z) << 16), 0)
    } else {
        (0, 0)
    }
}

/// The high and low halves of the 128-bit product, folded.
#[inline(always)]
fn fold_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Default for Interner {
    fn default() -> Self {
        Self {
            seeds: (rand::random(), rand::random()),
            hasher: foldhash::fast::RandomState::default(),
            slots: Vec::new(),
            keys: Vec::new(),
            ends: Vec::new(),
            bytes: String::new(),
        }
    }
}

impl Interner {
    /// The string of `id`, if there is one.
    #[inline]
    fn get(&self, id: i32) -> Option<&str> {
        let id = usize::try_from(id).ok()?;
        let end = *self.ends.get(id)?;
        let start = match id {
            0 => 0,
            _ => self.ends[id - 1],
        };
        self.bytes.get(start..end)
    }

    /// The key of `s`: words and a seeded hash of them for a short string,
    /// foldhash of the bytes for a longer one.
    #[inline(always)]
    fn key(&self, s: &str) -> Key {
        let b = s.as_bytes();
        if b.len() <= 16 {
            let words = short_words(b);
            let hash = fold_mul(
                words.0 ^ self.seeds.0,
                words.1 ^ self.seeds.1 ^ b.len() as u64,
            );
            Key {
                hash,
                len: b.len(),
                words,
            }
        } else {
            Key {
                hash: self.hasher.hash_one(s),
                len: b.len(),
                words: (0, 0),
            }
        }
    }

    #[inline]
    fn intern(&mut self, s: &str) -> i32 {
        let key = self.key(s);
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = key.hash as usize & mask;
        if !self.slots.is_empty() {
            loop {
                let id = self.slots[at] as usize;
                if id == 0 {
                    break;
                }
                let id = id - 1;
                if self.keys[id] == key && (key.len <= 16 || self.get(id as i32) == Some(s)) {
                    return id as i32;
                }
                at = (at + 1) & mask;
            }
        }
        self.insert(s, key)
    }

    #[cold]
    fn insert(&mut self, s: &str, key: Key) -> i32 {
        let id = self.keys.len();
        self.bytes.push_str(s);
        self.keys.push(key);
        self.ends.push(self.bytes.len());
        if (id + 1) * 2 > self.slots.len() {
            self.rehash();
        } else {
            self.place(id, key.hash);
        }
        id as i32
    }

    /// Grows the table and places every id again.
    fn rehash(&mut self) {
        let size = (self.keys.len() * 4).next_power_of_two().max(16);
        self.slots = vec![0; size];
        for id in 0..self.keys.len() {
            self.place(id, self.keys[id].hash);
        }
    }

    fn place(&mut self, id: usize, h: u64) {
        let mask = self.slots.len() - 1;
        let mut at = h as usize & mask;
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = id as u32 + 1;
    }

    /// Appends the interned strings in id order to `out`; empties the interner.
    fn drain_into(&mut self, out: &mut StringBuilder) {
        let mut start = 0;
        for &end in &self.ends {
            out.append_value(&self.bytes[start..end]);
            start = end;
        }
        self.slots.clear();
        self.keys.clear();
        self.ends.clear();
        self.bytes.clear();
    }
}

/// Accumulates accepted events as `order_attempts` columns.
pub(crate) struct AttemptsBuilder {
    len: usize,
    event_id: StringBuilder,
    ts: Vec<i64>,
    outcome: VocabBuilder,
    channel: VocabBuilder,
    failure_cause: VocabBuilder,
    payment_method: VocabBuilder,
    stage: VocabBuilder,
    order_id: StringBuilder,
    session_id: StringBuilder,
    user_key: StringBuilder,
    error_code: InternBuilder,
    error_message: StringBuilder,
    region: InternBuilder,
    locale: InternBuilder,
    app_version: InternBuilder,
    os: InternBuilder,
    browser: InternBuilder,
    network: InternBuilder,
    latency_ms: Vec<i64>,
    amount_minor: Vec<i64>,
    currency: InternBuilder,
    attempt: Vec<i32>,
    kafka_topic: InternBuilder,
    kafka_partition: Vec<i32>,
    kafka_offset: Vec<i64>,
    ingested_at: Vec<i64>,
}

macro_rules! vocab_strs {
    ($t:ty) => {{
        const N: usize = <$t>::ALL.len();
        static STRS: std::sync::LazyLock<[&'static str; N]> =
            std::sync::LazyLock::new(|| std::array::from_fn(|i| <$t>::ALL[i].as_str()));
        &*STRS
    }};
}

impl AttemptsBuilder {
    /// An empty builder with room for `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        let strings = |bytes_per_row| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        Self {
            len: 0,
            event_id: strings(32),
            ts: Vec::with_capacity(rows),
            outcome: VocabBuilder::new(vocab_strs!(Outcome), rows),
            channel: VocabBuilder::new(vocab_strs!(Channel), rows),
            failure_cause: VocabBuilder::new(vocab_strs!(FailureCause), rows),
            payment_method: VocabBuilder::new(vocab_strs!(PaymentMethod), rows),
            stage: VocabBuilder::new(vocab_strs!(Stage), rows),
            order_id: strings(24),
            session_id: strings(24),
            user_key: strings(64),
            error_code: InternBuilder::with_capacity(rows),
            error_message: strings(16),
            region: InternBuilder::with_capacity(rows),
            locale: InternBuilder::with_capacity(rows),
            app_version: InternBuilder::with_capacity(rows),
            os: InternBuilder::with_capacity(rows),
            browser: InternBuilder::with_capacity(rows),
            network: InternBuilder::with_capacity(rows),
            latency_ms: Vec::with_capacity(rows),
            amount_minor: Vec::with_capacity(rows),
            currency: InternBuilder::with_capacity(rows),
            attempt: Vec::with_capacity(rows),
            kafka_topic: InternBuilder::with_capacity(rows),
            kafka_partition: Vec::with_capacity(rows),
            kafka_offset: Vec::with_capacity(rows),
            ingested_at: Vec::with_capacity(rows),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn append(&mut self, ev: &Event<'_>, src: &Source<'_>, users: &UserKeyHasher) {
        self.len += 1;
        self.event_id.append_value(ev.event_id);
        self.ts.push(ev.ts_ms);
        self.outcome.append_known(ev.outcome.index());
        self.channel.append(Some(&ev.channel));
        self.failure_cause.append(ev.failure_cause.as_ref());
        self.payment_method.append(ev.payment_method.as_ref());
        self.stage.append(ev.stage.as_ref());
        self.order_id.append_option(ev.order_id);
        self.session_id.append_option(ev.session_id);
        match &ev.user_id {
            Some(u) => {
                let mut buf = [0u8; 64];
                self.user_key.append_value(users.hash_hex(u, &mut buf));
            }
            None => self.user_key.append_null(),
        }
        self.error_code.append(ev.error_code);
        self.error_message.append_option(ev.error_message);
        self.region.append(ev.region);
        self.locale.append(ev.locale);
        self.app_version.append(ev.app_version);
        self.os.append(ev.os);
        self.browser.append(ev.browser);
        self.network.append(ev.network);
        push_opt(&mut self.latency_ms, ev.latency_ms);
        push_opt(&mut self.amount_minor, ev.amount_minor);
        self.currency.append(ev.currency);
        push_opt(&mut self.attempt, ev.attempt);
        self.kafka_topic.append_repeating(src.topic);
        self.kafka_partition.push(src.partition);
        self.kafka_offset.push(src.offset);
        self.ingested_at.push(src.now_ms);
    }

    /// Turns what was appended into a batch and starts empty again, with room
    /// for as many rows as this batch had.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch> {
        let rows = self.len;
        std::mem::replace(self, Self::with_capacity(rows)).into_batch()
    }

    fn into_batch(mut self) -> Result<RecordBatch> {
        let ts = |v: &mut Vec<i64>| -> ArrayRef {
            Arc::new(
                TimestampMillisecondArray::new(std::mem::take(v).into(), None).with_timezone("UTC"),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            ts(&mut self.ts),
            self.outcome.finish()?,
            self.channel.finish()?,
            self.failure_cause.finish()?,
            self.payment_method.finish()?,
            self.stage.finish()?,
            Arc::new(self.order_id.finish()),
            Arc::new(self.session_id.finish()),
            Arc::new(self.user_key.finish()),
            self.error_code.finish()?,
            Arc::new(self.error_message.finish()),
            self.region.finish()?,
            self.locale.finish()?,
            self.app_version.finish()?,
            self.os.finish()?,
            self.browser.finish()?,
            self.network.finish()?,
            int_column::<Int64Type>(&mut self.latency_ms),
            int_column::<Int64Type>(&mut self.amount_minor),
            self.currency.finish()?,
            int_column::<Int32Type>(&mut self.attempt),
            self.kafka_topic.finish()?,
            Arc::new(Int32Array::from(std::mem::take(&mut self.kafka_partition))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.kafka_offset))),
            ts(&mut self.ingested_at),
        ];
        Ok(RecordBatch::try_new(order_attempts_schema(), columns)?)
    }
}

/// An optional integer validated to be at least 0: `-1` marks a null row
/// (see [`take_nulls`]).
#[inline]
fn push_opt<T: From<i8> + PartialOrd + Default>(values: &mut Vec<T>, v: Option<T>) {
    debug_assert!(v.as_ref().is_none_or(|n| *n >= T::default()));
    values.push(v.unwrap_or(T::from(-1)));
}

/// An integer column from [`push_opt`]'s values.
fn int_column<T: ArrowPrimitiveType<Native: Sentinel>>(values: &mut Vec<T::Native>) -> ArrayRef {
    let mut values = std::mem::take(values);
    let nulls = take_nulls(&mut values);
    Arc::new(PrimitiveArray::<T>::new(values.into(), nulls))
}

/// One rejected record (or NDJSON line) with its reason and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: model::Reason,
    /// Which field and what was wrong, in words.
    pub detail: String,
    /// The original bytes (the whole message, or the one line).
    pub raw: Vec<u8>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Position of the line within an NDJSON message (0 otherwise).
    pub line: u32,
    pub ingested_at_ms: i64,
}

/// Builds a `rejected_events` batch (`raw` as lossy UTF-8 text).
pub fn rejected_batch(rows: &[Rejected]) -> Result<RecordBatch> {
    let mut reason = InternBuilder::default();
    let mut detail = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut topic = InternBuilder::default();
    for r in rows {
        reason.append(Some(r.reason.as_str()));
        detail.append_value(&r.detail);
        raw.append_value(String::from_utf8_lossy(&r.raw));
        topic.append(Some(&r.topic));
    }
    let columns: Vec<ArrayRef> = vec![
        reason.finish()?,
        Arc::new(detail.finish()),
        Arc::new(raw.finish()),
        topic.finish()?,
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.partition),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.offset))),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.ingested_at_ms))
                .with_timezone("UTC"),
        ),
    ];
    Ok(RecordBatch::try_new(rejected_events_schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn interner_gives_dense_ids_in_first_seen_order_across_growth() {
        let mut i = Interner::default();
        let words: Vec<String> = (0..1000).map(|n| format!("w{n}")).collect();
        for (n, w) in words.iter().enumerate() {
            assert_eq!(i.intern(w), n as i32);
        }
        assert_eq!(i.intern(""), 1000);
        for (n, w) in words.iter().enumerate().rev() {
            assert_eq!(i.intern(w), n as i32);
            assert_eq!(i.get(n as i32), Some(w.as_str()));
        }
        assert_eq!(i.get(1001), None);
        assert_eq!(i.get(-1), None);
        let mut out = StringBuilder::new();
        i.drain_into(&mut out);
        let values = out.finish();
        assert_eq!(values.len(), 1001);
        assert_eq!(values.value(7), "w7");
        assert_eq!(values.value(1000), "");
        assert_eq!(i.intern("w5"), 0);
    }

    #[test]
    fn interner_tells_apart_strings_that_share_their_ends() {
        // Short strings are compared by their first and last bytes and length:
        // every string of up to 16 bytes over a small alphabet gets its own id.
        let mut i = Interner::default();
        let mut all = Vec::new();
        for len in 0..=17 {
            for seed in 0..40u32 {
                let s: String = (0..len)
                    .map(|k| char::from(b'a' + ((seed >> (k % 5)) as u8 + k as u8) % 3))
                    .collect();
                all.push(s);
            }
        }
        all.extend(["é", "éa", "aé", "\u{0}", "\u{0}\u{0}", "a\u{0}"].map(String::from));
        let mut ids = std::collections::HashMap::new();
        for s in &all {
            let id = i.intern(s);
            let expected = *ids.entry(s.clone()).or_insert(id);
            assert_eq!(id, expected, "{s:?}");
            assert_eq!(i.get(id), Some(s.as_str()));
        }
    }

    #[test]
    fn nulls_from_the_sentinel_match_arrow_bit_order_and_are_none_without_nulls() {
        let mut all_valid: Vec<i32> = (0..130).collect();
        assert!(take_nulls(&mut all_valid).is_none());
        assert_eq!(all_valid, (0..130).collect::<Vec<_>>());
        // Lengths with and without a tail shorter than the 8-row chunks, a
        // null in the tail, and both value types.
        for len in [1, 7, 8, 9, 64, 65, 200, 203] {
            let pattern: Vec<bool> = (0..len).map(|n| n % 3 != 0 && n != 64).collect();
            let mut values: Vec<i64> = pattern
                .iter()
                .enumerate()
                .map(|(n, &valid)| if valid { n as i64 } else { -1 })
                .collect();
            let mut keys: Vec<i32> = values.iter().map(|&v| v as i32).collect();
            for nulls in [take_nulls(&mut values), take_nulls(&mut keys)] {
                let nulls = nulls.expect("has nulls");
                assert_eq!(nulls.len(), len);
                let got: Vec<bool> = (0..len).map(|n| nulls.is_valid(n)).collect();
                assert_eq!(got, pattern, "{len} rows");
                assert_eq!(nulls.null_count(), pattern.iter().filter(|b| !**b).count());
            }
            assert!(values.iter().all(|&v| v >= 0), "null rows are set to 0");
            assert!(keys.iter().all(|&v| v >= 0), "null rows are set to 0");
            let kept = |n: usize, v: i64| !pattern[n] || v == n as i64;
            assert!(values.iter().enumerate().all(|(n, &v)| kept(n, v)));
        }
    }

    #[test]
    fn repeating_column_interns_changes() {
        let mut b = InternBuilder::default();
        for t in ["a", "a", "b", "a", "b", "b"] {
            b.append_repeating(t);
        }
        assert_eq!(b.keys, [0, 0, 1, 0, 1, 1]);
    }
}
