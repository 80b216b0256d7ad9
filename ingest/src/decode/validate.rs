//! The rules of CONTRACT section 1: raw JSON values → a valid [`Event`], or
//! the one reason code (and a detail naming the field) why not.
//!
//! Fields are checked in a fixed order (required fields first, then the
//! failure-cause rule, then optional fields in contract order), so the same
//! input always gets the same reason.

use std::borrow::Cow;

use model::Reason;
use model::vocab::{self, Channel, FailureCause, Outcome, PaymentMethod, Stage, VocabField};

use super::raw::{F, Kind, Lent, RawEvent};
use super::timestamp::{MAX_AHEAD_MS, MIN_TS_MS, Rfc3339};

/// Longest stored `error_message`, in characters; longer ones are truncated.
pub const ERROR_MESSAGE_MAX_CHARS: usize = 1024;

/// A value of a vocabulary field: a known entry (its index) or, normalised, an
/// unknown one that is stored as given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Vocab<'a> {
    Known(usize),
    Unknown(Cow<'a, str>),
}

/// One valid event, borrowing its strings from the message (or from the
/// parser's buffer of unescaped strings).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) ts_ms: i64,
    pub(crate) outcome: Outcome,
    pub(crate) channel: Vocab<'a>,
    pub(crate) failure_cause: Option<Vocab<'a>>,
    pub(crate) payment_method: Option<Vocab<'a>>,
    pub(crate) stage: Option<Vocab<'a>>,
    pub(crate) order_id: Option<&'a str>,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) error_code: Option<&'a str>,
    pub(crate) error_message: Option<&'a str>,
    pub(crate) error_message_truncated: bool,
    pub(crate) region: Option<&'a str>,
    pub(crate) locale: Option<&'a str>,
    pub(crate) app_version: Option<&'a str>,
    pub(crate) os: Option<&'a str>,
    pub(crate) browser: Option<&'a str>,
    pub(crate) network: Option<&'a str>,
    pub(crate) latency_ms: Option<i64>,
    pub(crate) amount_minor: Option<i64>,
    pub(crate) currency: Option<&'a str>,
    pub(crate) attempt: Option<i32>,
    /// Keys outside the contract (ignored).
    pub(crate) unknown_fields: u32,
}

impl Event<'_> {
    /// The vocabulary fields whose value was outside the vocabulary.
    pub(crate) fn unknown_values(&self) -> impl Iterator<Item = VocabField> + '_ {
        [
            (VocabField::Channel, Some(&self.channel)),
            (VocabField::FailureCause, self.failure_cause.as_ref()),
            (VocabField::PaymentMethod, self.payment_method.as_ref()),
            (VocabField::Stage, self.stage.as_ref()),
        ]
        .into_iter()
        .filter_map(|(f, v)| matches!(v, Some(Vocab::Unknown(_))).then_some(f))
    }
}

/// Why an event is refused: the reason code and which field, in words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub(crate) reason: Reason,
    pub(crate) detail: String,
}

fn refuse(reason: Reason, detail: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        detail: detail.into(),
    }
}

/// Applies every rule to one parsed object. `now_ms` is the ingest clock;
/// `ts` reads RFC 3339 timestamps (and keeps the last few hours it read).
pub(crate) fn validate<'r>(
    raw: &'r RawEvent<'_>,
    now_ms: i64,
    ts: &mut Rfc3339,
) -> Result<Event<'r>, Refusal> {
    if let Some(f) = raw.repeated {
        return Err(refuse(
            Reason::InvalidJson,
            format!("{}: the key appears more than once", f.name()),
        ));
    }
    let event_id = required_str(raw.val(F::EventId), F::EventId, 128)?;
    if event_id.is_empty() {
        return Err(refuse(Reason::InvalidValue, "event_id: empty"));
    }
    let ts_ms = timestamp(raw.val(F::Ts), now_ms, ts)?;
    let outcome = required_str(raw.val(F::Outcome), F::Outcome, usize::MAX)?;
    // An exact vocabulary word is already normal: look it up before normalising.
    let outcome = match Outcome::from_normalised(outcome)
        .or_else(|| Outcome::from_normalised(&vocab::normalise(outcome)))
    {
        Some(o) => o,
        None => {
            return Err(refuse(
                Reason::InvalidValue,
                "outcome: expected \"success\" or \"failure\"",
            ));
        }
    };
    let channel = required_str(raw.val(F::Channel), F::Channel, 64)?;
    let channel = match vocab_value(channel, |s| Channel::from_normalised(s).map(Channel::index)) {
        Some(v) => v,
        None => return Err(refuse(Reason::InvalidValue, "channel: empty")),
    };
    let cause = optional_str(raw.val(F::FailureCause), F::FailureCause, 64)?;
    let failure_cause = match (outcome, cause) {
        (Outcome::Success, None) => None,
        (Outcome::Success, Some(_)) => {
            return Err(refuse(
                Reason::InvalidValue,
                "failure_cause: must be absent or null when outcome is success",
            ));
        }
        (Outcome::Failure, None) => {
            return Err(refuse(
                Reason::MissingFailureCause,
                "failure_cause: required when outcome is failure",
            ));
        }
        (Outcome::Failure, Some(c)) => match vocab_value(c, |s| {
            FailureCause::from_normalised(s).map(FailureCause::index)
        }) {
            Some(v) => Some(v),
            None => {
                return Err(refuse(
                    Reason::MissingFailureCause,
                    "failure_cause: empty, and required when outcome is failure",
                ));
            }
        },
    };
    let payment_method =
        optional_str(raw.val(F::PaymentMethod), F::PaymentMethod, 64)?.and_then(|v| {
            vocab_value(v, |s| {
                PaymentMethod::from_normalised(s).map(PaymentMethod::index)
            })
        });
    let stage = optional_str(raw.val(F::Stage), F::Stage, 64)?
        .and_then(|v| vocab_value(v, |s| Stage::from_normalised(s).map(Stage::index)));
    let order_id = optional_str(raw.val(F::OrderId), F::OrderId, 128)?;
    let session_id = optional_str(raw.val(F::SessionId), F::SessionId, 128)?;
    let user_id = optional_str(raw.val(F::UserId), F::UserId, 128)?;
    let error_code = optional_str(raw.val(F::ErrorCode), F::ErrorCode, 128)?;
    let (error_message, error_message_truncated) =
        match optional_str(raw.val(F::ErrorMessage), F::ErrorMessage, usize::MAX)? {
            Some(m) => {
                let (m, cut) = truncate_chars(m, ERROR_MESSAGE_MAX_CHARS);
                (Some(m), cut)
            }
            None => (None, false),
        };
    let region = optional_str(raw.val(F::Region), F::Region, 64)?;
    let locale = optional_str(raw.val(F::Locale), F::Locale, 35)?;
    let app_version = optional_str(raw.val(F::AppVersion), F::AppVersion, 64)?;
    let os = optional_str(raw.val(F::Os), F::Os, 64)?;
    let browser = optional_str(raw.val(F::Browser), F::Browser, 64)?;
    let network = optional_str(raw.val(F::Network), F::Network, 64)?;
    let latency_ms = optional_int(raw.val(F::LatencyMs), F::LatencyMs, 0)?;
    let amount_minor = optional_int(raw.val(F::AmountMinor), F::AmountMinor, 0)?;
    let currency = optional_str(raw.val(F::Currency), F::Currency, usize::MAX)?;
    if let Some(c) = &currency
        && (c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(refuse(
            Reason::InvalidValue,
            "currency: expected 3 uppercase letters (ISO 4217)",
        ));
    }
    let attempt = match optional_int(raw.val(F::Attempt), F::Attempt, 1)? {
        Some(a) => Some(
            i32::try_from(a)
                .map_err(|_| refuse(Reason::InvalidValue, "attempt: larger than 2147483647"))?,
        ),
        None => None,
    };
    Ok(Event {
        event_id,
        ts_ms,
        outcome,
        channel,
        failure_cause,
        payment_method,
        stage,
        order_id,
        session_id,
        user_id,
        error_code,
        error_message,
        error_message_truncated,
        region,
        locale,
        app_version,
        os,
        browser,
        network,
        latency_ms,
        amount_minor,
        currency,
        attempt,
        unknown_fields: raw.unknown_fields,
    })
}

/// Normalises and classifies a vocabulary value; `None` when it is empty.
/// `lookup` gives the dictionary index of a known value.
#[inline(always)]
fn vocab_value(s: &str, lookup: fn(&str) -> Option<usize>) -> Option<Vocab<'_>> {
    // The common case: an exact vocabulary word, which normalising would not
    // change (every word is already normal), so it is looked up as is.
    if let Some(i) = lookup(s) {
        return Some(Vocab::Known(i));
    }
    let n = vocab::normalise(s);
    if n.is_empty() {
        return None;
    }
    Some(match lookup(&n) {
        Some(i) => Vocab::Known(i),
        None => Vocab::Unknown(n),
    })
}

#[cold]
fn too_long(f: F, max: usize) -> Refusal {
    refuse(
        Reason::FieldTooLong,
        format!("{}: longer than {max} characters", f.name()),
    )
}

#[cold]
fn wrong_type(f: F, expected: &str, got: Kind) -> Refusal {
    refuse(
        Reason::WrongType,
        format!("{}: expected {expected}, got {}", f.name(), got.type_name()),
    )
}

/// Whether `s` has more than `max` characters (bytes first: it is cheaper,
/// and inline, as every string field asks).
#[inline(always)]
fn longer_than(s: &str, max: usize) -> bool {
    s.len() > max && more_chars_than(s, max)
}

#[cold]
fn more_chars_than(s: &str, max: usize) -> bool {
    s.chars().nth(max).is_some()
}

#[inline(always)]
fn required_str(v: Lent<'_>, f: F, max: usize) -> Result<&str, Refusal> {
    match v {
        Lent::None => Err(refuse(Reason::MissingField, f.name())),
        other => optional_str(other, f, max).map(|s| s.unwrap_or_default()),
    }
}

#[inline(always)]
fn optional_str(v: Lent<'_>, f: F, max: usize) -> Result<Option<&str>, Refusal> {
    match v {
        Lent::Str(s) if longer_than(s, max) => Err(too_long(f, max)),
        Lent::Str(s) => Ok(Some(s)),
        Lent::None => Ok(None),
        Lent::Int(_) | Lent::UInt(_) => Err(wrong_type(f, "a string", Kind::Int)),
        Lent::Other(other) => Err(wrong_type(f, "a string", other)),
    }
}

#[inline(always)]
fn optional_int(v: Lent<'_>, f: F, min: i64) -> Result<Option<i64>, Refusal> {
    let n = match v {
        Lent::None => return Ok(None),
        Lent::Int(n) => n,
        Lent::UInt(n) => i64::try_from(n).map_err(|_| {
            refuse(
                Reason::InvalidValue,
                format!("{}: larger than {}", f.name(), i64::MAX),
            )
        })?,
        Lent::Str(_) => return Err(wrong_type(f, "an integer", Kind::Str)),
        Lent::Other(other) => return Err(wrong_type(f, "an integer", other)),
    };
    if n < min {
        return Err(refuse(
            Reason::InvalidValue,
            format!("{}: must be ≥ {min}, got {n}", f.name()),
        ));
    }
    Ok(Some(n))
}

#[inline(always)]
fn timestamp(v: Lent<'_>, now_ms: i64, rfc3339: &mut Rfc3339) -> Result<i64, Refusal> {
    let ms = match v {
        Lent::None => return Err(refuse(Reason::MissingField, "ts")),
        Lent::Int(n) => n,
        Lent::UInt(n) => i64::try_from(n).unwrap_or(i64::MAX),
        Lent::Str(s) => rfc3339.parse_ms(s).ok_or_else(|| {
            refuse(
                Reason::InvalidTimestamp,
                "ts: expected RFC 3339 with an offset (e.g. 2026-11-24T21:12:09.123+08:00)",
            )
        })?,
        Lent::Other(other) => {
            return Err(wrong_type(
                F::Ts,
                "an RFC 3339 string or integer epoch milliseconds",
                other,
            ));
        }
    };
    if ms < MIN_TS_MS {
        return Err(refuse(
            Reason::TimestampOutOfRange,
            "ts: before 2000-01-01T00:00:00Z",
        ));
    }
    if ms > now_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(refuse(
            Reason::TimestampOutOfRange,
            "ts: more than 24 h ahead of the ingest clock",
        ));
    }
    Ok(ms)
}

/// Cuts `s` to at most `max` characters; says whether it cut.
fn truncate_chars(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    match s.char_indices().nth(max) {
        None => (s, false),
        Some((at, _)) => (&s[..at], true),
    }
}
