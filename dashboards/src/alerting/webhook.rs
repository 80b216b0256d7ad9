//! The generic JSON webhook: every alert state change (firing, resolved) is
//! POSTed as one CONTRACT section 7 alert object, in order, retried with
//! backoff while the receiver is down or overloaded.

use std::sync::Arc;
use std::time::Duration;

use model::alert::Alert;
use tokio_util::sync::CancellationToken;

use super::http::{Outcome, backoff, post_json};
use super::{Counters, queue::DropOldest};

pub(crate) struct Webhook {
    pub(crate) url: String,
    pub(crate) queue: Arc<DropOldest<Alert>>,
    pub(crate) client: reqwest::Client,
    pub(crate) max_backoff: Duration,
    pub(crate) counters: Counters,
}

impl Webhook {
    /// Delivers queued alerts until `shutdown`, then tries what is left once
    /// more within `grace`.
    pub(crate) async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let mut failures = 0u32;
        loop {
            let batch = tokio::select! {
                batch = self.queue.take_all() => batch,
                () = shutdown.cancelled() => break,
            };
            match self.deliver(batch).await {
                Ok(()) => failures = 0,
                Err(rest) => {
                    let dropped = self.queue.requeue(rest);
                    self.counters.dropped(dropped);
                    let wait = backoff(failures, self.max_backoff);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
            }
            self.counters.queued(self.queue.len());
        }
        // Shutdown: one more try for what is queued, bounded by `grace`.
        let batch = self.queue.take_now();
        let left = batch.len();
        if left > 0 {
            match tokio::time::timeout(grace, self.deliver(batch)).await {
                Ok(Ok(())) => {}
                _ => tracing::warn!(
                    url = %self.url,
                    alerts = left,
                    "stopping with alert notifications the webhook did not take"
                ),
            }
        }
    }

    /// Sends alerts in order; on a retryable failure returns the alerts not
    /// yet delivered (the failed one first).
    async fn deliver(&self, batch: Vec<Alert>) -> Result<(), Vec<Alert>> {
        let mut pending = batch.into_iter();
        while let Some(alert) = pending.next() {
            let body = match serde_json::to_vec(&alert) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, id = %alert.id, "alert not serialisable; dropped");
                    self.counters.refused(1);
                    continue;
                }
            };
            match post_json(&self.client, &self.url, body).await {
                Outcome::Delivered => self.counters.delivered(1),
                Outcome::Refused(why) => {
                    tracing::error!(reason = %why, id = %alert.id, "the webhook refused an alert; dropped");
                    self.counters.refused(1);
                }
                Outcome::Retry(why) => {
                    tracing::warn!(reason = %why, id = %alert.id, "alert webhook unavailable; retrying");
                    self.counters.retried(1);
                    let mut rest = vec![alert];
                    rest.extend(pending);
                    return Err(rest);
                }
            }
        }
        Ok(())
    }
}
