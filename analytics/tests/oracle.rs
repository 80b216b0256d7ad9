//! The oracle: on ~200 000 simulator events (with incidents and broken
//! records), every saved query's result equals an independent computation in
//! plain Rust over the same events. The oracle reads the simulator's JSON
//! with serde_json (not the decoder), normalises vocabularies itself, and
//! takes the rejected records from the simulator's own ground truth.

#[path = "support/fixture.rs"]
mod fixture;

use std::collections::{BTreeMap, BTreeSet};

use analytics::{Analytics, AnalyticsConfig, Form};
use chrono::DateTime;
use ingest::decode::{Decoder, DecoderConfig, Source, UserKeyHasher, rejected_batch};
use ingest::simulate::{SimConfig, Simulator};
use ingest::sink::{FlushRange, ParquetSink, SinkOptions};
use serde_json::{Value, json};

const START: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;
/// Ingest reads each record this long after its event time.
const LAG: i64 = 1_000;

#[derive(Debug, Clone)]
struct Ev {
    id: String,
    ts: i64,
    failure: bool,
    channel: String,
    cause: Option<String>,
    payment: Option<String>,
    error_code: Option<String>,
    order_id: Option<String>,
    app_version: Option<String>,
    latency: Option<i64>,
}

fn norm(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim().to_lowercase().replace(['-', ' '], "_");
    (!s.is_empty()).then_some(s)
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn parse_event(line: &str) -> Ev {
    let v: Value = serde_json::from_str(line).expect("simulator line is JSON");
    let ts = match &v["ts"] {
        Value::Number(n) => n.as_i64().expect("ms"),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .timestamp_millis(),
        other => panic!("ts {other}"),
    };
    Ev {
        id: text(&v["event_id"]).expect("id"),
        ts,
        failure: norm(&v["outcome"]).as_deref() == Some("failure"),
        channel: norm(&v["channel"]).expect("channel"),
        cause: norm(&v["failure_cause"]),
        payment: norm(&v["payment_method"]),
        error_code: text(&v["error_code"]),
        order_id: text(&v["order_id"]),
        app_version: text(&v["app_version"]),
        latency: v["latency_ms"].as_i64(),
    }
}

fn rate(part: usize, whole: usize) -> Value {
    let r = part as f64 / whole as f64;
    json!((r * 10_000.0).round() / 10_000.0)
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .expect("ms")
        .format(if ms % 1000 == 0 {
            "%Y-%m-%dT%H:%M:%SZ"
        } else {
            "%Y-%m-%dT%H:%M:%S%.3fZ"
        })
        .to_string()
}

/// DataFusion's `percentile_cont` over sorted values (its quantised weight).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (index.floor() as usize, index.ceil() as usize);
    if lo == hi {
        return sorted[lo];
    }
    let weight = ((index - lo as f64) * 1_000_000.0) as usize as f64 / 1_000_000.0;
    sorted[lo] + (sorted[hi] - sorted[lo]) * weight
}

/// `ORDER BY count DESC, key ASC` with NULLs last among ties.
fn by_count_then_key<K: Ord + Clone>(
    m: &BTreeMap<K, (usize, usize)>,
    pick: impl Fn(&(usize, usize)) -> usize,
) -> Vec<(K, (usize, usize))> {
    let mut rows: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    rows.sort_by(|a, b| pick(&b.1).cmp(&pick(&a.1)).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// An optional value as a sort key: NULL last.
type NullableKey = (bool, String);

/// An order's first attempt `(ts, event_id)`, its channel, whether it had a
/// failure, whether it succeeded, and its attempts.
type OrderState<'a> = ((i64, &'a str), &'a str, bool, bool, usize);

/// Option keys sort NULL last (DataFusion's ASC default); None < Some in Rust.
fn key(s: &Option<String>) -> (bool, String) {
    (s.is_none(), s.clone().unwrap_or_default())
}

fn unkey(k: &(bool, String)) -> Value {
    if k.0 { Value::Null } else { json!(k.1) }
}

/// `rejected`: (reason, ingested_at ms) of the records in the window.
fn oracle(name: &str, evs: &[&Ev], rejected: &[(String, i64)], bucket: i64) -> Vec<Vec<Value>> {
    let failures: Vec<&&Ev> = evs.iter().filter(|e| e.failure).collect();
    match name {
        "failures_by_cause" => {
            let mut m: BTreeMap<(bool, String), (usize, usize)> = BTreeMap::new();
            for e in &failures {
                m.entry(key(&e.cause)).or_default().0 += 1;
            }
            by_count_then_key(&m, |v| v.0)
                .into_iter()
                .map(|(k, (n, _))| vec![unkey(&k), json!(n), rate(n, failures.len())])
                .collect()
        }
        "failures_by_channel" | "failures_by_payment_method" => {
            let mut m: BTreeMap<(bool, String), (usize, usize)> = BTreeMap::new();
            for e in evs {
                let k = if name == "failures_by_channel" {
                    key(&Some(e.channel.clone()))
                } else {
                    key(&e.payment)
                };
                let v = m.entry(k).or_default();
                v.0 += 1;
                v.1 += usize::from(e.failure);
            }
            by_count_then_key(&m, |v| v.1)
                .into_iter()
                .map(|(k, (n, f))| vec![unkey(&k), json!(n), json!(f), rate(f, n)])
                .collect()
        }
        "failure_rate_trend" => {
            let mut attempts: BTreeMap<i64, usize> = BTreeMap::new();
            let mut failed: BTreeMap<(i64, (bool, String)), usize> = BTreeMap::new();
            for e in evs {
                let b = e.ts.div_euclid(bucket) * bucket;
                *attempts.entry(b).or_default() += 1;
                if e.failure {
                    *failed.entry((b, key(&e.cause))).or_default() += 1;
                }
            }
            failed
                .into_iter()
                .map(|((b, c), f)| {
                    vec![
                        json!(iso(b)),
                        unkey(&c),
                        json!(attempts[&b]),
                        json!(f),
                        rate(f, attempts[&b]),
                    ]
                })
                .collect()
        }
        "cause_channel_payment" => {
            let mut m: BTreeMap<(NullableKey, String, NullableKey), usize> = BTreeMap::new();
            for e in &failures {
                *m.entry((key(&e.cause), e.channel.clone(), key(&e.payment)))
                    .or_default() += 1;
            }
            let mut rows: Vec<_> = m.into_iter().collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            rows.into_iter()
                .map(|((c, ch, p), n)| {
                    vec![
                        unkey(&c),
                        json!(ch),
                        unkey(&p),
                        json!(n),
                        rate(n, failures.len()),
                    ]
                })
                .collect()
        }
        "top_error_codes" => {
            let mut m: BTreeMap<(String, (bool, String)), usize> = BTreeMap::new();
            for e in &failures {
                if let Some(code) = &e.error_code {
                    *m.entry((code.clone(), key(&e.cause))).or_default() += 1;
                }
            }
            let mut rows: Vec<_> = m.into_iter().collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            rows.truncate(20);
            rows.into_iter()
                .map(|((code, c), n)| vec![json!(code), unkey(&c), json!(n)])
                .collect()
        }
        "retry_recovery_rate" => {
            // order → (first (ts, id), its channel, had failure, succeeded, attempts)
            let mut orders: BTreeMap<&str, OrderState<'_>> = BTreeMap::new();
            for e in evs {
                let Some(order) = &e.order_id else { continue };
                let o = orders
                    .entry(order)
                    .or_insert(((e.ts, &e.id), &e.channel, false, false, 0));
                if (e.ts, e.id.as_str()) < o.0 {
                    o.0 = (e.ts, &e.id);
                    o.1 = &e.channel;
                }
                o.2 |= e.failure;
                o.3 |= !e.failure;
                o.4 += 1;
            }
            let mut m: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
            for (_, channel, had_failure, succeeded, attempts) in orders.values() {
                if *had_failure {
                    let v = m.entry(channel).or_default();
                    v.0 += 1;
                    v.1 += usize::from(*succeeded);
                    v.2 += attempts;
                }
            }
            let mut rows: Vec<_> = m.into_iter().collect();
            rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
            rows.into_iter()
                .map(|(ch, (n, r, att))| {
                    let avg = ((att as f64 / n as f64) * 100.0).round() / 100.0;
                    vec![json!(ch), json!(n), json!(r), rate(r, n), json!(avg)]
                })
                .collect()
        }
        "failure_rate_by_app_version" => {
            let mut m: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
            for e in evs {
                if let Some(v) = &e.app_version {
                    let c = m.entry((v.clone(), e.channel.clone())).or_default();
                    c.0 += 1;
                    c.1 += usize::from(e.failure);
                }
            }
            let mut rows: Vec<_> = m
                .into_iter()
                .map(|(k, (n, f))| {
                    (
                        k,
                        n,
                        f,
                        ((f as f64 / n as f64) * 10_000.0).round() / 10_000.0,
                    )
                })
                .collect();
            rows.sort_by(|a, b| {
                b.3.total_cmp(&a.3)
                    .then_with(|| b.1.cmp(&a.1))
                    .then_with(|| a.0.cmp(&b.0))
            });
            rows.into_iter()
                .map(|((v, c), n, f, r)| vec![json!(v), json!(c), json!(n), json!(f), json!(r)])
                .collect()
        }
        "latency_percentiles_by_channel" => {
            let mut m: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            for e in evs {
                if let Some(l) = e.latency {
                    m.entry(&e.channel).or_default().push(l as f64);
                }
            }
            m.into_iter()
                .map(|(ch, mut v)| {
                    v.sort_by(f64::total_cmp);
                    let max = *v.last().expect("non-empty") as i64;
                    vec![
                        json!(ch),
                        json!(v.len()),
                        json!(percentile(&v, 0.5)),
                        json!(percentile(&v, 0.9)),
                        json!(percentile(&v, 0.99)),
                        json!(max),
                    ]
                })
                .collect()
        }
        "rejected_by_reason" => {
            let mut m: BTreeMap<&str, (usize, i64, i64)> = BTreeMap::new();
            for (reason, at) in rejected {
                let v = m.entry(reason).or_insert((0, i64::MAX, i64::MIN));
                v.0 += 1;
                v.1 = v.1.min(*at);
                v.2 = v.2.max(*at);
            }
            let mut rows: Vec<_> = m.into_iter().collect();
            rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
            rows.into_iter()
                .map(|(r, (n, lo, hi))| vec![json!(r), json!(n), json!(iso(lo)), json!(iso(hi))])
                .collect()
        }
        other => panic!("no oracle for saved query `{other}`: add one"),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saved_query_matches_a_plain_rust_computation() {
    let config = SimConfig {
        seed: 5,
        start_ms: START,
        // Over two hours: the latency form reads whole hours.
        duration_ms: 130 * MIN,
        rate: 30.0,
        scenarios: [
            "payment-outage:at=10m,for=10m",
            "bad-release",
            "malformed:share=0.01,oversized=0",
        ]
        .iter()
        .map(|s| s.parse().expect("scenario"))
        .collect(),
        ..SimConfig::default()
    };
    let dir = tempfile::tempdir().expect("dir");
    let sink = ParquetSink::new(dir.path(), SinkOptions::default());
    let users = UserKeyHasher::new(b"oracle-secret-0123456789").expect("secret");
    let mut decoders = [
        Decoder::new(DecoderConfig::new(users.clone())),
        Decoder::new(DecoderConfig::new(users)),
    ];
    let mut next = [0i64; 2];
    let mut first = [0i64; 2];
    let mut events: Vec<Ev> = Vec::new();
    let mut rejected: Vec<(String, i64)> = Vec::new();
    let flush = |p: usize, decoder: &mut Decoder, first: i64, last: i64| {
        let accepted = decoder.finish_batch().expect("batch");
        let rej = rejected_batch(&decoder.take_rejected()).expect("rejected");
        let range = FlushRange {
            topic: fixture::TOPIC.into(),
            partition: p as i32,
            first,
            last,
        };
        sink.write_flush(&range, &[accepted], Some(&rej), START)
            .expect("flush");
    };
    for (i, record) in Simulator::new(config).enumerate() {
        let p = i % 2;
        let now_ms = record.event_time_ms + LAG;
        let src = Source {
            topic: fixture::TOPIC,
            partition: p as i32,
            offset: next[p],
            now_ms,
        };
        decoders[p].decode(&record.value, &src);
        match record.expected_rejection {
            Some(reason) => rejected.push((reason.as_str().to_string(), now_ms)),
            None => {
                let body = std::str::from_utf8(&record.value).expect("valid records are UTF-8");
                events.extend(
                    body.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(parse_event),
                );
            }
        }
        next[p] += 1;
        if next[p] - first[p] == 25_000 {
            flush(p, &mut decoders[p], first[p], next[p] - 1);
            first[p] = next[p];
        }
    }
    for p in 0..2 {
        if next[p] > first[p] {
            flush(p, &mut decoders[p], first[p], next[p] - 1);
        }
    }
    assert!(events.len() > 150_000, "{} events", events.len());
    assert!(!rejected.is_empty());

    let analytics = Analytics::new(AnalyticsConfig::new(dir.path()).expect("config"))
        .await
        .expect("analytics");
    // A window on whole minutes (the minutes forms count it from
    // order_attempts_minutes alone), one with part-minutes at both ends, and
    // one with a whole hour and part-hours at both ends (the latency form).
    let windows = [
        (START + 5 * MIN, START + 35 * MIN),
        (START + 5 * MIN + 17_531, START + 35 * MIN - 2_003),
        (START + 20 * MIN + 17_531, START + 125 * MIN - 2_003),
    ];
    let mut checked = BTreeSet::new();
    for (from, to) in windows {
        let window: Vec<&Ev> = events
            .iter()
            .filter(|e| e.ts >= from && e.ts < to)
            .collect();
        let params = |bucket: bool| {
            let mut p = vec![
                ("start".to_string(), iso(from)),
                ("end".to_string(), iso(to)),
            ];
            if bucket {
                p.push(("bucket".to_string(), "5 minutes".to_string()));
            }
            p
        };
        for q in analytics.saved_queries().iter() {
            let takes_bucket = q.params.iter().any(|p| p.name == "bucket");
            let mut forms = vec![Form::Events];
            if q.minutes_sql.is_some() {
                forms.push(Form::Minutes);
            }
            for form in forms {
                let out = analytics
                    .query_as(&q.name, &params(takes_bucket), form)
                    .await
                    .unwrap_or_else(|e| panic!("{} {form:?}: {e}", q.name));
                assert_eq!(out.from_minutes, form == Form::Minutes);
                let got = analytics::format::to_json(&out).expect("json");
                let got: Vec<Vec<Value>> = got["rows"]
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(|r| r.as_array().expect("row").clone())
                    .collect();
                // rejected_by_reason windows on ingested_at.
                let rejected_window: Vec<(String, i64)> = rejected
                    .iter()
                    .filter(|(_, at)| (from..to).contains(at))
                    .cloned()
                    .collect();
                let want = oracle(&q.name, &window, &rejected_window, 5 * MIN);
                let what = format!("{} {form:?} {}..{}", q.name, iso(from), iso(to));
                assert!(!want.is_empty(), "{what}: the oracle found nothing");
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{what}: row count\n got {got:?}\nwant {want:?}"
                );
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        g.len() == w.len() && g.iter().zip(w).all(|(a, b)| same(a, b)),
                        "{what} row {i}:\n got {g:?}\nwant {w:?}"
                    );
                }
            }
            // `query` uses the minutes form wherever there is one.
            let auto = analytics
                .query(&q.name, &params(takes_bucket))
                .await
                .expect("auto");
            assert_eq!(auto.from_minutes, q.minutes_sql.is_some(), "{}", q.name);
            checked.insert(q.name.clone());
        }
    }
    assert_eq!(checked.len(), analytics.saved_queries().len());
}
