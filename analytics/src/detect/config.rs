//! Detector settings and silences.

use std::collections::BTreeMap;

use model::runbooks::Runbooks;
use serde::Deserialize;

use super::slices::Dim;

/// How the detector decides; every guard is one field. The defaults are the
/// ones EVALUATION.md measured.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// How often the slices are evaluated, in event time.
    pub interval_ms: i64,
    /// The recent window compared with the baseline (whole minutes).
    pub window_ms: i64,
    /// A shorter window tried too, so a sharp rise is seen before it fills
    /// the long one (whole minutes; 0 turns it off).
    pub short_window_ms: i64,
    /// Fewer attempts than this in the window: no verdict.
    pub min_attempts: u64,
    /// Fewer failures above the baseline's prediction than this: no verdict.
    pub min_excess: f64,
    /// The window's rate must be at least baseline × this.
    pub min_ratio: f64,
    /// The score a breach must reach: the likelihood-ratio score of the
    /// window's failures against the baseline ([`super::score::lr_score`],
    /// z-like: 5 is about a one-in-3.5-million chance at the baseline rate).
    pub z: f64,
    /// A slice must stay breaching this long before it fires (0: at once,
    /// the default: a score of `z` is the evidence a `for` used to add).
    pub for_ms: i64,
    /// With a `for`, a breach scoring at least this fires at once, without
    /// waiting `for_ms` (0: never): the `for` wait is for marginal
    /// evidence, a clear outage pages at once.
    pub strong_z: f64,
    /// A firing slice counts as clear once its rate is below baseline × this.
    pub resolve_ratio: f64,
    /// ...and resolves after being clear this long.
    pub quiet_ms: i64,
    /// A slice is explained by an alerting one when their intersection holds
    /// at least this share of its excess failures (then it is not paged).
    pub explain_share: f64,
    /// Most slices tracked; more are not tracked and are counted.
    pub max_slices: usize,
    /// Most distinct values per dimension; more become `other`.
    pub max_values: usize,
    /// Most contributors listed on an alert.
    pub max_contributors: usize,
    /// History attempts below which the baseline leans on the parent slice.
    pub min_baseline_attempts: u64,
    /// Weight of the parent slice's rate in a short history, in attempts.
    pub prior_attempts: f64,
    /// How long history is kept (the baseline looks back at most 4 weeks).
    pub retention_ms: i64,
    pub silences: Vec<Silence>,
    pub runbooks: Runbooks,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            interval_ms: 30_000,
            window_ms: 300_000,
            short_window_ms: 120_000,
            min_attempts: 50,
            min_excess: 5.0,
            min_ratio: 1.5,
            z: 5.0,
            for_ms: 0,
            strong_z: 7.0,
            resolve_ratio: 1.25,
            quiet_ms: 180_000,
            explain_share: 0.6,
            max_slices: 5_000,
            max_values: 256,
            max_contributors: 5,
            min_baseline_attempts: 300,
            prior_attempts: 30.0,
            retention_ms: 29 * 86_400_000,
            silences: Vec::new(),
            runbooks: Runbooks::builtin(),
        }
    }
}

impl DetectorConfig {
    /// Checks the settings relate sensibly.
    pub fn validate(&self) -> Result<(), String> {
        let minute = 60_000;
        if self.interval_ms < 1_000 {
            return Err("the alert interval must be at least 1s".into());
        }
        if self.window_ms < minute || self.window_ms % minute != 0 {
            return Err("the window must be whole minutes, at least 1m".into());
        }
        if self.short_window_ms % minute != 0 || self.short_window_ms > self.window_ms {
            return Err("the short window must be whole minutes, at most the window".into());
        }
        if !(self.min_ratio >= 1.0 && self.resolve_ratio >= 1.0 && self.z > 0.0) {
            return Err("ratios must be at least 1 and z above 0".into());
        }
        if !(self.strong_z == 0.0 || self.strong_z >= self.z) {
            return Err("the strong z must be 0 (off) or at least z".into());
        }
        if self.for_ms < 0 || self.quiet_ms < 0 {
            return Err("durations cannot be negative".into());
        }
        Ok(())
    }
}

/// No page for matching slices between `start_ms` and `end_ms` (a
/// maintenance window). An alert already firing goes on and resolves.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// Dimension → value; a slice matches when it has every one of them.
    pub matcher: BTreeMap<String, String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub comment: String,
}

/// Longest silence comment, in characters.
pub const MAX_SILENCE_COMMENT: usize = 1_024;

impl Silence {
    /// A checked silence: `slice` names at least one detector dimension
    /// (vocabulary values are normalised as events are), `end_ms > start_ms`, the
    /// comment at most [`MAX_SILENCE_COMMENT`] characters.
    pub fn new(
        slice: BTreeMap<String, String>,
        start_ms: i64,
        end_ms: i64,
        comment: String,
    ) -> Result<Silence, String> {
        if slice.is_empty() {
            return Err("`slice` names no dimension".into());
        }
        let mut matcher = BTreeMap::new();
        for (k, v) in slice {
            let v = match Dim::from_name(&k) {
                // App versions are stored as given, vocabulary values normalised.
                Some(Dim::AppVersion) => v.trim().to_string(),
                Some(_) => model::vocab::normalise(&v).into_owned(),
                None => {
                    let shown: String = k.chars().take(40).collect();
                    return Err(format!(
                        "unknown dimension `{shown}` (failure_cause, channel, payment_method, app_version)"
                    ));
                }
            };
            if v.is_empty() || v.chars().count() > 128 {
                return Err(format!("`{k}`: a value of 1-128 characters"));
            }
            matcher.insert(k, v);
        }
        if end_ms <= start_ms {
            return Err("end is not after start".into());
        }
        if comment.chars().count() > MAX_SILENCE_COMMENT {
            return Err(format!(
                "the comment is longer than {MAX_SILENCE_COMMENT} characters"
            ));
        }
        Ok(Silence {
            matcher,
            start_ms,
            end_ms,
            comment,
        })
    }

    pub fn matches(&self, slice: &BTreeMap<String, String>, t_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&t_ms)
            && self.matcher.iter().all(|(k, v)| slice.get(k) == Some(v))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceFile {
    #[serde(default)]
    silence: Vec<SilenceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceEntry {
    slice: BTreeMap<String, String>,
    start: String,
    end: String,
    #[serde(default)]
    comment: String,
}

/// Most silences in a file.
const MAX_SILENCES: usize = 1_000;

/// Parses a silences file:
///
/// ```toml
/// [[silence]]
/// slice = { payment_method = "alipay" }
/// start = "2026-11-01T02:00:00+08:00"
/// end = "2026-11-01T04:00:00+08:00"
/// comment = "Alipay maintenance, announced"
/// ```
pub fn parse_silences(text: &str) -> Result<Vec<Silence>, String> {
    let file: SilenceFile = toml::from_str(text).map_err(|e| e.to_string())?;
    if file.silence.len() > MAX_SILENCES {
        return Err(format!("more than {MAX_SILENCES} silences"));
    }
    file.silence
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let n = i + 1;
            let time = |s: &str, what: &str| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| t.timestamp_millis())
                    .map_err(|err| format!("silence {n}: {what} `{s}`: {err} (RFC 3339)"))
            };
            let start_ms = time(&e.start, "start")?;
            let end_ms = time(&e.end, "end")?;
            Silence::new(e.slice, start_ms, end_ms, e.comment)
                .map_err(|err| format!("silence {n}: {err}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silences_parse_and_match() {
        let s = parse_silences(
            r#"
            [[silence]]
            slice = { payment_method = "AliPay" }
            start = "2026-11-01T02:00:00+08:00"
            end = "2026-11-01T04:00:00+08:00"
            "#,
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        let slice = BTreeMap::from([
            ("payment_method".to_string(), "alipay".to_string()),
            ("channel".to_string(), "web".to_string()),
        ]);
        let at = s[0].start_ms + 1;
        assert!(s[0].matches(&slice, at));
        assert!(!s[0].matches(&slice, s[0].end_ms));
        assert!(!s[0].matches(&BTreeMap::new(), at));
        // App versions are matched as stored: not lower-cased like vocabulary values.
        let release = Silence::new(
            BTreeMap::from([("app_version".to_string(), " 6.2.1-RC ".to_string())]),
            0,
            1,
            String::new(),
        )
        .unwrap();
        let slice = BTreeMap::from([("app_version".to_string(), "6.2.1-RC".to_string())]);
        assert!(release.matches(&slice, 0));
    }

    #[test]
    fn bad_silences_are_refused_with_the_reason() {
        let bad = [
            (
                "[[silence]]\nslice = {}\nstart = \"2026-11-01T00:00:00Z\"\nend = \"2026-11-01T01:00:00Z\"",
                "no dimension",
            ),
            (
                "[[silence]]\nslice = { region = \"x\" }\nstart = \"2026-11-01T00:00:00Z\"\nend = \"2026-11-01T01:00:00Z\"",
                "unknown dimension",
            ),
            (
                "[[silence]]\nslice = { channel = \"web\" }\nstart = \"yesterday\"\nend = \"2026-11-01T01:00:00Z\"",
                "RFC 3339",
            ),
            (
                "[[silence]]\nslice = { channel = \"web\" }\nstart = \"2026-11-01T02:00:00Z\"\nend = \"2026-11-01T01:00:00Z\"",
                "not after",
            ),
            (
                "[[silence]]\nslice = { channel = \"web\" }\nbogus = 1",
                "unknown field",
            ),
        ];
        for (text, want) in bad {
            let err = parse_silences(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn default_config_is_valid() {
        DetectorConfig::default().validate().unwrap();
        let bad = DetectorConfig {
            window_ms: 90_000,
            ..DetectorConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
