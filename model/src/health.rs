//! Readiness of an ingest worker: is a broker reachable, is the data
//! directory writable. Ingest updates it; `/readyz` (in dashboards) reads it,
//! which is why it lives here and not in ingest.
//!
//! Neither condition stops the worker: while the broker is unreachable
//! librdkafka reconnects on its own, and while storage fails the worker keeps
//! what it decoded, pauses consumption and retries the write with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared readiness flags; cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Flags>,
}

#[derive(Debug)]
struct Flags {
    broker_up: AtomicBool,
    storage_writable: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Not ready until a broker has answered; storage assumed writable until
    /// a write or probe fails.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Flags {
                broker_up: AtomicBool::new(false),
                storage_writable: AtomicBool::new(true),
            }),
        }
    }

    pub fn set_broker_up(&self, up: bool) -> bool {
        self.inner.broker_up.swap(up, Ordering::Relaxed) != up
    }

    pub fn set_storage_writable(&self, ok: bool) -> bool {
        self.inner.storage_writable.swap(ok, Ordering::Relaxed) != ok
    }

    pub fn broker_up(&self) -> bool {
        self.inner.broker_up.load(Ordering::Relaxed)
    }

    pub fn storage_writable(&self) -> bool {
        self.inner.storage_writable.load(Ordering::Relaxed)
    }

    pub fn is_ready(&self) -> bool {
        self.broker_up() && self.storage_writable()
    }

    /// What keeps the worker from being ready, in words (empty when ready).
    pub fn problems(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if !self.broker_up() {
            p.push("no Kafka broker reachable");
        }
        if !self.storage_writable() {
            p.push("data directory not writable");
        }
        p
    }
}
