//! Tests of the whole simulator: bytes in, checked the way a consumer would
//! see them (serde_json and an independent reading of CONTRACT section 1).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use ::model::vocab::{self, Channel, FailureCause, PaymentMethod};
use serde::Deserialize;
use serde_json::Value;

use super::*;

const MINUTE: i64 = 60_000;
/// 2026-11-01T00:00:00Z.
const START: i64 = 1_793_491_200_000;

/// One valid event, with the CONTRACT's field names and types: serde
/// refuses unknown fields and values of the wrong type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Ev {
    event_id: String,
    ts: Value,
    outcome: String,
    channel: String,
    failure_cause: Option<String>,
    payment_method: Option<String>,
    stage: Option<String>,
    order_id: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    region: Option<String>,
    locale: Option<String>,
    app_version: Option<String>,
    os: Option<String>,
    browser: Option<String>,
    network: Option<String>,
    latency_ms: Option<i64>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    attempt: Option<i64>,
}

impl Ev {
    fn outcome(&self) -> String {
        vocab::normalise(&self.outcome).into_owned()
    }
    fn failed(&self) -> bool {
        self.outcome() == "failure"
    }
    fn channel(&self) -> String {
        vocab::normalise(&self.channel).into_owned()
    }
    fn method(&self) -> String {
        vocab::normalise(self.payment_method.as_deref().unwrap_or_default()).into_owned()
    }
    fn cause(&self) -> Option<String> {
        self.failure_cause
            .as_deref()
            .map(|c| vocab::normalise(c).into_owned())
    }
    fn is(&self, cause: FailureCause) -> bool {
        self.cause().as_deref() == Some(cause.as_str())
    }
}

/// Event time and event of every valid event (NDJSON batches split).
fn events(records: &[SimRecord]) -> Vec<(i64, Ev)> {
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.expected_rejection.is_none()) {
        for line in r.value.split(|&b| b == b'\n') {
            let ev: Ev = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!("{e}: {}", String::from_utf8_lossy(line));
            });
            out.push((r.event_time_ms, ev));
        }
    }
    out
}

fn run(cfg: SimConfig) -> (Vec<SimRecord>, Truth) {
    cfg.validate().unwrap();
    let mut sim = Simulator::new(cfg);
    let records: Vec<SimRecord> = sim.by_ref().collect();
    (records, sim.truth())
}

fn config(minutes: i64, rate: f64, scenarios: &str) -> SimConfig {
    SimConfig {
        seed: 11,
        start_ms: START,
        duration_ms: minutes * MINUTE,
        rate,
        scenarios: parse_scenarios(scenarios).unwrap(),
        diurnal: false,
        ..SimConfig::default()
    }
}

/// One flat 80-minute run with five incidents one after the other, shared
/// by the scenario, contract and truth tests.
struct Shared {
    records: Vec<SimRecord>,
    events: Vec<(i64, Ev)>,
    truth: Truth,
}

const OUTAGE: (i64, i64) = (10, 20);
const MAINTENANCE: (i64, i64) = (25, 30);
const DEGRADATION: (i64, i64) = (35, 45);
const RELEASE: (i64, i64) = (50, 60);
const SURGE: (i64, i64) = (65, 75);

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let scenarios = "payment-outage:method=alipay,at=10m,for=10m,\
            maintenance:at=25m,for=5m,\
            network-degradation:channel=android_app,at=35m,for=10m,\
            bad-release:version=6.4.0,at=50m,for=10m,\
            promo-surge:at=65m,for=10m";
        let (records, truth) = run(config(80, 60.0, scenarios));
        let events = events(&records);
        Shared {
            records,
            events,
            truth,
        }
    })
}

fn within(t: i64, (a, b): (i64, i64)) -> bool {
    (START + a * MINUTE..START + b * MINUTE).contains(&t)
}

/// Outside every incident (with a minute of margin for retries).
fn quiet(t: i64) -> bool {
    [OUTAGE, MAINTENANCE, DEGRADATION, RELEASE, SURGE]
        .iter()
        .all(|&(a, b)| !within(t, (a, b + 2)))
}

impl Shared {
    /// The events during `window` (`true`) or in the quiet time outside
    /// every incident (`false`).
    fn events_in(&self, window: (i64, i64), during: bool) -> impl Iterator<Item = &(i64, Ev)> {
        self.events.iter().filter(move |(t, _)| {
            if during {
                within(*t, window)
            } else {
                quiet(*t)
            }
        })
    }
}

/// Share of events matching `hit` among those matching `of`.
fn share<'a>(
    evs: impl Iterator<Item = &'a (i64, Ev)>,
    of: impl Fn(&Ev) -> bool,
    hit: impl Fn(&Ev) -> bool,
) -> (f64, usize) {
    let (mut n, mut k) = (0usize, 0usize);
    for (_, e) in evs {
        if of(e) {
            n += 1;
            k += usize::from(hit(e));
        }
    }
    ((k as f64) / (n.max(1) as f64), n)
}

/// The reasons CONTRACT section 1 gives to reject this value, read
/// independently of the simulator and the decoder. Empty: a valid event.
fn contract_faults(value: &[u8], now_ms: i64) -> BTreeSet<Reason> {
    let mut f = BTreeSet::new();
    if value.len() > 1 << 20 {
        f.insert(Reason::MessageTooLarge);
        return f;
    }
    let Ok(text) = std::str::from_utf8(value) else {
        f.insert(Reason::InvalidUtf8);
        return f;
    };
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        f.insert(Reason::InvalidJson);
        return f;
    };
    let Value::Object(obj) = json else {
        f.insert(Reason::NotAnObject);
        return f;
    };
    let get = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let string =
        |k: &str, max: usize, required: bool, f: &mut BTreeSet<Reason>| -> Option<String> {
            match get(k) {
                None if required => {
                    f.insert(Reason::MissingField);
                    None
                }
                None => None,
                Some(Value::String(s)) if s.chars().count() > max => {
                    f.insert(Reason::FieldTooLong);
                    None
                }
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    f.insert(Reason::WrongType);
                    None
                }
            }
        };
    if string("event_id", 128, true, &mut f).is_some_and(|s| s.is_empty()) {
        f.insert(Reason::InvalidValue);
    }
    let outcome =
        string("outcome", usize::MAX, true, &mut f).map(|s| vocab::normalise(&s).into_owned());
    if outcome
        .as_deref()
        .is_some_and(|o| o != "success" && o != "failure")
    {
        f.insert(Reason::InvalidValue);
    }
    string("channel", 64, true, &mut f);
    let cause = string("failure_cause", 64, false, &mut f);
    match (outcome.as_deref(), cause) {
        (Some("failure"), None) if get("failure_cause").is_none() => {
            f.insert(Reason::MissingFailureCause);
        }
        (Some("success"), Some(_)) => {
            f.insert(Reason::InvalidValue);
        }
        _ => {}
    }
    for (k, max) in [
        ("payment_method", 64),
        ("stage", 64),
        ("order_id", 128),
        ("session_id", 128),
        ("user_id", 128),
        ("error_code", 128),
        ("error_message", usize::MAX),
        ("region", 64),
        ("locale", 35),
        ("app_version", 64),
        ("os", 64),
        ("browser", 64),
        ("network", 64),
    ] {
        string(k, max, false, &mut f);
    }
    if let Some(c) = string("currency", usize::MAX, false, &mut f)
        && (c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        f.insert(Reason::InvalidValue);
    }
    for (k, min) in [("latency_ms", 0), ("amount_minor", 0), ("attempt", 1)] {
        match get(k) {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some_and(|x| x < min) => {
                f.insert(Reason::InvalidValue);
            }
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            Some(_) => {
                f.insert(Reason::WrongType);
            }
        }
    }
    let ts = match get("ts") {
        None => {
            f.insert(Reason::MissingField);
            None
        }
        Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
        Some(Value::Number(n)) if n.is_u64() => Some(i64::MAX),
        Some(Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => {
                f.insert(Reason::InvalidTimestamp);
                None
            }
        },
        Some(_) => {
            f.insert(Reason::WrongType);
            None
        }
    };
    if ts.is_some_and(|t| t < MIN_START_MS || t > now_ms + 86_400_000) {
        f.insert(Reason::TimestampOutOfRange);
    }
    f
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn same_seed_same_bytes_and_another_seed_differs() {
    let cfg = config(
        5,
        60.0,
        "payment-outage,malformed:share=0.05,mixed:every=2m",
    );
    let (a, ta) = run(cfg.clone());
    let (b, tb) = run(cfg.clone());
    assert!(a.len() > 10_000, "{}", a.len());
    assert!(a == b, "same seed gave different records");
    assert_eq!(ta, tb);
    let (c, _) = run(SimConfig { seed: 12, ..cfg });
    assert_ne!(a.len(), 0);
    assert!(a != c, "another seed gave the same records");
    // Only constant broken records (`null`, `[]`...) can coincide.
    let same_values = a.iter().zip(&c).filter(|(x, y)| x.value == y.value).count();
    assert!(same_values * 100 < a.len(), "{same_values}");
}

#[test]
fn valid_records_follow_the_contract() {
    let s = shared();
    let now = now_ms();
    let mut ids = HashSet::new();
    let mut last = i64::MIN;
    let (mut epoch, mut offset, mut utc, mut respelled, mut guests, mut zh, mut en) =
        (0, 0, 0, 0, 0, 0, 0);
    for r in &s.records {
        assert!(r.event_time_ms >= last, "records out of event-time order");
        last = r.event_time_ms;
        assert!(r.expected_rejection.is_none());
        assert!(r.key.as_deref().is_some_and(|k| k.starts_with("ord_")));
        let faults = contract_faults(&r.value, now);
        assert!(
            faults.is_empty(),
            "{faults:?}: {}",
            String::from_utf8_lossy(&r.value)
        );
    }
    for (t, e) in &s.events {
        assert!(
            ids.insert(e.event_id.clone()),
            "duplicate event_id {}",
            e.event_id
        );
        match &e.ts {
            Value::Number(n) => {
                assert_eq!(n.as_i64(), Some(*t));
                epoch += 1;
            }
            Value::String(ts) => {
                let parsed = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
                assert_eq!(parsed.timestamp_millis(), *t, "{ts}");
                if ts.ends_with('Z') {
                    utc += 1;
                } else {
                    offset += usize::from(ts.ends_with("+08:00"));
                }
            }
            other => panic!("ts {other:?}"),
        }
        let normal = [&e.outcome, &e.channel]
            .into_iter()
            .chain(&e.payment_method)
            .chain(&e.stage)
            .chain(&e.failure_cause)
            .all(|v| vocab::normalise(v) == v.as_str());
        respelled += usize::from(!normal);
        assert!(
            Channel::from_normalised(&e.channel()).is_some(),
            "{}",
            e.channel
        );
        assert!(
            PaymentMethod::from_normalised(&e.method()).is_some(),
            "{e:?}"
        );
        assert!(
            vocab::Stage::from_normalised(&vocab::normalise(e.stage.as_deref().unwrap())).is_some()
        );
        assert_eq!(e.failed(), e.cause().is_some(), "{e:?}");
        if let Some(c) = e.cause() {
            assert!(FailureCause::from_normalised(&c).is_some(), "{c}");
        } else {
            assert!(e.error_code.is_none() && e.error_message.is_none());
        }
        assert!((1..=3).contains(&e.attempt.unwrap()));
        assert!(e.latency_ms.unwrap() >= 0 && e.amount_minor.unwrap() >= 100);
        assert!(e.order_id.is_some() && e.session_id.is_some() && e.region.is_some());
        guests += usize::from(e.user_id.is_none());
        if let Some(m) = &e.error_message {
            if !m.is_ascii() {
                zh += 1;
            } else {
                en += 1;
            }
        }
    }
    let n = s.events.len();
    assert!(n > 250_000, "{n}");
    for (what, count, lo, hi) in [
        ("epoch ms ts", epoch, 0.08, 0.2),
        ("+08:00 ts", offset, 0.6, 0.8),
        ("Z ts", utc, 0.08, 0.2),
        ("non-normalised spellings", respelled, 0.005, 0.02),
        ("guests", guests, 0.05, 0.2),
    ] {
        let share = count as f64 / n as f64;
        assert!((lo..hi).contains(&share), "{what}: {share}");
    }
    assert!(zh > 5 * en && en > 50, "zh {zh} en {en}");
}

#[test]
fn events_average_300_to_450_bytes() {
    let s = shared();
    let sizes: Vec<usize> = s.records.iter().map(|r| r.value.len()).collect();
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    // Measured: ~413 bytes.
    assert!((300.0..450.0).contains(&mean), "mean event size {mean}");
}

#[test]
fn diurnal_curve_makes_nights_quiet() {
    let cfg = SimConfig {
        duration_ms: 24 * 60 * MINUTE,
        rate: 1.0,
        start_ms: START,
        diurnal: true,
        ..SimConfig::default()
    };
    let mut per_hour = [0u32; 24];
    for r in Simulator::new(cfg) {
        // Local hour in UTC+8.
        let h = ((r.event_time_ms + 8 * 60 * MINUTE) / (60 * MINUTE)) % 24;
        per_hour[h as usize] += 1;
    }
    let night: u32 = per_hour[2..6].iter().sum();
    let morning: u32 = per_hour[10..12].iter().sum::<u32>() * 2;
    let evening: u32 = per_hour[20..22].iter().sum::<u32>() * 2;
    assert!(night * 4 < morning && morning < evening, "{per_hour:?}");
    let total: u32 = per_hour.iter().sum();
    assert!(
        (78_000..95_000).contains(&total),
        "{total} events for 86400 s at 1/s"
    );
}

#[test]
fn channels_and_methods_fail_the_way_they_do_in_life() {
    let s = shared();
    let quiet_events = || s.events.iter().filter(|(t, _)| quiet(*t));
    let apps = ["ios_app", "android_app", "wechat_mini_program"];
    for (_, e) in &s.events {
        let ch = e.channel();
        if apps.contains(&ch.as_str()) {
            assert!(!e.is(FailureCause::BrowserSettings), "{e:?}");
            assert!(e.browser.is_none());
        }
        if e.method() == "apple_pay" {
            let safari = e
                .browser
                .as_deref()
                .is_some_and(|b| b.starts_with("Safari"));
            assert!(ch == "ios_app" || safari, "{e:?}");
        }
        assert_eq!(
            e.app_version.is_some(),
            ch == "ios_app" || ch == "android_app",
            "{e:?}"
        );
    }
    let (wechat, n) = share(
        quiet_events(),
        |e| e.channel() == "wechat_mini_program",
        |e| e.method() == "wechat_pay",
    );
    assert!(wechat > 0.8 && n > 1000, "{wechat}");
    let (alipay, _) = share(
        quiet_events(),
        |e| e.channel() == "android_app",
        |e| e.method() == "alipay",
    );
    assert!(alipay > 0.3, "{alipay}");
    let declined = |m: &'static str| {
        share(
            quiet_events(),
            move |e| e.method() == m,
            |e| e.is(FailureCause::PaymentDeclined),
        )
        .0
    };
    assert!(declined("credit_card") > 3.0 * declined("alipay"));
    let outdated = |v: &'static str| {
        share(
            quiet_events(),
            move |e| e.app_version.as_deref() == Some(v),
            |e| e.is(FailureCause::ClientOutdated),
        )
        .0
    };
    assert!(
        outdated("5.8.3") > 20.0 * outdated("6.4.0"),
        "{} {}",
        outdated("5.8.3"),
        outdated("6.4.0")
    );
    let network = |n: &'static str| {
        share(
            quiet_events(),
            move |e| e.network.as_deref() == Some(n),
            |e| e.is(FailureCause::NetworkError),
        )
        .0
    };
    assert!(network("public_wifi") > 2.0 * network("wifi"));
    let (unsupported, _) = share(
        quiet_events(),
        |e| e.channel() == "wechat_mini_program" && e.method() == "alipay",
        |e| e.is(FailureCause::PaymentMethodUnsupported),
    );
    assert!(unsupported > 0.3, "{unsupported}");
    let (overall, _) = share(quiet_events(), |_| true, Ev::failed);
    assert!((0.02..0.07).contains(&overall), "{overall}");
}

#[test]
fn retries_follow_failures_of_the_same_order() {
    let s = shared();
    let mut by_order: BTreeMap<&str, Vec<&Ev>> = BTreeMap::new();
    for (_, e) in &s.events {
        by_order
            .entry(e.order_id.as_deref().unwrap())
            .or_default()
            .push(e);
    }
    let (mut retries, mut succeeded, mut switched) = (0, 0, 0);
    for attempts in by_order.values() {
        for (i, e) in attempts.iter().enumerate() {
            assert_eq!(e.attempt, Some(i as i64 + 1), "{attempts:?}");
            if i > 0 {
                let prev = attempts[i - 1];
                assert!(prev.failed(), "a retry after a success: {attempts:?}");
                assert!(!prev.is(FailureCause::InventoryUnavailable));
                assert_eq!(prev.session_id, e.session_id);
                assert_eq!(prev.user_id, e.user_id);
                retries += 1;
                succeeded += usize::from(!e.failed());
                switched += usize::from(prev.method() != e.method());
            }
        }
    }
    assert!(retries > 2_000, "{retries}");
    assert!(succeeded * 2 > retries, "{succeeded} of {retries}");
    assert!(switched > 100, "{switched}");
}

#[test]
fn next_event_time_announces_the_next_record() {
    let mut sim = Simulator::new(config(2, 50.0, "malformed,payment-outage"));
    while let Some(t) = sim.next_event_time_ms() {
        assert_eq!(sim.next().map(|r| r.event_time_ms), Some(t));
    }
    assert!(sim.next().is_none());
}

#[test]
fn validate_refuses_what_new_would_clamp() {
    let ok = SimConfig::default();
    ok.validate().unwrap();
    for bad in [
        SimConfig {
            rate: 0.0,
            ..ok.clone()
        },
        SimConfig {
            rate: -1.0,
            ..ok.clone()
        },
        SimConfig {
            rate: f64::NAN,
            ..ok.clone()
        },
        SimConfig {
            rate: 1e12,
            ..ok.clone()
        },
        SimConfig {
            duration_ms: 0,
            ..ok.clone()
        },
        SimConfig {
            start_ms: 0,
            ..ok.clone()
        },
        SimConfig {
            tz_offset_minutes: 1000,
            ..ok.clone()
        },
        SimConfig {
            scenarios: parse_scenarios("promo-surge:at=2h").unwrap(),
            ..ok.clone()
        },
    ] {
        assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
        // And the simulator still runs, clamped.
        let _ = Simulator::new(bad).take(10).count();
    }
}

mod malformed;
mod scenarios;
