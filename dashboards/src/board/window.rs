//! The query string of the dashboard endpoints, checked before any SQL is
//! built: a time window (`start`, `end`, `bucket`), the period it is
//! compared with (`base_start`, `base_end`), slice filters and a row limit.
//!
//! Times are RFC 3339 or relative to now (`now-1h`), as saved-query
//! parameters; `bucket` is a length (`1 minute`, `5m`). Filter values are
//! matched as bound parameters, never pasted into SQL, and must still look
//! like a value the pipeline stores: 1 to [`MAX_FILTER_CHARS`] characters
//! of `A-Z a-z 0-9 _ . : + / -`. Every key may appear once; an unknown key
//! is a 400 naming the known ones.

use analytics::ParamKind;
use datafusion::scalar::ScalarValue;

use crate::api::ApiError;

/// The slice dimensions the dashboard filters and breaks down by, as SQL
/// columns of `order_attempts`.
pub const DIMENSIONS: [&str; 5] = analytics::rollup::DIMENSIONS;

/// Longest window (and comparison period) a dashboard request may span.
pub const MAX_SPAN_MS: i64 = 92 * 86_400_000;
/// Most time buckets a chart may ask for.
pub const MAX_BUCKETS: i64 = 1_500;
/// Longest filter value.
pub const MAX_FILTER_CHARS: usize = 128;
/// Longest time or bucket text.
const MAX_TIME_CHARS: usize = 64;
/// Most query-string pairs looked at.
const MAX_PAIRS: usize = 32;

/// Bucket lengths chosen when the caller gives none: the shortest that
/// keeps a chart at most [`AUTO_BUCKETS`] points wide.
const AUTO_STEPS_MS: [i64; 11] = [
    10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000,
    43_200_000, 86_400_000,
];
const AUTO_BUCKETS: i64 = 120;

/// A checked time window, epoch milliseconds, `start` inclusive, `end`
/// exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
    /// The period compared with (by default the one just before).
    pub base_start_ms: i64,
    pub base_end_ms: i64,
    pub bucket_ms: i64,
}

impl Window {
    /// The first bucket start (aligned to the epoch, as `date_bin` does) and
    /// every one after it up to `end`.
    pub fn bucket_starts(&self) -> Vec<i64> {
        let first = self.start_ms.div_euclid(self.bucket_ms) * self.bucket_ms;
        (0..)
            .map(|i| first + i * self.bucket_ms)
            .take_while(|t| *t < self.end_ms)
            .collect()
    }
}

/// A parsed dashboard request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardQuery {
    pub window: Window,
    /// `(column, value)` for each filter given, in [`DIMENSIONS`] order.
    pub filters: Vec<(&'static str, String)>,
    /// `limit`, when the endpoint takes one.
    pub limit: Option<usize>,
    /// `reason`, when the endpoint takes one (rejected records).
    pub reason: Option<String>,
}

/// What an endpoint accepts besides the window.
#[derive(Debug, Clone, Copy)]
pub struct Accepts {
    pub filters: bool,
    pub base: bool,
    /// Largest `limit`; 0 when the endpoint takes none.
    pub max_limit: usize,
    pub reason: bool,
}

/// Parses and checks `pairs` (the query string) at `now_ms`.
pub fn parse(
    pairs: &[(String, String)],
    now_ms: i64,
    accepts: Accepts,
) -> Result<BoardQuery, ApiError> {
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::bad_request(format!(
            "{} query parameters; at most {MAX_PAIRS}",
            pairs.len()
        )));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut get = |key: &'static str| -> Result<Option<&str>, ApiError> {
        let mut found = None;
        for (k, v) in pairs {
            if k == key {
                if found.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "parameter `{key}` is given more than once"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        seen.push(key);
        Ok(found)
    };
    let start = get("start")?;
    let end = get("end")?;
    let bucket = get("bucket")?;
    let (base_start, base_end) = if accepts.base {
        (get("base_start")?, get("base_end")?)
    } else {
        (None, None)
    };
    let mut filters = Vec::new();
    if accepts.filters {
        for dim in DIMENSIONS {
            if let Some(v) = get(dim)? {
                filters.push((dim, filter_value(dim, v)?.to_string()));
            }
        }
    }
    let limit = if accepts.max_limit > 0 {
        get("limit")?
            .map(|v| limit_value(v, accepts.max_limit))
            .transpose()?
    } else {
        None
    };
    let reason = if accepts.reason {
        get("reason")?
            .map(|v| filter_value("reason", v).map(str::to_string))
            .transpose()?
    } else {
        None
    };
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !seen.contains(&k.as_str())) {
        let shown: String = key.chars().take(40).collect();
        return Err(ApiError::bad_request(format!(
            "unknown parameter `{shown}`; this endpoint takes {}",
            seen.join(", ")
        )));
    }

    let start_ms = timestamp("start", start.unwrap_or("now-1h"), now_ms)?;
    let end_ms = timestamp("end", end.unwrap_or("now"), now_ms)?;
    let span = check_span("start", "end", start_ms, end_ms)?;
    let (base_start_ms, base_end_ms) = match (base_start, base_end) {
        (None, None) => (start_ms - span, start_ms),
        (Some(s), Some(e)) => {
            let (s, e) = (
                timestamp("base_start", s, now_ms)?,
                timestamp("base_end", e, now_ms)?,
            );
            check_span("base_start", "base_end", s, e)?;
            (s, e)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give both `base_start` and `base_end`, or neither (the period just before)",
            ));
        }
    };
    let bucket_ms = match bucket {
        None => AUTO_STEPS_MS
            .into_iter()
            .find(|b| span / b <= AUTO_BUCKETS)
            .unwrap_or(86_400_000),
        Some(text) => {
            let ms = interval("bucket", text)?;
            if span / ms > MAX_BUCKETS {
                return Err(ApiError::bad_request(format!(
                    "`bucket` {text} cuts the window into {} buckets; at most {MAX_BUCKETS}",
                    span / ms
                )));
            }
            ms
        }
    };
    Ok(BoardQuery {
        window: Window {
            start_ms,
            end_ms,
            base_start_ms,
            base_end_ms,
            bucket_ms,
        },
        filters,
        limit,
        reason,
    })
}

fn timestamp(name: &str, text: &str, now_ms: i64) -> Result<i64, ApiError> {
    let text = short(name, text)?;
    match ParamKind::Timestamp.value(text, now_ms) {
        Ok(ScalarValue::TimestampMillisecond(Some(ms), _)) => Ok(ms),
        Ok(other) => Err(ApiError::bad_request(format!(
            "`{name}`: unexpected value {other:?}"
        ))),
        Err(e) => Err(ApiError::bad_request(format!("`{name}`: {e}"))),
    }
}

fn interval(name: &str, text: &str) -> Result<i64, ApiError> {
    let text = short(name, text)?;
    match ParamKind::Interval.value(text, 0) {
        Ok(ScalarValue::IntervalMonthDayNano(Some(v))) => Ok(v.nanoseconds / 1_000_000),
        Ok(other) => Err(ApiError::bad_request(format!(
            "`{name}`: unexpected value {other:?}"
        ))),
        Err(e) => Err(ApiError::bad_request(format!("`{name}`: {e}"))),
    }
}

fn short<'a>(name: &str, text: &'a str) -> Result<&'a str, ApiError> {
    if text.chars().count() > MAX_TIME_CHARS {
        return Err(ApiError::bad_request(format!(
            "`{name}` is longer than {MAX_TIME_CHARS} characters"
        )));
    }
    Ok(text)
}

fn check_span(from: &str, to: &str, start_ms: i64, end_ms: i64) -> Result<i64, ApiError> {
    let span = end_ms - start_ms;
    if span <= 0 {
        return Err(ApiError::bad_request(format!(
            "`{from}` must be before `{to}`"
        )));
    }
    if span > MAX_SPAN_MS {
        return Err(ApiError::bad_request(format!(
            "`{from}`..`{to}` spans {} days; at most {}",
            span / 86_400_000,
            MAX_SPAN_MS / 86_400_000
        )));
    }
    Ok(span)
}

/// A filter value, checked against the charset (see the module docs).
fn filter_value<'a>(name: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.:+/-".contains(c);
    if value.is_empty() || value.len() > MAX_FILTER_CHARS || !value.chars().all(ok_char) {
        let shown: String = value.chars().take(40).collect();
        return Err(ApiError::bad_request(format!(
            "`{name}` value {shown:?} is not a stored value: 1 to {MAX_FILTER_CHARS} of A-Z a-z 0-9 _ . : + / -"
        )));
    }
    Ok(value)
}

fn limit_value(text: &str, max: usize) -> Result<usize, ApiError> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "`limit` must be a whole number from 1 to {max}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
    const ALL: Accepts = Accepts {
        filters: true,
        base: true,
        max_limit: 100,
        reason: true,
    };

    fn q(pairs: &[(&str, &str)]) -> Result<BoardQuery, ApiError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&pairs, NOW, ALL)
    }

    #[test]
    fn defaults_are_the_last_hour_against_the_hour_before() {
        let b = q(&[]).unwrap();
        assert_eq!(b.window.end_ms, NOW);
        assert_eq!(b.window.start_ms, NOW - 3_600_000);
        assert_eq!(b.window.base_end_ms, NOW - 3_600_000);
        assert_eq!(b.window.base_start_ms, NOW - 7_200_000);
        assert_eq!(b.window.bucket_ms, 30_000);
        assert_eq!(b.window.bucket_starts().len(), 120);
        assert!(b.filters.is_empty());
    }

    #[test]
    fn auto_buckets_keep_charts_narrow() {
        for (start, bucket) in [
            ("now-15m", 10_000),
            ("now-6h", 300_000),
            ("now-24h", 900_000),
            ("now-7d", 10_800_000),
        ] {
            let b = q(&[("start", start)]).unwrap();
            assert_eq!(b.window.bucket_ms, bucket, "{start}");
            assert!(b.window.bucket_starts().len() <= 121, "{start}");
        }
    }

    #[test]
    fn filters_are_kept_in_dimension_order() {
        let b = q(&[
            ("app_version", "5.2.1"),
            ("channel", "web"),
            ("bucket", "5m"),
            ("base_start", "2026-10-31T00:00:00Z"),
            ("base_end", "2026-10-31T01:00:00Z"),
            ("limit", "7"),
        ])
        .unwrap();
        assert_eq!(
            b.filters,
            vec![
                ("channel", "web".to_string()),
                ("app_version", "5.2.1".to_string())
            ]
        );
        assert_eq!(b.window.bucket_ms, 300_000);
        assert_eq!(b.window.base_end_ms - b.window.base_start_ms, 3_600_000);
        assert_eq!(b.limit, Some(7));
    }

    #[test]
    fn bad_input_is_a_clear_400() {
        let long = "x".repeat(10_000);
        for (pairs, words) in [
            (vec![("channel", "web' OR 1=1 --")], "not a stored value"),
            (vec![("channel", "")], "not a stored value"),
            (vec![("region", long.as_str())], "not a stored value"),
            (
                vec![("channel", "web"), ("channel", "ios_app")],
                "more than once",
            ),
            (vec![("colour", "red")], "unknown parameter `colour`"),
            (vec![("start", "yesterday")], "`start`"),
            (vec![("start", long.as_str())], "longer than"),
            (vec![("start", "now"), ("end", "now-1h")], "before"),
            (vec![("start", "now-200d")], "at most 92"),
            (vec![("bucket", "0 minutes")], "`bucket`"),
            (vec![("start", "now-7d"), ("bucket", "1s")], "buckets"),
            (vec![("base_start", "now-2h")], "both"),
            (
                vec![("base_start", "now-1h"), ("base_end", "now-2h")],
                "before",
            ),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "100000")], "limit"),
            (vec![("reason", "<script>")], "not a stored value"),
        ] {
            let err = q(&pairs).expect_err(&format!("{pairs:?}"));
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(err.message.contains(words), "{pairs:?}: {}", err.message);
        }
        let many: Vec<(String, String)> = (0..1000)
            .map(|i| ("channel".to_string(), i.to_string()))
            .collect();
        assert!(parse(&many, NOW, ALL).is_err());
    }

    #[test]
    fn endpoints_refuse_what_they_do_not_take() {
        let none = Accepts {
            filters: false,
            base: false,
            max_limit: 0,
            reason: false,
        };
        for key in ["channel", "base_start", "limit", "reason"] {
            let pairs = vec![(key.to_string(), "1".to_string())];
            let err = parse(&pairs, NOW, none).expect_err(key);
            assert!(err.message.contains("unknown parameter"), "{}", err.message);
        }
    }
}
