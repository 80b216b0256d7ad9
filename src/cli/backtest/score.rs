//! Scoring alerts against the simulator's ground truth, and the static
//! rule an operator would write, scored the same way.

use std::collections::{BTreeMap, HashMap};

use ingest::simulate::{Truth, TruthIncident};
use model::alert::{Alert, AlertStatus};

/// An alert starting this long after an incident ended still belongs to it
/// (the window still holds the incident's failures).
const GRACE_MS: i64 = 300_000;
/// An incident counts for recall when its slice's rate at least doubles...
pub(crate) const RECALL_MIN_RATIO: f64 = 2.0;
/// ...with at least this many failures above the baseline.
pub(crate) const RECALL_MIN_EXCESS: f64 = 30.0;

pub(crate) fn parse_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A real (not decoy) incident with what the data say about it.
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    pub(crate) truth: TruthIncident,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// Attempts in the incident's slice during it (counted from the data).
    pub(crate) attempts: u64,
}

impl Incident {
    pub(crate) fn ratio(&self) -> f64 {
        match (
            self.truth.baseline_failure_rate,
            self.truth.expected_failure_rate,
        ) {
            (Some(b), Some(e)) if b > 0.0 => e / b,
            _ => 0.0,
        }
    }

    pub(crate) fn excess(&self) -> f64 {
        match (
            self.truth.baseline_failure_rate,
            self.truth.expected_failure_rate,
        ) {
            (Some(b), Some(e)) => (e - b) * self.attempts as f64,
            _ => 0.0,
        }
    }

    /// Rate at least doubled with at least 30 excess failures.
    pub(crate) fn qualifies(&self) -> bool {
        self.ratio() >= RECALL_MIN_RATIO && self.excess() >= RECALL_MIN_EXCESS
    }

    /// What an alert must name (slice and top contributor together): the
    /// slice's dimensions an alert can have, and the cause.
    fn expected(&self) -> BTreeMap<&str, &str> {
        let mut m: BTreeMap<&str, &str> = self
            .truth
            .slice
            .iter()
            .filter(|(k, _)| model::alert::SLICE_DIMENSIONS.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(c) = &self.truth.cause {
            m.insert("failure_cause", c);
        }
        m
    }

    /// The alert's slice is this incident's or a part of it.
    fn consistent(&self, alert: &Alert) -> bool {
        alert.slice.iter().all(|(k, v)| {
            if k == "failure_cause" {
                self.truth.cause.as_deref() == Some(v.as_str())
            } else {
                self.truth.slice.get(k).is_none_or(|x| x == v)
            }
        })
    }

    fn matches(&self, alert: &Alert) -> bool {
        let Some(t) = parse_ms(&alert.started_at) else {
            return false;
        };
        t >= self.start_ms && t <= self.end_ms + GRACE_MS && self.consistent(alert)
    }

    /// Slice plus the top contributor name everything expected.
    fn identified_by(&self, alert: &Alert) -> bool {
        let mut named: HashMap<&str, &str> = alert
            .slice
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(c) = alert.contributors.first() {
            named
                .entry(c.dimension.as_str())
                .or_insert(c.value.as_str());
        }
        self.expected().iter().all(|(k, v)| named.get(k) == Some(v))
    }
}

/// The real incidents of a truth file (decoys and malformed runs left out).
pub(crate) fn incidents(truth: &Truth) -> Vec<Incident> {
    truth
        .incidents
        .iter()
        .filter(|i| !i.decoy && i.cause.is_some())
        .filter_map(|i| {
            Some(Incident {
                truth: i.clone(),
                start_ms: parse_ms(&i.start)?,
                end_ms: parse_ms(&i.end)?,
                attempts: 0,
            })
        })
        .collect()
}

/// Scores of one alert source.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Score {
    pub(crate) alerts: usize,
    pub(crate) true_alerts: usize,
    pub(crate) false_alerts: usize,
    pub(crate) qualifying: usize,
    pub(crate) detected: usize,
    /// Real incidents below the recall bar that were caught anyway.
    pub(crate) detected_weak: usize,
    pub(crate) delays_s: Vec<f64>,
    pub(crate) contributor_ok: usize,
    pub(crate) days: f64,
}

impl Score {
    pub(crate) fn precision(&self) -> f64 {
        ratio(self.true_alerts, self.alerts)
    }

    pub(crate) fn recall(&self) -> f64 {
        ratio(self.detected, self.qualifying)
    }

    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub(crate) fn false_per_day(&self) -> f64 {
        if self.days > 0.0 {
            self.false_alerts as f64 / self.days
        } else {
            0.0
        }
    }

    pub(crate) fn delay_quantile(&self, q: f64) -> Option<f64> {
        let mut d = self.delays_s.clone();
        if d.is_empty() {
            return None;
        }
        d.sort_by(f64::total_cmp);
        let i = ((d.len() as f64 - 1.0) * q).round() as usize;
        d.get(i).copied()
    }

    pub(crate) fn contributor_accuracy(&self) -> f64 {
        ratio(self.contributor_ok, self.detected)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// What became of each incident, for the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) delay_s: Option<f64>,
    pub(crate) contributor_ok: bool,
}

/// Scores `alerts` (each counted once, by its start) against `incidents`
/// over a run of `days`.
pub(crate) fn score(alerts: &[Alert], incidents: &[Incident], days: f64) -> (Score, Vec<Outcome>) {
    let mut s = Score {
        alerts: alerts.len(),
        days,
        ..Score::default()
    };
    for a in alerts {
        if incidents.iter().any(|i| i.matches(a)) {
            s.true_alerts += 1;
        } else {
            s.false_alerts += 1;
        }
    }
    let mut outcomes = Vec::new();
    for inc in incidents {
        let first = alerts
            .iter()
            .filter(|a| inc.matches(a))
            .min_by_key(|a| parse_ms(&a.started_at));
        let outcome = Outcome {
            delay_s: first
                .and_then(|a| parse_ms(&a.started_at))
                .map(|t| (t - inc.start_ms) as f64 / 1_000.0),
            contributor_ok: first.is_some_and(|a| inc.identified_by(a)),
        };
        if inc.qualifies() {
            s.qualifying += 1;
            if let Some(d) = outcome.delay_s {
                s.detected += 1;
                s.delays_s.push(d);
                s.contributor_ok += usize::from(outcome.contributor_ok);
            }
        } else if outcome.delay_s.is_some() {
            s.detected_weak += 1;
        }
        outcomes.push(outcome);
    }
    (s, outcomes)
}

/// The rule people write first: "failure rate > X % for 5 m", on the whole
/// traffic and per channel and per payment method (a Prometheus
/// `sum by (channel)` / `sum by (payment_method)` rule), with at least
/// `min_attempts` in the 5 minutes so an empty night does not divide by
/// zero. It fires after 5 minutes above and resolves as soon as it is not.
pub(crate) struct StaticRule {
    threshold: f64,
    interval_ms: i64,
    min_attempts: u64,
    /// (dimension, value) → minute → (attempts, failures); "" is everything.
    counts: HashMap<RuleKey, BTreeMap<i64, (u64, u64)>>,
    /// Above the threshold since, and the alert once it fired.
    state: HashMap<RuleKey, (Option<i64>, Option<Alert>)>,
    next_tick: Option<i64>,
    pub(crate) alerts: Vec<Alert>,
}

/// (dimension, value) of a rule's series; ("", "") is all traffic.
type RuleKey = (&'static str, String);

const RULE_WINDOW_MS: i64 = 300_000;
const RULE_FOR_MS: i64 = 300_000;

impl StaticRule {
    pub(crate) fn new(threshold: f64, interval_ms: i64) -> Self {
        Self {
            threshold,
            interval_ms,
            min_attempts: 20,
            counts: HashMap::new(),
            state: HashMap::new(),
            next_tick: None,
            alerts: Vec::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        ts: i64,
        channel: &str,
        method: Option<&str>,
        failed: bool,
        n: u64,
    ) {
        let minute = ts.div_euclid(60_000);
        let f = if failed { n } else { 0 };
        let mut bump = |key: RuleKey| {
            let c = self
                .counts
                .entry(key)
                .or_default()
                .entry(minute)
                .or_default();
            c.0 += n;
            c.1 += f;
        };
        bump(("", String::new()));
        bump(("channel", channel.to_string()));
        if let Some(m) = method {
            bump(("payment_method", m.to_string()));
        }
    }

    pub(crate) fn advance(&mut self, now: i64) {
        let interval = self.interval_ms;
        let mut t = *self
            .next_tick
            .get_or_insert_with(|| (now.div_euclid(interval) + 1) * interval);
        while t <= now {
            self.evaluate(t);
            t += interval;
        }
        self.next_tick = Some(t);
    }

    fn evaluate(&mut self, t: i64) {
        let to = (t - 1).div_euclid(60_000) + 1;
        let from = to - RULE_WINDOW_MS / 60_000;
        let mut keys: Vec<_> = self.counts.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let (a, f) = self.counts[&key]
                .range(from..to)
                .fold((0, 0), |acc, (_, c)| (acc.0 + c.0, acc.1 + c.1));
            let rate = if a > 0 { f as f64 / a as f64 } else { 0.0 };
            let above = a >= self.min_attempts && rate > self.threshold;
            let st = self.state.entry(key.clone()).or_default();
            match (above, st.0, st.1.is_some()) {
                (true, None, _) => st.0 = Some(t),
                (true, Some(since), false) if t - since >= RULE_FOR_MS => {
                    let slice: BTreeMap<String, String> = if key.0.is_empty() {
                        BTreeMap::new()
                    } else {
                        BTreeMap::from([(key.0.to_string(), key.1.clone())])
                    };
                    st.1 = Some(Alert {
                        id: format!("static-{}", self.alerts.len() + 1),
                        status: AlertStatus::Firing,
                        slice,
                        started_at: analytics::detect::rfc3339(t),
                        resolved_at: None,
                        window_seconds: (RULE_WINDOW_MS / 1_000) as u64,
                        attempts: a,
                        failures: f,
                        failure_rate: rate,
                        baseline_rate: self.threshold,
                        score: rate / self.threshold,
                        contributors: Vec::new(),
                        runbook: String::new(),
                    });
                }
                (false, _, _) => {
                    st.0 = None;
                    if let Some(mut alert) = st.1.take() {
                        alert.status = AlertStatus::Resolved;
                        alert.resolved_at = Some(analytics::detect::rfc3339(t));
                        self.alerts.push(alert);
                    }
                }
                _ => {}
            }
        }
    }

    /// Every alert, still-firing ones included, by start.
    pub(crate) fn finish(mut self) -> Vec<Alert> {
        let mut firing: Vec<Alert> = self.state.into_values().filter_map(|s| s.1).collect();
        self.alerts.append(&mut firing);
        self.alerts
            .sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        self.alerts
    }
}
