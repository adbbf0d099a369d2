//! The coordinator's counters and histograms. Gauges that mirror the store (jobs by state,
//! workers online) are read at scrape time, so they are right on every replica.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bitsage_metrics::{Exposition, Histogram};

#[derive(Debug, Default)]
pub struct Metrics {
    pub jobs_submitted: AtomicU64,
    pub leases_granted: AtomicU64,
    pub lease_expiries: AtomicU64,
    pub proofs_accepted: AtomicU64,
    pub verification_failures: AtomicU64,
    pub jobs_failed: AtomicU64,
    /// CPU time of the verification gate (the thread's own clock), in nanoseconds.
    verification_cpu_nanos: AtomicU64,
    auth_rejections: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<BTreeMap<(String, String), Histogram>>,
    verification: Mutex<Histogram>,
}

/// Values read from the store at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub jobs_by_state: Vec<(&'static str, u64)>,
    pub workers_online: u64,
    pub workers_registered: u64,
    pub long_polls_parked: u64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn auth_rejected(&self, code: &'static str) {
        *self
            .auth_rejections
            .lock()
            .expect("metrics lock")
            .entry(code)
            .or_default() += 1;
    }

    pub fn observe_request(&self, method: &str, route: &str, seconds: f64) {
        self.requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_string(), route.to_string()))
            .or_default()
            .observe(seconds);
    }

    /// One proof through the gate: `seconds` of wall time, `cpu_nanos` of its thread's CPU.
    pub fn observe_verification(&self, seconds: f64, cpu_nanos: u64) {
        self.verification
            .lock()
            .expect("metrics lock")
            .observe(seconds);
        self.verification_cpu_nanos
            .fetch_add(cpu_nanos, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut e = Exposition::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        for (name, help, counter) in [
            (
                "bitsage_jobs_submitted_total",
                "Jobs accepted from clients.",
                &self.jobs_submitted,
            ),
            (
                "bitsage_leases_granted_total",
                "Leases handed to workers.",
                &self.leases_granted,
            ),
            (
                "bitsage_lease_expiries_total",
                "Leases that ran out before a result.",
                &self.lease_expiries,
            ),
            (
                "bitsage_proofs_accepted_total",
                "Proofs that passed the verification gate.",
                &self.proofs_accepted,
            ),
            (
                "bitsage_verification_failures_total",
                "Proofs refused by the verification gate.",
                &self.verification_failures,
            ),
            (
                "bitsage_jobs_failed_total",
                "Jobs that failed for good (fee refunded).",
                &self.jobs_failed,
            ),
        ] {
            e.single(name, "counter", help, load(counter));
        }
        e.family(
            "bitsage_auth_rejections_total",
            "counter",
            "Signed requests refused, by reason.",
        );
        for (code, n) in self.auth_rejections.lock().expect("metrics lock").iter() {
            e.sample(
                "bitsage_auth_rejections_total",
                &format!("reason=\"{code}\""),
                *n as f64,
            );
        }
        e.family("bitsage_jobs", "gauge", "Jobs in the store, by state.");
        for (state, n) in &snapshot.jobs_by_state {
            e.sample("bitsage_jobs", &format!("state=\"{state}\""), *n as f64);
        }
        e.single(
            "bitsage_workers_online",
            "gauge",
            "Workers seen in the last 30 seconds.",
            snapshot.workers_online as f64,
        );
        e.single(
            "bitsage_workers_registered",
            "gauge",
            "Workers ever registered.",
            snapshot.workers_registered as f64,
        );
        e.single(
            "bitsage_long_polls_parked",
            "gauge",
            "Lease requests waiting for work on this replica.",
            snapshot.long_polls_parked as f64,
        );
        e.family(
            "bitsage_http_request_duration_seconds",
            "histogram",
            "Request latency by route.",
        );
        for ((method, route), h) in self.requests.lock().expect("metrics lock").iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            e.histogram("bitsage_http_request_duration_seconds", &labels, h);
        }
        e.single(
            "bitsage_verification_cpu_seconds_total",
            "counter",
            "CPU time spent verifying submitted proofs (deserialising included).",
            self.verification_cpu_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        );
        e.family(
            "bitsage_verification_seconds",
            "histogram",
            "Time to verify one submitted proof.",
        );
        e.histogram(
            "bitsage_verification_seconds",
            "",
            &self.verification.lock().expect("metrics lock"),
        );
        e.finish()
    }
}
