//! The worker's side: registration, leases, heartbeats, results and the verification gate.

use super::*;
use bitsage_ledger::StakeTier;
use std::collections::HashSet;

impl Coordinator {
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

    /// `POST /workers/:id/lease`: a job for `worker`, waiting up to `wait_secs` for one. The
    /// request's nonce is stored with its first claim.
    pub async fn lease(
        &self,
        worker: Address,
        wait_secs: u32,
        nonce: &Nonce,
    ) -> ApiResult<Option<Lease>> {
        let row = self.registered(worker).await?;
        let account = self.inner.ledger.account(worker).await?;
        let (tier, limit) = lease_terms(&row, &account)?;
        let store = &self.inner.store;
        // A claim marks the worker as seen; a worker held back by a higher tier is marked here.
        let mut seen = false;
        let wait = Duration::from_secs(u64::from(wait_secs.min(self.inner.config.max_wait_secs)));
        let until = Instant::now() + wait;
        let priority = tier.priority();
        let parked = self.inner.dispatcher.park(priority);
        loop {
            if self.inner.dispatcher.is_closing() {
                return Ok(None);
            }
            let allowed = self.inner.dispatcher.may_take(priority);
            if allowed {
                let now = now_ms();
                let lease_id = random_id();
                let expires_at = now + self.lease_ttl_ms();
                parked.looking();
                match store
                    .claim(worker, limit, &lease_id, expires_at, now, nonce)
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
            } else if !seen {
                store.touch_worker(worker, now_ms()).await?;
            }
            seen = true;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Seen at the end of a long wait too; a request that did not wait was just seen.
                if !wait.is_zero() {
                    store.touch_worker(worker, now_ms()).await?;
                }
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

    /// The next queued job for `worker`, without waiting, asked for along with a result. `None`
    /// when there is none or the worker may not take one now: the worker's own lease request
    /// then says why.
    pub async fn next_lease(&self, worker: Address, nonce: &Nonce) -> Option<Lease> {
        match self.lease(worker, 0, nonce).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::debug!(%worker, error = %e, "no next lease with the result");
                None
            }
        }
    }

    pub(super) fn lease_ttl_ms(&self) -> i64 {
        (self.inner.config.lease_ttl_secs * 1000) as i64
    }

    pub async fn heartbeat(
        &self,
        worker: Address,
        request: HeartbeatRequest,
    ) -> ApiResult<HeartbeatResponse> {
        // Each id is a statement in the renewal's transaction, which every other write waits on.
        if request.lease_ids.len() > MAX_HEARTBEAT_LEASES {
            return Err(ApiError::unprocessable(
                "too_many_leases",
                format!(
                    "a heartbeat carries at most {MAX_HEARTBEAT_LEASES} lease ids, not {}",
                    request.lease_ids.len()
                ),
            ));
        }
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
        let kept: HashSet<&String> = renewed.iter().collect();
        let lost = request
            .lease_ids
            .iter()
            .filter(|l| !kept.contains(l))
            .cloned()
            .collect();
        Ok(HeartbeatResponse {
            renewed,
            lost,
            expires_at,
        })
    }

    /// `POST /jobs/:id/result`: the verification gate. With the embedded ledger the result,
    /// its payout, the request's nonce and, with `want_next`, the worker's next lease commit
    /// together.
    pub async fn submit_result(
        &self,
        worker: Address,
        job_id: &str,
        lease_id: &str,
        proof: Upload,
        nonce: &Nonce,
        want_next: bool,
    ) -> ApiResult<ResultResponse> {
        let job = self.job_row(job_id).await?;
        if let Some(answer) = self
            .repeated_result(&job, worker, lease_id, want_next)
            .await?
        {
            return Ok(answer);
        }
        let _verifying = self.inner.verifying.acquire().await.map_err(internal)?;
        let started = Instant::now();
        let (kept, cpu_nanos) = tokio::task::spawn_blocking({
            let job = job.clone();
            let store = self.inner.store.clone();
            move || {
                let cpu = thread_cpu_nanos();
                let checked = gate(&job, proof.bytes);
                let cpu_nanos = thread_cpu_nanos().saturating_sub(cpu);
                // Here, off the runtime: keeping a proof may write (and fsync) the proof log.
                let kept = match checked {
                    Ok(result) => store.keep_proof(result, proof.blake3.as_ref()).map(Ok),
                    Err(reason) => Ok(Err(reason)),
                };
                (kept, cpu_nanos)
            }
        })
        .await
        .map_err(internal)?;
        self.inner
            .metrics
            .observe_verification(started.elapsed().as_secs_f64(), cpu_nanos);
        let result = match kept? {
            Ok(result) => result,
            Err(reason) => {
                // The refusal counts against the worker: a replay must not count it twice.
                self.store_nonce(nonce).await?;
                return Err(self.refuse_proof(&job, worker, lease_id, reason).await);
            }
        };
        let store = &self.inner.store;
        let earned = bitsage_ledger::FeeSplit::of(job.fee).worker;
        // With the embedded ledger the fee is paid in this transaction: the job is stored as
        // settled at once, and marked unsettled again only if paying fails.
        let settlement = match self.inner.embedded {
            Some(_) => Settled::Settled,
            None => Settled::Unsettled,
        };
        let mut tx = store.begin().await?;
        store.nonce_in(&mut tx, nonce).await?;
        let proved = store
            .complete_in(
                &mut tx,
                job_id,
                lease_id,
                worker,
                &result,
                earned,
                settlement,
                now_ms(),
            )
            .await?;
        let Some(proved) = proved else {
            drop(tx);
            // Someone else changed the job meanwhile: the same result twice, or an expiry.
            let job = self.job_row(job_id).await?;
            return match self
                .repeated_result(&job, worker, lease_id, want_next)
                .await?
            {
                Some(answer) => Ok(answer),
                None => Err(lease_not_held(&job, worker)),
            };
        };
        let (paid, next) = match &self.inner.embedded {
            Some(ledger) => {
                let paid = self.pay_in(ledger, &mut tx, &proved).await?;
                let next = match want_next {
                    true => self.next_in(ledger, &mut tx, worker, job_id).await?,
                    false => None,
                };
                (Some(paid), next)
            }
            None => (None, None),
        };
        store.commit(tx, nonce).await?;
        Metrics::inc(&self.inner.metrics.proofs_accepted);
        tracing::info!(job_id, %worker, steps = result.steps, "proof verified and accepted");
        let next = match next {
            Some(lease) => {
                Metrics::inc(&self.inner.metrics.leases_granted);
                tracing::info!(job_id = lease.job.job_id, %worker, "job leased");
                Some(lease)
            }
            None if want_next && self.inner.embedded.is_none() => {
                let lease = self.next_lease(worker, nonce).await;
                if let Some(lease) = &lease {
                    // Noted after the result's commit: if this fails, a retried result brings
                    // no next lease, and the lease expires unrenewed (as it would have before).
                    if let Err(e) = store
                        .set_next_lease(store.db(), job_id, &lease.lease_id)
                        .await
                    {
                        tracing::warn!(job_id, error = %e, "the next lease was not noted");
                    }
                }
                lease
            }
            None => None,
        };
        let payout = match paid {
            Some(payout) => payout,
            // If paying fails here the maintenance loop pays later; the result is already safe.
            None => self.settle(&proved).await.unwrap_or_else(|e| {
                tracing::warn!(job_id, error = %e, "payout deferred");
                None
            }),
        };
        Ok(ResultResponse {
            job: view(&proved),
            payout,
            next,
        })
    }

    /// The worker's next job, leased inside the transaction of its result, without waiting.
    /// Anything in the way (no job, a higher tier waiting, the lease limit, an error) leaves it
    /// to the worker's own lease request, and the result stands.
    async fn next_in(
        &self,
        ledger: &SqlLedger,
        tx: &mut Tx,
        worker: Address,
        job_id: &str,
    ) -> ApiResult<Option<Lease>> {
        tx.savepoint("next").await.map_err(internal)?;
        match self.try_next_in(ledger, tx, worker, job_id).await {
            Ok(lease) => Ok(lease),
            Err(e) => {
                tx.rollback_to("next").await.map_err(internal)?;
                tracing::debug!(%worker, error = %e, "no next lease with the result");
                Ok(None)
            }
        }
    }

    /// The next lease, noted on the proved job `job_id` (see [`Self::repeated_result`]).
    async fn try_next_in(
        &self,
        ledger: &SqlLedger,
        tx: &mut Tx,
        worker: Address,
        job_id: &str,
    ) -> ApiResult<Option<Lease>> {
        let store = &self.inner.store;
        let row = store
            .worker_on(&mut **tx, worker)
            .await?
            .ok_or_else(|| internal("a worker with a result is not registered"))?;
        let account = ledger.account_in(tx, worker).await?;
        let (tier, limit) = lease_terms(&row, &account)?;
        if !self.inner.dispatcher.may_take(tier.priority()) {
            return Ok(None);
        }
        let now = now_ms();
        let lease_id = random_id();
        let expires_at = now + self.lease_ttl_ms();
        match store
            .claim_in(tx, worker, limit, &lease_id, expires_at, now)
            .await?
        {
            ClaimOutcome::Leased(job) => {
                store.set_next_lease(&mut **tx, job_id, &lease_id).await?;
                Ok(Some(Lease {
                    lease_id,
                    expires_at,
                    job: spec(&job),
                }))
            }
            ClaimOutcome::AtCapacity { .. } | ClaimOutcome::Empty => Ok(None),
        }
    }

    /// Pays a proved job's fee on the embedded ledger inside `tx`. A payment that fails is
    /// undone alone, and the job marked unsettled for the maintenance loop: the result stays.
    async fn pay_in(
        &self,
        ledger: &SqlLedger,
        tx: &mut Tx,
        job: &JobRow,
    ) -> ApiResult<Option<Payout>> {
        let (Some(worker), Some(commitment)) = (
            job.worker,
            job.commitment
                .as_deref()
                .and_then(|c| obelysk_prover::proof::parse_hex32(c).ok()),
        ) else {
            return Err(internal("a proved job without its worker or commitment"));
        };
        tx.savepoint("pay").await.map_err(internal)?;
        match ledger.pay_in(tx, &job.job_id, worker, &commitment).await {
            Ok(split) => Ok(Some(Payout {
                worker: split.worker,
                treasury: split.treasury,
                stakers: split.stakers,
            })),
            Err(e) => {
                tx.rollback_to("pay").await.map_err(internal)?;
                self.inner
                    .store
                    .set_settlement(&mut **tx, &job.job_id, Settled::Unsettled)
                    .await?;
                tracing::warn!(job_id = job.job_id, error = %e, "payout deferred");
                Ok(None)
            }
        }
    }

    /// The answer to a result that was already accepted for this lease; `Err` if the worker
    /// does not hold the lease at all; `None` if the result is new. A worker sends a result
    /// again when the first answer was lost: with `want_next`, the answer brings back the lease
    /// the first one brought, while the worker holds it, which it would otherwise never learn.
    async fn repeated_result(
        &self,
        job: &JobRow,
        worker: Address,
        lease_id: &str,
        want_next: bool,
    ) -> ApiResult<Option<ResultResponse>> {
        let holds = job.worker == Some(worker) && job.lease_id.as_deref() == Some(lease_id);
        match job.state {
            JobState::Proved if holds => {
                let payout = self.settle(job).await?;
                let next = match want_next {
                    true => self.inner.store.next_lease_of(&job.job_id, worker).await?,
                    false => None,
                };
                Ok(Some(ResultResponse {
                    job: view(job),
                    payout,
                    next: next.and_then(|next| {
                        Some(Lease {
                            lease_id: next.lease_id.clone()?,
                            expires_at: next.lease_expires_at?,
                            job: spec(&next),
                        })
                    }),
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
}

/// A worker's tier and how many leases it may hold (its tier's limit or its declared capacity,
/// the lower); a worker below the lowest tier may hold none.
fn lease_terms(row: &WorkerRow, account: &AccountInfo) -> ApiResult<(StakeTier, Option<u32>)> {
    let Some(tier) = account.tier else {
        return Err(ApiError::forbidden(
            "insufficient_stake",
            format!(
                "worker {} stakes {} SAGE; at least {} SAGE is needed for any job",
                row.worker_id,
                account.stake,
                StakeTier::Consumer.min_stake()
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
    Ok((tier, limit))
}

/// A proof as uploaded: its bytes, and their BLAKE3 when the upload's signature check hashed
/// exactly them.
#[derive(Debug)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub blake3: Option<blake3::Hash>,
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

/// Verifies a submitted proof against the job's own claim: program, inputs, job id, security
/// floor and step limit. Outputs come from the verified claim.
fn gate(job: &JobRow, bytes: Vec<u8>) -> Result<ProvedResult, String> {
    let proof = StarkProof::from_bytes(&bytes).map_err(|e| e.to_string())?;
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
        proof: StoredProof::Row(bytes),
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

/// CPU time of the calling thread: what verification itself costs, apart from the wall time a
/// loaded machine adds.
fn thread_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}
