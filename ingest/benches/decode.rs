//! Decoder throughput on simulator traffic, against arrow-json as the peer.
//!
//! `cargo bench -p ingest --bench decode`. Every benchmark decodes the same
//! 100 000 simulator events (~413 bytes each); throughput is in events/s.
//! - `decode/orderpulse`: our decoder, every CONTRACT rule, user-key HMAC,
//!   duplicate window, batches of 8 192 rows finished as Arrow.
//! - `decode/arrow_json`: arrow-json's `ReaderBuilder` decoder on the same
//!   bytes (as NDJSON), no validation: the peer. arrow-json 59 cannot decode
//!   into dictionary types, so it decodes those columns as `Utf8` (cheaper
//!   than what we build); `decode/arrow_json_cast_to_dictionaries` adds the
//!   cast to our exact column types.
//! - `parse/*`: just the JSON layer: the decoder's own (`scanner`: its fast
//!   pass, else the scanner), and the same work (capture the 22 known
//!   fields, borrowed strings, skip the rest) done through a serde visitor by
//!   sonic-rs, serde_json and simd-json — the measurement behind writing the
//!   scanner.
//!
//! `DECODE_PAIRS=N` runs N side-by-side rounds instead (see [`paired_rounds`]).
//! Each round (and criterion iteration) starts with an empty duplicate window
//! (the same events are decoded every time); `DECODE_PREFILL=1500000` fills
//! it first, for the steady state of a long-running ingest (see [`decoder`]).

use std::hint::black_box;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use ingest::decode::bench_support::Parser;
use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher};
use ingest::simulate::{SimConfig, Simulator};
use model::schema::{dict_type, ts_type};

const EVENTS: usize = 100_000;
const BATCH_ROWS: usize = 8192;
/// 2026-11-01T00:00:00Z: simulated event time starts here.
const START_MS: i64 = 1_793_491_200_000;

fn events() -> Vec<Vec<u8>> {
    let config = SimConfig {
        seed: 7,
        start_ms: START_MS,
        duration_ms: 2 * 3_600_000,
        rate: 50.0,
        ..SimConfig::default()
    };
    let values: Vec<Vec<u8>> = Simulator::new(config)
        .map(|r| r.value)
        .take(EVENTS)
        .collect();
    assert_eq!(values.len(), EVENTS, "simulator produced too few events");
    values
}

/// The CONTRACT section 1 fields with the types our decoder stores them as
/// (`dict`), or with plain `Utf8` where we use dictionaries (arrow-json 59
/// cannot decode into dictionary types).
fn peer_schema(dict: bool) -> Arc<Schema> {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let d = |n: &str| Field::new(n, if dict { dict_type() } else { DataType::Utf8 }, true);
    let i = |n: &str| Field::new(n, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        s("event_id"),
        Field::new("ts", ts_type(), true),
        d("outcome"),
        d("channel"),
        d("failure_cause"),
        d("payment_method"),
        d("stage"),
        s("order_id"),
        s("session_id"),
        s("user_id"),
        d("error_code"),
        s("error_message"),
        d("region"),
        d("locale"),
        d("app_version"),
        d("os"),
        d("browser"),
        d("network"),
        i("latency_ms"),
        i("amount_minor"),
        d("currency"),
        Field::new("attempt", DataType::Int32, true),
    ]))
}

/// A decoder with the default duplicate window; `DECODE_PREFILL=N` fills it
/// with N other ids first (1500000: both generations of the 1 M window in
/// use, as in a long-running ingest) instead of starting it empty.
fn decoder() -> Decoder {
    let users = UserKeyHasher::new(b"bench-secret-0123456789").expect("secret");
    let mut d = Decoder::new(DecoderConfig::new(users));
    let prefill: usize = std::env::var("DECODE_PREFILL")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    for i in 0..prefill {
        d.remember(&format!("prefill-{i:020}"));
    }
    d
}

/// The same events as one NDJSON text, for arrow-json.
fn ndjson(values: &[Vec<u8>]) -> Vec<u8> {
    let mut text = Vec::with_capacity(values.iter().map(|v| v.len() + 1).sum());
    for v in values {
        text.extend_from_slice(v);
        text.push(b'\n');
    }
    text
}

/// Where the events come from: their topic, and an ingest clock 3 h after
/// the first event.
fn source() -> Source<'static> {
    Source {
        topic: "order-attempts",
        partition: 0,
        offset: 0,
        now_ms: START_MS + 3 * 3_600_000,
    }
}

fn bench_decode(c: &mut Criterion) {
    let values = events();
    let bytes: usize = values.iter().map(Vec::len).sum();
    eprintln!(
        "{EVENTS} simulator events, {:.0} bytes each on average",
        bytes as f64 / EVENTS as f64
    );
    let ndjson = ndjson(&values);

    // Sanity: both sides really decode every event (outside the timing).
    let mut d = decoder();
    let src = source();
    let accepted: u32 = values.iter().map(|v| d.decode(v, &src).accepted).sum();
    assert_eq!(accepted as usize, EVENTS, "{:?}", d.take_rejected().first());
    assert_eq!(arrow_json_rows(&ndjson, false), EVENTS);
    assert_eq!(arrow_json_rows(&ndjson, true), EVENTS);

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(20);
    g.bench_function("orderpulse", |b| {
        b.iter_batched(
            decoder,
            |mut d| {
                assert_eq!(decode_all(&mut d, &values, &src), EVENTS);
                d
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("arrow_json", |b| {
        b.iter(|| assert_eq!(arrow_json_rows(black_box(&ndjson), false), EVENTS))
    });
    g.bench_function("arrow_json_cast_to_dictionaries", |b| {
        b.iter(|| assert_eq!(arrow_json_rows(black_box(&ndjson), true), EVENTS))
    });
    g.finish();

    let lines: Vec<&str> = values
        .iter()
        .map(|v| std::str::from_utf8(v).expect("utf8"))
        .collect();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(20);
    g.bench_function("scanner", |b| {
        let mut parser = Parser::default();
        b.iter(|| lines.iter().filter(|l| parser.parse(black_box(l))).count())
    });
    g.bench_function("sonic_rs", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| sonic_rs::from_str::<visitor::Event<'_>>(black_box(l)).is_ok())
                .count()
        })
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| serde_json::from_str::<visitor::Event<'_>>(black_box(l)).is_ok())
                .count()
        })
    });
    g.bench_function("simd_json", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for v in &values {
                // simd-json parses in place, so each line is copied first.
                scratch.clear();
                scratch.extend_from_slice(v);
                if simd_json::serde::from_slice::<visitor::Event<'_>>(black_box(&mut scratch))
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        })
    });
    g.finish();
}

/// Decodes every value with `d`, finishing a batch every [`BATCH_ROWS`] rows;
/// the rows decoded.
fn decode_all(d: &mut Decoder, values: &[Vec<u8>], src: &Source<'_>) -> usize {
    let mut rows = 0;
    for (i, v) in values.iter().enumerate() {
        let src = Source {
            offset: i as i64,
            ..*src
        };
        d.decode(black_box(v), &src);
        if d.pending_rows() >= BATCH_ROWS {
            rows += d.finish_batch().expect("batch").num_rows();
        }
    }
    rows + d.finish_batch().expect("batch").num_rows()
}

/// `DECODE_PAIRS=N cargo bench -p ingest --bench decode`: instead of the
/// criterion benchmarks, N rounds that each time our decoder and arrow-json
/// (plain, then with the cast) on the same events, one right after the other
/// (in alternating order), and print the median of the per-round ratios. On a
/// VM whose speed drifts by 20-40 % between criterion's groups, the ratio of
/// neighbouring runs is the steadier number.
fn paired_rounds(rounds: usize) {
    let values = events();
    let ndjson = ndjson(&values);
    let src = source();
    let time = |f: &mut dyn FnMut() -> usize| {
        let start = std::time::Instant::now();
        assert_eq!(f(), EVENTS);
        start.elapsed().as_secs_f64()
    };
    let (mut ours, mut plain, mut cast) = (Vec::new(), Vec::new(), Vec::new());
    let mut peers = || {
        plain.push(time(&mut || arrow_json_rows(black_box(&ndjson), false)));
        cast.push(time(&mut || arrow_json_rows(black_box(&ndjson), true)));
    };
    for round in 0..rounds {
        // Who goes first alternates, so neither side always inherits the
        // other's caches and freed memory.
        if round % 2 == 1 {
            peers();
        }
        let mut d = decoder();
        ours.push(time(&mut || decode_all(&mut d, &values, &src)));
        if round % 2 == 0 {
            peers();
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate = |secs: f64| EVENTS as f64 / secs / 1e6;
    let ratios = |peer: &[f64]| median(peer.iter().zip(&ours).map(|(p, o)| p / o).collect());
    println!(
        "{rounds} paired rounds, medians: orderpulse {:.3} M events/s, arrow_json {:.3} M/s \
         (ratio {:.2}x), arrow_json_cast_to_dictionaries {:.3} M/s (ratio {:.2}x)",
        rate(median(ours.clone())),
        rate(median(plain.clone())),
        ratios(&plain),
        rate(median(cast.clone())),
        ratios(&cast),
    );
    let best = |v: &[f64]| rate(v.iter().copied().fold(f64::INFINITY, f64::min));
    println!(
        "best rounds: orderpulse {:.3} M events/s, arrow_json {:.3} M/s, \
         arrow_json_cast_to_dictionaries {:.3} M/s",
        best(&ours),
        best(&plain),
        best(&cast),
    );
}

/// Decodes NDJSON with arrow-json into [`peer_schema`]`(false)`; with `cast`,
/// casts each batch to [`peer_schema`]`(true)`, our column types.
fn arrow_json_rows(ndjson: &[u8], cast: bool) -> usize {
    let target = peer_schema(true);
    let finish = |batch: arrow::array::RecordBatch| -> usize {
        if !cast {
            return batch.num_rows();
        }
        let columns = batch
            .columns()
            .iter()
            .zip(target.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()).expect("cast"))
            .collect();
        arrow::array::RecordBatch::try_new(target.clone(), columns)
            .expect("batch")
            .num_rows()
    };
    let mut dec = arrow_json::ReaderBuilder::new(peer_schema(false))
        .with_batch_size(BATCH_ROWS)
        .build_decoder()
        .expect("arrow-json decoder");
    let mut buf = ndjson;
    let mut rows = 0;
    while !buf.is_empty() {
        let n = dec.decode(buf).expect("arrow-json decode");
        buf = &buf[n..];
        if let Some(batch) = dec.flush().expect("arrow-json flush") {
            rows += finish(batch);
        }
    }
    if let Some(batch) = dec.flush().expect("arrow-json flush") {
        rows += finish(batch);
    }
    rows
}

/// What the scanner does, as a serde visitor: capture the known fields
/// (strings borrowed when unescaped), skip unknown ones unbuilt.
mod visitor {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    const FIELDS: [&str; 22] = [
        "event_id",
        "ts",
        "outcome",
        "channel",
        "failure_cause",
        "payment_method",
        "stage",
        "order_id",
        "session_id",
        "user_id",
        "error_code",
        "error_message",
        "region",
        "locale",
        "app_version",
        "os",
        "browser",
        "network",
        "latency_ms",
        "amount_minor",
        "currency",
        "attempt",
    ];

    // Values are captured to do the scanner's work, never read.
    #[allow(dead_code)]
    #[derive(Default)]
    pub(crate) enum Val<'a> {
        #[default]
        Absent,
        Null,
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float,
        Str(Cow<'a, str>),
        Nested,
    }

    pub(crate) struct Event<'a>(#[allow(dead_code)] pub(crate) [Val<'a>; 22]);

    impl<'de> de::Deserialize<'de> for Event<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(EventVisitor)
        }
    }

    struct EventVisitor;

    impl<'de> Visitor<'de> for EventVisitor {
        type Value = Event<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event<'de>, A::Error> {
            let mut vals: [Val<'de>; 22] = Default::default();
            while let Some(key) = map.next_key::<Key>()? {
                match key.0 {
                    Some(i) => vals[i] = map.next_value::<Val<'de>>()?,
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(Event(vals))
        }
    }

    struct Key(Option<usize>);

    impl<'de> de::Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl Visitor<'_> for KeyVisitor {
        type Value = Key;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }

        fn visit_str<E>(self, key: &str) -> Result<Key, E> {
            Ok(Key(FIELDS.iter().position(|f| *f == key)))
        }
    }

    impl<'de> de::Deserialize<'de> for Val<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ValVisitor)
        }
    }

    struct ValVisitor;

    impl<'de> Visitor<'de> for ValVisitor {
        type Value = Val<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Val<'de>, E> {
            Ok(Val::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Val<'de>, E> {
            Ok(Val::Int(v))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Val<'de>, E> {
            Ok(Val::UInt(v))
        }

        fn visit_f64<E>(self, _: f64) -> Result<Val<'de>, E> {
            Ok(Val::Float)
        }

        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'de>, E> {
            Ok(Val::Str(Cow::Borrowed(v)))
        }

        fn visit_str<E>(self, v: &str) -> Result<Val<'de>, E> {
            Ok(Val::Str(Cow::Owned(v.to_owned())))
        }

        fn visit_unit<E>(self) -> Result<Val<'de>, E> {
            Ok(Val::Null)
        }

        fn visit_none<E>(self) -> Result<Val<'de>, E> {
            Ok(Val::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Val::Nested)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Val::Nested)
        }
    }
}

criterion_group!(benches, bench_decode);

fn main() {
    match std::env::var("DECODE_PAIRS").map(|n| n.parse::<usize>()) {
        Ok(Ok(rounds)) if rounds > 0 => paired_rounds(rounds),
        Ok(_) => panic!("DECODE_PAIRS must be a positive number of rounds"),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
