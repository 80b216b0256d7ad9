//! Column builders for the `order_attempts` and `rejected_events` schemas.
//!
//! Dictionary columns are built by hand rather than with arrow's
//! `StringDictionaryBuilder`: a vocabulary column's dictionary starts as the
//! vocabulary itself, so a known value is one integer push; open columns intern
//! through a fast hash map. Both cost a fraction of the generic builder.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, NullBufferBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::Int32Type;
use model::schema::{order_attempts_schema, rejected_events_schema};
use model::vocab::{Channel, FailureCause, Outcome, PaymentMethod, Stage};

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

/// A dictionary column whose dictionary begins with a fixed vocabulary.
struct VocabBuilder {
    keys: Vec<i32>,
    nulls: NullBufferBuilder,
    vocab: &'static [&'static str],
    extra: Interner,
}

impl VocabBuilder {
    fn new(vocab: &'static [&'static str], rows: usize) -> Self {
        Self {
            keys: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
            vocab,
            extra: Interner::default(),
        }
    }

    fn append(&mut self, v: Option<&Vocab<'_>>) {
        match v {
            Some(Vocab::Known(i)) => {
                self.keys.push(*i as i32);
                self.nulls.append_non_null();
            }
            Some(Vocab::Unknown(s)) => {
                let k = self.vocab.len() as i32 + self.extra.intern(s);
                self.keys.push(k);
                self.nulls.append_non_null();
            }
            None => {
                self.keys.push(0);
                self.nulls.append_null();
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let mut values = StringBuilder::new();
        for v in self.vocab {
            values.append_value(v);
        }
        for v in self.extra.drain() {
            values.append_value(v);
        }
        dictionary(&mut self.keys, &mut self.nulls, values.finish())
    }
}

/// A dictionary column of open but repetitive strings.
struct InternBuilder {
    keys: Vec<i32>,
    nulls: NullBufferBuilder,
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
            nulls: NullBufferBuilder::new(rows),
            dict: Interner::default(),
        }
    }

    fn append(&mut self, v: Option<&str>) {
        match v {
            Some(s) => {
                self.keys.push(self.dict.intern(s));
                self.nulls.append_non_null();
            }
            None => {
                self.keys.push(0);
                self.nulls.append_null();
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let mut values = StringBuilder::new();
        for v in self.dict.drain() {
            values.append_value(v);
        }
        dictionary(&mut self.keys, &mut self.nulls, values.finish())
    }
}

fn dictionary(
    keys: &mut Vec<i32>,
    nulls: &mut NullBufferBuilder,
    values: StringArray,
) -> Result<ArrayRef> {
    let keys = Int32Array::new(std::mem::take(keys).into(), nulls.finish());
    let array = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))?;
    Ok(Arc::new(array))
}

/// Interns strings to dense `i32` ids in first-seen order.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, i32, foldhash::fast::RandomState>,
    order: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> i32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.order.len() as i32;
        let boxed: Box<str> = s.into();
        self.ids.insert(boxed.clone(), id);
        self.order.push(boxed);
        id
    }

    /// The interned strings in id order; empties the interner.
    fn drain(&mut self) -> std::vec::Drain<'_, Box<str>> {
        self.ids.clear();
        self.order.drain(..)
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
    latency_nulls: NullBufferBuilder,
    amount_minor: Vec<i64>,
    amount_nulls: NullBufferBuilder,
    currency: InternBuilder,
    attempt: Vec<i32>,
    attempt_nulls: NullBufferBuilder,
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
            latency_nulls: NullBufferBuilder::new(rows),
            amount_minor: Vec::with_capacity(rows),
            amount_nulls: NullBufferBuilder::new(rows),
            currency: InternBuilder::with_capacity(rows),
            attempt: Vec::with_capacity(rows),
            attempt_nulls: NullBufferBuilder::new(rows),
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
        self.event_id.append_value(&ev.event_id);
        self.ts.push(ev.ts_ms);
        self.outcome.append(Some(&Vocab::Known(ev.outcome.index())));
        self.channel.append(Some(&ev.channel));
        self.failure_cause.append(ev.failure_cause.as_ref());
        self.payment_method.append(ev.payment_method.as_ref());
        self.stage.append(ev.stage.as_ref());
        self.order_id.append_option(ev.order_id.as_deref());
        self.session_id.append_option(ev.session_id.as_deref());
        match &ev.user_id {
            Some(u) => {
                let mut buf = [0u8; 64];
                self.user_key.append_value(users.hash_hex(u, &mut buf));
            }
            None => self.user_key.append_null(),
        }
        self.error_code.append(ev.error_code.as_deref());
        self.error_message
            .append_option(ev.error_message.as_deref());
        self.region.append(ev.region.as_deref());
        self.locale.append(ev.locale.as_deref());
        self.app_version.append(ev.app_version.as_deref());
        self.os.append(ev.os.as_deref());
        self.browser.append(ev.browser.as_deref());
        self.network.append(ev.network.as_deref());
        push_opt(&mut self.latency_ms, &mut self.latency_nulls, ev.latency_ms);
        push_opt(
            &mut self.amount_minor,
            &mut self.amount_nulls,
            ev.amount_minor,
        );
        self.currency.append(ev.currency.as_deref());
        push_opt(&mut self.attempt, &mut self.attempt_nulls, ev.attempt);
        self.kafka_topic.append(Some(src.topic));
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
            Arc::new(Int64Array::new(
                std::mem::take(&mut self.latency_ms).into(),
                self.latency_nulls.finish(),
            )),
            Arc::new(Int64Array::new(
                std::mem::take(&mut self.amount_minor).into(),
                self.amount_nulls.finish(),
            )),
            self.currency.finish()?,
            Arc::new(Int32Array::new(
                std::mem::take(&mut self.attempt).into(),
                self.attempt_nulls.finish(),
            )),
            self.kafka_topic.finish()?,
            Arc::new(Int32Array::from(std::mem::take(&mut self.kafka_partition))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.kafka_offset))),
            ts(&mut self.ingested_at),
        ];
        Ok(RecordBatch::try_new(order_attempts_schema(), columns)?)
    }
}

fn push_opt<T: Default>(values: &mut Vec<T>, nulls: &mut NullBufferBuilder, v: Option<T>) {
    match v {
        Some(v) => {
            values.push(v);
            nulls.append_non_null();
        }
        None => {
            values.push(T::default());
            nulls.append_null();
        }
    }
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
