//! Long-poll waiters, served by tier.
//!
//! A worker that finds the queue empty parks here until a job arrives or its wait ends. When a
//! job is queued, the waiter with the highest tier (then the one that has waited longest) is
//! woken first, and a worker may not take a job while a higher-tier worker is parked: that is
//! how "higher tier first" holds when several workers poll at once. Waiters also re-check the
//! store every [`RECHECK`], which picks up jobs queued by another replica.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// How often a parked worker looks at the store even without a wake-up.
pub const RECHECK: Duration = Duration::from_millis(500);

/// Orders waiters: highest priority first, then earliest arrival.
type WaiterKey = (std::cmp::Reverse<u8>, u64);

#[derive(Debug, Default)]
struct Waiters {
    next_seq: u64,
    parked: BTreeMap<WaiterKey, Arc<Notify>>,
}

#[derive(Debug, Default)]
pub struct Dispatcher {
    waiters: Mutex<Waiters>,
}

/// A parked worker; unparks on drop.
#[derive(Debug)]
pub struct Parked<'a> {
    dispatcher: &'a Dispatcher,
    key: WaiterKey,
    notify: Arc<Notify>,
}

impl Parked<'_> {
    /// Waits for a wake-up or `timeout`, whichever comes first.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut waiters = self.dispatcher.waiters.lock().expect("waiters lock");
        waiters.parked.remove(&self.key);
    }
}

impl Dispatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a worker with `priority` may take a job now: no higher-priority worker waits.
    pub fn may_take(&self, priority: u8) -> bool {
        let waiters = self.waiters.lock().expect("waiters lock");
        waiters
            .parked
            .keys()
            .next()
            .is_none_or(|(best, _)| best.0 <= priority)
    }

    /// Parks a worker with `priority`.
    pub fn park(&self, priority: u8) -> Parked<'_> {
        let mut waiters = self.waiters.lock().expect("waiters lock");
        let key = (std::cmp::Reverse(priority), waiters.next_seq);
        waiters.next_seq += 1;
        let notify = Arc::new(Notify::new());
        waiters.parked.insert(key, notify.clone());
        Parked {
            dispatcher: self,
            key,
            notify,
        }
    }

    /// Wakes the best `n` parked workers (a job, or `n` jobs, became available).
    pub fn wake(&self, n: usize) {
        let waiters = self.waiters.lock().expect("waiters lock");
        for notify in waiters.parked.values().take(n) {
            notify.notify_one();
        }
    }

    pub fn parked(&self) -> usize {
        self.waiters.lock().expect("waiters lock").parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_highest_tier_is_woken_first_and_blocks_lower_tiers() {
        let d = Dispatcher::new();
        assert!(d.may_take(1));
        let low = d.park(1);
        let high = d.park(3);
        assert!(!d.may_take(2));
        assert!(d.may_take(3));
        d.wake(1);
        // Only the high-tier waiter was notified.
        tokio::time::timeout(Duration::from_millis(100), high.notify.notified())
            .await
            .expect("high tier woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), low.notify.notified())
                .await
                .is_err()
        );
        drop(high);
        assert!(d.may_take(1));
        drop(low);
        assert_eq!(d.parked(), 0);
    }
}
