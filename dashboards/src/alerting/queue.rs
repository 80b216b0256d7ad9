//! A bounded queue that never blocks the detector: when it is full, the
//! oldest entry makes room (and is counted), so a receiver that is down for
//! long costs old alert states, never the detector's progress or memory.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Bounded FIFO; `push` drops the oldest entry when full.
#[derive(Debug)]
pub(crate) struct DropOldest<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    ready: Notify,
}

impl<T> DropOldest<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
        }
    }

    /// Appends `item`; returns how many old entries were dropped for it.
    pub(crate) fn push(&self, item: T) -> usize {
        let dropped = {
            let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
            let mut dropped = 0;
            while items.len() >= self.capacity {
                items.pop_front();
                dropped += 1;
            }
            items.push_back(item);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    /// Takes every queued entry, waiting for one if there is none.
    pub(crate) async fn take_all(&self) -> Vec<T> {
        loop {
            // Registered before the check, so a push in between wakes us.
            let notified = self.ready.notified();
            {
                let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
                if !items.is_empty() {
                    return items.drain(..).collect();
                }
            }
            notified.await;
        }
    }

    /// Takes every queued entry without waiting.
    pub(crate) fn take_now(&self) -> Vec<T> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        items.drain(..).collect()
    }

    /// Puts entries that could not be delivered back in front, in order,
    /// keeping at most `capacity` (the oldest go first); returns how many
    /// were dropped.
    pub(crate) fn requeue(&self, front: Vec<T>) -> usize {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: VecDeque<T> = front.into();
        all.append(&mut items);
        let mut dropped = 0;
        while all.len() > self.capacity {
            all.pop_front();
            dropped += 1;
        }
        *items = all;
        dropped
    }

    pub(crate) fn len(&self) -> usize {
        self.items.lock().map(|i| i.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queues_drop_the_oldest_and_keep_order() {
        let q = DropOldest::new(3);
        assert_eq!(q.push(1), 0);
        assert_eq!(q.push(2), 0);
        assert_eq!(q.push(3), 0);
        assert_eq!(q.push(4), 1);
        assert_eq!(q.take_all().await, vec![2, 3, 4]);
        assert_eq!(q.len(), 0);
        q.push(5);
        // Undelivered entries go back in front of newer ones.
        assert_eq!(q.requeue(vec![2, 3, 4]), 1);
        assert_eq!(q.take_all().await, vec![3, 4, 5]);
    }

    #[tokio::test]
    async fn take_all_waits_for_a_push() {
        let q = std::sync::Arc::new(DropOldest::new(8));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.take_all().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        q.push("a");
        assert_eq!(waiter.await.unwrap(), vec!["a"]);
    }
}
