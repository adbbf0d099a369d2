//! Long-poll waiters, served by tier.
//!
//! A worker that finds the queue empty parks here until a job arrives or its wait ends. When a
//! job is queued, the waiter with the highest tier (then the one that has waited longest) is
//! woken first, and a worker may not take a job while a higher-tier worker is parked: that is
//! how "higher tier first" holds when several workers poll at once. On PostgreSQL, waiters also
//! re-check the store every [`RECHECK`], which picks up jobs queued by another replica; on
//! SQLite every job is queued by this process, so an idle long-poll costs nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// How often a parked worker looks at a shared (PostgreSQL) store without a wake-up.
pub const RECHECK: Duration = Duration::from_millis(500);

/// Orders waiters: highest priority first, then earliest arrival.
type WaiterKey = (std::cmp::Reverse<u8>, u64);

#[derive(Debug, Default)]
struct Waiter {
    notify: Notify,
    /// Set when a wake-up was aimed at this waiter. A waiter that leaves after one passes it
    /// on, so a wake-up is never lost on a waiter that took another job, hit its lease limit or
    /// timed out.
    woken: AtomicBool,
}

#[derive(Debug, Default)]
struct Waiters {
    next_seq: u64,
    parked: BTreeMap<WaiterKey, Arc<Waiter>>,
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
    waiter: Arc<Waiter>,
}

impl Parked<'_> {
    /// Waits for a wake-up or `timeout`, whichever comes first.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.waiter.notify.notified()).await;
    }
}

impl Parked<'_> {
    /// The waiter looked at the queue and found it empty: wake-ups so far are spent.
    pub fn found_empty(&self) {
        self.waiter.woken.store(false, Ordering::SeqCst);
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut waiters = self.dispatcher.waiters.lock().expect("waiters lock");
        waiters.parked.remove(&self.key);
        drop(waiters);
        if self.waiter.woken.load(Ordering::SeqCst) {
            self.dispatcher.wake(1);
        }
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
        let waiter = Arc::new(Waiter::default());
        waiters.parked.insert(key, waiter.clone());
        Parked {
            dispatcher: self,
            key,
            waiter,
        }
    }

    /// Wakes the best `n` parked workers (a job, or `n` jobs, became available).
    pub fn wake(&self, n: usize) {
        let waiters = self.waiters.lock().expect("waiters lock");
        for waiter in waiters.parked.values().take(n) {
            waiter.woken.store(true, Ordering::SeqCst);
            waiter.notify.notify_one();
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
        tokio::time::timeout(Duration::from_millis(100), high.waiter.notify.notified())
            .await
            .expect("high tier woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), low.waiter.notify.notified())
                .await
                .is_err()
        );
        // The high-tier worker leaves (it took the job): the wake-up passes to the next one.
        drop(high);
        assert!(d.may_take(1));
        tokio::time::timeout(Duration::from_millis(100), low.waiter.notify.notified())
            .await
            .expect("the wake-up was passed on");
        drop(low);
        assert_eq!(d.parked(), 0);
    }
}
