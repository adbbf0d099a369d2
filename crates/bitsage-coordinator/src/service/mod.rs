//! [`Coordinator`]: the job protocol's rules, independent of HTTP.
//!
//! On the embedded ledger a job and its escrow, and a result and its payment, commit in one
//! transaction each. With the ledger elsewhere the order of writes makes a crash harmless: a job
//! is stored (`pending`) before its fee is escrowed and queued after; a result is stored
//! (`proved`) before the fee is paid; every `pending` job and every unsettled fee is finished by
//! [`Coordinator::recover`] at start and by the maintenance loop, and each ledger call is
//! idempotent on the job id.
//!
//! This file holds the coordinator itself, recovery, upkeep and authentication; [`jobs`] the
//! client's side (submission, views, proofs), [`leases`] the worker's side (registration,
//! leases, heartbeats and the verification gate), [`accounts`] the ledger operations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bitsage_ledger::{
    AccountInfo, Address, Amount, LedgerConfig, LedgerError, Settlement, SqlLedger, SystemClock,
};
use bitsage_protocol::*;
use bitsage_wallet::KeyCache;
use blake2::{Blake2s256, Digest};
use obelysk_prover::{ExpectedClaim, ObelyskProver, ProverConfig, StarkProof};
use obelysk_vm::{Program, M31};

use crate::config::{CoordinatorConfig, SettlementKind};
use crate::dispatch::Dispatcher;
use crate::error::{ApiError, ApiResult};
use crate::metrics::{Metrics, Snapshot};
use crate::store::{
    ClaimOutcome, JobRow, JobStore, Nonce, ProvedResult, Released, Settlement as Settled,
    StoredProof, Tx, WorkerRow,
};

mod accounts;
mod jobs;
mod leases;

pub use jobs::{job_id_for, view};
pub use leases::Upload;

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
    /// The ledger when it lives in the store's database: a job's escrow and its payout then
    /// commit in the same transaction as the job's own change.
    embedded: Option<SqlLedger>,
    dispatcher: Dispatcher,
    metrics: Metrics,
    signers: KeyCache,
    /// Proof checks running at once: at most one per core. Each is CPU work, and a proof of a
    /// large shape (its own claim, checked only by the work itself) can cost a GiB or more of
    /// memory before it is refused: unbounded, a few workers could exhaust the coordinator.
    verifying: tokio::sync::Semaphore,
}

/// Signers whose keys stay prepared for signature checks (about 90 KiB each): enough for every
/// worker of a busy coordinator; a client seen once costs one table build, about one plain check.
const PREPARED_SIGNERS: usize = 512;

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
    /// Starknet settlement on anything but a devnet needs [`Coordinator::open_with_chain_key`].
    pub async fn open(config: CoordinatorConfig) -> anyhow::Result<Self> {
        Self::open_with_chain_key(config, None).await
    }

    /// [`Coordinator::open`] with the private key of the deployment's coordinator account, for
    /// `settlement = "starknet"` (on a devnet the devnet tells the key of its own accounts).
    pub async fn open_with_chain_key(
        config: CoordinatorConfig,
        chain_key: Option<bitsage_starknet::Felt>,
    ) -> anyhow::Result<Self> {
        // A proof's QM31 challenges deliver fewer bits the longer the run: the floor bounds
        // how long a job may run.
        let mut config = config;
        let longest = obelysk_prover::soundness::max_steps_for(config.min_security_bits, 1);
        if config.default_max_steps > longest {
            anyhow::bail!(
                "min_security_bits {} is more than a proof of default_max_steps ({}) steps \
                 delivers (its QM31 challenges bound it; {longest} steps at most for that \
                 floor): lower one of them",
                config.min_security_bits,
                config.default_max_steps
            );
        }
        if config.max_steps_cap > longest {
            tracing::info!(
                max_steps_cap = longest,
                floor = config.min_security_bits,
                "max_steps capped where proofs still deliver the security floor"
            );
            config.max_steps_cap = longest;
        }
        let db = bitsage_sql::Db::connect(&config.database, config.durability.sql()).await?;
        let ledger = SqlLedger::open(
            db.clone(),
            LedgerConfig::for_network(config.network),
            Arc::new(SystemClock),
        )
        .await?;
        let store = JobStore::open(db, ledger.is_postgres()).await?;
        let (ledger, embedded): (Arc<dyn Settlement>, _) = match config.settlement {
            SettlementKind::Embedded => (Arc::new(ledger.clone()), Some(ledger)),
            SettlementKind::Starknet => (
                Arc::new(starknet_settlement(&config, chain_key).await?),
                None,
            ),
        };
        let coordinator = Self {
            inner: Arc::new(Inner {
                config,
                store,
                ledger,
                embedded,
                dispatcher: Dispatcher::new(),
                metrics: Metrics::default(),
                signers: KeyCache::new(PREPARED_SIGNERS),
                verifying: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                ),
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

    /// Ends every long-poll now and refuses to start new waits: for a server that is stopping.
    pub fn close_long_polls(&self) {
        self.inner.dispatcher.close();
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
        self.fail_undeliverable().await?;
        self.settle_all().await
    }

    /// Fails the queued jobs that ask for more bits than any proof of them delivers: taken
    /// before submissions were checked against what a proof's QM31 challenges give, no worker
    /// could ever prove them. Their fees are refunded by the settlement that follows.
    async fn fail_undeliverable(&self) -> ApiResult<()> {
        use obelysk_prover::soundness::max_bits_for;
        let least = max_bits_for(obelysk_vm::MAX_STEPS, obelysk_vm::MAX_PROGRAM_LEN);
        let store = &self.inner.store;
        for job in store.queued_asking_more_than(least).await? {
            let most = max_bits_for(job.max_steps, job.program.instructions().len());
            if job.security_bits <= most {
                continue;
            }
            let reason = format!(
                "it asks for {} bits of security; a proof of up to {} steps delivers at most {most}",
                job.security_bits, job.max_steps
            );
            if store.fail_queued(&job.job_id, &reason, now_ms()).await? {
                Metrics::inc(&self.inner.metrics.jobs_failed);
                tracing::warn!(job_id = job.job_id, %reason, "job failed");
            }
        }
        Ok(())
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
        // After the expiries: a job requeued past its deadline fails here too.
        for job_id in self.inner.store.fail_past_deadline(now).await? {
            Metrics::inc(&self.inner.metrics.jobs_failed);
            tracing::info!(
                job_id,
                "job failed: its deadline passed before a worker took it"
            );
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
                let commitment = job
                    .commitment
                    .as_deref()
                    .and_then(|c| obelysk_prover::proof::parse_hex32(c).ok())
                    .ok_or_else(|| internal("proved job without a proof commitment"))?;
                match ledger.pay(&job.job_id, worker, &commitment).await {
                    Ok(split) => Some(Payout {
                        worker: split.worker,
                        treasury: split.treasury,
                        stakers: split.stakers,
                    }),
                    // The worker left its tier after the lease (on chain a payment needs one):
                    // it forfeits the fee, which goes back to the client rather than stay
                    // locked.
                    Err(e @ LedgerError::WorkerWithoutTier { .. }) => {
                        tracing::warn!(job_id = job.job_id, error = %e, "fee refunded instead");
                        ledger.refund(&job.job_id).await?;
                        None
                    }
                    Err(e) => return Err(e.into()),
                }
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
        let store = &self.inner.store;
        store
            .set_settlement(store.db(), &job.job_id, Settled::Settled)
            .await?;
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
                let store = &self.inner.store;
                store.mark_queued(store.db(), &job.job_id).await?;
                self.inner.dispatcher.wake(1);
                Ok(())
            }
            // Retried by the maintenance loop: the job stays `pending`.
            Err(e) if e.is_fault() => Err(e.into()),
            Err(e) => {
                let reason = format!("fee could not be escrowed: {e}");
                let store = &self.inner.store;
                store
                    .reject_unpaid(
                        store.db(),
                        &job.job_id,
                        JobState::Pending,
                        &reason,
                        now_ms(),
                    )
                    .await?;
                Err(e.into())
            }
        }
    }

    /// Checks a signed request's signature and time. Returns the signer and the request's
    /// nonce, not stored yet: the request stores it with its first commit, or
    /// [`Coordinator::store_nonce`] does.
    pub fn authenticate(
        &self,
        headers: &SignedHeaders,
        method: &str,
        path: &str,
        body_hash: &blake3::Hash,
    ) -> ApiResult<(Address, Nonce)> {
        let now = now_ms();
        let checked = headers
            .verify_cached(
                &self.inner.signers,
                method,
                path,
                body_hash,
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
        let nonce = Nonce::new(signer.to_string(), headers.nonce.clone(), headers.timestamp);
        Ok((signer, nonce))
    }

    /// Stores a request's nonce unless its transaction did: a request that wrote nothing, or
    /// one whose effects must not run before its nonce is safe.
    pub async fn store_nonce(&self, nonce: &Nonce) -> ApiResult<()> {
        Ok(self.inner.store.store_nonce(nonce).await?)
    }

    pub fn health(&self) -> Health {
        Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            network: self.inner.config.network.to_string(),
            now: now_ms(),
            min_security_bits: self.inner.config.min_security_bits,
            settlement: self.inner.config.settlement.to_string(),
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

async fn starknet_settlement(
    config: &CoordinatorConfig,
    chain_key: Option<bitsage_starknet::Felt>,
) -> anyhow::Result<bitsage_starknet::settlement::StarknetSettlement> {
    use anyhow::Context;
    use bitsage_starknet::settlement::StarknetSettlement;
    let path = config.contracts.as_ref().context(
        "Starknet settlement needs the deployment file: --contracts FILE (written by \
         `bitsage-starknet deploy` or `bitsage-starknet devnet`)",
    )?;
    let deployment = bitsage_starknet::deploy::Deployment::load(path)?;
    let settlement = match chain_key {
        Some(key) => StarknetSettlement::connect(deployment, key).await?,
        None if deployment.devnet => StarknetSettlement::connect_devnet(deployment).await?,
        None => anyhow::bail!(
            "Starknet settlement outside a devnet needs the coordinator account's private key \
             (--chain-private-key or BITSAGE_CHAIN_PRIVATE_KEY)"
        ),
    };
    tracing::info!(
        rpc = settlement.deployment().rpc,
        jobs = %format!("{:#x}", settlement.deployment().jobs),
        "settling on Starknet"
    );
    Ok(settlement)
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
