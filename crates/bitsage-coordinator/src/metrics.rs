//! Prometheus text exposition, written by hand: a few counters and histograms do not need a
//! metrics framework. Gauges that mirror the store (jobs by state, workers online) are read at
//! scrape time, so they are right on every replica.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The coordinator's own counters and histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    pub jobs_submitted: AtomicU64,
    pub leases_granted: AtomicU64,
    pub lease_expiries: AtomicU64,
    pub proofs_accepted: AtomicU64,
    pub verification_failures: AtomicU64,
    pub jobs_failed: AtomicU64,
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

    pub fn observe_verification(&self, seconds: f64) {
        self.verification
            .lock()
            .expect("metrics lock")
            .observe(seconds);
    }

    /// The exposition text.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut out,
            "bitsage_jobs_submitted_total",
            "Jobs accepted from clients.",
            load(&self.jobs_submitted),
        );
        counter(
            &mut out,
            "bitsage_leases_granted_total",
            "Leases handed to workers.",
            load(&self.leases_granted),
        );
        counter(
            &mut out,
            "bitsage_lease_expiries_total",
            "Leases that ran out before a result.",
            load(&self.lease_expiries),
        );
        counter(
            &mut out,
            "bitsage_proofs_accepted_total",
            "Proofs that passed the verification gate.",
            load(&self.proofs_accepted),
        );
        counter(
            &mut out,
            "bitsage_verification_failures_total",
            "Proofs refused by the verification gate.",
            load(&self.verification_failures),
        );
        counter(
            &mut out,
            "bitsage_jobs_failed_total",
            "Jobs that failed for good (fee refunded).",
            load(&self.jobs_failed),
        );

        out.push_str("# HELP bitsage_auth_rejections_total Signed requests refused, by reason.\n");
        out.push_str("# TYPE bitsage_auth_rejections_total counter\n");
        for (code, n) in self.auth_rejections.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "bitsage_auth_rejections_total{{reason=\"{code}\"}} {n}"
            );
        }

        out.push_str(
            "# HELP bitsage_jobs Jobs in the store, by state.\n# TYPE bitsage_jobs gauge\n",
        );
        for (state, n) in &snapshot.jobs_by_state {
            let _ = writeln!(out, "bitsage_jobs{{state=\"{state}\"}} {n}");
        }
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            &mut out,
            "bitsage_workers_online",
            "Workers seen in the last 30 seconds.",
            snapshot.workers_online,
        );
        gauge(
            &mut out,
            "bitsage_workers_registered",
            "Workers ever registered.",
            snapshot.workers_registered,
        );
        gauge(
            &mut out,
            "bitsage_long_polls_parked",
            "Lease requests waiting for work on this replica.",
            snapshot.long_polls_parked,
        );

        out.push_str("# HELP bitsage_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE bitsage_http_request_duration_seconds histogram\n");
        for ((method, route), h) in self.requests.lock().expect("metrics lock").iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            h.write(&mut out, "bitsage_http_request_duration_seconds", &labels);
        }
        out.push_str("# HELP bitsage_verification_seconds Time to verify one submitted proof.\n");
        out.push_str("# TYPE bitsage_verification_seconds histogram\n");
        self.verification.lock().expect("metrics lock").write(
            &mut out,
            "bitsage_verification_seconds",
            "",
        );
        out
    }
}
