//! [`Coordinator`]: the job protocol's rules, independent of HTTP.
//!
//! Order of writes is what makes a crash harmless: a job is stored (`pending`) before its fee is
//! escrowed and queued after; a result is stored (`proved`) before the fee is paid; every
//! `pending` job and every unsettled fee is finished by [`Coordinator::recover`] at start and by
//! the maintenance loop, and each ledger call is idempotent on the job id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine;
use bitsage_ledger::{
    AccountInfo, Address, Amount, LedgerConfig, LedgerError, Settlement, SqlLedger, SystemClock,
};
use bitsage_protocol::*;
use blake2::{Blake2s256, Digest};
use obelysk_prover::{ExpectedClaim, ObelyskProver, ProverConfig, StarkProof};
use obelysk_vm::{Program, M31};

use crate::config::CoordinatorConfig;
use crate::dispatch::Dispatcher;
use crate::error::{ApiError, ApiResult};
use crate::metrics::{Metrics, Snapshot};
use crate::store::{
    ClaimOutcome, JobRow, JobStore, ProvedResult, Released, Settlement as Settled, WorkerRow,
};

/// Seconds since a worker's last request after which it counts as offline.
pub const ONLINE_WINDOW_MS: i64 = 30_000;
/// Age after which a `pending` job is taken to be an interrupted submission.
const PENDING_GRACE_MS: i64 = 5_000;
/// Seconds a nonce is kept beyond the skew window.
const NONCE_MARGIN_SECS: i64 = 60;
/// Largest `ml-inference` batch a client may ask for.
pub const MAX_ML_BATCH: u32 = 10_000;

pub use bitsage_protocol::unix_millis as now_ms;

/// The coordinator: store, ledger, dispatcher and metrics.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

struct Inner {
    config: CoordinatorConfig,
    store: JobStore,
    ledger: Arc<dyn Settlement>,
    dispatcher: Dispatcher,
    metrics: Metrics,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl Coordinator {
    /// Opens the database (creating tables), then finishes whatever a crash interrupted.
    pub async fn open(config: CoordinatorConfig) -> anyhow::Result<Self> {
        let ledger = SqlLedger::connect(
            &config.database_url(),
            LedgerConfig::for_network(config.network),
            Arc::new(SystemClock),
        )
        .await?;
        let store = JobStore::open(ledger.pool().clone(), ledger.is_postgres()).await?;
        let coordinator = Self {
            inner: Arc::new(Inner {
                config,
                store,
                ledger: Arc::new(ledger),
                dispatcher: Dispatcher::new(),
                metrics: Metrics::default(),
            }),
        };
        coordinator
            .recover()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(coordinator)
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn ledger(&self) -> &dyn Settlement {
        self.inner.ledger.as_ref()
    }

    /// Finishes what a crash interrupted: escrows `pending` jobs, settles unsettled fees, and
    /// gives every lease one more lease time, so workers whose coordinator was away longer
    /// than that can still deliver what they proved meanwhile.
    pub async fn recover(&self) -> ApiResult<()> {
        let extended = self
            .inner
            .store
            .extend_leases(now_ms() + self.lease_ttl_ms())
            .await?;
        if extended > 0 {
            tracing::info!(leases = extended, "leases extended after a restart");
        }
        self.escrow_pending(i64::MAX).await?;
        self.settle_all().await
    }

    /// Escrows and queues `pending` jobs created before `before`. A job whose client can no
    /// longer pay fails; one job's trouble does not stop the others.
    async fn escrow_pending(&self, before: i64) -> ApiResult<()> {
        for job in self.inner.store.pending_jobs().await? {
            if job.created_at >= before {
                continue;
            }
            if let Err(e) = self.escrow_and_queue(&job).await {
                tracing::warn!(job_id = job.job_id, error = %e, "pending job not queued");
            }
        }
        Ok(())
    }

    /// One round of upkeep: expired leases back to the queue, fees settled, old nonces dropped.
    pub async fn maintain(&self) -> ApiResult<()> {
        let now = now_ms();
        let expired = self.inner.store.expire_leases(now).await?;
        let mut requeued = 0;
        for (job_id, released) in &expired {
            Metrics::inc(&self.inner.metrics.lease_expiries);
            tracing::info!(job_id, ?released, "lease expired");
            match released {
                Released::Requeued => requeued += 1,
                Released::Failed => Metrics::inc(&self.inner.metrics.jobs_failed),
            }
        }
        if requeued > 0 {
            self.inner.dispatcher.wake(requeued);
        }
        // A submission still escrowing is a few milliseconds old; older ones were interrupted.
        self.escrow_pending(now - PENDING_GRACE_MS).await?;
        self.settle_all().await?;
        // A nonce signed at T is refused as stale once now > T + window; keep a margin for
        // clock differences between replicas.
        let horizon = now / 1000 - self.inner.config.skew_window_secs - NONCE_MARGIN_SECS;
        self.inner.store.prune_nonces(horizon).await?;
        Ok(())
    }

    /// Runs [`Coordinator::maintain`] forever at the configured interval.
    pub async fn maintenance_loop(self) {
        let period = Duration::from_millis(self.inner.config.maintenance_interval_ms.max(10));
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            if let Err(e) = self.maintain().await {
                tracing::warn!(error = %e, "maintenance round failed; retrying next round");
            }
        }
    }

    async fn settle_all(&self) -> ApiResult<()> {
        for job in self.inner.store.unsettled().await? {
            if let Err(e) = self.settle(&job).await {
                tracing::warn!(job_id = job.job_id, error = %e, "settlement deferred");
            }
        }
        Ok(())
    }

    /// Pays a proved job's fee or refunds a failed one, then marks it settled.
    async fn settle(&self, job: &JobRow) -> ApiResult<Option<Payout>> {
        let ledger = &self.inner.ledger;
        let payout = match job.state {
            JobState::Proved => {
                let worker = job
                    .worker
                    .ok_or_else(|| internal("proved job without worker"))?;
                let split = ledger.pay(&job.job_id, worker).await?;
                Some(Payout {
                    worker: split.worker,
                    treasury: split.treasury,
                    stakers: split.stakers,
                })
            }
            JobState::Failed => {
                match ledger.refund(&job.job_id).await {
                    Ok(_) | Err(LedgerError::UnknownJob { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                None
            }
            _ => return Ok(None),
        };
        self.inner.store.mark_settled(&job.job_id).await?;
        Ok(payout)
    }

    async fn escrow_and_queue(&self, job: &JobRow) -> ApiResult<()> {
        match self
            .inner
            .ledger
            .escrow(&job.job_id, job.client, job.fee)
            .await
        {
            Ok(()) => {
                self.inner.store.mark_queued(&job.job_id).await?;
                self.inner.dispatcher.wake(1);
                Ok(())
            }
            Err(e @ (LedgerError::Database(_) | LedgerError::Corrupt(_))) => Err(e.into()),
            Err(e) => {
                let reason = format!("fee could not be escrowed: {e}");
                self.inner
                    .store
                    .reject_pending(&job.job_id, &reason, now_ms())
                    .await?;
                Err(e.into())
            }
        }
    }

    /// Checks a signed request and records its nonce. Returns the signer.
    pub async fn authenticate(
        &self,
        headers: &SignedHeaders,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> ApiResult<Address> {
        let now = now_ms();
        let checked = headers
            .verify(
                method,
                path,
                body,
                now / 1000,
                self.inner.config.skew_window_secs,
            )
            .and(Ok(()));
        if let Err(e) = checked {
            self.inner.metrics.auth_rejected(e.code());
            return Err(e.into());
        }
        let signer = address_of(&headers.public_key);
        // Kept under the signed time: the nonce must outlive every moment at which that
        // timestamp is still inside the window.
        if !self
            .inner
            .store
            .remember_nonce(&signer.to_string(), &headers.nonce, headers.timestamp)
            .await?
        {
            let e = AuthError::ReplayedNonce {
                nonce: headers.nonce.clone(),
            };
            self.inner.metrics.auth_rejected(e.code());
            return Err(e.into());
        }
        Ok(signer)
    }

    /// `POST /jobs`: checks the job, stores it, escrows the fee, queues it.
    pub async fn submit(&self, client: Address, request: SubmitJobRequest) -> ApiResult<JobView> {
        let config = &self.inner.config;
        let (program, inputs) = expand_workload(&request)?;
        if request.fee.is_zero() {
            return Err(ApiError::unprocessable(
                "invalid_fee",
                "fee must be greater than zero: workers are paid from it",
            ));
        }
        let security_bits = request
            .security_bits
            .unwrap_or(config.min_security_bits)
            .max(config.min_security_bits);
        if security_bits > 256 {
            return Err(ApiError::unprocessable(
                "invalid_security",
                format!("security_bits {security_bits} is above 256"),
            ));
        }
        let max_steps = request.max_steps.unwrap_or(config.default_max_steps);
        if max_steps == 0 || max_steps > config.max_steps_cap {
            return Err(ApiError::unprocessable(
                "invalid_max_steps",
                format!(
                    "max_steps must be in 1..={}, found {max_steps}",
                    config.max_steps_cap
                ),
            ));
        }
        let now = now_ms();
        let deadline_secs = request
            .deadline_secs
            .unwrap_or(config.default_deadline_secs);
        let job_id = match &request.idempotency_key {
            Some(key) => job_id_for(client, key),
            None => format!("0x{}", random_hex(32)),
        };
        let job = JobRow {
            job_id,
            client,
            workload: request.workload,
            program_hash: format!("0x{}", hex::encode(program.hash())),
            program,
            inputs,
            fee: request.fee,
            security_bits,
            max_steps,
            deadline: now.saturating_add((deadline_secs.min(365 * 86_400) * 1000) as i64),
            state: JobState::Pending,
            attempts: 0,
            max_attempts: config.max_attempts,
            worker: None,
            lease_id: None,
            lease_expires_at: None,
            created_at: now,
            leased_at: None,
            finished_at: None,
            outputs: None,
            steps: None,
            commitment: None,
            last_error: None,
            settlement: Settled::Unsettled,
        };
        let (stored, inserted) = self.inner.store.insert_job(&job).await?;
        if !inserted {
            let same = stored.client == job.client
                && stored.program == job.program
                && stored.inputs == job.inputs
                && stored.fee == job.fee;
            if !same {
                return Err(ApiError::conflict(
                    "idempotency_conflict",
                    "this idempotency key was used for a different job",
                ));
            }
            if stored.state != JobState::Pending {
                return Ok(view(&stored));
            }
        }
        self.escrow_and_queue(&stored).await?;
        Metrics::inc(&self.inner.metrics.jobs_submitted);
        tracing::info!(
            job_id = stored.job_id,
            workload = stored.workload.as_str(),
            "job queued"
        );
        self.job(&stored.job_id).await
    }

    pub async fn job(&self, job_id: &str) -> ApiResult<JobView> {
        self.job_row(job_id).await.map(|j| view(&j))
    }

    async fn job_row(&self, job_id: &str) -> ApiResult<JobRow> {
        self.inner
            .store
            .job(job_id)
            .await?
            .ok_or_else(|| ApiError::not_found("unknown_job", format!("no job {job_id}")))
    }

    pub async fn proof(&self, job_id: &str) -> ApiResult<ProofView> {
        let job = self.job_row(job_id).await?;
        let stored = match (job.state, job.commitment) {
            (JobState::Proved, Some(commitment)) => self
                .inner
                .store
                .proof(job_id)
                .await?
                .map(|bytes| (commitment, bytes)),
            _ => None,
        };
        let (commitment, bytes) = stored.ok_or_else(|| {
            ApiError::not_found(
                "not_proved",
                format!(
                    "job {job_id} is {}, it has no proof yet",
                    job.state.as_str()
                ),
            )
        })?;
        let proof = StarkProof::from_bytes(&bytes).map_err(internal)?;
        Ok(ProofView {
            job_id: job_id.to_string(),
            commitment,
            proof_file: serde_json::from_str(&proof.to_json()).map_err(internal)?,
        })
    }

    pub async fn register(
        &self,
        worker: Address,
        request: RegisterWorkerRequest,
    ) -> ApiResult<WorkerView> {
        let gpus = serde_json::to_string(&request.gpus).map_err(internal)?;
        let capacity = serde_json::to_string(&request.capacity).map_err(internal)?;
        let row = self
            .inner
            .store
            .upsert_worker(worker, &gpus, &capacity, now_ms())
            .await?;
        tracing::info!(%worker, gpus = request.gpus.len(), "worker registered");
        self.worker_view(row).await
    }

    async fn worker_view(&self, row: WorkerRow) -> ApiResult<WorkerView> {
        let account = self.inner.ledger.account(row.worker_id).await?;
        Ok(WorkerView {
            worker_id: row.worker_id,
            gpus: serde_json::from_str(&row.gpus).map_err(internal)?,
            capacity: serde_json::from_str(&row.capacity).map_err(internal)?,
            stake: account.stake,
            tier: account.tier,
            online: now_ms() - row.last_seen <= ONLINE_WINDOW_MS,
            leases: self.inner.store.leases_held(row.worker_id).await?,
            proofs_done: row.proofs_done,
            invalid_proofs: row.invalid_proofs,
            earned: row.earned,
            registered_at: row.registered_at,
            last_seen: row.last_seen,
        })
    }

    pub async fn workers(&self) -> ApiResult<Vec<WorkerView>> {
        let mut out = Vec::new();
        for row in self.inner.store.workers().await? {
            out.push(self.worker_view(row).await?);
        }
        Ok(out)
    }

    /// `GET /workers/:id`: the worker and its latest jobs.
    pub async fn worker(&self, worker: Address) -> ApiResult<WorkerDetail> {
        let row = self.registered(worker).await?;
        let recent_jobs = self
            .inner
            .store
            .recent_jobs(worker, 10)
            .await?
            .iter()
            .map(view)
            .collect();
        Ok(WorkerDetail {
            worker: self.worker_view(row).await?,
            recent_jobs,
        })
    }

    async fn registered(&self, worker: Address) -> ApiResult<WorkerRow> {
        self.inner.store.worker(worker).await?.ok_or_else(|| {
            ApiError::not_found(
                "worker_not_registered",
                format!("worker {worker} is not registered: POST /workers/register first"),
            )
        })
    }

    /// `POST /workers/:id/lease`: a job for `worker`, waiting up to `wait_secs` for one.
    pub async fn lease(&self, worker: Address, wait_secs: u32) -> ApiResult<Option<Lease>> {
        let row = self.registered(worker).await?;
        let account = self.inner.ledger.account(worker).await?;
        let Some(tier) = account.tier else {
            return Err(ApiError::forbidden(
                "insufficient_stake",
                format!(
                    "worker {worker} stakes {} SAGE; at least {} SAGE is needed for any job",
                    account.stake,
                    bitsage_ledger::StakeTier::Consumer.min_stake()
                ),
            ));
        };
        let declared: Capacity = serde_json::from_str(&row.capacity).map_err(internal)?;
        let limit = match (tier.max_concurrent_jobs(), declared.max_concurrent_jobs) {
            (Some(t), 0) => Some(t),
            (Some(t), d) => Some(t.min(d)),
            (None, 0) => None,
            (None, d) => Some(d),
        };
        let store = &self.inner.store;
        store.touch_worker(worker, now_ms()).await?;
        let wait = Duration::from_secs(u64::from(wait_secs.min(self.inner.config.max_wait_secs)));
        let until = Instant::now() + wait;
        let priority = tier.priority();
        let parked = self.inner.dispatcher.park(priority);
        loop {
            let allowed = self.inner.dispatcher.may_take(priority);
            if allowed {
                let now = now_ms();
                let lease_id = random_id();
                let expires_at = now + self.lease_ttl_ms();
                parked.looking();
                match store
                    .claim(worker, limit, &lease_id, expires_at, now)
                    .await?
                {
                    ClaimOutcome::Leased(job) => {
                        parked.took_job();
                        Metrics::inc(&self.inner.metrics.leases_granted);
                        tracing::info!(job_id = job.job_id, %worker, "job leased");
                        return Ok(Some(Lease {
                            lease_id,
                            expires_at,
                            job: spec(&job),
                        }));
                    }
                    ClaimOutcome::AtCapacity { held } => {
                        return Err(ApiError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "lease_limit",
                            format!(
                                "worker {worker} holds {held} leases, its limit ({tier:?} tier, declared capacity) is {}",
                                limit.unwrap_or(held)
                            ),
                        ));
                    }
                    ClaimOutcome::Empty => {}
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                store.touch_worker(worker, now_ms()).await?;
                return Ok(None);
            }
            // One SQLite file has one coordinator, so every new job wakes a waiter here. A
            // waiter held back by a higher tier, or on PostgreSQL (another replica may queue
            // the job), also looks again now and then.
            let nap = if !allowed || store.is_postgres() {
                left.min(crate::dispatch::RECHECK)
            } else {
                left
            };
            parked.wait(nap).await;
        }
    }

    fn lease_ttl_ms(&self) -> i64 {
        (self.inner.config.lease_ttl_secs * 1000) as i64
    }

    pub async fn heartbeat(
        &self,
        worker: Address,
        request: HeartbeatRequest,
    ) -> ApiResult<HeartbeatResponse> {
        self.registered(worker).await?;
        let now = now_ms();
        let expires_at = now + self.lease_ttl_ms();
        let gpus = serde_json::to_string(&request.gpus).map_err(internal)?;
        let capacity = request
            .capacity
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(internal)?;
        let store = &self.inner.store;
        store
            .report_worker(worker, &gpus, capacity.as_deref(), now)
            .await?;
        let renewed = store.renew(worker, &request.lease_ids, expires_at).await?;
        let lost = request
            .lease_ids
            .into_iter()
            .filter(|l| !renewed.contains(l))
            .collect();
        Ok(HeartbeatResponse {
            renewed,
            lost,
            expires_at,
        })
    }

    /// `POST /jobs/:id/result`: the verification gate.
    pub async fn submit_result(
        &self,
        worker: Address,
        job_id: &str,
        request: ResultRequest,
    ) -> ApiResult<ResultResponse> {
        let job = self.job_row(job_id).await?;
        if let Some(answer) = self
            .repeated_result(&job, worker, &request.lease_id)
            .await?
        {
            return Ok(answer);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(request.proof.as_bytes())
            .map_err(|e| {
                ApiError::bad_request("malformed_proof", format!("proof is not base64: {e}"))
            })?;
        let started = Instant::now();
        let checked = tokio::task::spawn_blocking({
            let job = job.clone();
            move || gate(&job, &bytes)
        })
        .await
        .map_err(internal)?;
        self.inner
            .metrics
            .observe_verification(started.elapsed().as_secs_f64());
        let result = match checked {
            Ok(result) => result,
            Err(reason) => {
                return Err(self
                    .refuse_proof(&job, worker, &request.lease_id, reason)
                    .await)
            }
        };
        let store = &self.inner.store;
        if !store
            .complete(
                job_id,
                &request.lease_id,
                worker,
                &result,
                bitsage_ledger::FeeSplit::of(job.fee).worker,
                now_ms(),
            )
            .await?
        {
            // Someone else changed the job meanwhile: the same result twice, or an expiry.
            let job = self.job_row(job_id).await?;
            return match self
                .repeated_result(&job, worker, &request.lease_id)
                .await?
            {
                Some(answer) => Ok(answer),
                None => Err(lease_not_held(&job, worker)),
            };
        }
        Metrics::inc(&self.inner.metrics.proofs_accepted);
        tracing::info!(job_id, %worker, steps = result.steps, "proof verified and accepted");
        let job = self.job_row(job_id).await?;
        // If paying fails here the maintenance loop pays later; the result is already safe.
        let payout = match self.settle(&job).await {
            Ok(payout) => payout,
            Err(e) => {
                tracing::warn!(job_id, error = %e, "payout deferred");
                None
            }
        };
        Ok(ResultResponse {
            job: view(&self.job_row(job_id).await?),
            payout,
        })
    }

    /// The answer to a result that was already accepted for this lease; `Err` if the worker
    /// does not hold the lease at all; `None` if the result is new.
    async fn repeated_result(
        &self,
        job: &JobRow,
        worker: Address,
        lease_id: &str,
    ) -> ApiResult<Option<ResultResponse>> {
        let holds = job.worker == Some(worker) && job.lease_id.as_deref() == Some(lease_id);
        match job.state {
            JobState::Proved if holds => {
                let payout = self.settle(job).await?;
                Ok(Some(ResultResponse {
                    job: view(job),
                    payout,
                }))
            }
            JobState::Leased if holds => Ok(None),
            _ => Err(lease_not_held(job, worker)),
        }
    }

    async fn refuse_proof(
        &self,
        job: &JobRow,
        worker: Address,
        lease_id: &str,
        reason: String,
    ) -> ApiError {
        Metrics::inc(&self.inner.metrics.verification_failures);
        tracing::warn!(job_id = job.job_id, %worker, %reason, "proof refused");
        let outcome = async {
            self.inner.store.count_invalid_proof(worker).await?;
            let message = format!("invalid proof from {worker}: {reason}");
            self.released(job, worker, lease_id, &message).await
        }
        .await;
        match outcome {
            Ok(_) => ApiError::unprocessable("invalid_proof", format!("proof refused: {reason}")),
            Err(e) => e,
        }
    }

    async fn released(
        &self,
        job: &JobRow,
        worker: Address,
        lease_id: &str,
        reason: &str,
    ) -> ApiResult<Released> {
        let released = self
            .inner
            .store
            .release(&job.job_id, lease_id, worker, reason, now_ms())
            .await?
            .ok_or_else(|| lease_not_held(job, worker))?;
        match released {
            Released::Requeued => self.inner.dispatcher.wake(1),
            Released::Failed => {
                Metrics::inc(&self.inner.metrics.jobs_failed);
                let job = self.job_row(&job.job_id).await?;
                if let Err(e) = self.settle(&job).await {
                    tracing::warn!(job_id = job.job_id, error = %e, "refund deferred");
                }
            }
        }
        Ok(released)
    }

    /// `POST /jobs/:id/fail`: the worker gives the job back.
    pub async fn fail(
        &self,
        worker: Address,
        job_id: &str,
        request: FailRequest,
    ) -> ApiResult<JobView> {
        let job = self.job_row(job_id).await?;
        let reason: String = request.reason.chars().take(500).collect();
        self.released(
            &job,
            worker,
            &request.lease_id,
            &format!("worker {worker} failed: {reason}"),
        )
        .await?;
        self.job(job_id).await
    }

    pub async fn account(&self, address: Address) -> ApiResult<AccountInfo> {
        Ok(self.inner.ledger.account(address).await?)
    }

    pub async fn faucet(&self, address: Address, key: Option<&str>) -> ApiResult<MovedResponse> {
        let amount = self.inner.ledger.faucet(address, key).await?;
        self.moved(address, amount).await
    }

    pub async fn stake(
        &self,
        address: Address,
        request: AmountRequest,
    ) -> ApiResult<MovedResponse> {
        let key = request.idempotency_key.as_deref();
        let account = self
            .inner
            .ledger
            .stake(address, request.amount, key)
            .await?;
        Ok(MovedResponse {
            amount: request.amount,
            account,
        })
    }

    pub async fn unstake(
        &self,
        address: Address,
        request: AmountRequest,
    ) -> ApiResult<MovedResponse> {
        let key = request.idempotency_key.as_deref();
        let account = self
            .inner
            .ledger
            .unstake(address, request.amount, key)
            .await?;
        Ok(MovedResponse {
            amount: request.amount,
            account,
        })
    }

    pub async fn withdraw(&self, address: Address, key: Option<&str>) -> ApiResult<MovedResponse> {
        let amount = self.inner.ledger.withdraw(address, key).await?;
        self.moved(address, amount).await
    }

    pub async fn claim(&self, address: Address, key: Option<&str>) -> ApiResult<MovedResponse> {
        let amount = self.inner.ledger.claim(address, key).await?;
        self.moved(address, amount).await
    }

    async fn moved(&self, address: Address, amount: Amount) -> ApiResult<MovedResponse> {
        Ok(MovedResponse {
            amount,
            account: self.inner.ledger.account(address).await?,
        })
    }

    pub fn health(&self) -> Health {
        Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            network: self.inner.config.network.to_string(),
            now: now_ms(),
            min_security_bits: self.inner.config.min_security_bits,
        }
    }

    pub async fn metrics_text(&self) -> ApiResult<String> {
        let store = &self.inner.store;
        let counts = store.jobs_by_state().await?;
        let workers = store.workers().await?;
        let now = now_ms();
        let snapshot = Snapshot {
            jobs_by_state: JobState::ALL
                .iter()
                .map(|s| {
                    let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
                    (s.as_str(), n)
                })
                .collect(),
            workers_online: workers
                .iter()
                .filter(|w| now - w.last_seen <= ONLINE_WINDOW_MS)
                .count() as u64,
            workers_registered: workers.len() as u64,
            long_polls_parked: self.inner.dispatcher.parked() as u64,
        };
        Ok(self.inner.metrics.render(&snapshot))
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn random_id() -> String {
    random_hex(16)
}

/// The id of the job `client` submits with `idempotency_key`: known before submission, so a
/// retry finds the same job.
pub fn job_id_for(client: Address, idempotency_key: &str) -> String {
    let mut h = Blake2s256::new();
    h.update(b"BITSAGE-JOB-ID-v1");
    h.update(client.bytes());
    h.update(idempotency_key.as_bytes());
    format!("0x{}", hex::encode(h.finalize()))
}

fn lease_not_held(job: &JobRow, worker: Address) -> ApiError {
    ApiError::conflict(
        "lease_not_held",
        format!(
            "worker {worker} does not hold this lease on job {} (the job is {})",
            job.job_id,
            job.state.as_str()
        ),
    )
}

/// The program and inputs a submission stands for.
fn expand_workload(request: &SubmitJobRequest) -> ApiResult<(Program, Vec<u32>)> {
    let inputs_ok = |inputs: &[u32]| match inputs
        .iter()
        .position(|v| M31::from_canonical(*v).is_none())
    {
        Some(i) => Err(ApiError::unprocessable(
            "invalid_inputs",
            format!("input #{i} = {} is not below 2^31 - 1", inputs[i]),
        )),
        None => Ok(()),
    };
    match request.workload {
        WorkloadKind::Custom => {
            let program = request.program.clone().ok_or_else(|| {
                ApiError::unprocessable("missing_program", "a `custom` job needs `program`")
            })?;
            inputs_ok(&request.inputs)?;
            Ok((program, request.inputs.clone()))
        }
        WorkloadKind::MlInference => {
            if request.program.is_some() || !request.inputs.is_empty() {
                return Err(ApiError::unprocessable(
                    "unexpected_program",
                    "`ml-inference` derives its program and inputs from `params`",
                ));
            }
            let batch = request.params.batch_size.unwrap_or(10);
            if batch == 0 || batch > MAX_ML_BATCH {
                return Err(ApiError::unprocessable(
                    "invalid_params",
                    format!("params.batch_size must be in 1..={MAX_ML_BATCH}, found {batch}"),
                ));
            }
            let workload = obelysk_workloads::ml_inference(batch, request.params.seed.unwrap_or(0));
            let inputs = workload.inputs.iter().map(|v| v.value()).collect();
            Ok((workload.program, inputs))
        }
        other => Err(ApiError::unprocessable(
            "unsupported_workload",
            format!(
                "workload `{}` is not served yet; use `custom` with a program or `ml-inference`",
                other.as_str()
            ),
        )),
    }
}

/// Verifies a submitted proof against the job's own claim: program, inputs, job id, security
/// floor and step limit. Outputs come from the verified claim.
fn gate(job: &JobRow, bytes: &[u8]) -> Result<ProvedResult, String> {
    let proof = StarkProof::from_bytes(bytes).map_err(|e| e.to_string())?;
    let job_id = obelysk_prover::proof::parse_hex32(&job.job_id).map_err(|e| e.to_string())?;
    let expected = ExpectedClaim {
        program: Some(job.program.clone()),
        inputs: Some(job.inputs.iter().map(|v| M31::new(*v)).collect()),
        outputs: None,
        steps: None,
        job_id: Some(Some(job_id)),
    };
    if proof.claim.steps > job.max_steps {
        return Err(format!(
            "proof claims {} steps, the job allows {}",
            proof.claim.steps, job.max_steps
        ));
    }
    ObelyskProver::new(ProverConfig::default())
        .with_min_security_bits(job.security_bits)
        .verify_claim(&proof, &expected)
        .map_err(|e| e.to_string())?;
    Ok(ProvedResult {
        outputs: proof.claim.outputs.iter().map(|v| v.value()).collect(),
        steps: proof.claim.steps,
        commitment: format!("0x{}", hex::encode(proof.commitment())),
        proof: bytes.to_vec(),
    })
}

fn spec(job: &JobRow) -> JobSpec {
    JobSpec {
        job_id: job.job_id.clone(),
        workload: job.workload,
        program: job.program.clone(),
        inputs: job.inputs.clone(),
        security_bits: job.security_bits,
        max_steps: job.max_steps,
        deadline: job.deadline,
    }
}

pub fn view(job: &JobRow) -> JobView {
    JobView {
        job_id: job.job_id.clone(),
        client: job.client,
        workload: job.workload,
        state: job.state,
        program_hash: job.program_hash.clone(),
        fee: job.fee,
        security_bits: job.security_bits,
        max_steps: job.max_steps,
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        worker: job.worker,
        created_at: job.created_at,
        deadline: job.deadline,
        leased_at: job.leased_at,
        finished_at: job.finished_at,
        outputs: job.outputs.clone(),
        steps: job.steps,
        commitment: job.commitment.clone(),
        last_error: job.last_error.clone(),
    }
}
