//! The spike alert payload of CONTRACT section 7, shared by the detector
//! (analytics), the backtest (the binary) and delivery (dashboards).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The dimensions a spike alert's slice can name.
pub const SLICE_DIMENSIONS: [&str; 4] =
    ["failure_cause", "channel", "payment_method", "app_version"];

/// Whether an alert is still on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// One sub-slice explaining part of a firing slice's excess failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    pub dimension: String,
    pub value: String,
    /// Share of the slice's excess failures (over its baseline) in this
    /// sub-slice, 0..=1.
    pub share: f64,
}

/// A spike alert (CONTRACT section 7). Counts and rates are those of the
/// window that made it fire; `score` is the highest seen while it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable for one alert: the same id for its firing and resolved states.
    pub id: String,
    pub status: AlertStatus,
    /// Dimension → value, e.g. `{"payment_method": "alipay"}`.
    pub slice: BTreeMap<String, String>,
    /// RFC 3339 UTC (event time).
    pub started_at: String,
    pub resolved_at: Option<String>,
    pub window_seconds: u64,
    pub attempts: u64,
    pub failures: u64,
    pub failure_rate: f64,
    pub baseline_rate: f64,
    pub score: f64,
    pub contributors: Vec<Contributor>,
    pub runbook: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_json_has_the_contract_fields() {
        let alert = Alert {
            id: "a1".into(),
            status: AlertStatus::Firing,
            slice: BTreeMap::from([("payment_method".into(), "alipay".into())]),
            started_at: "2026-11-01T00:00:00.000Z".into(),
            resolved_at: None,
            window_seconds: 300,
            attempts: 1000,
            failures: 90,
            failure_rate: 0.09,
            baseline_rate: 0.03,
            score: 11.1,
            contributors: vec![Contributor {
                dimension: "failure_cause".into(),
                value: "payment_declined".into(),
                share: 0.9,
            }],
            runbook: "Payment declined".into(),
        };
        let v: serde_json::Value = serde_json::to_value(&alert).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "id",
            "status",
            "slice",
            "started_at",
            "resolved_at",
            "window_seconds",
            "attempts",
            "failures",
            "failure_rate",
            "baseline_rate",
            "score",
            "contributors",
            "runbook",
        ] {
            assert!(keys.contains(&k), "{k} missing in {v}");
        }
        assert_eq!(v["status"], "firing");
        assert_eq!(v["resolved_at"], serde_json::Value::Null);
        assert_eq!(v["contributors"][0]["dimension"], "failure_cause");
        let back: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(back, alert);
    }
}
