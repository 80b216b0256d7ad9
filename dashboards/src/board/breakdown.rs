//! The arithmetic of the overview: per-dimension breakdowns with their
//! change against the comparison period, "what changed" ranked by
//! contribution, and the trend pivoted into chart series.
//!
//! A value's contribution is how many points of the overall failure rate
//! it moved: `failures_now / attempts_now - failures_base / attempts_base`
//! with the window's total attempts as both denominators. Within one
//! dimension the contributions add up to the change of the overall rate,
//! so "which channel explains the rise" is a ranking by contribution.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Attempts and failures in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub attempts: i64,
    pub failures: i64,
}

impl Counts {
    pub fn rate(self) -> f64 {
        ratio(self.failures, self.attempts)
    }

    pub fn add(&mut self, other: Counts) {
        self.attempts += other.attempts;
        self.failures += other.failures;
    }
}

/// One value of a dimension in both periods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slice {
    pub now: Counts,
    pub base: Counts,
}

/// Failures over attempts, 0 for no attempts, rounded to 6 decimals.
pub fn ratio(failures: i64, attempts: i64) -> f64 {
    if attempts <= 0 {
        0.0
    } else {
        round6(failures as f64 / attempts as f64)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The totals as JSON.
pub fn totals_json(total: &Slice) -> Value {
    json!({
        "attempts": total.now.attempts,
        "failures": total.now.failures,
        "failure_rate": total.now.rate(),
        "base_attempts": total.base.attempts,
        "base_failures": total.base.failures,
        "base_failure_rate": total.base.rate(),
        "change": round6(total.now.rate() - total.base.rate()),
    })
}

/// The values of one dimension, ranked by absolute contribution (largest
/// first, then by failures), at most `limit`. For `failure_cause` a value's
/// attempts are the window's (a cause has no attempts of its own).
pub fn ranked(
    dimension: &str,
    values: &BTreeMap<Option<String>, Slice>,
    total: &Slice,
    limit: usize,
) -> Value {
    let is_cause = dimension == "failure_cause";
    let overall_change = total.now.rate() - total.base.rate();
    let mut rows: Vec<(f64, &Option<String>, Slice)> = values
        .iter()
        .filter(|(value, _)| !(is_cause && value.is_none()))
        .map(|(value, s)| {
            let mut s = s.clone();
            if is_cause {
                s.now.attempts = total.now.attempts;
                s.base.attempts = total.base.attempts;
            }
            let contribution = ratio(s.now.failures, total.now.attempts)
                - ratio(s.base.failures, total.base.attempts);
            (round6(contribution), value, s)
        })
        .collect();
    rows.sort_by(|a, b| {
        b.0.abs()
            .total_cmp(&a.0.abs())
            .then(b.2.now.failures.cmp(&a.2.now.failures))
            .then(a.1.cmp(b.1))
    });
    let out: Vec<Value> = rows
        .into_iter()
        .take(limit)
        .map(|(contribution, value, s)| {
            let share = if overall_change.abs() > 1e-12 {
                round6(contribution / overall_change)
            } else {
                0.0
            };
            json!({
                "value": value,
                "attempts": s.now.attempts,
                "failures": s.now.failures,
                "failure_rate": s.now.rate(),
                "base_attempts": s.base.attempts,
                "base_failures": s.base.failures,
                "base_failure_rate": s.base.rate(),
                "change": round6(s.now.rate() - s.base.rate()),
                "contribution": contribution,
                "share_of_change": share,
            })
        })
        .collect();
    Value::Array(out)
}

/// The trend as chart series: `times` (bucket starts, Unix seconds),
/// `attempts` and `failure_rate` per bucket, and one `failure_rate` series
/// per cause (0 in buckets without its failures, `null` in buckets without
/// attempts). `rows` are `(bucket_ms, cause, counts)`; a `None` cause holds
/// successes.
pub fn trend_json(buckets: &[i64], rows: &[(i64, Option<String>, Counts)]) -> Value {
    let index: BTreeMap<i64, usize> = buckets.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let mut per_bucket = vec![Counts::default(); buckets.len()];
    let mut per_cause: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (bucket, cause, counts) in rows {
        let Some(&i) = index.get(bucket) else {
            continue;
        };
        per_bucket[i].add(*counts);
        if let Some(cause) = cause {
            per_cause
                .entry(cause.as_str())
                .or_insert_with(|| vec![0; buckets.len()])[i] += counts.failures;
        }
    }
    let rate = |failures: i64, i: usize| -> Value {
        if per_bucket[i].attempts == 0 {
            Value::Null
        } else {
            json!(ratio(failures, per_bucket[i].attempts))
        }
    };
    let series: Vec<Value> = per_cause
        .iter()
        .map(|(cause, failures)| {
            let rates: Vec<Value> = failures
                .iter()
                .enumerate()
                .map(|(i, f)| rate(*f, i))
                .collect();
            json!({ "failure_cause": cause, "failure_rate": rates, "failures": failures })
        })
        .collect();
    json!({
        "times": buckets.iter().map(|b| b / 1000).collect::<Vec<_>>(),
        "attempts": per_bucket.iter().map(|c| c.attempts).collect::<Vec<_>>(),
        "failure_rate": (0..buckets.len()).map(|i| rate(per_bucket[i].failures, i)).collect::<Vec<_>>(),
        "series": series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(a: i64, f: i64, ba: i64, bf: i64) -> Slice {
        Slice {
            now: Counts {
                attempts: a,
                failures: f,
            },
            base: Counts {
                attempts: ba,
                failures: bf,
            },
        }
    }

    #[test]
    fn contributions_add_up_to_the_change_and_rank_the_culprit_first() {
        // web went from 1% to 21% failing; ios stayed at 2%.
        let mut values = BTreeMap::new();
        values.insert(Some("web".to_string()), slice(100, 21, 100, 1));
        values.insert(Some("ios_app".to_string()), slice(100, 2, 100, 2));
        let total = slice(200, 23, 200, 3);
        let all = ranked("channel", &values, &total, 10);
        let rows = all.as_array().unwrap();
        assert_eq!(rows[0]["value"], "web");
        assert_eq!(rows[0]["change"], 0.2);
        let sum: f64 = rows
            .iter()
            .map(|r| r["contribution"].as_f64().unwrap())
            .sum();
        assert!((sum - (0.115 - 0.015)).abs() < 1e-9, "{sum}");
        assert_eq!(rows[0]["share_of_change"], 1.0);
        assert_eq!(rows[1]["contribution"], 0.0);
        assert_eq!(
            ranked("channel", &values, &total, 1)
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn causes_use_the_windows_attempts_and_skip_successes() {
        let mut values = BTreeMap::new();
        values.insert(None, slice(90, 0, 95, 0));
        values.insert(Some("network_error".to_string()), slice(10, 10, 5, 5));
        let total = slice(100, 10, 100, 5);
        let all = ranked("failure_cause", &values, &total, 10);
        let rows = all.as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["attempts"], 100);
        assert_eq!(rows[0]["failure_rate"], 0.1);
        assert_eq!(rows[0]["base_failure_rate"], 0.05);
        assert_eq!(rows[0]["share_of_change"], 1.0);
    }

    #[test]
    fn trend_fills_every_bucket() {
        let buckets = [0, 60_000, 120_000];
        let c = |a, f| Counts {
            attempts: a,
            failures: f,
        };
        let rows = vec![
            (0, None, c(8, 0)),
            (0, Some("network_error".to_string()), c(2, 2)),
            (120_000, Some("service_error".to_string()), c(1, 1)),
            (999_999, None, c(5, 0)),
        ];
        let t = trend_json(&buckets, &rows);
        assert_eq!(t["times"], json!([0, 60, 120]));
        assert_eq!(t["attempts"], json!([10, 0, 1]));
        assert_eq!(t["failure_rate"], json!([0.2, null, 1.0]));
        assert_eq!(t["series"][0]["failure_cause"], "network_error");
        assert_eq!(t["series"][0]["failure_rate"], json!([0.2, null, 0.0]));
        assert_eq!(t["series"][1]["failure_rate"], json!([0.0, null, 1.0]));
    }
}
