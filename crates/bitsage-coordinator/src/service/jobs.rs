//! The client's side: submitting jobs, reading them and their proofs.

use super::*;
use obelysk_prover::soundness;

impl Coordinator {
    /// `POST /jobs`: checks the job, stores it, escrows the fee, queues it. With the embedded
    /// ledger all of that, and the request's nonce, is one transaction.
    pub async fn submit(
        &self,
        client: Address,
        request: SubmitJobRequest,
        nonce: &Nonce,
    ) -> ApiResult<JobView> {
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
        let max_steps = request.max_steps.unwrap_or(config.default_max_steps);
        let floor = config.min_security_bits;
        let program_len = program.instructions().len();
        if max_steps == 0 || max_steps > config.max_steps_cap {
            let why = if max_steps > config.max_steps_cap
                && soundness::max_bits_for(max_steps, program_len) < floor
            {
                format!(": a longer run's proof delivers fewer than this coordinator's {floor}-bit floor")
            } else {
                String::new()
            };
            return Err(ApiError::unprocessable(
                "invalid_max_steps",
                format!(
                    "max_steps must be in 1..={}, found {max_steps}{why}",
                    config.max_steps_cap
                ),
            ));
        }
        // A floor no proof of this job can reach would fail every worker's proof, after the
        // work: refused here instead.
        let most = soundness::max_bits_for(max_steps, program_len);
        if security_bits > most {
            let remedy = match soundness::max_steps_for(floor, program_len) {
                _ if most >= floor => format!("ask for {most} or fewer, or lower max_steps"),
                0 => format!("the program is too long for this coordinator's floor of {floor}"),
                steps => format!("this coordinator's floor is {floor}: lower max_steps to {steps}"),
            };
            return Err(ApiError::unprocessable(
                "invalid_security",
                format!(
                    "security_bits {security_bits} is more than a proof of up to {max_steps} \
                     steps delivers: {most} bits (its challenges come from QM31, and the taller \
                     the trace, the fewer bits they give); {remedy}"
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
            // With the embedded ledger the job is queued in the transaction that stores it, or
            // not stored at all.
            state: match self.inner.embedded {
                Some(_) => JobState::Queued,
                None => JobState::Pending,
            },
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
        let store = &self.inner.store;
        let mut tx = store.begin().await?;
        store.nonce_in(&mut tx, nonce).await?;
        let (mut stored, inserted) = store.insert_job_in(&mut tx, &job).await?;
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
                store.commit(tx, nonce).await?;
                return Ok(view(&stored));
            }
        }
        let Some(ledger) = &self.inner.embedded else {
            // The fee moves elsewhere (on chain): the job is stored `pending` first, so that a
            // crash before it is queued leaves it for `recover` to finish.
            store.commit(tx, nonce).await?;
            self.escrow_and_queue(&stored).await?;
            return self.queued(&stored.job_id).await;
        };
        tx.savepoint("escrow").await.map_err(internal)?;
        match ledger
            .escrow_in(&mut tx, &stored.job_id, stored.client, stored.fee)
            .await
        {
            Ok(()) => {
                if stored.state == JobState::Pending {
                    // Stored by an older coordinator, or with Starknet settlement.
                    store.mark_queued(&mut *tx, &stored.job_id).await?;
                }
                store.commit(tx, nonce).await?;
                self.inner.dispatcher.wake(1);
                stored.state = JobState::Queued;
                self.queued_view(&stored)
            }
            // Nothing is kept: the client may try again.
            Err(e) if e.is_fault() => Err(e.into()),
            Err(e) => {
                tx.rollback_to("escrow").await.map_err(internal)?;
                let reason = format!("fee could not be escrowed: {e}");
                store
                    .reject_unpaid(&mut *tx, &stored.job_id, stored.state, &reason, now_ms())
                    .await?;
                store.commit(tx, nonce).await?;
                Err(e.into())
            }
        }
    }

    /// Counts and logs a job just queued, and answers with its view.
    fn queued_view(&self, job: &JobRow) -> ApiResult<JobView> {
        Metrics::inc(&self.inner.metrics.jobs_submitted);
        tracing::info!(
            job_id = job.job_id,
            workload = job.workload.as_str(),
            "job queued"
        );
        Ok(view(job))
    }

    async fn queued(&self, job_id: &str) -> ApiResult<JobView> {
        let job = self.job_row(job_id).await?;
        self.queued_view(&job)
    }

    pub async fn job(&self, job_id: &str) -> ApiResult<JobView> {
        self.job_row(job_id).await.map(|j| view(&j))
    }

    pub(super) async fn job_row(&self, job_id: &str) -> ApiResult<JobRow> {
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
