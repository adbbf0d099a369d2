//! The node's own endpoints (`/metrics`, `/health`, `/gpu/status`) and the counters behind them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use bitsage_ledger::Amount;
use bitsage_metrics::{Exposition, Histogram};
use bitsage_protocol::GpuInfo;
use serde::Serialize;

/// What the daemon counts.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    pub proofs_generated: AtomicU64,
    pub leases: AtomicU64,
    pub lease_errors: AtomicU64,
    pub job_failures: AtomicU64,
    pub submit_retries: AtomicU64,
    pub leases_lost: AtomicU64,
    pub in_flight: AtomicU64,
    /// SAGE base units earned by this process.
    earnings: Mutex<Amount>,
    proof_seconds: Mutex<Histogram>,
    gpus: Mutex<Vec<GpuInfo>>,
}

impl NodeMetrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn earned(&self, amount: Amount) {
        let mut e = self.earnings.lock().expect("metrics lock");
        *e = e.checked_add(amount).unwrap_or(*e);
    }

    pub fn earnings(&self) -> Amount {
        *self.earnings.lock().expect("metrics lock")
    }

    pub fn observe_proof(&self, seconds: f64) {
        self.proof_seconds
            .lock()
            .expect("metrics lock")
            .observe(seconds);
    }

    pub fn set_gpus(&self, gpus: Vec<GpuInfo>) {
        *self.gpus.lock().expect("metrics lock") = gpus;
    }

    pub fn gpus(&self) -> Vec<GpuInfo> {
        self.gpus.lock().expect("metrics lock").clone()
    }

    pub fn render(&self) -> String {
        let mut e = Exposition::new();
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        e.single(
            "sage_proofs_generated_total",
            "counter",
            "Proofs this worker made and the coordinator accepted.",
            n(&self.proofs_generated),
        );
        e.family(
            "sage_proof_seconds",
            "histogram",
            "Time to execute, prove and self-verify one job.",
        );
        e.histogram(
            "sage_proof_seconds",
            "",
            &self.proof_seconds.lock().expect("metrics lock"),
        );
        e.family(
            "sage_gpu_utilization_percent",
            "gauge",
            "GPU utilization as nvidia-smi reports it.",
        );
        for gpu in self.gpus() {
            if let Some(u) = gpu.utilization_percent {
                e.sample(
                    "sage_gpu_utilization_percent",
                    &format!("gpu=\"{}\"", gpu.index),
                    f64::from(u),
                );
            }
        }
        // Display only: the ledger keeps exact integers.
        let earned = self.earnings().0 as f64 / bitsage_ledger::ONE_SAGE as f64;
        e.single(
            "sage_earnings_sage",
            "gauge",
            "SAGE earned by this process (80% of each fee).",
            earned,
        );
        e.single(
            "sage_jobs_in_flight",
            "gauge",
            "Jobs leased and not yet acknowledged.",
            n(&self.in_flight),
        );
        e.single(
            "sage_leases_total",
            "counter",
            "Leases received.",
            n(&self.leases),
        );
        e.single(
            "sage_leases_lost_total",
            "counter",
            "Leases the coordinator took back before our result.",
            n(&self.leases_lost),
        );
        e.single(
            "sage_lease_errors_total",
            "counter",
            "Lease requests that failed.",
            n(&self.lease_errors),
        );
        e.single(
            "sage_job_failures_total",
            "counter",
            "Jobs that could not be executed or proved.",
            n(&self.job_failures),
        );
        e.single(
            "sage_submit_retries_total",
            "counter",
            "Result submissions retried because the coordinator was away.",
            n(&self.submit_retries),
        );
        e.finish()
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    backend: String,
    jobs_in_flight: u64,
    proofs_generated: u64,
}

#[derive(Clone)]
struct NodeState {
    metrics: Arc<NodeMetrics>,
    backend: String,
}

/// Serves the node endpoints until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<NodeMetrics>,
    backend: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot serve metrics on {addr}: {e} (change settings.metrics_addr or pass --metrics-addr)")
    })?;
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<NodeState>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    s.metrics.render(),
                )
            }),
        )
        .route(
            "/health",
            get(|State(s): State<NodeState>| async move {
                Json(Health {
                    status: "ok",
                    backend: s.backend.clone(),
                    jobs_in_flight: NodeMetrics::get(&s.metrics.in_flight),
                    proofs_generated: NodeMetrics::get(&s.metrics.proofs_generated),
                })
            }),
        )
        .route(
            "/gpu/status",
            get(|State(s): State<NodeState>| async move {
                Json(serde_json::json!({ "backend": s.backend, "gpus": s.metrics.gpus() }))
                    .into_response()
            }),
        )
        .with_state(NodeState { metrics, backend });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
