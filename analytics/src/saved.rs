//! Saved queries: `queries/<name>.sql`, embedded in the binary, or read from
//! a directory that overrides them.
//!
//! Each file opens with a header of `--` lines that says what it is:
//!
//! ```sql
//! -- failures_by_cause: failed attempts per cause in a window, with shares.
//! -- param: start timestamp = now-24h -- window start (inclusive)
//! -- param: end timestamp = now -- window end (exclusive)
//! -- column: failure_cause text -- the cause
//! -- column: failures bigint
//! SELECT ... WHERE ts >= $start AND ts < $end ...
//! ```
//!
//! The first line is `name: purpose` (more purpose lines may follow), then
//! `param: NAME TYPE = DEFAULT -- description` and `column: NAME TYPE --
//! description` lines. Types of parameters are in [`ParamKind`]; every
//! parameter has a default. The body refers to parameters as `$name`
//! placeholders, bound to typed values by [`SavedQuery::bind`].
//!
//! # Minutes forms
//!
//! A query over a `$start`..`$end` window of `order_attempts` that only
//! counts may have a second text, `queries/minutes/<name>.sql`: the same
//! question counted from `order_attempts_minutes` for the window's whole
//! minutes, and from `order_attempts` for the part-minutes at its ends. It
//! also gets `$whole_start` and `$whole_end` ([`SavedQuery::bind_minutes`]):
//! the whole minutes are `$whole_start`..`$whole_end`, the ends
//! `$start`..`$whole_start` and `$whole_end`..`$end`; likewise
//! `$whole_hour_start` and `$whole_hour_end` for a form that reads the
//! hourly `order_attempts_latency_hours` (latency percentiles: a minute
//! keeps almost every latency value, an hour repeats them). A form may also
//! read `order_attempts_failures` (the failed attempts with an order, as
//! rows: exact for any window), as `retry_recovery_rate`'s does. It must return the same
//! rows as the query itself (the tests compare the two on every window
//! shape); it is used only when every `interval` parameter is whole minutes
//! (a bucket of 30 seconds cannot be cut from minute counts).

mod params;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use datafusion::scalar::ScalarValue;

pub use params::ParamKind;

use crate::{Error, Result};

/// The saved queries shipped in `queries/`, compiled into the binary.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "cause_channel_payment",
        include_str!("../../queries/cause_channel_payment.sql"),
    ),
    (
        "failure_rate_by_app_version",
        include_str!("../../queries/failure_rate_by_app_version.sql"),
    ),
    (
        "failure_rate_trend",
        include_str!("../../queries/failure_rate_trend.sql"),
    ),
    (
        "failures_by_cause",
        include_str!("../../queries/failures_by_cause.sql"),
    ),
    (
        "failures_by_channel",
        include_str!("../../queries/failures_by_channel.sql"),
    ),
    (
        "failures_by_payment_method",
        include_str!("../../queries/failures_by_payment_method.sql"),
    ),
    (
        "latency_percentiles_by_channel",
        include_str!("../../queries/latency_percentiles_by_channel.sql"),
    ),
    (
        "rejected_by_reason",
        include_str!("../../queries/rejected_by_reason.sql"),
    ),
    (
        "retry_recovery_rate",
        include_str!("../../queries/retry_recovery_rate.sql"),
    ),
    (
        "top_error_codes",
        include_str!("../../queries/top_error_codes.sql"),
    ),
];

/// The minutes forms shipped in `queries/minutes/`.
const EMBEDDED_MINUTES: &[(&str, &str)] = &[
    (
        "cause_channel_payment",
        include_str!("../../queries/minutes/cause_channel_payment.sql"),
    ),
    (
        "failure_rate_by_app_version",
        include_str!("../../queries/minutes/failure_rate_by_app_version.sql"),
    ),
    (
        "failure_rate_trend",
        include_str!("../../queries/minutes/failure_rate_trend.sql"),
    ),
    (
        "failures_by_cause",
        include_str!("../../queries/minutes/failures_by_cause.sql"),
    ),
    (
        "failures_by_channel",
        include_str!("../../queries/minutes/failures_by_channel.sql"),
    ),
    (
        "failures_by_payment_method",
        include_str!("../../queries/minutes/failures_by_payment_method.sql"),
    ),
    (
        "latency_percentiles_by_channel",
        include_str!("../../queries/minutes/latency_percentiles_by_channel.sql"),
    ),
    (
        "rejected_by_reason",
        include_str!("../../queries/minutes/rejected_by_reason.sql"),
    ),
    (
        "retry_recovery_rate",
        include_str!("../../queries/minutes/retry_recovery_rate.sql"),
    ),
    (
        "top_error_codes",
        include_str!("../../queries/minutes/top_error_codes.sql"),
    ),
];

/// [`SavedQuery::origin`] of the queries compiled into the binary.
pub const EMBEDDED_ORIGIN: &str = "embedded";

/// Directory of the minutes forms, under a queries directory.
pub const MINUTES_FORMS_DIR: &str = "minutes";

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// One parameter a saved query takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    /// Used when the caller gives no value (same syntax as a given value).
    pub default: String,
    pub description: String,
}

/// One output column, as the header documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub sql_type: String,
    pub description: String,
}

/// A parsed saved query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQuery {
    pub name: String,
    pub purpose: String,
    pub params: Vec<ParamSpec>,
    pub columns: Vec<ColumnSpec>,
    /// The whole file text (header comments included; they are SQL comments).
    pub sql: String,
    /// The minutes form, if the query has one (see the module docs).
    pub minutes_sql: Option<String>,
    /// Where it came from: `embedded` or the file path.
    pub origin: String,
}

impl SavedQuery {
    /// Parses a saved query file.
    pub fn parse(name: &str, text: &str, origin: &str) -> Result<SavedQuery> {
        let broken = |message: String| Error::SavedQuery {
            name: name.to_string(),
            origin: origin.to_string(),
            message,
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(broken(
                "a saved query name is lowercase letters, digits and _".into(),
            ));
        }
        let mut header = text
            .lines()
            .map_while(|l| l.trim().strip_prefix("--"))
            .map(str::trim);
        let first = header.next().unwrap_or("");
        let purpose = match first.split_once(':') {
            Some((n, purpose)) if n.trim() == name => purpose.trim().to_string(),
            _ => {
                return Err(broken(format!(
                    "the first line must be `-- {name}: <purpose>`"
                )));
            }
        };
        let mut query = SavedQuery {
            name: name.to_string(),
            purpose,
            params: Vec::new(),
            columns: Vec::new(),
            sql: text.to_string(),
            minutes_sql: None,
            origin: origin.to_string(),
        };
        for line in header {
            let (spec, description) = match line.split_once(" -- ") {
                Some((s, d)) => (s.trim(), d.trim().to_string()),
                None => (line, String::new()),
            };
            if let Some(p) = spec.strip_prefix("param:") {
                let (decl, default) = p
                    .split_once('=')
                    .map(|(d, v)| (d.trim(), v.trim().to_string()))
                    .ok_or_else(|| broken(format!("`{line}`: a parameter needs `= default`")))?;
                let mut words = decl.split_whitespace();
                let (Some(pname), Some(kind), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(broken(format!(
                        "`{line}`: expected `param: NAME TYPE = DEFAULT`"
                    )));
                };
                let kind = ParamKind::parse(kind)
                    .ok_or_else(|| broken(format!("`{line}`: type is timestamp or interval")))?;
                if query.params.iter().any(|q| q.name == pname) {
                    return Err(broken(format!("parameter `{pname}` declared twice")));
                }
                kind.value(&default, 1_800_000_000_000)
                    .map_err(|e| broken(format!("default of `{pname}`: {e}")))?;
                query.params.push(ParamSpec {
                    name: pname.to_string(),
                    kind,
                    default,
                    description,
                });
            } else if let Some(c) = spec.strip_prefix("column:") {
                let (cname, sql_type) = c
                    .trim()
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| broken(format!("`{line}`: expected `column: NAME TYPE`")))?;
                query.columns.push(ColumnSpec {
                    name: cname.to_string(),
                    sql_type: sql_type.trim().to_string(),
                    description,
                });
            } else if !line.is_empty() {
                if !query.params.is_empty() || !query.columns.is_empty() {
                    return Err(broken(format!("`{line}`: unknown header line")));
                }
                query.purpose.push(' ');
                query.purpose.push_str(line);
            }
        }
        if query.columns.is_empty() {
            return Err(broken("the header lists no `column:`".into()));
        }
        Ok(query)
    }

    /// Adds a minutes form; the query must take `start` and `end` timestamps.
    pub fn with_minutes(mut self, text: &str) -> Result<SavedQuery> {
        let window = ["start", "end"].iter().all(|w| {
            self.params
                .iter()
                .any(|p| p.name == *w && p.kind == ParamKind::Timestamp)
        });
        if !window {
            return Err(Error::SavedQuery {
                name: self.name.clone(),
                origin: self.origin.clone(),
                message: "a minutes form needs `start` and `end` timestamp parameters".into(),
            });
        }
        self.minutes_sql = Some(text.to_string());
        Ok(self)
    }

    /// The minutes form and its values (`values` from [`SavedQuery::bind`]
    /// plus `whole_start` and `whole_end`), when the query has one and
    /// every interval is whole minutes.
    pub fn bind_minutes(
        &self,
        values: &[(String, ScalarValue)],
    ) -> Option<(&str, Vec<(String, ScalarValue)>)> {
        let text = self.minutes_sql.as_deref()?;
        let whole = values.iter().all(|(_, value)| match value {
            ScalarValue::IntervalMonthDayNano(Some(i)) => {
                i.months == 0 && i.nanoseconds % (MINUTE_MS * 1_000_000) == 0
            }
            _ => true,
        });
        if !whole {
            return None;
        }
        Some((text, with_whole_minutes(values)?))
    }

    /// The values to bind: `given` (`name`, text) over the defaults. Unknown,
    /// repeated or malformed parameters are errors.
    pub fn bind(
        &self,
        given: &[(String, String)],
        now_ms: i64,
    ) -> Result<Vec<(String, ScalarValue)>> {
        let param_error = |param: &str, message: String| Error::Param {
            query: self.name.clone(),
            param: param.to_string(),
            message,
        };
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in given {
            if !self.params.iter().any(|p| p.name == *name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                let takes = if known.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("it takes {}", known.join(", "))
                };
                return Err(param_error(name, format!("unknown parameter; {takes}")));
            }
            if values.insert(name, value).is_some() {
                return Err(param_error(name, "given more than once".into()));
            }
        }
        self.params
            .iter()
            .map(|p| {
                let text = values.get(p.name.as_str()).copied().unwrap_or(&p.default);
                let value = p
                    .kind
                    .value(text, now_ms)
                    .map_err(|e| param_error(&p.name, e))?;
                Ok((p.name.clone(), value))
            })
            .collect()
    }
}

/// The `*.sql` files of `dir` as (name, path, text); other files are ignored.
fn sql_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".sql"))
        else {
            continue;
        };
        let text = fs::read_to_string(&path).map_err(Error::io(&path))?;
        out.push((name.to_string(), path.clone(), text));
    }
    Ok(out)
}

/// `values` plus `whole_start` and `whole_end`, the whole minutes of their
/// `start`..`end` window, and `whole_hour_start` and `whole_hour_end`, its
/// whole hours (for a form reading `order_attempts_latency_hours`); `None`
/// without both.
pub(crate) fn with_whole_minutes(
    values: &[(String, ScalarValue)],
) -> Option<Vec<(String, ScalarValue)>> {
    let at = |param: &str| {
        values.iter().find_map(|(name, value)| match value {
            ScalarValue::TimestampMillisecond(Some(ms), _) if name == param => Some(*ms),
            _ => None,
        })
    };
    let (start, end) = (at("start")?, at("end")?);
    let ts = |ms: i64| ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()));
    let mut values = values.to_vec();
    for (prefix, unit) in [("whole", MINUTE_MS), ("whole_hour", HOUR_MS)] {
        let (whole_start, whole_end) = whole_units(start, end, unit);
        values.push((format!("{prefix}_start"), ts(whole_start)));
        values.push((format!("{prefix}_end"), ts(whole_end)));
    }
    Some(values)
}

/// The whole minutes of the window `start..end` (ms) as `whole_start..
/// whole_end`, such that `start..whole_start`, `whole_start..whole_end` and
/// `whole_end..end` cut the window in three with no overlap (any of them may
/// be empty), the middle one on whole minutes.
pub fn whole_minutes(start: i64, end: i64) -> (i64, i64) {
    whole_units(start, end, MINUTE_MS)
}

/// [`whole_minutes`] for any `unit` (ms) dividing a day.
fn whole_units(start: i64, end: i64, unit: i64) -> (i64, i64) {
    let up = start.div_euclid(unit) * unit;
    let up = if up < start {
        up.saturating_add(unit)
    } else {
        up
    };
    let whole_start = up.min(end.max(start));
    let down = end.div_euclid(unit) * unit;
    (whole_start, down.max(whole_start))
}

/// Every saved query, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedQueries {
    queries: BTreeMap<String, SavedQuery>,
}

impl SavedQueries {
    /// The queries compiled into the binary (the repository's `queries/`).
    pub fn embedded() -> Result<SavedQueries> {
        let mut queries = BTreeMap::new();
        for (name, text) in EMBEDDED {
            let mut query = SavedQuery::parse(name, text, EMBEDDED_ORIGIN)?;
            if let Some((_, minutes)) = EMBEDDED_MINUTES.iter().find(|(n, _)| n == name) {
                query = query.with_minutes(minutes)?;
            }
            queries.insert(name.to_string(), query);
        }
        Ok(SavedQueries { queries })
    }

    /// The `*.sql` files of `dir` (other files are ignored), with their
    /// minutes forms from `dir/minutes/` (one without a query is an error).
    pub fn from_dir(dir: &Path) -> Result<SavedQueries> {
        let mut queries = BTreeMap::new();
        for (name, path, text) in sql_files(dir)? {
            let query = SavedQuery::parse(&name, &text, &path.display().to_string())?;
            queries.insert(name, query);
        }
        let forms = dir.join(MINUTES_FORMS_DIR);
        if forms.is_dir() {
            for (name, path, text) in sql_files(&forms)? {
                let query = queries.remove(&name).ok_or_else(|| Error::SavedQuery {
                    name: name.clone(),
                    origin: path.display().to_string(),
                    message: format!("a minutes form of no query (no {name}.sql)"),
                })?;
                queries.insert(name, query.with_minutes(&text)?);
            }
        }
        Ok(SavedQueries { queries })
    }

    pub fn get(&self, name: &str) -> Option<&SavedQuery> {
        self.queries.get(name)
    }

    /// All queries, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &SavedQuery> {
        self.queries.values()
    }

    pub fn len(&self) -> usize {
        self.queries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "-- q: counts things\n-- over a window.\n\
        -- param: start timestamp = now-24h -- window start\n\
        -- param: bucket interval = 1 hour\n\
        -- column: n bigint -- how many\n\
        SELECT count(*) AS n FROM order_attempts WHERE ts >= $start\n";

    #[test]
    fn header_parses_into_purpose_params_and_columns() {
        let q = SavedQuery::parse("q", TEXT, "test").expect("parse");
        assert_eq!(q.purpose, "counts things over a window.");
        assert_eq!(q.params.len(), 2);
        assert_eq!(q.params[0].name, "start");
        assert_eq!(q.params[0].kind, ParamKind::Timestamp);
        assert_eq!(q.params[0].default, "now-24h");
        assert_eq!(q.params[0].description, "window start");
        assert_eq!(q.params[1].kind, ParamKind::Interval);
        assert_eq!(q.columns[0].name, "n");
        assert_eq!(q.columns[0].sql_type, "bigint");
    }

    #[test]
    fn broken_headers_are_refused() {
        for (name, text) in [
            ("q", "SELECT 1"),
            ("other", TEXT),
            ("Q-1", TEXT),
            (
                "q",
                "-- q: x\n-- param: start timestamp -- no default\n-- column: n bigint\nSELECT 1",
            ),
            (
                "q",
                "-- q: x\n-- param: start date = now\n-- column: n bigint\nSELECT 1",
            ),
            (
                "q",
                "-- q: x\n-- param: start timestamp = soon\n-- column: n bigint\nSELECT 1",
            ),
            (
                "q",
                "-- q: x\n-- param: a timestamp = now\n-- param: a timestamp = now\n-- column: n bigint\nSELECT 1",
            ),
            ("q", "-- q: x\nSELECT 1"),
        ] {
            assert!(
                SavedQuery::parse(name, text, "test").is_err(),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn bind_uses_defaults_and_refuses_unknown_repeated_and_malformed() {
        let q = SavedQuery::parse("q", TEXT, "test").expect("parse");
        let now = 1_000_000_000_000;
        let values = q.bind(&[], now).expect("defaults");
        assert_eq!(values[0].0, "start");
        assert_eq!(
            values[0].1,
            ScalarValue::TimestampMillisecond(Some(now - 86_400_000), Some("UTC".into()))
        );
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let err = q.bind(&[p("stop", "now")], now).expect_err("unknown");
        assert!(err.to_string().contains("it takes start, bucket"), "{err}");
        assert!(
            q.bind(&[p("start", "now"), p("start", "now")], now)
                .is_err()
        );
        let err = q
            .bind(&[p("start", "tomorrow")], now)
            .expect_err("malformed");
        assert!(err.to_string().contains("parameter `start`"), "{err}");
        assert!(q.bind(&[p("bucket", "0 minutes")], now).is_err());
    }

    #[test]
    fn whole_minutes_cut_every_window_in_three() {
        const M: i64 = MINUTE_MS;
        for (start, end, expect) in [
            (10 * M, 70 * M, (10 * M, 70 * M)),
            (10 * M + 1, 70 * M - 1, (11 * M, 69 * M)),
            (
                10 * M + 30_000,
                10 * M + 45_000,
                (10 * M + 45_000, 10 * M + 45_000),
            ),
            (10 * M + 30_000, 11 * M, (11 * M, 11 * M)),
            (-M - 5, -5, (-M, -M)),
            (70 * M, 10 * M, (70 * M, 70 * M)),
        ] {
            let (ws, we) = whole_minutes(start, end);
            assert_eq!((ws, we), expect, "{start}..{end}");
            // Hours the same way, a minute standing for an hour.
            let (hs, he) = whole_units(start * 60, end * 60, HOUR_MS);
            assert_eq!(
                (hs, he),
                (expect.0 * 60, expect.1 * 60),
                "hours {start}..{end}"
            );
            assert!(ws <= we);
            if start < end {
                assert!(start <= ws && we <= end, "inside the window");
                assert!(ws == we || (ws % M == 0 && we % M == 0), "whole minutes");
            }
        }
    }

    #[test]
    fn minutes_forms_need_a_window_and_whole_minute_buckets() {
        const NOW: i64 = 1_800_000_000_000;
        let q = SavedQuery::parse("q", TEXT, "test").expect("parse");
        assert!(q.clone().with_minutes("SELECT 1").is_err(), "no `end`");
        let text = TEXT.replace(
            "-- column:",
            "-- param: end timestamp = now -- window end\n-- column:",
        );
        let q = SavedQuery::parse("q", &text, "test")
            .expect("parse")
            .with_minutes("SELECT 2")
            .expect("a window");
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let values = q
            .bind(
                &[p("start", "2026-11-01T10:00:30Z"), p("bucket", "5m")],
                NOW,
            )
            .expect("bind");
        let (text, bound) = q.bind_minutes(&values).expect("whole minutes");
        assert_eq!(text, "SELECT 2");
        let added: Vec<&str> = bound[values.len()..]
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            added,
            [
                "whole_start",
                "whole_end",
                "whole_hour_start",
                "whole_hour_end"
            ]
        );
        let values = q.bind(&[p("bucket", "90s")], NOW).expect("bind");
        assert!(
            q.bind_minutes(&values).is_none(),
            "90 s is not whole minutes"
        );
    }

    #[test]
    fn every_embedded_query_parses_and_every_file_is_embedded() {
        let embedded = SavedQueries::embedded().expect("embedded queries parse");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
        let on_disk = SavedQueries::from_dir(&dir).expect("queries dir");
        assert_eq!(
            embedded.iter().map(|q| &q.name).collect::<Vec<_>>(),
            on_disk.iter().map(|q| &q.name).collect::<Vec<_>>(),
            "add new queries/*.sql files to EMBEDDED in analytics/src/saved.rs"
        );
        assert_eq!(
            embedded
                .iter()
                .filter(|q| q.minutes_sql.is_some())
                .map(|q| &q.name)
                .collect::<Vec<_>>(),
            on_disk
                .iter()
                .filter(|q| q.minutes_sql.is_some())
                .map(|q| &q.name)
                .collect::<Vec<_>>(),
            "add new queries/minutes/*.sql files to EMBEDDED_MINUTES"
        );
        for name in [
            "failures_by_cause",
            "failures_by_channel",
            "failures_by_payment_method",
            "failure_rate_trend",
            "cause_channel_payment",
            "top_error_codes",
        ] {
            assert!(
                embedded.get(name).is_some(),
                "CONTRACT section 4 names {name}"
            );
        }
    }
}
