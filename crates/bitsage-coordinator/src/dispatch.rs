//! Long-poll waiters, served by tier.
//!
//! A worker that finds the queue empty parks here until a job arrives or its wait ends. When a
//! job is queued, the waiter with the highest tier (then the one that has waited longest) is
//! woken first, and a worker may not take a job while a higher-tier worker is parked: that is
//! how "higher tier first" holds when several workers poll at once. A waiter that leaves after
//! taking a job, or with a wake-up it did not answer, wakes the next one. Waiters kept back by a
//! higher tier, and all waiters on PostgreSQL (where another replica may queue the job), also
//! look at the store every [`RECHECK`]; on SQLite an idle long-poll otherwise costs nothing.

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
    /// Set when a wake-up was aimed at this waiter and it has not looked at the queue since.
    woken: AtomicBool,
    /// Set when this waiter leased a job: there may be more.
    took: AtomicBool,
}

#[derive(Debug, Default)]
struct Waiters {
    next_seq: u64,
    parked: BTreeMap<WaiterKey, Arc<Waiter>>,
}

#[derive(Debug, Default)]
pub struct Dispatcher {
    waiters: Mutex<Waiters>,
    /// Set when the server stops: long-polls end at once instead of holding the shutdown (and,
    /// on SQLite, the database file) for up to their whole wait.
    closing: AtomicBool,
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
    /// Call right before looking at the queue: wake-ups so far are answered by that look. A
    /// wake-up that arrives during the look stays set (and its permit ends the next wait).
    pub fn looking(&self) {
        self.waiter.woken.store(false, Ordering::SeqCst);
    }

    /// The waiter leased a job.
    pub fn took_job(&self) {
        self.waiter.took.store(true, Ordering::SeqCst);
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut waiters = self.dispatcher.waiters.lock().expect("waiters lock");
        waiters.parked.remove(&self.key);
        drop(waiters);
        // Pass the turn on when this waiter leaves with a wake-up it did not answer (a lease
        // limit, a timeout) or after taking a job (the queue may hold more): otherwise a queued
        // job could wait for a waiter that nobody wakes.
        if self.waiter.woken.load(Ordering::SeqCst) || self.waiter.took.load(Ordering::SeqCst) {
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

    /// Ends every long-poll, now and from now on.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let waiters = self.waiters.lock().expect("waiters lock");
        for waiter in waiters.parked.values() {
            waiter.notify.notify_one();
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
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
        // The high-tier worker takes the job and leaves: the turn passes to the next one.
        high.looking();
        high.took_job();
        drop(high);
        assert!(d.may_take(1));
        tokio::time::timeout(Duration::from_millis(100), low.waiter.notify.notified())
            .await
            .expect("the wake-up was passed on");
        // A waiter that looked and found nothing leaves quietly.
        low.looking();
        drop(low);
        assert_eq!(d.parked(), 0);
        let alone = d.park(1);
        d.wake(1);
        alone.looking();
        drop(alone);
        let next = d.park(1);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), next.waiter.notify.notified())
                .await
                .is_err(),
            "no stray wake-up"
        );
        // Closing wakes every waiter.
        let other = d.park(3);
        d.close();
        assert!(d.is_closing());
        for waiter in [&next, &other] {
            tokio::time::timeout(Duration::from_millis(100), waiter.waiter.notify.notified())
                .await
                .expect("woken by close");
        }
    }
}
