//! Ground truth of a run: its configuration and every incident with its
//! slice, window, magnitude and the failure rates the model implies.
//!
//! The rates are computed by enumerating the model: every [`Profile`] with
//! its probability, every failure cause, every retry (and payment-method
//! switch) up to the last attempt, each path weighted by its probability.
//! So "expected" here means the model's expectation; the generated data
//! matches it within sampling noise (the tests check this).
//!
//! Rate definitions, as an alert would measure them: a slice is a set of
//! dimensions (`channel`, `payment_method`, `app_version`, `failure_cause`);
//! its failure rate is failures matching every dimension divided by
//! attempts matching every dimension but `failure_cause`. Retries count as
//! attempts.

use std::collections::BTreeMap;

use model::Reason;
use model::vocab::{FailureCause as Cause, PaymentMethod as Method};
use serde::{Deserialize, Serialize};

use super::catalog::APP_VERSIONS;
use super::event::write_rfc3339;
use super::model::{
    CauseEffect, MAX_ATTEMPTS, Model, Prev, Profile, SliceFilter, retry_probability,
    switch_probability,
};
use super::scenario::{Effect, Incident, Magnitude};

/// The ground truth of a simulated run (`--truth FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    /// First event time of the run, RFC 3339 UTC.
    pub start: String,
    /// End of the run (exclusive), RFC 3339 UTC.
    pub end: String,
    /// Mean events per second over a day, before incidents.
    pub rate: f64,
    /// The shoppers' UTC offset in minutes (diurnal curve, `ts` offsets).
    pub tz_offset_minutes: i32,
    /// Whether traffic followed the diurnal curve.
    pub diurnal: bool,
    /// The scenarios as given, in canonical form.
    pub scenarios: Vec<String>,
    /// Failure rate of all attempts with no incident.
    pub baseline_failure_rate: f64,
    /// Mean attempts per order with no incident (retries included).
    pub attempts_per_order: f64,
    pub incidents: Vec<TruthIncident>,
    /// What was actually generated (so far, if the run was stopped).
    pub generated: Generated,
}

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthIncident {
    /// `payment-outage`, `maintenance`, `network-degradation`,
    /// `bad-release`, `promo-surge` or `malformed`.
    pub scenario: String,
    /// The slice whose rate changes: dimension → value (empty: everything).
    pub slice: BTreeMap<String, String>,
    /// The failure cause the incident raises, if any.
    pub cause: Option<String>,
    pub start: String,
    pub end: String,
    pub magnitude: f64,
    /// `factor` (multiplies the cause's probability), `rate` (raises it to
    /// at least this), `traffic_factor` (promo-surge) or `share`
    /// (malformed: share of records broken).
    pub magnitude_kind: String,
    /// A decoy: nothing an alert should fire on (promo-surge, malformed).
    pub decoy: bool,
    /// The slice's failure rate without incidents.
    pub baseline_failure_rate: Option<f64>,
    /// The slice's failure rate while the incident (and any other incident
    /// active at its midpoint) lasts.
    pub expected_failure_rate: Option<f64>,
    /// Share of the slice's attempts failing with `cause`, without and
    /// with the incident.
    pub baseline_cause_rate: Option<f64>,
    pub expected_cause_rate: Option<f64>,
    /// Malformed only: broken records per reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejections: Option<BTreeMap<String, u64>>,
    /// Malformed only: NDJSON messages holding several valid events, and
    /// the events in them (each accepted on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndjson_messages: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndjson_events: Option<u64>,
}

/// Counts of what the simulator produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    /// Kafka messages (file lines, except for NDJSON batches).
    pub records: u64,
    /// Valid events, including those inside NDJSON batches.
    pub events: u64,
    /// Records broken on purpose (each has an expected rejection).
    pub malformed_records: u64,
    /// Valid records sent a second time, byte for byte (the decoder must
    /// skip the second copy as a duplicate).
    #[serde(default)]
    pub duplicate_records: u64,
    /// Event time of the last record, RFC 3339 UTC (empty if none).
    pub last_event_time: String,
}

/// Expected rates of one slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SliceRates {
    /// Attempts per order in the whole population.
    pub(crate) attempts_per_order: f64,
    pub(crate) failure_rate: f64,
    pub(crate) cause_rate: f64,
}

/// What slice to measure: `filter` on the attempt, and with
/// `cause_dimension` only failures of `focus` count as failures.
struct Slice {
    filter: SliceFilter,
    cause_dimension: bool,
    focus: Cause,
}

#[derive(Default)]
struct Acc {
    all_attempts: f64,
    attempts: f64,
    failures: f64,
    focus: f64,
}

/// Paths less likely than this are dropped (they move rates by < 1e-6).
const PRUNE: f64 = 1e-11;

fn rates(model: &Model, effects: &[CauseEffect], slice: &Slice) -> SliceRates {
    let mut acc = Acc::default();
    for (p, w) in model.profiles() {
        walk(model, effects, slice, p, 1, None, w, &mut acc);
    }
    let ratio = |a: f64| {
        if acc.attempts > 0.0 {
            round9(a / acc.attempts)
        } else {
            0.0
        }
    };
    SliceRates {
        attempts_per_order: round9(acc.all_attempts),
        failure_rate: ratio(acc.failures),
        cause_rate: ratio(acc.focus),
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    model: &Model,
    effects: &[CauseEffect],
    slice: &Slice,
    p: Profile,
    attempt: u8,
    prev: Option<Prev>,
    w: f64,
    acc: &mut Acc,
) {
    let h = model.hazards(&p, prev, effects);
    acc.all_attempts += w;
    if slice.filter.matches(model, &p) {
        let focus = h[slice.focus.index()];
        acc.attempts += w;
        acc.focus += w * focus;
        acc.failures += w * if slice.cause_dimension {
            focus
        } else {
            h.iter().sum::<f64>()
        };
    }
    if attempt >= MAX_ATTEMPTS {
        return;
    }
    for (i, &hc) in h.iter().enumerate() {
        let cause = Cause::ALL[i];
        let wr = w * hc * retry_probability(cause, attempt);
        if wr < PRUNE {
            continue;
        }
        let switch = switch_probability(cause);
        let alternatives = model.alternatives(&p);
        let can_switch = alternatives.iter().sum::<f64>() > 0.0;
        let stay = if can_switch { 1.0 - switch } else { 1.0 };
        if stay > 0.0 {
            let prev = Some(Prev {
                cause,
                switched: false,
            });
            walk(model, effects, slice, p, attempt + 1, prev, wr * stay, acc);
        }
        if can_switch && switch > 0.0 {
            for (m, &wm) in alternatives.iter().enumerate() {
                if wm > 0.0 {
                    let mut q = p;
                    q.method = Method::ALL[m];
                    let prev = Some(Prev {
                        cause,
                        switched: true,
                    });
                    walk(
                        model,
                        effects,
                        slice,
                        q,
                        attempt + 1,
                        prev,
                        wr * switch * wm,
                        acc,
                    );
                }
            }
        }
    }
}

/// Nine decimals: far below sampling noise, and short decimals survive a
/// JSON round trip exactly.
fn round9(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

/// Rates of the whole population with no incident.
pub(crate) fn baseline(model: &Model) -> SliceRates {
    let slice = Slice {
        filter: SliceFilter::default(),
        cause_dimension: false,
        focus: Cause::Unknown,
    };
    rates(model, &[], &slice)
}

/// RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_rfc3339(&mut out, ms, 0);
    String::from_utf8_lossy(&out).into_owned()
}

/// The truth entry of each incident (counts of malformed records left
/// at zero: the simulator fills them in as it goes).
pub(crate) fn describe(model: &Model, incidents: &[Incident], overall: f64) -> Vec<TruthIncident> {
    // Baselines repeat across incidents of the same slice (mixed, every=).
    let mut baselines: Vec<(SliceFilter, Cause, SliceRates)> = Vec::new();
    incidents
        .iter()
        .map(|inc| {
            let mut t = TruthIncident {
                scenario: inc.scenario.to_string(),
                slice: BTreeMap::new(),
                cause: None,
                start: rfc3339(inc.start_ms),
                end: rfc3339(inc.end_ms),
                magnitude: 0.0,
                magnitude_kind: String::new(),
                decoy: false,
                baseline_failure_rate: None,
                expected_failure_rate: None,
                baseline_cause_rate: None,
                expected_cause_rate: None,
                rejections: None,
                ndjson_messages: None,
                ndjson_events: None,
            };
            match inc.effect {
                Effect::Cause(ce) => {
                    let (magnitude, kind) = match ce.magnitude {
                        Magnitude::Factor(f) => (f, "factor"),
                        Magnitude::Rate(r) => (r, "rate"),
                    };
                    t.magnitude = magnitude;
                    t.magnitude_kind = kind.into();
                    t.cause = Some(ce.cause.as_str().into());
                    t.slice = slice_map(&ce);
                    let slice = Slice {
                        filter: ce.filter,
                        cause_dimension: ce.filter.is_empty(),
                        focus: ce.cause,
                    };
                    let mid = inc.start_ms + (inc.end_ms - inc.start_ms) / 2;
                    let active: Vec<CauseEffect> = incidents
                        .iter()
                        .filter(|o| o.active_at(mid) || std::ptr::eq(*o, inc))
                        .filter_map(|o| match o.effect {
                            Effect::Cause(e) => Some(e),
                            _ => None,
                        })
                        .collect();
                    let base = match baselines
                        .iter()
                        .find(|(f, c, _)| *f == ce.filter && *c == ce.cause)
                    {
                        Some((_, _, r)) => *r,
                        None => {
                            let r = rates(model, &[], &slice);
                            baselines.push((ce.filter, ce.cause, r));
                            r
                        }
                    };
                    let during = rates(model, &active, &slice);
                    t.baseline_failure_rate = Some(base.failure_rate);
                    t.expected_failure_rate = Some(during.failure_rate);
                    t.baseline_cause_rate = Some(base.cause_rate);
                    t.expected_cause_rate = Some(during.cause_rate);
                }
                Effect::Surge(factor) => {
                    t.magnitude = factor;
                    t.magnitude_kind = "traffic_factor".into();
                    t.decoy = true;
                    t.baseline_failure_rate = Some(overall);
                    t.expected_failure_rate = Some(overall);
                }
                Effect::Malformed { share, .. } => {
                    t.magnitude = share;
                    t.magnitude_kind = "share".into();
                    t.decoy = true;
                    t.rejections = Some(rejection_map(&[0; Reason::ALL.len()]));
                    t.ndjson_messages = Some(0);
                    t.ndjson_events = Some(0);
                }
            }
            t
        })
        .collect()
}

fn slice_map(ce: &CauseEffect) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Some(c) = ce.filter.channel {
        m.insert("channel".into(), c.as_str().into());
    }
    if let Some(pm) = ce.filter.method {
        m.insert("payment_method".into(), pm.as_str().into());
    }
    if let Some(v) = ce.filter.app_version {
        m.insert("app_version".into(), APP_VERSIONS[usize::from(v)].0.into());
    }
    if m.is_empty() {
        m.insert("failure_cause".into(), ce.cause.as_str().into());
    }
    m
}

/// Every reason code with its count.
pub(crate) fn rejection_map(counts: &[u64; Reason::ALL.len()]) -> BTreeMap<String, u64> {
    Reason::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), counts[r.index()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumeration_is_consistent() {
        let model = Model::new();
        let base = baseline(&model);
        assert!((1.005..1.1).contains(&base.attempts_per_order), "{base:?}");
        assert!((0.02..0.07).contains(&base.failure_rate), "{base:?}");

        let alipay = CauseEffect {
            filter: SliceFilter {
                method: Some(Method::Alipay),
                ..SliceFilter::default()
            },
            cause: Cause::PaymentDeclined,
            magnitude: Magnitude::Factor(10.0),
        };
        let slice = Slice {
            filter: alipay.filter,
            cause_dimension: false,
            focus: Cause::PaymentDeclined,
        };
        let before = rates(&model, &[], &slice);
        let during = rates(&model, &[alipay], &slice);
        assert!(
            during.cause_rate > 8.0 * before.cause_rate,
            "{before:?} {during:?}"
        );
        assert!(during.failure_rate > before.failure_rate);
    }

    #[test]
    fn truth_round_trips_through_json() {
        let truth = Truth {
            seed: 7,
            start: rfc3339(1_793_491_200_000),
            end: rfc3339(1_793_494_800_000),
            rate: 100.0,
            tz_offset_minutes: 480,
            diurnal: true,
            scenarios: vec!["payment-outage:method=alipay".into()],
            baseline_failure_rate: 0.04,
            attempts_per_order: 1.02,
            incidents: describe(
                &Model::new(),
                &[Incident {
                    scenario: "malformed",
                    start_ms: 0,
                    end_ms: 10,
                    effect: Effect::Malformed {
                        share: 0.02,
                        oversized: 1,
                        duplicates: 0.0,
                    },
                }],
                0.04,
            ),
            generated: Generated::default(),
        };
        let json = serde_json::to_string_pretty(&truth).unwrap();
        let back: Truth = serde_json::from_str(&json).unwrap();
        assert_eq!(back, truth);
        assert_eq!(truth.start, "2026-11-01T00:00:00.000Z");
    }
}
