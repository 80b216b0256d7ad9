//! Alertmanager's v2 API (`POST {url}/api/v2/alerts`).
//!
//! Alertmanager expects firing alerts to be re-sent: one that is not sent
//! again before its `endsAt` resolves on its own. So, like Prometheus, every
//! firing alert is sent when it changes and again every `resend` interval
//! with `endsAt` four intervals ahead; a resolved alert is sent once with
//! `endsAt` = its `resolved_at`, then forgotten. Labels are
//! `alertname="OrderFailureSpike"` plus the slice (CONTRACT section 7), so
//! Alertmanager groups and silences by slice; the numbers, contributors and
//! runbook are annotations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use model::alert::{Alert, AlertStatus};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::http::{Outcome, backoff, post_json};
use super::{Counters, queue::DropOldest};

/// The `alertname` label of every spike alert.
pub const ALERT_NAME: &str = "OrderFailureSpike";

pub(crate) struct Alertmanager {
    /// `{base}/api/v2/alerts`.
    pub(crate) url: String,
    pub(crate) queue: Arc<DropOldest<Alert>>,
    pub(crate) client: reqwest::Client,
    pub(crate) max_backoff: Duration,
    pub(crate) resend: Duration,
    pub(crate) generator_url: Option<String>,
    pub(crate) counters: Counters,
}

/// One alert in Alertmanager's `postableAlert` shape. `now` is RFC 3339.
pub fn postable(
    alert: &Alert,
    now: chrono::DateTime<chrono::Utc>,
    resend: Duration,
    generator_url: Option<&str>,
) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), ALERT_NAME.into());
    for (dimension, value) in &alert.slice {
        labels.insert(dimension.clone(), value.clone().into());
    }
    let slice = alert
        .slice
        .iter()
        .map(|(d, v)| format!("{d}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let contributors = alert
        .contributors
        .iter()
        .map(|c| format!("{}={} ({:.0} %)", c.dimension, c.value, c.share * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    let summary = format!(
        "Order failure rate of {slice} at {:.1} % vs a baseline of {:.1} %",
        alert.failure_rate * 100.0,
        alert.baseline_rate * 100.0
    );
    let description = format!(
        "{} of {} attempts failed in the last {} s (score {:.1}).{}",
        alert.failures,
        alert.attempts,
        alert.window_seconds,
        alert.score,
        if contributors.is_empty() {
            String::new()
        } else {
            format!(" Mostly: {contributors}.")
        }
    );
    let ends_at = match (alert.status, &alert.resolved_at) {
        (AlertStatus::Resolved, Some(at)) => at.clone(),
        (AlertStatus::Resolved, None) => rfc3339(now),
        (AlertStatus::Firing, _) => {
            let ahead = chrono::Duration::from_std(resend.saturating_mul(4))
                .unwrap_or(chrono::Duration::minutes(4));
            rfc3339(now + ahead)
        }
    };
    let mut out = json!({
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook": alert.runbook,
            "contributors": contributors,
            "alert_id": alert.id,
            "failure_rate": format!("{:.4}", alert.failure_rate),
            "baseline_rate": format!("{:.4}", alert.baseline_rate),
            "score": format!("{:.2}", alert.score),
            "attempts": alert.attempts.to_string(),
            "failures": alert.failures.to_string(),
        },
        "startsAt": alert.started_at,
        "endsAt": ends_at,
    });
    if let Some(url) = generator_url {
        out["generatorURL"] = Value::String(url.to_string());
    }
    out
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Alertmanager {
    pub(crate) async fn run(self, shutdown: CancellationToken, grace: Duration) {
        // Firing alerts by id (re-sent every `resend`), and what changed
        // since the last successful post.
        let mut firing: BTreeMap<String, Alert> = BTreeMap::new();
        let mut changed: BTreeMap<String, Alert> = BTreeMap::new();
        let mut failures = 0u32;
        let mut resend = tokio::time::interval(self.resend);
        resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut due = false;
            tokio::select! {
                batch = self.queue.take_all() => {
                    for alert in batch {
                        match alert.status {
                            AlertStatus::Firing => { firing.insert(alert.id.clone(), alert.clone()); }
                            AlertStatus::Resolved => { firing.remove(&alert.id); }
                        }
                        // The latest state of an alert wins.
                        changed.insert(alert.id.clone(), alert);
                    }
                }
                _ = resend.tick() => due = true,
                () = shutdown.cancelled() => break,
            }
            if due {
                for (id, alert) in &firing {
                    changed.entry(id.clone()).or_insert_with(|| alert.clone());
                }
            }
            if changed.is_empty() {
                continue;
            }
            if self.post(&changed).await {
                changed.clear();
                failures = 0;
            } else {
                let wait = backoff(failures, self.max_backoff);
                failures = failures.saturating_add(1);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => break,
                }
            }
            self.counters.queued(changed.len() + self.queue.len());
        }
        // Shutdown: send the latest states once more, bounded by `grace`.
        for alert in self.queue.take_now() {
            changed.insert(alert.id.clone(), alert);
        }
        if !changed.is_empty() && tokio::time::timeout(grace, self.post(&changed)).await != Ok(true)
        {
            tracing::warn!(url = %self.url, alerts = changed.len(), "stopping with alert states Alertmanager did not take");
        }
    }

    /// Posts the alerts; true when Alertmanager took them (or refused them
    /// for good: retrying a refused payload cannot help).
    async fn post(&self, alerts: &BTreeMap<String, Alert>) -> bool {
        let now = chrono::Utc::now();
        let body: Vec<Value> = alerts
            .values()
            .map(|a| postable(a, now, self.resend, self.generator_url.as_deref()))
            .collect();
        let body = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "alerts not serialisable; dropped");
                return true;
            }
        };
        match post_json(&self.client, &self.url, body).await {
            Outcome::Delivered => {
                self.counters.delivered(alerts.len());
                true
            }
            Outcome::Refused(why) => {
                tracing::error!(reason = %why, alerts = alerts.len(), "Alertmanager refused alerts; dropped");
                self.counters.refused(alerts.len());
                true
            }
            Outcome::Retry(why) => {
                tracing::warn!(reason = %why, alerts = alerts.len(), "Alertmanager unavailable; retrying");
                self.counters.retried(alerts.len());
                false
            }
        }
    }
}
