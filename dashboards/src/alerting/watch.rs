//! The spike detector inside `orderpulse serve`: every interval it counts the
//! newly complete minutes of `order_attempts` (stored and live rows, one
//! aggregate query), feeds them to [`analytics::detect::Detector`], and
//! hands the alerts that fired or resolved to the `alerts` table, the
//! receivers ([`Notifier`]) and `GET /api/alerts` ([`AlertsView`]).
//!
//! Event time drives the detector. Each run counts the events with
//! `ts` in `[where the last run stopped, now - lateness)`, so every event is
//! counted once, provided it is queryable (ingest makes rows live within a
//! second) before it is `lateness` old; later ones are not counted. At start
//! the detector is warmed on `history` of stored events, so baselines exist
//! at once, and what fired and resolved within that history is not sent
//! again. What is still firing at its end is squared with what the `alerts`
//! table says a previous process left firing: the same slice still firing
//! keeps the recorded alert (its id and start; re-sent to Alertmanager only,
//! not stored or sent to the webhook again); a recorded alert whose slice
//! is no longer firing is resolved now; the rest is new and sent as usual.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use analytics::Analytics;
use analytics::detect::Detector;
use model::alert::{Alert, AlertStatus};
use prometheus::IntGauge;
use tokio_util::sync::CancellationToken;

use super::{AlertStore, Notifier, SilenceBook};
use crate::{Error, Result};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// The end of the warm-up history that is evaluated (not only counted):
/// long enough for any alert still firing at its end to have fired.
const WARM_EVALUATION_MS: i64 = 6 * 3_600_000;
/// Resolved alerts `GET /api/alerts` keeps showing.
const RECENT: usize = 50;

/// What `GET /api/alerts` shows: firing alerts and the recently resolved.
#[derive(Debug, Clone, Default)]
pub struct AlertsView {
    inner: Arc<RwLock<ViewState>>,
}

#[derive(Debug, Default)]
struct ViewState {
    enabled: bool,
    firing: Vec<Alert>,
    resolved: VecDeque<Alert>,
}

impl AlertsView {
    /// A view that says alerting runs (an empty one says it does not).
    pub fn enabled() -> Self {
        let view = Self::default();
        if let Ok(mut s) = view.inner.write() {
            s.enabled = true;
        }
        view
    }

    /// Applies state changes in order.
    pub fn apply(&self, changes: &[Alert]) {
        let Ok(mut s) = self.inner.write() else {
            return;
        };
        for alert in changes {
            s.firing.retain(|a| a.id != alert.id);
            match alert.status {
                AlertStatus::Firing => s.firing.push(alert.clone()),
                AlertStatus::Resolved => {
                    s.resolved.push_front(alert.clone());
                    s.resolved.truncate(RECENT);
                }
            }
        }
    }

    /// Whether alerting runs; firing alerts (strongest first), then the
    /// recently resolved (newest first).
    pub fn snapshot(&self) -> (bool, Vec<Alert>) {
        let Ok(s) = self.inner.read() else {
            return (false, Vec::new());
        };
        let mut firing = s.firing.clone();
        firing.sort_by(|a, b| b.score.total_cmp(&a.score));
        firing.extend(s.resolved.iter().cloned());
        (s.enabled, firing)
    }

    pub fn firing(&self) -> usize {
        self.inner.read().map(|s| s.firing.len()).unwrap_or(0)
    }
}

/// How the watch runs.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Wall-clock time between runs (the detector's interval is event time).
    pub interval: Duration,
    /// How old an event must be before it is counted.
    pub lateness: Duration,
    /// Stored history read at start to warm the baselines.
    pub history: Duration,
}

/// The detector loop of `serve`.
pub struct Watch {
    pub analytics: Analytics,
    pub detector: Detector,
    pub notifier: Notifier,
    pub store: Option<AlertStore>,
    pub view: AlertsView,
    pub firing_gauge: Option<IntGauge>,
    pub config: WatchConfig,
    /// The silences to apply (the file's and the API's); the detector gets
    /// them before every evaluation.
    pub silences: Option<SilenceBook>,
}

impl Watch {
    /// Warms up on history, then runs every interval until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let now = chrono::Utc::now().timestamp_millis();
        let mut counted = match self.warm_up(now).await {
            Ok(until) => until,
            Err(e) => {
                tracing::warn!(error = %e, "reading alert history failed; baselines start empty");
                complete_until(now, self.config.lateness)
            }
        };
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let now = chrono::Utc::now().timestamp_millis();
            match self.step(counted, now).await {
                Ok(until) => counted = until,
                Err(e) => {
                    tracing::warn!(error = %e, "alert detection run failed; retrying next interval")
                }
            }
        }
    }

    /// Gives the detector the silences as they are now (the file's and the
    /// API's), before every evaluation: a silence set through the API holds
    /// from the next run on, and from the warm-up after a restart.
    fn apply_silences(&mut self) {
        if let Some(book) = &self.silences {
            self.detector.set_silences(book.all());
        }
    }

    /// Feeds `[history start, last complete minute)` and evaluates it,
    /// keeping only what is still firing at the end (squared with the
    /// `alerts` table); returns where counting stopped.
    pub(super) async fn warm_up(&mut self, now: i64) -> Result<i64> {
        let until = complete_until(now, self.config.lateness);
        let history = i64::try_from(self.config.history.as_millis()).unwrap_or(i64::MAX);
        self.apply_silences();
        let mut from = (until - history).div_euclid(MINUTE_MS) * MINUTE_MS;
        // The detector's clock starts where evaluation does: the last hours
        // of the history are evaluated tick by tick as they are fed (each
        // tick sees only the minutes before it), so what fires there and is
        // still firing at the end is known; what it says is not sent.
        let _ = self
            .detector
            .advance((until - WARM_EVALUATION_MS).max(from));
        let mut minutes = 0u64;
        while from < until {
            let to = (from + DAY_MS).min(until);
            minutes += self.feed(from, to).await?;
            let _past = self.detector.advance(to);
            from = to;
        }
        let recorded = match &self.store {
            Some(store) => store.still_firing().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the alerts left firing failed; they are not resumed");
                Vec::new()
            }),
            None => Vec::new(),
        };
        let mut resumed = Vec::new();
        let mut changes = Vec::new();
        for alert in recorded {
            match self.detector.resume(&alert) {
                Some(now_firing) => resumed.push(now_firing),
                None => changes.push(Alert {
                    status: AlertStatus::Resolved,
                    resolved_at: Some(analytics::detect::rfc3339(until)),
                    ..alert
                }),
            }
        }
        let ended = changes.len();
        changes.extend(
            self.detector
                .firing()
                .into_iter()
                .filter(|a| !resumed.iter().any(|r| r.id == a.id)),
        );
        tracing::info!(
            minutes_with_events = minutes,
            resumed = resumed.len(),
            ended_while_down = ended,
            new = changes.len() - ended,
            "alert baselines warmed on stored history"
        );
        self.notifier.resume(&resumed);
        self.view.apply(&resumed);
        self.publish(&changes);
        Ok(until)
    }

    /// Counts the minutes completed since `counted`, evaluates, publishes.
    pub(super) async fn step(&mut self, counted: i64, now: i64) -> Result<i64> {
        self.apply_silences();
        let until = complete_until(now, self.config.lateness);
        if until > counted {
            self.feed(counted, until).await?;
        }
        let changes = self.detector.advance(until.max(counted));
        self.publish(&changes);
        Ok(until.max(counted))
    }

    fn publish(&mut self, changes: &[Alert]) {
        if !changes.is_empty() {
            for a in changes {
                tracing::info!(id = %a.id, status = ?a.status, slice = ?a.slice, rate = a.failure_rate, baseline = a.baseline_rate, "spike alert");
            }
            if let Some(store) = &self.store
                && let Err(e) = store.append(changes)
            {
                tracing::error!(error = %e, "storing alert states failed");
            }
            self.notifier.notify(changes);
            self.view.apply(changes);
        }
        if let Some(g) = &self.firing_gauge {
            g.set(self.view.firing() as i64);
        }
    }

    /// Adds the counts of `[from, to)` (ms) to the detector; returns how
    /// many (minute, cell) rows there were.
    async fn feed(&mut self, from: i64, to: i64) -> Result<u64> {
        let detector = &mut self.detector;
        analytics::counts::cell_counts(&self.analytics, from, to, 60, |t, attempt, n| {
            let cell = detector.cell(attempt);
            detector.add(t, cell, n);
        })
        .await
        .map_err(|e| Error::Config(format!("counting minutes for alerts: {e}")))
    }
}

/// Events before this instant are counted.
fn complete_until(now_ms: i64, lateness: Duration) -> i64 {
    now_ms - i64::try_from(lateness.as_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_once_they_are_late_enough() {
        let t = 1_793_530_000_123;
        assert_eq!(complete_until(t, Duration::from_secs(10)), t - 10_000);
    }

    #[test]
    fn the_view_lists_firing_first_and_keeps_recent_resolved() {
        let view = AlertsView::enabled();
        let alert = |id: &str, status, score| Alert {
            id: id.into(),
            status,
            slice: Default::default(),
            started_at: "2026-11-01T00:00:00.000Z".into(),
            resolved_at: None,
            window_seconds: 300,
            attempts: 100,
            failures: 10,
            failure_rate: 0.1,
            baseline_rate: 0.01,
            score,
            contributors: vec![],
            runbook: String::new(),
        };
        view.apply(&[
            alert("a", AlertStatus::Firing, 5.0),
            alert("b", AlertStatus::Firing, 9.0),
        ]);
        assert_eq!(view.firing(), 2);
        view.apply(&[alert("a", AlertStatus::Resolved, 5.0)]);
        for i in 0..60 {
            view.apply(&[alert(&format!("r{i}"), AlertStatus::Resolved, 1.0)]);
        }
        let (enabled, list) = view.snapshot();
        assert!(enabled);
        assert_eq!(list[0].id, "b");
        assert_eq!(list[1].id, "r59", "newest resolved next");
        assert_eq!(list.len(), 1 + RECENT);
        assert_eq!(view.firing(), 1);
        assert!(!AlertsView::default().snapshot().0);
    }
}
