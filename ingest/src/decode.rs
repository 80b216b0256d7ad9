//! One Kafka message value → accepted rows in Arrow column builders, plus
//! rejected records, by every rule of CONTRACT section 1.
//!
//! The [`Decoder`] is the hot path of ingest. Per message it checks the size
//! limit, validates UTF-8 (per line when the message is not valid as a whole,
//! so one bad line does not sink its neighbours), and splits NDJSON: a message
//! is first parsed as one JSON value (so a pretty-printed object spanning
//! lines is one event); only when that fails and it has several non-blank
//! lines is each line an event of its own. Each event then goes through
//! [`validate`](validate) (field types, required fields, the failure-cause
//! rule, timestamps against the injected clock, normalisation, vocabularies,
//! lengths, truncation), the duplicate window, and is appended to the batch.
//!
//! Nothing is dropped silently: every line becomes one accepted row, one
//! [`Rejected`] record, or one counted duplicate.

mod builder;
mod dedup;
mod raw;
mod timestamp;
mod user_key;
mod validate;

use arrow::array::RecordBatch;
use model::{Reason, VocabField};

pub use builder::{Rejected, Source, rejected_batch};
pub use dedup::{DEFAULT_DEDUP_WINDOW, DedupWindow};
pub use user_key::{DEMO_USER_KEY_SECRET, MIN_SECRET_BYTES, USER_KEY_SECRET_ENV, UserKeyHasher};
pub use validate::ERROR_MESSAGE_MAX_CHARS;

use crate::Result;
use builder::AttemptsBuilder;
use raw::{F, KeyOrder, Lent, RawEvent};
use timestamp::Rfc3339;

/// Largest message value accepted: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Longest rejection detail kept (parser messages can quote input).
const MAX_DETAIL_CHARS: usize = 256;

/// What one message turned into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageOutcome {
    pub accepted: u32,
    pub rejected: u32,
    pub duplicates: u32,
}

impl MessageOutcome {
    /// Events (or lines) the message held: accepted + rejected + duplicates.
    pub fn total(&self) -> u32 {
        self.accepted + self.rejected + self.duplicates
    }
}

/// Running totals since the decoder was created; ingest exports them as
/// Prometheus counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub messages: u64,
    pub accepted: u64,
    /// Indexed by [`Reason::index`].
    pub rejected: [u64; Reason::ALL.len()],
    pub duplicates: u64,
    /// Values outside their vocabulary, indexed by [`VocabField::index`].
    pub unknown_values: [u64; VocabField::ALL.len()],
    /// Object keys that are not CONTRACT fields.
    pub unknown_fields: u64,
    /// Events whose `error_message` was cut to 1024 characters.
    pub truncated_error_messages: u64,
}

impl DecodeStats {
    /// Rejections for one reason.
    pub fn rejected(&self, reason: Reason) -> u64 {
        self.rejected[reason.index()]
    }

    /// Rejections for every reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Unknown values seen for one field.
    pub fn unknown_values(&self, field: VocabField) -> u64 {
        self.unknown_values[field.index()]
    }
}

/// Decoder settings.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    /// Keyed hasher for `user_id` → `user_key`.
    pub user_keys: UserKeyHasher,
    /// Recent event ids remembered for duplicate detection: at least this
    /// many, at most twice (0 disables).
    pub dedup_window: usize,
}

impl DecoderConfig {
    /// Settings with the default duplicate window.
    pub fn new(user_keys: UserKeyHasher) -> Self {
        Self {
            user_keys,
            dedup_window: DEFAULT_DEDUP_WINDOW,
        }
    }
}

/// Turns message values into `order_attempts` rows and rejected records.
pub struct Decoder {
    users: UserKeyHasher,
    dedup: DedupWindow,
    rows: AttemptsBuilder,
    rejected: Vec<Rejected>,
    stats: DecodeStats,
    /// The key order of recent objects, which the JSON fast pass expects.
    key_order: KeyOrder,
    /// Reads `ts` strings, remembering the last few hours.
    rfc3339: Rfc3339,
}

impl Decoder {
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            users: config.user_keys,
            dedup: DedupWindow::new(config.dedup_window),
            rows: AttemptsBuilder::with_capacity(1024),
            rejected: Vec::new(),
            stats: DecodeStats::default(),
            key_order: KeyOrder::default(),
            rfc3339: Rfc3339::default(),
        }
    }

    /// Decodes one message value from `src`.
    pub fn decode(&mut self, value: &[u8], src: &Source<'_>) -> MessageOutcome {
        self.stats.messages += 1;
        let mut out = MessageOutcome::default();
        if value.len() > MAX_MESSAGE_BYTES {
            let detail = format!(
                "message value is {} bytes, the limit is {MAX_MESSAGE_BYTES}",
                value.len()
            );
            self.reject(&mut out, src, 0, Reason::MessageTooLarge, detail, value);
            return out;
        }
        match simdutf8::basic::from_utf8(value) {
            Ok(text) => self.decode_text(text, src, &mut out),
            Err(_) => self.decode_invalid_utf8(value, src, &mut out),
        }
        out
    }

    /// Puts an already-stored event id into the duplicate window, as if it had
    /// just been accepted: a worker that takes a partition over seeds its
    /// window from the stored files, so a retry whose original was stored
    /// before a restart or rebalance is still recognised as a duplicate.
    pub fn remember(&mut self, event_id: &str) {
        self.dedup.insert(event_id);
    }

    /// Rows accepted since the last [`Decoder::finish_batch`].
    pub fn pending_rows(&self) -> usize {
        self.rows.len()
    }

    /// The accepted rows so far as one batch; the builder starts empty again.
    pub fn finish_batch(&mut self) -> Result<RecordBatch> {
        self.rows.finish()
    }

    /// The rejected records so far; the list starts empty again.
    pub fn take_rejected(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rejected)
    }

    /// Running totals.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// The totals since the last call; counting starts again from zero.
    pub fn take_stats(&mut self) -> DecodeStats {
        std::mem::take(&mut self.stats)
    }

    fn decode_text(&mut self, text: &str, src: &Source<'_>, out: &mut MessageOutcome) {
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            let detail = "empty message".to_string();
            self.reject(out, src, 0, Reason::InvalidJson, detail, text.as_bytes());
            return;
        }
        // One value, whether on one line or pretty-printed over several. Only
        // when that fails and the text has several lines is it NDJSON (the
        // newline test is left to this rare path).
        let mut ev = RawEvent::default();
        match raw::parse(trimmed, &mut ev, &mut self.key_order) {
            Ok(shape) => {
                self.accept_or_reject(shape, &ev, trimmed, src, 0, out);
                return;
            }
            Err(e) if !trimmed.contains('\n') => {
                let detail = clip(&e);
                self.reject(out, src, 0, Reason::InvalidJson, detail, trimmed.as_bytes());
                return;
            }
            Err(_) => {}
        }
        for (n, line) in text.split('\n').enumerate() {
            let line = line.trim_ascii();
            if !line.is_empty() {
                self.decode_line(line, src, n as u32, out);
            }
        }
    }

    fn decode_invalid_utf8(&mut self, value: &[u8], src: &Source<'_>, out: &mut MessageOutcome) {
        let mut lines = 0;
        for (n, line) in value.split(|&b| b == b'\n').enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            lines += 1;
            match simdutf8::compat::from_utf8(line) {
                Ok(text) => self.decode_line(text, src, n as u32, out),
                Err(e) => {
                    let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                    self.reject(out, src, n as u32, Reason::InvalidUtf8, detail, line);
                }
            }
        }
        if lines == 0 {
            // Only reachable for a value whose invalid bytes were all
            // whitespace-trimmed away, which cannot happen; stay total anyway.
            let detail = "invalid UTF-8".to_string();
            self.reject(out, src, 0, Reason::InvalidUtf8, detail, value);
        }
    }

    fn decode_line(&mut self, line: &str, src: &Source<'_>, n: u32, out: &mut MessageOutcome) {
        let mut ev = RawEvent::default();
        match raw::parse(line, &mut ev, &mut self.key_order) {
            Ok(shape) => self.accept_or_reject(shape, &ev, line, src, n, out),
            Err(e) => {
                let detail = clip(&e);
                self.reject(out, src, n, Reason::InvalidJson, detail, line.as_bytes());
            }
        }
    }

    /// Judges one parsed line: `shape` is `None` for an object (held in `raw`).
    fn accept_or_reject<'a>(
        &mut self,
        shape: Option<&'static str>,
        raw: &RawEvent<'a>,
        line: &'a str,
        src: &Source<'_>,
        n: u32,
        out: &mut MessageOutcome,
    ) {
        if let Some(kind) = shape {
            let detail = format!("expected a JSON object, got {kind}");
            self.reject(out, src, n, Reason::NotAnObject, detail, line.as_bytes());
            return;
        }
        // The id's window lines load while the event is validated.
        let early = match raw.val(F::EventId) {
            Lent::Str(id) => Some((id, self.dedup.prefetch(id))),
            _ => None,
        };
        match validate::validate(raw, src.now_ms, &mut self.rfc3339) {
            Ok(ev) => {
                let fresh = match early {
                    // The validated id is the very text hashed above.
                    Some((id, h)) if std::ptr::eq(id, ev.event_id) => self.dedup.insert_hash(h),
                    _ => self.dedup.insert(ev.event_id),
                };
                if !fresh {
                    self.stats.duplicates += 1;
                    out.duplicates += 1;
                    return;
                }
                for field in ev.unknown_values() {
                    self.stats.unknown_values[field.index()] += 1;
                }
                self.stats.unknown_fields += u64::from(ev.unknown_fields);
                self.stats.truncated_error_messages += u64::from(ev.error_message_truncated);
                self.rows.append(&ev, src, &self.users);
                self.stats.accepted += 1;
                out.accepted += 1;
            }
            Err(refusal) => {
                self.reject(out, src, n, refusal.reason, refusal.detail, line.as_bytes());
            }
        }
    }

    fn reject(
        &mut self,
        out: &mut MessageOutcome,
        src: &Source<'_>,
        line: u32,
        reason: Reason,
        detail: String,
        raw: &[u8],
    ) {
        self.stats.rejected[reason.index()] += 1;
        out.rejected += 1;
        self.rejected.push(Rejected {
            reason,
            detail,
            raw: raw.to_vec(),
            topic: src.topic.to_string(),
            partition: src.partition,
            offset: src.offset,
            line,
            ingested_at_ms: src.now_ms,
        });
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The JSON layer, exposed only so the benchmark can time it against general
/// JSON parsers. Not a stable API.
#[doc(hidden)]
pub mod bench_support {
    /// The decoder's JSON layer alone.
    #[derive(Default)]
    pub struct Parser(super::raw::KeyOrder);

    impl Parser {
        /// Parses one line as the decoder does (the fast pass, learning the
        /// key order, else the scanner); true for an object.
        pub fn parse(&mut self, line: &str) -> bool {
            let mut ev = super::raw::RawEvent::default();
            matches!(super::raw::parse(line, &mut ev, &mut self.0), Ok(None))
        }
    }
}

#[cfg(test)]
mod tests;
