//! Alert delivery: Alertmanager's v2 API (`--alertmanager-url`) and a
//! generic JSON webhook (`--alert-webhook-url`), and the `alerts` table.
//!
//! The detector hands each alert state change (firing, resolved) to
//! [`Notifier::notify`], which never blocks: every receiver has its own
//! bounded queue (drop-oldest when full, counted) and task, so a receiver
//! that is down delays only itself. Deliveries are retried with exponential
//! backoff (0.5 s doubling to `max_backoff`, jittered) on connection errors,
//! timeouts, 5xx, 408 and 429, and dropped with an error on other 4xx (the
//! receiver refuses that payload; sending it again cannot help). Nothing is
//! lost while a receiver is briefly down; on shutdown each receiver gets one
//! more try, bounded by the grace period.
//!
//! - `queue`: the bounded drop-oldest queue.
//! - `http`: one JSON POST, retry classification, backoff.
//! - `webhook`: one alert object per POST, in order.
//! - `alertmanager`: `postableAlert`s, firing ones re-sent every interval.
//! - `store`: [`AlertStore`], the `alerts` table's Parquet files.
//! - `silences`: [`SilenceBook`], the `--silences` file's and the API's
//!   silences (the latter kept in `{data_dir}/silences.json`).
//! - `watch`: [`Watch`], the detector loop of `serve` (minute counts from
//!   `analytics`, warm-up on stored history), and [`AlertsView`], what
//!   `GET /api/alerts` shows.

mod alertmanager;
mod http;
mod queue;
pub mod silences;
mod store;
mod watch;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use model::alert::Alert;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use alertmanager::{ALERT_NAME, postable};
pub use silences::SilenceBook;
pub use store::{ALERTS_DIR, AlertStore, from_batch, to_batch};
pub use watch::{AlertsView, Watch, WatchConfig};

use crate::{Error, Result};

use model::metrics::{ALERT_NOTIFICATIONS_QUEUED, ALERT_NOTIFICATIONS_TOTAL};

/// Where and how alerts are delivered.
#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// Alertmanager's base URL (`http://alertmanager:9093`).
    pub alertmanager_url: Option<String>,
    /// A URL that takes one alert JSON object per POST.
    pub webhook_url: Option<String>,
    /// Alert states kept per receiver while it is down.
    pub queue_capacity: usize,
    /// Per request (connect included).
    pub timeout: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// How often firing alerts are re-sent to Alertmanager.
    pub resend_interval: Duration,
    /// Link back to the dashboard (Alertmanager's `generatorURL`).
    pub generator_url: Option<String>,
    /// On shutdown, how long the last deliveries may take.
    pub shutdown_grace: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            alertmanager_url: None,
            webhook_url: None,
            queue_capacity: 10_000,
            timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
            resend_interval: Duration::from_secs(60),
            generator_url: None,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// Checks a receiver URL: absolute http(s) with a host, no credentials in
/// the clear in logs (they are allowed, but never printed).
pub fn check_url(flag: &str, url: &str) -> Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| Error::Config(format!("{flag}: {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "{flag}: {}:// is not supported; use http:// or https://",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::Config(format!("{flag}: {url:?} has no host")));
    }
    Ok(parsed)
}

/// Per-receiver counters.
#[derive(Clone)]
pub(crate) struct Counters {
    receiver: &'static str,
    total: Option<IntCounterVec>,
    queued: Option<IntGaugeVec>,
}

impl Counters {
    fn add(&self, outcome: &str, n: usize) {
        if let Some(t) = &self.total
            && n > 0
        {
            t.with_label_values(&[self.receiver, outcome])
                .inc_by(n as u64);
        }
    }
    pub(crate) fn delivered(&self, n: usize) {
        self.add("delivered", n);
    }
    pub(crate) fn retried(&self, n: usize) {
        self.add("retried", n);
    }
    pub(crate) fn refused(&self, n: usize) {
        self.add("refused", n);
    }
    pub(crate) fn dropped(&self, n: usize) {
        if n > 0 {
            tracing::warn!(
                receiver = self.receiver,
                alerts = n,
                "alert queue full: oldest states dropped"
            );
        }
        self.add("dropped", n);
    }
    pub(crate) fn queued(&self, n: usize) {
        if let Some(q) = &self.queued {
            q.with_label_values(&[self.receiver]).set(n as i64);
        }
    }
}

/// Hands alert state changes to every configured receiver.
#[derive(Clone)]
pub struct Notifier {
    /// Per receiver: its queue, its counters, and whether it wants firing
    /// alerts sent again after a restart (Alertmanager forgets an alert
    /// that is not re-sent; a webhook was told once and is not told twice).
    queues: Vec<(Arc<queue::DropOldest<Alert>>, Counters, bool)>,
}

impl Notifier {
    /// Starts a task per configured receiver (none configured: a notifier
    /// that only drops). Tasks stop when `shutdown` is cancelled, after one
    /// last bounded try; await the handles for an ordered shutdown.
    pub fn start(
        config: &AlertingConfig,
        registry: Option<&Registry>,
        shutdown: &CancellationToken,
    ) -> Result<(Notifier, Vec<JoinHandle<()>>)> {
        let (total, queued) = match registry {
            Some(r) => {
                let total = IntCounterVec::new(
                    Opts::new(
                        ALERT_NOTIFICATIONS_TOTAL,
                        "Alert states per receiver and outcome",
                    ),
                    &["receiver", "outcome"],
                )
                .map_err(|e| Error::Config(e.to_string()))?;
                let queued = IntGaugeVec::new(
                    Opts::new(
                        ALERT_NOTIFICATIONS_QUEUED,
                        "Alert states waiting for a receiver",
                    ),
                    &["receiver"],
                )
                .map_err(|e| Error::Config(e.to_string()))?;
                r.register(Box::new(total.clone()))
                    .map_err(|e| Error::Config(e.to_string()))?;
                r.register(Box::new(queued.clone()))
                    .map_err(|e| Error::Config(e.to_string()))?;
                (Some(total), Some(queued))
            }
            None => (None, None),
        };
        let counters = |receiver| Counters {
            receiver,
            total: total.clone(),
            queued: queued.clone(),
        };
        let client = http::client(config.timeout);
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        if let Some(url) = config.alertmanager_url.as_deref().filter(|u| !u.is_empty()) {
            let base = check_url("--alertmanager-url", url)?;
            let endpoint = format!("{}/api/v2/alerts", base.as_str().trim_end_matches('/'));
            let queue = Arc::new(queue::DropOldest::new(config.queue_capacity));
            let worker = alertmanager::Alertmanager {
                url: endpoint,
                queue: queue.clone(),
                client: client.clone(),
                max_backoff: config.max_backoff,
                resend: config.resend_interval.max(Duration::from_secs(1)),
                generator_url: config.generator_url.clone(),
                counters: counters("alertmanager"),
            };
            tasks.push(tokio::spawn(
                worker.run(shutdown.clone(), config.shutdown_grace),
            ));
            queues.push((queue, counters("alertmanager"), true));
        }
        if let Some(url) = config.webhook_url.as_deref().filter(|u| !u.is_empty()) {
            let url = check_url("--alert-webhook-url", url)?;
            let queue = Arc::new(queue::DropOldest::new(config.queue_capacity));
            let worker = webhook::Webhook {
                url: url.to_string(),
                queue: queue.clone(),
                client,
                max_backoff: config.max_backoff,
                counters: counters("webhook"),
            };
            tasks.push(tokio::spawn(
                worker.run(shutdown.clone(), config.shutdown_grace),
            ));
            queues.push((queue, counters("webhook"), false));
        }
        Ok((Notifier { queues }, tasks))
    }

    /// Queues alert state changes for every receiver; never blocks.
    pub fn notify(&self, alerts: &[Alert]) {
        self.push(alerts, false);
    }

    /// Queues alerts that were already firing before a restart, for the
    /// receivers that keep firing alerts alive by re-sending (Alertmanager)
    /// only: the others were told when they started.
    pub fn resume(&self, alerts: &[Alert]) {
        self.push(alerts, true);
    }

    fn push(&self, alerts: &[Alert], resumed: bool) {
        for (queue, counters, resends) in &self.queues {
            if resumed && !resends {
                continue;
            }
            for alert in alerts {
                counters.dropped(queue.push(alert.clone()));
            }
            counters.queued(queue.len());
        }
    }

    /// Whether any receiver is configured.
    pub fn is_active(&self) -> bool {
        !self.queues.is_empty()
    }
}

#[cfg(test)]
mod tests;
