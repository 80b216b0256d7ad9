//! Incidents: what `--scenario` asks for, and where in the run it lands.
//!
//! # Syntax
//! `NAME[:KEY=VALUE[,KEY=VALUE...]]`; several scenarios are separated by
//! commas or given as repeated flags, and they combine. A comma-separated
//! token containing `=` (before any `:`) is a parameter of the scenario
//! before it, so `payment-outage:method=wechat_pay,factor=6,maintenance:at=50%`
//! is two scenarios.
//!
//! Every incident scenario takes `at=` (start: a duration after the run
//! start such as `90s`, `10m`, `2h`, or a share of the run such as `40%`;
//! default 40%), `for=` (length, same forms; default 10% of the run,
//! at least 2 minutes or a quarter of the run, at most 30 minutes) and
//! `every=` (repeat with this period until the run ends). The rest:
//!
//! | scenario | parameters (defaults) |
//! |---|---|
//! | `steady` | none: no incident |
//! | `payment-outage` | `method=alipay`, `cause=payment_declined`, `factor=10` or `rate=R` |
//! | `maintenance` | `rate=0.5`: share of attempts failing with `system_maintenance` |
//! | `network-degradation` | `channel=android_app`, `factor=8` or `rate=R` (`network_error`) |
//! | `bad-release` | `version=6.4.0`, `channel=` (both apps), `rate=0.3` or `factor=F` (`client_outdated`) |
//! | `promo-surge` | `factor=3`: traffic multiplier, failure rates unchanged (a decoy) |
//! | `malformed` | `share=0.02` of records broken, `oversized=3` messages over 1 MiB, `duplicates=0` share of valid records sent twice (producer retries); whole run by default |
//! | `mixed` | `every=` (run/8 within 10m..2h): one random incident or decoy per period, `for=` caps their length |
//!
//! `factor=F` multiplies the cause's probability in the slice; `rate=R`
//! raises it to at least `R`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use model::vocab::{self, Channel, FailureCause as Cause, PaymentMethod as Method};

use super::catalog::APP_VERSIONS;

pub(crate) use incidents::{Effect, Incident, resolve};

mod incidents;

/// A `--scenario` that could not be parsed, with what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

/// How strongly an incident raises its cause's probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Magnitude {
    /// Multiply the probability.
    Factor(f64),
    /// Raise the probability to at least this.
    Rate(f64),
}

/// A point or a length within the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Offset {
    /// A fixed time.
    After(Duration),
    /// A share of the run's duration (0.4 = 40%).
    Fraction(f64),
}

/// When an incident happens; `None` takes the scenario's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timing {
    pub at: Option<Offset>,
    pub length: Option<Offset>,
    pub every: Option<Duration>,
}

/// What kind of incident, with its slice and magnitude.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioKind {
    Steady,
    PaymentOutage {
        method: Method,
        cause: Cause,
        magnitude: Magnitude,
    },
    Maintenance {
        rate: f64,
    },
    NetworkDegradation {
        channel: Channel,
        magnitude: Magnitude,
    },
    BadRelease {
        version: String,
        channel: Option<Channel>,
        magnitude: Magnitude,
    },
    PromoSurge {
        factor: f64,
    },
    Malformed {
        share: f64,
        oversized: u32,
        duplicates: f64,
    },
    Mixed,
}

/// One `--scenario`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub kind: ScenarioKind,
    pub timing: Timing,
}

/// Every scenario name, for help and error texts.
pub const SCENARIO_NAMES: [&str; 8] = [
    "steady",
    "payment-outage",
    "maintenance",
    "network-degradation",
    "bad-release",
    "promo-surge",
    "malformed",
    "mixed",
];

impl ScenarioKind {
    /// The scenario's name as written on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            ScenarioKind::Steady => "steady",
            ScenarioKind::PaymentOutage { .. } => "payment-outage",
            ScenarioKind::Maintenance { .. } => "maintenance",
            ScenarioKind::NetworkDegradation { .. } => "network-degradation",
            ScenarioKind::BadRelease { .. } => "bad-release",
            ScenarioKind::PromoSurge { .. } => "promo-surge",
            ScenarioKind::Malformed { .. } => "malformed",
            ScenarioKind::Mixed => "mixed",
        }
    }

    fn defaults(name: &str) -> Option<ScenarioKind> {
        Some(match name {
            "steady" => ScenarioKind::Steady,
            "payment-outage" => ScenarioKind::PaymentOutage {
                method: Method::Alipay,
                cause: Cause::PaymentDeclined,
                magnitude: Magnitude::Factor(10.0),
            },
            "maintenance" => ScenarioKind::Maintenance { rate: 0.5 },
            "network-degradation" => ScenarioKind::NetworkDegradation {
                channel: Channel::AndroidApp,
                magnitude: Magnitude::Factor(8.0),
            },
            "bad-release" => ScenarioKind::BadRelease {
                version: APP_VERSIONS[0].0.to_string(),
                channel: None,
                magnitude: Magnitude::Rate(0.3),
            },
            "promo-surge" => ScenarioKind::PromoSurge { factor: 3.0 },
            "malformed" => ScenarioKind::Malformed {
                share: 0.02,
                oversized: 3,
                duplicates: 0.0,
            },
            "mixed" => ScenarioKind::Mixed,
            _ => return None,
        })
    }

    fn keys(&self) -> &'static [&'static str] {
        match self {
            ScenarioKind::Steady => &[],
            ScenarioKind::PaymentOutage { .. } => &["method", "cause", "factor", "rate"],
            ScenarioKind::Maintenance { .. } => &["rate"],
            ScenarioKind::NetworkDegradation { .. } => &["channel", "factor", "rate"],
            ScenarioKind::BadRelease { .. } => &["version", "channel", "factor", "rate"],
            ScenarioKind::PromoSurge { .. } => &["factor"],
            ScenarioKind::Malformed { .. } => &["share", "oversized", "duplicates"],
            ScenarioKind::Mixed => &[],
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match (self, key) {
            (ScenarioKind::PaymentOutage { method, .. }, "method") => {
                *method = parse_method(value)?
            }
            (ScenarioKind::PaymentOutage { cause, .. }, "cause") => *cause = parse_cause(value)?,
            (
                ScenarioKind::PaymentOutage { magnitude, .. }
                | ScenarioKind::NetworkDegradation { magnitude, .. }
                | ScenarioKind::BadRelease { magnitude, .. },
                "factor",
            ) => *magnitude = Magnitude::Factor(parse_number(key, value, 1.0, 1000.0)?),
            (
                ScenarioKind::PaymentOutage { magnitude, .. }
                | ScenarioKind::NetworkDegradation { magnitude, .. }
                | ScenarioKind::BadRelease { magnitude, .. },
                "rate",
            ) => *magnitude = Magnitude::Rate(parse_share(key, value)?),
            (ScenarioKind::Maintenance { rate }, "rate") => *rate = parse_share(key, value)?,
            (ScenarioKind::NetworkDegradation { channel, .. }, "channel") => {
                *channel = parse_channel(value)?
            }
            (ScenarioKind::BadRelease { channel, .. }, "channel") => {
                let c = parse_channel(value)?;
                if !matches!(c, Channel::IosApp | Channel::AndroidApp) {
                    return Err(format!(
                        "channel `{value}`: app versions exist on ios_app and android_app only"
                    ));
                }
                *channel = Some(c);
            }
            (ScenarioKind::BadRelease { version, .. }, "version") => {
                if !APP_VERSIONS.iter().any(|(v, _, _)| *v == value) {
                    let known: Vec<_> = APP_VERSIONS.iter().map(|(v, _, _)| *v).collect();
                    return Err(format!(
                        "version `{value}` has no traffic (app versions: {})",
                        known.join(", ")
                    ));
                }
                *version = value.to_string();
            }
            (ScenarioKind::PromoSurge { factor }, "factor") => {
                *factor = parse_number(key, value, f64::MIN_POSITIVE, 100.0)?
            }
            (ScenarioKind::Malformed { share, .. }, "share") => *share = parse_share(key, value)?,
            (ScenarioKind::Malformed { oversized, .. }, "oversized") => {
                *oversized = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 100)
                    .ok_or_else(|| format!("oversized={value}: expected a count from 0 to 100"))?
            }
            (ScenarioKind::Malformed { duplicates, .. }, "duplicates") => {
                *duplicates = parse_share(key, value)?
            }
            _ => return Err(format!("unknown parameter `{key}`")),
        }
        Ok(())
    }
}

impl Scenario {
    fn build(name: &str, params: &[(&str, &str)]) -> Result<Scenario, ScenarioError> {
        let err = |msg: String| ScenarioError(format!("scenario `{name}`: {msg}"));
        let mut kind = ScenarioKind::defaults(name).ok_or_else(|| {
            ScenarioError(format!(
                "unknown scenario `{name}` (known: {})",
                SCENARIO_NAMES.join(", ")
            ))
        })?;
        let mut timing = Timing::default();
        let mut seen: Vec<&str> = Vec::new();
        for &(key, value) in params {
            if seen.contains(&key) {
                return Err(err(format!("`{key}` given twice")));
            }
            if (key == "factor" && seen.contains(&"rate"))
                || (key == "rate" && seen.contains(&"factor"))
            {
                return Err(err("give `factor` or `rate`, not both".into()));
            }
            seen.push(key);
            let allowed = |k: &str| kind.keys().contains(&k);
            let result = match key {
                "at" if kind != ScenarioKind::Steady => parse_offset(value, false)
                    .map(|o| timing.at = Some(o))
                    .map_err(|e| format!("at={e}")),
                "for" if kind != ScenarioKind::Steady => parse_offset(value, true)
                    .map(|o| timing.length = Some(o))
                    .map_err(|e| format!("for={e}")),
                "every" if kind != ScenarioKind::Steady => parse_duration(value)
                    .map(|d| timing.every = Some(d))
                    .map_err(|e| format!("every={e}")),
                k if allowed(k) => kind.set(k, value),
                _ => {
                    let mut keys: Vec<&str> = kind.keys().to_vec();
                    if kind != ScenarioKind::Steady {
                        keys.extend(["at", "for", "every"]);
                    }
                    let keys = if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    };
                    Err(format!("unknown parameter `{key}` (parameters: {keys})"))
                }
            };
            result.map_err(err)?;
        }
        Ok(Scenario { kind, timing })
    }
}

/// Parses a comma-separated list of scenarios (see the module docs).
pub fn parse_scenarios(s: &str) -> Result<Vec<Scenario>, ScenarioError> {
    let mut parts: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for token in s.split(',').map(str::trim) {
        if token.is_empty() {
            return Err(ScenarioError(format!("empty scenario in `{s}`")));
        }
        let eq = token.find('=');
        let colon = token.find(':');
        let is_param = match (eq, colon) {
            (Some(e), Some(c)) => e < c,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if is_param {
            let (k, v) = split_param(token)?;
            match parts.last_mut() {
                Some((_, params)) => params.push((k, v)),
                None => {
                    return Err(ScenarioError(format!(
                        "parameter `{token}` comes before any scenario name"
                    )));
                }
            }
            continue;
        }
        let (name, first) = match token.split_once(':') {
            Some((name, rest)) => (name.trim(), Some(rest.trim())),
            None => (token, None),
        };
        let mut params = Vec::new();
        if let Some(first) = first {
            if first.is_empty() {
                return Err(ScenarioError(format!(
                    "scenario `{name}`: nothing after `:` (write `{name}` or `{name}:key=value`)"
                )));
            }
            params.push(split_param(first)?);
        }
        parts.push((name, params));
    }
    parts
        .iter()
        .map(|(name, params)| Scenario::build(name, params))
        .collect()
}

fn split_param(token: &str) -> Result<(&str, &str), ScenarioError> {
    match token.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => Err(ScenarioError(format!(
            "`{token}`: expected a parameter as key=value"
        ))),
    }
}

impl FromStr for Scenario {
    type Err = ScenarioError;

    /// Parses exactly one scenario, `NAME[:KEY=VALUE,...]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut list = parse_scenarios(s)?;
        match list.len() {
            1 => Ok(list.remove(0)),
            n => Err(ScenarioError(format!(
                "expected one scenario, got {n} in `{s}`"
            ))),
        }
    }
}

impl fmt::Display for Scenario {
    /// The canonical form, with every parameter spelled out; it parses back
    /// to the same scenario.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut params: Vec<String> = Vec::new();
        let magnitude = |m: &Magnitude| match m {
            Magnitude::Factor(x) => format!("factor={x}"),
            Magnitude::Rate(x) => format!("rate={x}"),
        };
        match &self.kind {
            ScenarioKind::Steady | ScenarioKind::Mixed => {}
            ScenarioKind::PaymentOutage {
                method,
                cause,
                magnitude: m,
            } => {
                params.push(format!("method={method}"));
                params.push(format!("cause={cause}"));
                params.push(magnitude(m));
            }
            ScenarioKind::Maintenance { rate } => params.push(format!("rate={rate}")),
            ScenarioKind::NetworkDegradation {
                channel,
                magnitude: m,
            } => {
                params.push(format!("channel={channel}"));
                params.push(magnitude(m));
            }
            ScenarioKind::BadRelease {
                version,
                channel,
                magnitude: m,
            } => {
                params.push(format!("version={version}"));
                if let Some(c) = channel {
                    params.push(format!("channel={c}"));
                }
                params.push(magnitude(m));
            }
            ScenarioKind::PromoSurge { factor } => params.push(format!("factor={factor}")),
            ScenarioKind::Malformed {
                share,
                oversized,
                duplicates,
            } => {
                params.push(format!("share={share}"));
                params.push(format!("oversized={oversized}"));
                if *duplicates > 0.0 {
                    params.push(format!("duplicates={duplicates}"));
                }
            }
        }
        let offset = |o: &Offset| match o {
            Offset::After(d) => humantime::format_duration(*d).to_string(),
            Offset::Fraction(x) => format!("{}%", x * 100.0),
        };
        if let Some(at) = &self.timing.at {
            params.push(format!("at={}", offset(at)));
        }
        if let Some(length) = &self.timing.length {
            params.push(format!("for={}", offset(length)));
        }
        if let Some(every) = self.timing.every {
            params.push(format!("every={}", humantime::format_duration(every)));
        }
        f.write_str(self.kind.name())?;
        if !params.is_empty() {
            write!(f, ":{}", params.join(","))?;
        }
        Ok(())
    }
}

fn parse_method(v: &str) -> Result<Method, String> {
    Method::from_normalised(&vocab::normalise(v)).ok_or_else(|| {
        let all: Vec<_> = Method::ALL.iter().map(|m| m.as_str()).collect();
        format!("method `{v}` (payment methods: {})", all.join(", "))
    })
}

fn parse_channel(v: &str) -> Result<Channel, String> {
    Channel::from_normalised(&vocab::normalise(v)).ok_or_else(|| {
        let all: Vec<_> = Channel::ALL.iter().map(|m| m.as_str()).collect();
        format!("channel `{v}` (channels: {})", all.join(", "))
    })
}

fn parse_cause(v: &str) -> Result<Cause, String> {
    Cause::from_normalised(&vocab::normalise(v)).ok_or_else(|| {
        let all: Vec<_> = Cause::ALL.iter().map(|m| m.as_str()).collect();
        format!("cause `{v}` (failure causes: {})", all.join(", "))
    })
}

fn parse_number(key: &str, v: &str, min: f64, max: f64) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= min && x <= max => Ok(x),
        _ => Err(format!("{key}={v}: expected a number from {min} to {max}")),
    }
}

/// A probability in (0, 1].
fn parse_share(key: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!(
            "{key}={v}: expected a probability above 0 and at most 1 (e.g. 0.05)"
        )),
    }
}

fn parse_duration(v: &str) -> Result<Duration, String> {
    match humantime::parse_duration(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("{v}: must be longer than zero")),
        Err(e) => Err(format!("{v}: {e} (e.g. 90s, 10m, 2h)")),
    }
}

fn parse_offset(v: &str, positive: bool) -> Result<Offset, String> {
    if let Some(p) = v.strip_suffix('%') {
        return match p.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..=100.0).contains(&x) && (!positive || x > 0.0) => {
                Ok(Offset::Fraction(x / 100.0))
            }
            _ => Err(format!("{v}: expected a share of the run from 0% to 100%")),
        };
    }
    match humantime::parse_duration(v) {
        Ok(d) if positive && d.is_zero() => Err(format!("{v}: must be longer than zero")),
        Ok(d) => Ok(Offset::After(d)),
        Err(e) => Err(format!("{v}: {e} (e.g. 90s, 10m, 40%)")),
    }
}

#[cfg(test)]
mod tests;
