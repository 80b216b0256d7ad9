//! Believable order-attempt traffic with incidents, and its ground truth.
//!
//! ```
//! use ingest::simulate::{SimConfig, Simulator};
//!
//! let cfg = SimConfig {
//!     duration_ms: 60_000,
//!     rate: 50.0,
//!     scenarios: ingest::simulate::parse_scenarios("payment-outage,malformed").unwrap(),
//!     ..SimConfig::default()
//! };
//! let mut sim = Simulator::new(cfg);
//! let records: Vec<_> = sim.by_ref().collect();
//! assert!(records.len() > 1_000);
//! let truth = sim.truth(); // serde-serialisable ground truth
//! assert_eq!(truth.incidents.len(), 2);
//! ```
//!
//! # Layout
//! - [`Simulator`] (this file): the event-time loop. New orders arrive as a
//!   Poisson process whose rate follows the diurnal curve, slow noise and
//!   promo surges; failed attempts schedule retries; incidents switch on
//!   and off; the malformed scenario breaks records.
//! - `model`: the probabilities: channel, client, payment-method and
//!   network mixes, failure hazards per cause, retries, the diurnal curve.
//! - `catalog`: the words: clients, regions, locales, currencies, error
//!   codes and messages.
//! - `order`: one order and the [event](SimRecord::value) of each attempt.
//! - `event`: the JSON writer.
//! - `malformed`: broken records and the reason code each must get.
//! - `scenario`: `--scenario` parsing ([`Scenario`]) and placing incidents.
//! - `truth`: the ground truth ([`Truth`]) and the model enumeration
//!   behind its expected rates.
//! - `sink`: the outputs, [`NdjsonSink`] and [`KafkaSink`].
//!
//! # Determinism
//! The same [`SimConfig`] gives byte-identical records with the same
//! orderpulse build: one seeded ChaCha8 stream, no hash-map iteration, no
//! wall clock (real-time pacing is the caller's business).
//!
//! # Size and speed
//! Valid events average about 413 bytes of JSON (successes ~400, failures
//! ~520 with their error code and message; the
//! `events_average_300_to_450_bytes` test measures it). A release build
//! generates about 1.4 M events/s on one core (`orderpulse simulate --start
//! 2026-11-01T00:00:00Z --duration 1h --rate 1000 --output /dev/null`:
//! 3.56 M events in 2.5 s).

mod catalog;
mod event;
mod malformed;
mod model;
mod order;
mod scenario;
mod sink;
mod truth;

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use ::model::Reason;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

pub use scenario::{
    Magnitude, Offset, SCENARIO_NAMES, Scenario, ScenarioError, ScenarioKind, Timing,
    parse_scenarios,
};
pub use sink::{DeliveryReport, KafkaSink, KafkaSinkConfig, NdjsonSink};
pub use truth::{Generated, Truth, TruthIncident};

use self::event::{Event, Tamper, write_event};
use self::malformed::Breakage;
use self::model::{CauseEffect, Diurnal, Model, RateNoise, mix64};
use self::order::Order;
use self::scenario::{Effect, Incident};
use crate::{Error, Result};

/// Highest `rate` accepted (events/s): beyond it a run is better split
/// across processes.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Longest run: 400 days.
pub const MAX_DURATION_MS: i64 = 400 * 86_400_000;
/// Earliest start: 2000-01-01T00:00:00Z (ingest rejects older events).
pub const MIN_START_MS: i64 = 946_684_800_000;
/// Latest end: 2100-01-01T00:00:00Z.
pub const MAX_END_MS: i64 = 4_102_444_800_000;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Same seed and config → same records.
    pub seed: u64,
    /// Event time of the run start, UTC epoch ms.
    pub start_ms: i64,
    /// Length of the run in event time, ms.
    pub duration_ms: i64,
    /// Mean events per second over a day (retries included; the diurnal
    /// curve moves it between ~0.15× and ~1.6×, promo surges multiply it).
    pub rate: f64,
    /// Incidents; empty or `steady` for none.
    pub scenarios: Vec<Scenario>,
    /// The shoppers' UTC offset in minutes: the diurnal curve follows their
    /// clock and RFC 3339 `ts` values of mainland regions carry it.
    pub tz_offset_minutes: i32,
    /// Traffic follows the diurnal curve; `false` keeps it flat.
    pub diurnal: bool,
}

impl Default for SimConfig {
    /// One hour from 2026-11-01T00:00:00+08:00 at 100 events/s, UTC+8, no
    /// incident.
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start_ms: 1_793_462_400_000,
            duration_ms: 3_600_000,
            rate: 100.0,
            scenarios: Vec::new(),
            tz_offset_minutes: 480,
            diurnal: true,
        }
    }
}

impl SimConfig {
    /// Checks every value and that each scenario fits in the run.
    /// [`Simulator::new`] does not fail: it clamps what this refuses.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        if !self.rate.is_finite() || self.rate <= 0.0 {
            return bad(format!("rate {}: must be above 0 events/s", self.rate));
        }
        if self.rate > MAX_RATE {
            return bad(format!(
                "rate {}: at most {MAX_RATE} events/s per simulator (run several for more)",
                self.rate
            ));
        }
        if self.duration_ms <= 0 || self.duration_ms > MAX_DURATION_MS {
            return bad(format!(
                "duration {} ms: must be above 0 and at most 400 days",
                self.duration_ms
            ));
        }
        if self.start_ms < MIN_START_MS
            || self.start_ms.saturating_add(self.duration_ms) > MAX_END_MS
        {
            return bad(format!(
                "the run {} .. {} must lie between 2000-01-01 and 2100-01-01",
                truth::rfc3339(self.start_ms),
                truth::rfc3339(self.start_ms.saturating_add(self.duration_ms))
            ));
        }
        if !(-840..=840).contains(&self.tz_offset_minutes) {
            return bad(format!(
                "UTC offset {} minutes: must be within ±14 hours",
                self.tz_offset_minutes
            ));
        }
        scenario::resolve(&self.scenarios, self.start_ms, self.duration_ms, self.seed)
            .map(drop)
            .map_err(Error::Config)
    }
}

/// One Kafka message of the simulated stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    /// Event time, UTC epoch ms (records come in this order).
    pub event_time_ms: i64,
    /// The Kafka message key: the order id.
    pub key: Option<String>,
    /// The Kafka message value: one JSON event, or for the malformed
    /// scenario a broken record or an NDJSON message of several events.
    pub value: Vec<u8>,
    /// For a record the malformed scenario broke on purpose: the reason
    /// code the decoder must reject it with. `None` for valid records,
    /// including NDJSON messages of several events (each line is a valid
    /// event; count them by their lines).
    pub expected_rejection: Option<Reason>,
}

/// The generator: an iterator of [`SimRecord`]s in event-time order.
pub struct Simulator {
    cfg: SimConfig,
    model: Model,
    incidents: Vec<Incident>,
    truth: Truth,
    rng: ChaCha8Rng,
    end_ms: i64,
    /// Event time of the next new order, fractional ms.
    next_arrival: f64,
    first_attempts_per_ms: f64,
    diurnal: Diurnal,
    noise: RateNoise,
    keys: Keys,
    orders: u64,
    events: u64,
    retries: BinaryHeap<Reverse<Pending>>,
    pending_seq: u64,
    active: Active,
    /// Malformed-record indices that become oversized messages (ascending).
    oversized_at: Vec<u64>,
    malformed_seen: u64,
    /// A record to send once more (the malformed scenario's `duplicates`).
    resend: Option<SimRecord>,
    stats: Stats,
}

#[derive(Debug, Clone, Copy)]
struct Keys {
    id: u64,
    order: u64,
    session: u64,
}

/// A retry waiting for its time.
struct Pending {
    due_ms: i64,
    seq: u64,
    order: Order,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due_ms, self.seq).cmp(&(other.due_ms, other.seq))
    }
}

/// What the incidents do right now.
#[derive(Debug, Default)]
struct Active {
    /// Next event time at which an incident starts or ends.
    next_change: i64,
    effects: Vec<CauseEffect>,
    surge: f64,
    /// Index of the active malformed incident, its share of broken
    /// records and its share of records sent twice.
    malformed: Option<(usize, f64, f64)>,
}

#[derive(Debug, Default)]
struct Stats {
    records: u64,
    events: u64,
    malformed: u64,
    duplicates: u64,
    last_ms: Option<i64>,
    /// Per incident: rejections by reason, NDJSON messages and their events.
    per_incident: Vec<([u64; Reason::ALL.len()], u64, u64)>,
}

impl Simulator {
    /// A simulator for `cfg`. Never fails: out-of-range values are clamped
    /// and scenarios that do not fit the run are left out; call
    /// [`SimConfig::validate`] first to report them.
    pub fn new(cfg: SimConfig) -> Self {
        let mut cfg = cfg;
        cfg.rate = if cfg.rate.is_finite() {
            cfg.rate.clamp(1e-6, MAX_RATE)
        } else {
            1.0
        };
        cfg.duration_ms = cfg.duration_ms.clamp(1, MAX_DURATION_MS);
        cfg.start_ms = cfg
            .start_ms
            .clamp(MIN_START_MS, MAX_END_MS - cfg.duration_ms);
        cfg.tz_offset_minutes = cfg.tz_offset_minutes.clamp(-840, 840);
        let end_ms = cfg.start_ms + cfg.duration_ms;

        let model = Model::new();
        let mut incidents: Vec<Incident> = cfg
            .scenarios
            .iter()
            .filter_map(|s| {
                scenario::resolve(
                    std::slice::from_ref(s),
                    cfg.start_ms,
                    cfg.duration_ms,
                    cfg.seed,
                )
                .ok()
            })
            .flatten()
            .collect();
        incidents.sort_by_key(|i| i.start_ms);

        let base = truth::baseline(&model);
        let truth = Truth {
            seed: cfg.seed,
            start: truth::rfc3339(cfg.start_ms),
            end: truth::rfc3339(end_ms),
            rate: cfg.rate,
            tz_offset_minutes: cfg.tz_offset_minutes,
            diurnal: cfg.diurnal,
            scenarios: cfg.scenarios.iter().map(Scenario::to_string).collect(),
            baseline_failure_rate: base.failure_rate,
            attempts_per_order: base.attempts_per_order,
            incidents: truth::describe(&model, &incidents, base.failure_rate),
            generated: Generated::default(),
        };

        let oversized_at = oversized_schedule(&cfg, &incidents);
        let mut sim = Simulator {
            keys: Keys {
                id: mix64(cfg.seed ^ 0x6576_656e_7473),
                order: mix64(cfg.seed ^ 0x6f72_6465_7273),
                session: mix64(cfg.seed ^ 0x7365_7373_696f_6e73),
            },
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            first_attempts_per_ms: cfg.rate / 1000.0 / base.attempts_per_order,
            diurnal: Diurnal::new(cfg.tz_offset_minutes, cfg.diurnal),
            noise: RateNoise::new(cfg.seed),
            next_arrival: cfg.start_ms as f64,
            end_ms,
            model,
            stats: Stats {
                per_incident: vec![([0; Reason::ALL.len()], 0, 0); incidents.len()],
                ..Stats::default()
            },
            incidents,
            truth,
            orders: 0,
            events: 0,
            retries: BinaryHeap::new(),
            pending_seq: 0,
            active: Active {
                next_change: i64::MIN,
                ..Active::default()
            },
            oversized_at,
            malformed_seen: 0,
            resend: None,
            cfg,
        };
        sim.advance_arrival(sim.cfg.start_ms);
        sim
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// End of the run (exclusive), UTC epoch ms.
    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    /// Event time of the next record, without generating it; `None` once
    /// the run is over. Lets a caller pace records in real time without
    /// holding one back.
    pub fn next_event_time_ms(&self) -> Option<i64> {
        let arrival =
            (self.next_arrival < self.end_ms as f64).then(|| self.next_arrival.floor() as i64);
        let retry = self.retries.peek().map(|p| p.0.due_ms);
        match (arrival, retry) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// The ground truth: the run, its incidents with their expected rates,
    /// and the counts of what has been generated so far (call it after the
    /// iterator is exhausted for the full counts).
    pub fn truth(&self) -> Truth {
        let mut t = self.truth.clone();
        for (inc, (rejections, messages, events)) in
            t.incidents.iter_mut().zip(&self.stats.per_incident)
        {
            if inc.rejections.is_some() {
                inc.rejections = Some(truth::rejection_map(rejections));
                inc.ndjson_messages = Some(*messages);
                inc.ndjson_events = Some(*events);
            }
        }
        t.generated = Generated {
            records: self.stats.records,
            events: self.stats.events,
            malformed_records: self.stats.malformed,
            duplicate_records: self.stats.duplicates,
            last_event_time: self.stats.last_ms.map(truth::rfc3339).unwrap_or_default(),
        };
        t
    }

    /// Updates the active incidents for event time `t` (never decreasing).
    fn refresh(&mut self, t: i64) {
        if t < self.active.next_change {
            return;
        }
        let a = &mut self.active;
        a.effects.clear();
        a.surge = 1.0;
        a.malformed = None;
        a.next_change = i64::MAX;
        for (i, inc) in self.incidents.iter().enumerate() {
            if inc.active_at(t) {
                match inc.effect {
                    Effect::Cause(e) => a.effects.push(e),
                    Effect::Surge(f) => a.surge *= f,
                    Effect::Malformed {
                        share, duplicates, ..
                    } => {
                        a.malformed.get_or_insert((i, share, duplicates));
                    }
                }
            }
            for edge in [inc.start_ms, inc.end_ms] {
                if edge > t {
                    a.next_change = a.next_change.min(edge);
                }
            }
        }
    }

    /// Draws the arrival after the one at `t`.
    fn advance_arrival(&mut self, t: i64) {
        self.refresh(t);
        let lambda = self.first_attempts_per_ms
            * self.diurnal.factor(t)
            * self.noise.factor(t)
            * self.active.surge;
        let gap: f64 = Exp1.sample(&mut self.rng);
        self.next_arrival += gap / lambda.max(1e-15);
    }

    fn new_order(&mut self) -> Order {
        let n = self.orders;
        self.orders += 1;
        Order::sample(
            &self.model,
            mix64(n ^ self.keys.order),
            mix64(n ^ self.keys.session),
            &mut self.rng,
        )
    }

    fn event(&mut self, t: i64, order: &Order) -> Event {
        let id = event::event_id(self.keys.id, self.events);
        self.events += 1;
        order::attempt(
            &self.model,
            order,
            t,
            id,
            self.cfg.tz_offset_minutes,
            &self.active.effects,
            &mut self.rng,
        )
    }

    fn emit(&mut self, t: i64, order: Order) -> SimRecord {
        self.refresh(t);
        let ev = self.event(t, &order);
        if let Some(cause) = ev.cause
            && let Some((due, next)) = order::retry(&self.model, &order, cause, t, &mut self.rng)
            && due < self.end_ms
        {
            self.pending_seq += 1;
            self.retries.push(Reverse(Pending {
                due_ms: due,
                seq: self.pending_seq,
                order: next,
            }));
        }
        self.stats.records += 1;
        self.stats.last_ms = Some(t);
        let key = Some(event::order_id(order.key));
        if let Some((incident, share, _)) = self.active.malformed
            && self.rng.random::<f64>() < share
        {
            return self.broken(t, incident, &ev, key);
        }
        let mut value = Vec::with_capacity(512);
        write_event(&ev, Tamper::None, &mut value);
        self.stats.events += 1;
        let record = SimRecord {
            event_time_ms: t,
            key,
            value,
            expected_rejection: None,
        };
        // A producer retry: the same record again, right after it. The rng is
        // only drawn when duplicates are asked for, so other runs keep their bytes.
        if let Some((_, _, duplicates)) = self.active.malformed
            && duplicates > 0.0
            && self.rng.random::<f64>() < duplicates
        {
            self.stats.duplicates += 1;
            self.resend = Some(record.clone());
        }
        record
    }

    fn broken(&mut self, t: i64, incident: usize, ev: &Event, key: Option<String>) -> SimRecord {
        let n = self.malformed_seen;
        self.malformed_seen += 1;
        let breakage = if self.oversized_at.last() == Some(&n) {
            self.oversized_at.pop();
            Breakage::Reject(Reason::MessageTooLarge)
        } else {
            malformed::choose(&mut self.rng)
        };
        let mut value = Vec::with_capacity(512);
        let counts = &mut self.stats.per_incident[incident];
        match breakage {
            Breakage::Reject(reason) => {
                counts.0[reason.index()] += 1;
                self.stats.malformed += 1;
                malformed::write_broken(reason, ev, &mut self.rng, &mut value);
                SimRecord {
                    event_time_ms: t,
                    key,
                    value,
                    expected_rejection: Some(reason),
                }
            }
            Breakage::Batch => {
                // This event and a few more new orders' first attempts
                // (which are not retried), one per line.
                let k = self.rng.random_range(2..=5u64);
                counts.1 += 1;
                counts.2 += k;
                self.stats.events += k;
                write_event(ev, Tamper::None, &mut value);
                for _ in 1..k {
                    let order = self.new_order();
                    let extra = self.event(t, &order);
                    value.push(b'\n');
                    write_event(&extra, Tamper::None, &mut value);
                }
                SimRecord {
                    event_time_ms: t,
                    key,
                    value,
                    expected_rejection: None,
                }
            }
        }
    }
}

impl Iterator for Simulator {
    type Item = SimRecord;

    fn next(&mut self) -> Option<SimRecord> {
        if let Some(again) = self.resend.take() {
            self.stats.records += 1;
            return Some(again);
        }
        let arrival =
            (self.next_arrival < self.end_ms as f64).then(|| self.next_arrival.floor() as i64);
        let retry = self.retries.peek().map(|p| p.0.due_ms);
        let take_retry = match (arrival, retry) {
            (None, None) => return None,
            (Some(a), Some(r)) => r <= a,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        if take_retry {
            let Reverse(p) = self.retries.pop()?;
            return Some(self.emit(p.due_ms, p.order));
        }
        let t = arrival?;
        self.advance_arrival(t);
        let order = self.new_order();
        Some(self.emit(t, order))
    }
}

/// Which malformed records (by index among them) become messages over
/// 1 MiB: `oversized` of them per malformed incident, spread over the
/// first 90% of the records the incident is expected to break. Descending,
/// so the next one is at the end.
fn oversized_schedule(cfg: &SimConfig, incidents: &[Incident]) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6269_675f_6f6e_6573);
    let mut before = 0.0;
    let mut at = Vec::new();
    for inc in incidents {
        if let Effect::Malformed {
            share, oversized, ..
        } = inc.effect
        {
            let expected = share * cfg.rate * (inc.end_ms - inc.start_ms) as f64 / 1000.0;
            for _ in 0..oversized {
                at.push((before + rng.random::<f64>() * 0.9 * expected) as u64);
            }
            before += expected;
        }
    }
    at.sort_unstable_by(|a, b| b.cmp(a));
    at.dedup();
    at
}

#[cfg(test)]
mod tests;
