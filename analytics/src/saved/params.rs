//! Saved-query parameter values: parsed from text into typed scalars that are
//! bound to `$name` placeholders, never pasted into SQL.
//!
//! - `timestamp`: RFC 3339 with an offset (`2026-11-01T00:00:00Z`), or
//!   relative to now: `now`, `now-24h`, `now-7d`, `now+1h`.
//! - `interval`: a positive length such as `1 minute`, `5 minutes`, `1 hour`,
//!   `1 day`, `15m`, `1h` (1 second to 366 days).

use chrono::DateTime;
use datafusion::arrow::datatypes::IntervalMonthDayNano;
use datafusion::scalar::ScalarValue;

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A point in time, bound as `Timestamp(ms, "UTC")`.
    Timestamp,
    /// A length of time, bound as an interval.
    Interval,
}

impl ParamKind {
    pub(crate) fn parse(s: &str) -> Option<ParamKind> {
        match s {
            "timestamp" => Some(ParamKind::Timestamp),
            "interval" => Some(ParamKind::Interval),
            _ => None,
        }
    }

    /// The name used in query headers and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Timestamp => "timestamp",
            ParamKind::Interval => "interval",
        }
    }

    /// Parses `text` into the value to bind; `now_ms` anchors relative times.
    pub fn value(self, text: &str, now_ms: i64) -> Result<ScalarValue, String> {
        match self {
            ParamKind::Timestamp => parse_timestamp(text, now_ms)
                .map(|ms| ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()))),
            ParamKind::Interval => {
                let ms = parse_length(text).ok_or_else(|| {
                    format!("`{text}` is not a length of time (e.g. `1 minute`, `5 minutes`, `1 hour`, `1 day`)")
                })?;
                if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
                    return Err(format!("`{text}`: a bucket is 1 second to 366 days"));
                }
                Ok(ScalarValue::IntervalMonthDayNano(Some(
                    IntervalMonthDayNano::new(0, 0, ms * 1_000_000),
                )))
            }
        }
    }
}

const MIN_INTERVAL_MS: i64 = 1_000;
const MAX_INTERVAL_MS: i64 = 366 * 86_400_000;
/// Timestamps outside 1970..=2200 are almost surely typos.
const MAX_TIMESTAMP_MS: i64 = 7_258_118_400_000;

/// RFC 3339, or `now`, `now-<length>`, `now+<length>`; epoch milliseconds.
fn parse_timestamp(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let ms = if let Some(rest) = t.strip_prefix("now") {
        let rest = rest.trim();
        let (sign, len) = match rest.chars().next() {
            None => (0, ""),
            Some('-') => (-1, &rest[1..]),
            Some('+') => (1, &rest[1..]),
            Some(_) => return Err(format!("`{text}`: expected now, now-24h or now+1h")),
        };
        let offset = if sign == 0 {
            0
        } else {
            parse_length(len)
                .ok_or_else(|| format!("`{text}`: `{}` is not a length of time", len.trim()))?
        };
        now_ms.saturating_add(sign * offset)
    } else {
        DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .map_err(|e| {
                format!("`{text}`: {e}; expected RFC 3339 such as 2026-11-01T00:00:00Z, or now-24h")
            })?
    };
    if !(0..=MAX_TIMESTAMP_MS).contains(&ms) {
        return Err(format!("`{text}` is outside 1970-01-01..2200-01-01"));
    }
    Ok(ms)
}

/// `<n> <unit>` or `<n><unit>` in milliseconds; `None` when malformed.
pub(crate) fn parse_length(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn ms(v: ScalarValue) -> i64 {
        match v {
            ScalarValue::TimestampMillisecond(Some(ms), Some(tz)) if &*tz == "UTC" => ms,
            other => panic!("not a UTC ms timestamp: {other:?}"),
        }
    }

    #[test]
    fn timestamps_absolute_and_relative() {
        let ts = |s: &str| ParamKind::Timestamp.value(s, NOW).map(ms);
        assert_eq!(ts("2026-11-01T08:00:00+08:00"), Ok(NOW));
        assert_eq!(ts("now"), Ok(NOW));
        assert_eq!(ts("now-24h"), Ok(NOW - 86_400_000));
        assert_eq!(ts(" now - 7 days "), Ok(NOW - 7 * 86_400_000));
        assert_eq!(ts("now+1h"), Ok(NOW + 3_600_000));
        for bad in [
            "",
            "yesterday",
            "2026-11-01",
            "now-",
            "now-3x",
            "nowhere",
            "1e9",
            "'; DROP TABLE x; --",
            "9999-01-01T00:00:00Z",
        ] {
            assert!(ts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals_in_words_and_short_forms() {
        let iv = |s: &str| ParamKind::Interval.value(s, NOW);
        let nanos = |v: ScalarValue| match v {
            ScalarValue::IntervalMonthDayNano(Some(v)) => v.nanoseconds,
            other => panic!("{other:?}"),
        };
        assert_eq!(iv("1 minute").map(nanos), Ok(60_000_000_000));
        assert_eq!(iv("5 minutes").map(nanos), Ok(300_000_000_000));
        assert_eq!(iv("1h").map(nanos), Ok(3_600_000_000_000));
        assert_eq!(iv("1 day").map(nanos), Ok(86_400_000_000_000));
        for bad in [
            "",
            "minute",
            "0 minutes",
            "1 fortnight",
            "-1 hour",
            "400 days",
            "1.5 hours",
            "99999999999999999999 s",
        ] {
            assert!(iv(bad).is_err(), "{bad}");
        }
    }
}
