//! The worker daemon: lease, prove, self-verify, submit; heartbeats; the outbox; a clean drain.
//!
//! Each of `slots` tasks long-polls for one job at a time, so the number of jobs in flight never
//! exceeds the slots (the tier's limit and `max_concurrent_jobs`, whichever is lower). A finished
//! proof goes to the outbox before it is sent and leaves it only when the coordinator answers,
//! so neither a crash nor an absent coordinator loses it. On SIGINT or SIGTERM the slots stop
//! leasing, finish what they hold, and the daemon exits 0.

use obelysk_gpu::prove::ProvingBackend;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bitsage_protocol::*;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::WorkerConfig;
use crate::home::{write_atomic, Home};
use crate::node::NodeMetrics;
use crate::outbox::{Outbox, Pending};

/// What `sage-worker status` reads while the daemon runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DaemonState {
    pub pid: u32,
    pub started_at: i64,
    pub updated_at: i64,
    pub coordinator_url: String,
    pub backend: String,
    pub slots: u32,
    pub leases_in_flight: Vec<String>,
    pub proofs_done: u64,
    /// SAGE earned since start, as a decimal string.
    pub earned: String,
    pub last_error: Option<String>,
}

pub use bitsage_protocol::unix_millis as now_ms;

#[derive(Clone)]
pub struct Daemon {
    pub client: CoordinatorClient,
    pub config: WorkerConfig,
    pub home: Home,
    pub metrics: Arc<NodeMetrics>,
    pub backend: Arc<ProvingBackend>,
    in_flight: Arc<Mutex<HashMap<String, String>>>,
    state: Arc<Mutex<DaemonState>>,
    /// Whether uploads ask for the next job (`?next=true`); cleared for a coordinator from
    /// before that option, which refuses the signed query as a bad signature.
    next_with_result: Arc<AtomicBool>,
}

/// Submissions tried once stopping has begun, one second apart, before a proof is left in the
/// outbox.
const STOPPING_TRIES: u32 = 5;

/// Backoff for an absent coordinator: 1 s doubling to 30 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

impl Daemon {
    pub fn new(
        client: CoordinatorClient,
        config: WorkerConfig,
        home: Home,
        metrics: Arc<NodeMetrics>,
        backend: Arc<ProvingBackend>,
    ) -> Self {
        let state = DaemonState {
            pid: std::process::id(),
            started_at: now_ms(),
            coordinator_url: config.coordinator_url.clone(),
            backend: backend.describe(),
            earned: "0".into(),
            ..Default::default()
        };
        Self {
            client,
            config,
            home,
            metrics,
            backend,
            in_flight: Default::default(),
            state: Arc::new(Mutex::new(state)),
            next_with_result: Arc::new(AtomicBool::new(true)),
        }
    }

    fn save_state(&self, last_error: Option<String>) {
        let mut state = self.state.lock().expect("state lock");
        state.updated_at = now_ms();
        state.leases_in_flight = self
            .in_flight
            .lock()
            .expect("lock")
            .keys()
            .cloned()
            .collect();
        state.proofs_done = NodeMetrics::get(&self.metrics.proofs_generated);
        state.earned = self.metrics.earnings().to_string();
        if last_error.is_some() {
            state.last_error = last_error;
        }
        let bytes = serde_json::to_vec_pretty(&*state).expect("state serializes");
        drop(state);
        if let Err(e) = write_atomic(&self.home.state(), &bytes) {
            tracing::warn!(error = %e, "cannot write state file");
        }
    }

    /// How many jobs to hold at once: the tier's limit and the configured maximum.
    pub async fn slots(&self) -> anyhow::Result<u32> {
        let account = self.client.account(self.client.address()?).await?;
        let tier = account.tier.ok_or_else(|| {
            anyhow::anyhow!(
                "this worker stakes {} SAGE; at least 1000 is needed for jobs: run `sage-worker stake --amount 1000`",
                account.stake
            )
        })?;
        let by_tier = tier.max_concurrent_jobs().unwrap_or(u32::MAX);
        Ok(by_tier.min(self.config.settings.max_concurrent_jobs).max(1))
    }

    /// Runs until `shutdown` flips to true, then drains.
    pub async fn run(self, slots: u32, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        self.state.lock().expect("state lock").slots = slots;
        self.save_state(None);
        tracing::info!(slots, backend = %self.backend, coordinator = %self.config.coordinator_url, "worker started");
        let outbox = {
            let (daemon, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move { daemon.flush_outbox(&shutdown).await })
        };
        let heartbeat = tokio::spawn(self.clone().heartbeat_loop(shutdown.clone()));
        let mut tasks = Vec::new();
        for slot in 0..slots {
            tasks.push(tokio::spawn(self.clone().slot_loop(slot, shutdown.clone())));
        }
        for task in tasks {
            let _ = task.await;
        }
        let _ = outbox.await;
        heartbeat.abort();
        self.save_state(None);
        tracing::info!(
            proofs = NodeMetrics::get(&self.metrics.proofs_generated),
            "worker drained and stopped"
        );
        Ok(())
    }

    async fn slot_loop(self, slot: u32, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0;
        let wait = self.config.settings.poll_interval_secs.clamp(1, 30) as u32 * 4;
        // A job leased along with the last result; held already, so it is worked even while
        // stopping.
        let mut next: Option<Lease> = None;
        loop {
            let lease = match next.take() {
                Some(lease) => Ok(Some(lease)),
                None if *shutdown.borrow() => return,
                None => tokio::select! {
                    lease = self.client.lease(wait) => lease,
                    _ = shutdown.changed() => return,
                },
            };
            match lease {
                Ok(Some(lease)) => {
                    failures = 0;
                    NodeMetrics::inc(&self.metrics.leases);
                    next = self.work(lease, &shutdown).await;
                }
                Ok(None) => failures = 0,
                Err(e) => {
                    NodeMetrics::inc(&self.metrics.lease_errors);
                    let pause = if e.is_transient() {
                        failures += 1;
                        backoff(failures)
                    } else {
                        Duration::from_secs(self.config.settings.poll_interval_secs.max(1))
                    };
                    if slot == 0 || failures <= 1 {
                        tracing::warn!(error = %e, retry_in = ?pause, "cannot lease");
                    }
                    self.save_state(Some(e.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {},
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    /// Proves a leased job and submits the proof; returns the next job when the coordinator
    /// leased one along with the result.
    async fn work(&self, lease: Lease, shutdown: &watch::Receiver<bool>) -> Option<Lease> {
        let job_id = lease.job.job_id.clone();
        self.in_flight
            .lock()
            .expect("lock")
            .insert(lease.lease_id.clone(), job_id.clone());
        NodeMetrics::inc(&self.metrics.in_flight);
        self.save_state(None);
        tracing::info!(job_id, workload = lease.job.workload.as_str(), "job leased");
        let spec = lease.job.clone();
        let backend = self.backend.clone();
        let proved =
            tokio::task::spawn_blocking(move || crate::prove::prove_job(&spec, &backend)).await;
        let mut next = None;
        match proved {
            Ok(Ok(proved)) => {
                self.metrics.observe_proof(proved.elapsed.as_secs_f64());
                tracing::info!(
                    job_id,
                    steps = proved.steps,
                    ms = proved.elapsed.as_millis() as u64,
                    "proved and self-verified"
                );
                let pending = Pending {
                    job_id: job_id.clone(),
                    lease_id: lease.lease_id.clone(),
                    proof: base64::engine::general_purpose::STANDARD
                        .encode(proved.proof.to_bytes()),
                };
                if let Err(e) = Outbox::new(&self.home).save(&pending) {
                    tracing::error!(error = %e, "cannot keep the proof on disk; submitting anyway");
                }
                next = self.submit(&pending, shutdown, true).await;
            }
            Ok(Err(e)) => {
                NodeMetrics::inc(&self.metrics.job_failures);
                let reason = format!("{e:#}");
                tracing::warn!(job_id, %reason, "job failed; giving it back");
                let fail = FailRequest {
                    lease_id: lease.lease_id.clone(),
                    reason,
                };
                if let Err(e) = self.client.fail(&job_id, &fail).await {
                    tracing::warn!(job_id, error = %e, "could not report the failure; the lease will expire");
                }
            }
            Err(e) => tracing::error!(job_id, error = %e, "prover task panicked"),
        }
        self.in_flight.lock().expect("lock").remove(&lease.lease_id);
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.save_state(None);
        next
    }

    /// Sends a kept proof until the coordinator answers, then removes it from the outbox. While
    /// stopping, a coordinator that is away gets a few more tries; after that the proof stays in
    /// the outbox for the next start. With `want_next`, and unless stopping, the upload also
    /// asks for the next job, which is returned.
    async fn submit(
        &self,
        pending: &Pending,
        shutdown: &watch::Receiver<bool>,
        want_next: bool,
    ) -> Option<Lease> {
        // The outbox keeps base64 (it is JSON); the coordinator takes the bytes themselves.
        let proof = match base64::engine::general_purpose::STANDARD.decode(&pending.proof) {
            Ok(proof) => proof,
            Err(e) => {
                tracing::warn!(job_id = pending.job_id, error = %e, "kept proof is damaged; dropping it");
                Outbox::new(&self.home).remove(&pending.job_id);
                return None;
            }
        };
        let mut attempt = 0;
        let mut tries_while_stopping = 0;
        let mut next = None;
        loop {
            if *shutdown.borrow() {
                tries_while_stopping += 1;
                if tries_while_stopping > STOPPING_TRIES {
                    tracing::warn!(
                        job_id = pending.job_id,
                        "coordinator away while stopping; the proof stays in the outbox for the next start"
                    );
                    return None;
                }
            }
            let (job_id, lease_id) = (&pending.job_id, &pending.lease_id);
            let asking =
                want_next && !*shutdown.borrow() && self.next_with_result.load(Ordering::Relaxed);
            let submitted = if asking {
                self.client
                    .submit_proof_and_lease(job_id, lease_id, proof.clone())
                    .await
            } else {
                self.client
                    .submit_proof(job_id, lease_id, proof.clone())
                    .await
            };
            match submitted {
                Ok(answer) => {
                    next = answer.next;
                    NodeMetrics::inc(&self.metrics.proofs_generated);
                    if let Some(payout) = answer.payout {
                        self.metrics.earned(payout.worker);
                    }
                    tracing::info!(job_id = pending.job_id, earned = %answer.payout.map(|p| p.worker.to_string()).unwrap_or_default(), "proof accepted and paid");
                    break;
                }
                Err(e) if worth_retrying(&e) => {
                    attempt += 1;
                    NodeMetrics::inc(&self.metrics.submit_retries);
                    let pause = backoff(attempt);
                    tracing::warn!(job_id = pending.job_id, error = %e, retry_in = ?pause, "coordinator away; the proof is kept on disk");
                    self.save_state(Some(e.to_string()));
                    let pause = if *shutdown.borrow() {
                        Duration::from_secs(1)
                    } else {
                        pause
                    };
                    // A stop request cuts a long backoff short.
                    let mut stopping = shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {},
                        _ = stopping.wait_for(|s| *s) => {},
                    }
                }
                Err(e) if asking && e.code() == Some("bad_signature") => {
                    self.next_with_result.store(false, Ordering::Relaxed);
                    tracing::info!(error = %e, "the coordinator does not lease with results (an older version?): leasing separately");
                }
                Err(e) => {
                    if e.code() == Some("lease_not_held") {
                        NodeMetrics::inc(&self.metrics.leases_lost);
                    }
                    tracing::warn!(job_id = pending.job_id, error = %e, "result refused; dropping it");
                    break;
                }
            }
        }
        Outbox::new(&self.home).remove(&pending.job_id);
        next
    }

    /// Proofs kept from an earlier run (a crash, or a coordinator that was away). An entry
    /// that cannot be read is skipped (and said), not the whole backlog.
    async fn flush_outbox(&self, shutdown: &watch::Receiver<bool>) {
        match Outbox::new(&self.home).pending() {
            Ok(pending) => {
                for p in pending {
                    tracing::info!(job_id = p.job_id, "submitting a proof kept from before");
                    self.submit(&p, shutdown, false).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the outbox"),
        }
    }

    async fn heartbeat_loop(self, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from_secs(self.config.settings.heartbeat_interval_secs.max(1));
        loop {
            // While draining, leases still need renewing; `changed` would return at once.
            if *shutdown.borrow() {
                tokio::time::sleep(period).await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {},
                    _ = shutdown.changed() => {},
                }
            }
            let gpus = crate::gpu::detect().gpus;
            self.metrics.set_gpus(gpus.clone());
            let lease_ids: Vec<String> = self
                .in_flight
                .lock()
                .expect("lock")
                .keys()
                .cloned()
                .collect();
            let request = HeartbeatRequest {
                jobs_in_flight: lease_ids.len() as u32,
                lease_ids,
                gpus,
                capacity: Some(crate::setup::capacity(&self.config, &self.home)),
            };
            match self.client.heartbeat(&request).await {
                Ok(answer) if !answer.lost.is_empty() => {
                    tracing::warn!(lost = ?answer.lost, "the coordinator took leases back");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
            self.save_state(None);
        }
    }
}

/// Whether a refused upload is kept for another try: the coordinator away or failing, a
/// proxy's timeout or rate limit, or a signature refused for its time (a clock stepped, a host
/// resumed from suspend) or its nonce. Anything else (the lease lost, the proof refused) is final.
fn worth_retrying(e: &ClientError) -> bool {
    e.is_transient()
        || matches!(e.status(), Some(408 | 429))
        || matches!(e.code(), Some("stale_timestamp" | "replayed_nonce"))
}
