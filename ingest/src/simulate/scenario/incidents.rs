//! Where the scenarios land: each `--scenario` resolved into incidents
//! placed in the run (start, end, effect), `mixed` drawing its schedule
//! from the seed.

use std::time::Duration;

use model::vocab::{Channel, FailureCause as Cause, PaymentMethod as Method};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::super::catalog::APP_VERSIONS;
use super::super::model::{CauseEffect, SliceFilter};
use super::{Magnitude, Offset, Scenario, ScenarioKind, Timing};

/// An incident placed in the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Incident {
    pub(crate) scenario: &'static str,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) effect: Effect,
}

/// What an incident does while it lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Effect {
    /// One cause's probability rises within a slice.
    Cause(CauseEffect),
    /// Traffic is multiplied; failure rates stay.
    Surge(f64),
    /// A share of records is broken; another share of the valid ones is
    /// sent twice (a producer retry: same bytes, same event_id).
    Malformed {
        share: f64,
        oversized: u32,
        duplicates: f64,
    },
}

impl Incident {
    pub(crate) fn active_at(&self, t_ms: i64) -> bool {
        self.start_ms <= t_ms && t_ms < self.end_ms
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: Offset, run_ms: i64) -> i64 {
    match o {
        Offset::After(d) => ms(d),
        Offset::Fraction(x) => (run_ms as f64 * x).round() as i64,
    }
}

/// The default incident length: 10% of the run, at least 2 minutes (or a
/// quarter of a short run), at most 30 minutes.
fn default_length_ms(run_ms: i64) -> i64 {
    (run_ms / 10).clamp((run_ms / 4).min(120_000), 1_800_000)
}

/// Places every scenario's incidents in a run of `run_ms` from `start_ms`,
/// sorted by start. Errors name the scenario and what does not fit.
pub(crate) fn resolve(
    scenarios: &[Scenario],
    start_ms: i64,
    run_ms: i64,
    seed: u64,
) -> Result<Vec<Incident>, String> {
    let mut out = Vec::new();
    for s in scenarios {
        let name = s.kind.name();
        let effect = match &s.kind {
            ScenarioKind::Steady => continue,
            ScenarioKind::Mixed => {
                out.extend(
                    mixed(&s.timing, start_ms, run_ms, seed)
                        .map_err(|e| format!("scenario `{s}`: {e}"))?,
                );
                continue;
            }
            ScenarioKind::PaymentOutage {
                method,
                cause,
                magnitude,
            } => Effect::Cause(CauseEffect {
                filter: SliceFilter {
                    method: Some(*method),
                    ..SliceFilter::default()
                },
                cause: *cause,
                magnitude: *magnitude,
            }),
            ScenarioKind::Maintenance { rate } => Effect::Cause(CauseEffect {
                filter: SliceFilter::default(),
                cause: Cause::SystemMaintenance,
                magnitude: Magnitude::Rate(*rate),
            }),
            ScenarioKind::NetworkDegradation { channel, magnitude } => Effect::Cause(CauseEffect {
                filter: SliceFilter {
                    channel: Some(*channel),
                    ..SliceFilter::default()
                },
                cause: Cause::NetworkError,
                magnitude: *magnitude,
            }),
            ScenarioKind::BadRelease {
                version,
                channel,
                magnitude,
            } => Effect::Cause(CauseEffect {
                filter: SliceFilter {
                    channel: *channel,
                    app_version: APP_VERSIONS
                        .iter()
                        .position(|(v, _, _)| v == version)
                        .map(|i| i as u8),
                    method: None,
                },
                cause: Cause::ClientOutdated,
                magnitude: *magnitude,
            }),
            ScenarioKind::PromoSurge { factor } => Effect::Surge(*factor),
            ScenarioKind::Malformed {
                share,
                oversized,
                duplicates,
            } => Effect::Malformed {
                share: *share,
                oversized: *oversized,
                duplicates: *duplicates,
            },
        };
        let (default_at, default_len) = match effect {
            Effect::Malformed { .. } => (Offset::Fraction(0.0), Offset::Fraction(1.0)),
            _ => (
                Offset::Fraction(0.4),
                Offset::After(Duration::from_millis(default_length_ms(run_ms) as u64)),
            ),
        };
        let windows = windows(&s.timing, run_ms, default_at, default_len)
            .map_err(|e| format!("scenario `{s}`: {e}"))?;
        out.extend(windows.into_iter().map(|(a, b)| Incident {
            scenario: name,
            start_ms: start_ms + a,
            end_ms: start_ms + b,
            effect,
        }));
    }
    out.sort_by_key(|i| i.start_ms);
    Ok(out)
}

fn windows(
    timing: &Timing,
    run_ms: i64,
    default_at: Offset,
    default_len: Offset,
) -> Result<Vec<(i64, i64)>, String> {
    let at = offset_ms(timing.at.unwrap_or(default_at), run_ms);
    let len = offset_ms(timing.length.unwrap_or(default_len), run_ms).max(1);
    if at >= run_ms {
        return Err(format!(
            "starts {} after the start, but the run lasts {}",
            human(at),
            human(run_ms)
        ));
    }
    let Some(every) = timing.every else {
        return Ok(vec![(at, at.saturating_add(len).min(run_ms))]);
    };
    let every = ms(every);
    if every <= len {
        return Err(format!(
            "every={} must be longer than the incident ({})",
            human(every),
            human(len)
        ));
    }
    let mut out = Vec::new();
    let mut s = at;
    while s < run_ms {
        out.push((s, s.saturating_add(len).min(run_ms)));
        s = s.saturating_add(every);
    }
    Ok(out)
}

fn human(ms: i64) -> String {
    humantime::format_duration(Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// The `mixed` schedule: one incident or decoy per period, of a random
/// kind, slice and magnitude (some weak, some strong), never overlapping.
fn mixed(timing: &Timing, start_ms: i64, run_ms: i64, seed: u64) -> Result<Vec<Incident>, String> {
    let every = timing
        .every
        .map(ms)
        .unwrap_or_else(|| (run_ms / 8).clamp(600_000, 7_200_000));
    let at = timing.at.map_or(every / 2, |o| offset_ms(o, run_ms));
    let cap = timing
        .length
        .map_or((every / 2).min(1_800_000), |o| offset_ms(o, run_ms))
        .max(1);
    if cap >= every {
        return Err(format!(
            "for={} must be shorter than every={}",
            human(cap),
            human(every)
        ));
    }
    if at >= run_ms {
        return Err(format!(
            "starts {} after the start, but the run lasts {}",
            human(at),
            human(run_ms)
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d69_7865_645f_7363);
    let mut out = Vec::new();
    let mut slot = at;
    while slot < run_ms {
        let offset = (rng.random::<f64>() * 0.25 * every as f64) as i64;
        let len = ((0.3 + 0.7 * rng.random::<f64>()) * cap as f64).max(1.0) as i64;
        let begin = slot + offset;
        let (scenario, effect) = mixed_incident(&mut rng);
        if begin < run_ms {
            out.push(Incident {
                scenario,
                start_ms: start_ms + begin,
                end_ms: start_ms + (begin + len).min(run_ms),
                effect,
            });
        }
        slot = slot.saturating_add(every);
    }
    Ok(out)
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    round3((lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp())
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    round3(lo + (hi - lo) * rng.random::<f64>())
}

/// Three decimals: readable in the truth file, and what is written is
/// exactly what was simulated.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mixed_incident(rng: &mut ChaCha8Rng) -> (&'static str, Effect) {
    let cause = |filter, cause, magnitude| {
        Effect::Cause(CauseEffect {
            filter,
            cause,
            magnitude,
        })
    };
    let kind = super::super::model::pick(&[0.30, 0.20, 0.15, 0.10, 0.25], rng);
    match kind {
        0 => {
            const METHODS: [(Method, f64); 7] = [
                (Method::Alipay, 0.35),
                (Method::WechatPay, 0.30),
                (Method::CreditCard, 0.12),
                (Method::UnionPay, 0.08),
                (Method::DebitCard, 0.07),
                (Method::ApplePay, 0.05),
                (Method::Balance, 0.03),
            ];
            let method = METHODS[super::super::model::pick(&METHODS.map(|m| m.1), rng)].0;
            let c = if rng.random::<f64>() < 0.85 {
                Cause::PaymentDeclined
            } else {
                Cause::InsufficientFunds
            };
            let filter = SliceFilter {
                method: Some(method),
                ..SliceFilter::default()
            };
            (
                "payment-outage",
                cause(filter, c, Magnitude::Factor(log_uniform(rng, 3.0, 20.0))),
            )
        }
        1 => {
            let channel = Channel::ALL[rng.random_range(0..Channel::ALL.len())];
            let filter = SliceFilter {
                channel: Some(channel),
                ..SliceFilter::default()
            };
            let m = Magnitude::Factor(log_uniform(rng, 3.0, 15.0));
            ("network-degradation", cause(filter, Cause::NetworkError, m))
        }
        2 => {
            let filter = SliceFilter {
                channel: [None, Some(Channel::IosApp), Some(Channel::AndroidApp)]
                    [rng.random_range(0..3)],
                app_version: Some(rng.random_range(0..3)),
                method: None,
            };
            let m = Magnitude::Rate(uniform(rng, 0.05, 0.4));
            ("bad-release", cause(filter, Cause::ClientOutdated, m))
        }
        3 => {
            let m = Magnitude::Rate(uniform(rng, 0.1, 0.6));
            (
                "maintenance",
                cause(SliceFilter::default(), Cause::SystemMaintenance, m),
            )
        }
        _ => ("promo-surge", Effect::Surge(uniform(rng, 1.5, 4.0))),
    }
}
