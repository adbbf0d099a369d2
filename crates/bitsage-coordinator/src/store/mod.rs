//! [`JobStore`]: jobs, workers and seen nonces in the coordinator's SQL database.
//!
//! It shares the ledger's pool (see `SqlLedger::pool`): one connection on SQLite, so every
//! transaction is serialised; on PostgreSQL several coordinator replicas share the queue, and
//! `FOR UPDATE SKIP LOCKED` keeps two of them from leasing one job, while locking the worker's
//! row keeps one worker under its lease limit across replicas. Every state change is one
//! transaction, so a crash at any moment leaves either the old state or the new one. On a SQLite
//! file, proofs are appended to segment files beside it ([`ProofLog`]) before the commit that
//! records their place.

use std::borrow::Cow;
use std::sync::Arc;

use bitsage_ledger::{Address, Amount};
use bitsage_protocol::{JobState, WorkloadKind};
use bitsage_sql as sql;
use obelysk_vm::Program;

mod maintenance;
mod migrations;
mod nonces;
mod proof_log;
mod workers;

pub use nonces::Nonce;
pub use proof_log::ProofLog;
pub use workers::WorkerRow;

pub type Tx = sql::Tx;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] bitsage_sql::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("proof log: {0}")]
    ProofLog(#[from] std::io::Error),
    /// The request's nonce is stored already: the transaction that met it was not committed.
    #[error("nonce {0} was already used")]
    ReplayedNonce(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// Whether a job's fee still has to move (paid on proof, refunded on failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    Unsettled,
    Settled,
}

/// One job as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    pub job_id: String,
    pub client: Address,
    pub workload: WorkloadKind,
    pub program: Program,
    pub program_hash: String,
    pub inputs: Vec<u32>,
    pub fee: Amount,
    pub security_bits: u32,
    pub max_steps: u64,
    pub deadline: i64,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub worker: Option<Address>,
    pub lease_id: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub leased_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub outputs: Option<Vec<u32>>,
    pub steps: Option<u64>,
    pub commitment: Option<String>,
    pub last_error: Option<String>,
    pub settlement: Settlement,
}

/// A verified result, ready to be recorded.
#[derive(Clone, Debug)]
pub struct ProvedResult {
    pub outputs: Vec<u32>,
    pub steps: u64,
    pub commitment: String,
    /// The proof's binary encoding; `GET /jobs/:id/proof` renders it as the JSON file.
    pub proof: StoredProof,
}

/// Where a verified proof's binary encoding is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredProof {
    /// In a row of `coord_proofs`, written with the job's completion (PostgreSQL, and SQLite
    /// in memory).
    Row(Vec<u8>),
    /// Already appended to the store's [`ProofLog`], at this place.
    Logged(String),
}

/// What became of a job that a worker gave back or whose lease ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    Requeued,
    /// Out of attempts: the fee is to be refunded.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    Leased(Box<JobRow>),
    /// The worker holds as many leases as it may.
    AtCapacity {
        held: u32,
    },
    Empty,
}

/// A job row's columns, for `concat!`: statement texts are built at compile time, not per call.
macro_rules! job_columns {
    () => {
        "job_id, client, workload, program, program_hash, inputs, fee, security_bits, max_steps,
        deadline, state, attempts, max_attempts, worker, lease_id, lease_expires_at, created_at,
        leased_at, finished_at, outputs, steps, commitment, last_error, settlement"
    };
}

// The reads that run while the store grows: each is served by an index that holds only the jobs
// it is about (see migration 5), which `tests::reads_of_a_growing_store_use_their_indexes` checks.
const QUEUE_HEAD: &str = "SELECT job_id FROM coord_jobs WHERE state = 'queued' AND worker IS NULL
    ORDER BY deadline, created_at, job_id LIMIT 1";
const LEASES_HELD: &str =
    "SELECT COUNT(*) AS n FROM coord_jobs WHERE state = 'leased' AND worker = $1";
const EXPIRED_LEASES: &str = "SELECT job_id, attempts, max_attempts FROM coord_jobs
    WHERE state = 'leased' AND lease_expires_at < $1";
const NEXT_LEASE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM coord_jobs WHERE state = 'leased' AND worker = $2
    AND lease_id = (SELECT next_lease_id FROM coord_jobs WHERE job_id = $1)"
);
const DEADLINE_PASSED: &str = "UPDATE coord_jobs SET state = 'failed', finished_at = $1,
    last_error = 'its deadline passed before a worker took it'
    WHERE state = 'queued' AND worker IS NULL AND deadline < $1 RETURNING job_id";
const QUEUED_ASKING_MORE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM coord_jobs WHERE state = 'queued' AND worker IS NULL AND security_bits > $1"
);
const FAIL_QUEUED: &str = "UPDATE coord_jobs SET state = 'failed', finished_at = $1,
    last_error = $2 WHERE job_id = $3 AND state = 'queued' AND worker IS NULL";
const PENDING: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM coord_jobs WHERE state = 'pending'"
);
const UNSETTLED: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM coord_jobs WHERE settlement = 'unsettled' AND (state = 'proved' OR state = 'failed')"
);
const RECENT: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM coord_jobs WHERE worker = $1 ORDER BY leased_at DESC LIMIT $2"
);
const IN_FLIGHT_COUNTS: &str = "SELECT state, COUNT(*) AS n FROM coord_jobs
    WHERE state = 'pending' OR state = 'queued' OR state = 'leased' GROUP BY state";
const FAILED_COUNT: &str = "SELECT COUNT(*) AS n FROM coord_jobs WHERE state = 'failed'";
const JOB: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM coord_jobs WHERE job_id = $1"
);

/// Jobs, workers and nonces on the shared pool.
#[derive(Clone, Debug)]
pub struct JobStore {
    pool: sql::Db,
    postgres: bool,
    /// Where proofs go on a SQLite database in a file.
    log: Option<Arc<ProofLog>>,
}

fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

fn address(text: &str) -> Result<Address> {
    text.parse()
        .map_err(|_| corrupt(format!("address `{text}`")))
}

fn job_from_row(row: &sql::Row) -> Result<JobRow> {
    let get_str = |c: &str| -> Result<String> { Ok(row.try_get::<String>(c)?) };
    let opt_str = |c: &str| -> Result<Option<String>> { Ok(row.try_get::<Option<String>>(c)?) };
    let get_i64 = |c: &str| -> Result<i64> { Ok(row.try_get::<i64>(c)?) };
    let opt_i64 = |c: &str| -> Result<Option<i64>> { Ok(row.try_get::<Option<i64>>(c)?) };
    let workload: WorkloadKind = json(&format!("\"{}\"", get_str("workload")?), "workload")?;
    let state_text = get_str("state")?;
    Ok(JobRow {
        job_id: get_str("job_id")?,
        client: address(&get_str("client")?)?,
        workload,
        program: json(&get_str("program")?, "program")?,
        program_hash: get_str("program_hash")?,
        inputs: json(&get_str("inputs")?, "inputs")?,
        fee: get_str("fee")?
            .parse::<u128>()
            .map(Amount)
            .map_err(|_| corrupt("fee"))?,
        security_bits: get_i64("security_bits")? as u32,
        max_steps: get_i64("max_steps")? as u64,
        deadline: get_i64("deadline")?,
        state: JobState::parse(&state_text)
            .ok_or_else(|| corrupt(format!("state {state_text}")))?,
        attempts: get_i64("attempts")? as u32,
        max_attempts: get_i64("max_attempts")? as u32,
        worker: opt_str("worker")?.map(|w| address(&w)).transpose()?,
        lease_id: opt_str("lease_id")?,
        lease_expires_at: opt_i64("lease_expires_at")?,
        created_at: get_i64("created_at")?,
        leased_at: opt_i64("leased_at")?,
        finished_at: opt_i64("finished_at")?,
        outputs: opt_str("outputs")?
            .map(|o| json(&o, "outputs"))
            .transpose()?,
        steps: opt_i64("steps")?.map(|s| s as u64),
        commitment: opt_str("commitment")?,
        last_error: opt_str("last_error")?,
        settlement: match get_str("settlement")?.as_str() {
            "settled" => Settlement::Settled,
            "unsettled" => Settlement::Unsettled,
            other => return Err(corrupt(format!("settlement {other}"))),
        },
    })
}

impl Settlement {
    fn as_str(self) -> &'static str {
        match self {
            Settlement::Unsettled => "unsettled",
            Settlement::Settled => "settled",
        }
    }
}

impl JobStore {
    /// Wraps `pool` and brings its tables to the current schema.
    pub async fn open(pool: sql::Db, postgres: bool) -> Result<Self> {
        let log = match pool.sqlite_file() {
            Some((path, durability)) => Some(Arc::new(ProofLog::beside(path, durability)?)),
            None => None,
        };
        let store = Self {
            pool,
            postgres,
            log,
        };
        migrations::apply(&store.pool).await?;
        Ok(store)
    }

    /// The database, for statements outside a transaction.
    pub fn db(&self) -> &sql::Db {
        &self.pool
    }

    /// Starts a transaction on the store's database (the ledger's too, see `SqlLedger::pool`).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// Whether several coordinator replicas may share this store.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    fn for_update(&self, skip_locked: bool) -> &'static str {
        match (self.postgres, skip_locked) {
            (false, _) => "",
            (true, false) => " FOR UPDATE",
            (true, true) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// `sql` as it is on SQLite; with [`JobStore::for_update`]'s clause on PostgreSQL.
    fn locking(&self, sql: &'static str, skip_locked: bool) -> Cow<'static, str> {
        match self.for_update(skip_locked) {
            "" => Cow::Borrowed(sql),
            clause => Cow::Owned(format!("{sql}{clause}")),
        }
    }

    /// Inserts a new job, in `tx`, in its state (`pending`, or `queued` when its fee is escrowed
    /// in the same transaction). Returns the stored job: the new one, or the one already stored
    /// under this id (an idempotent retry), and whether it is new.
    pub async fn insert_job_in(&self, tx: &mut Tx, job: &JobRow) -> Result<(JobRow, bool)> {
        let done = sql::query(concat!(
            "INSERT INTO coord_jobs (",
            job_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, NULL,
             $14, NULL, NULL, NULL, NULL, NULL, NULL, $15) ON CONFLICT (job_id) DO NOTHING"
        ))
        .bind(&job.job_id)
        .bind(job.client.to_string())
        .bind(job.workload.as_str())
        .bind(serde_json::to_string(&job.program).expect("programs serialize"))
        .bind(&job.program_hash)
        .bind(serde_json::to_string(&job.inputs).expect("inputs serialize"))
        .bind(job.fee.0.to_string())
        .bind(i64::from(job.security_bits))
        .bind(job.max_steps as i64)
        .bind(job.deadline)
        .bind(job.state.as_str())
        .bind(i64::from(job.attempts))
        .bind(i64::from(job.max_attempts))
        .bind(job.created_at)
        .bind(job.settlement.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            return Ok((job.clone(), true));
        }
        let row = sql::query(JOB)
            .bind(&job.job_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| corrupt("a job both present and absent"))?;
        Ok((job_from_row(&row)?, false))
    }

    pub async fn job(&self, job_id: &str) -> Result<Option<JobRow>> {
        let row = sql::query(JOB)
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Keeps a verified proof where this store keeps proofs: appends it to the log now
    /// (blocking: call it off the async runtime), or leaves it for the completion's row.
    /// `hash` is the proof's BLAKE3 when the caller has it.
    pub fn keep_proof(
        &self,
        mut result: ProvedResult,
        hash: Option<&blake3::Hash>,
    ) -> Result<ProvedResult> {
        if let (Some(log), StoredProof::Row(bytes)) = (&self.log, &result.proof) {
            let place = match hash {
                Some(hash) => log.append_hashed(bytes, hash)?,
                None => log.append(bytes)?,
            };
            result.proof = StoredProof::Logged(place);
        }
        Ok(result)
    }

    /// The stored proof of a proved job (binary encoding): from the log, or from a row. A
    /// proof written by a binary from before migration 2 (a replica not yet upgraded) is still
    /// found in `coord_jobs`.
    pub async fn proof(&self, job_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sql::query("SELECT proof_place FROM coord_jobs WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        let place = row
            .map(|r| r.try_get::<Option<String>>("proof_place"))
            .transpose()?
            .flatten();
        if let Some(place) = place {
            let log = self.log.as_ref().ok_or_else(|| {
                corrupt(format!(
                    "job {job_id}'s proof is in a proof log, and this store has none"
                ))
            })?;
            return Ok(Some(log.read(&place)?));
        }
        for table in ["coord_proofs", "coord_jobs"] {
            let row = sql::query(&format!("SELECT proof FROM {table} WHERE job_id = $1"))
                .bind(job_id)
                .fetch_optional(&self.pool)
                .await?;
            let proof = row
                .map(|r| r.try_get::<Option<Vec<u8>>>("proof"))
                .transpose()?
                .flatten();
            if proof.is_some() {
                return Ok(proof);
            }
        }
        Ok(None)
    }

    /// `pending` → `queued` once the fee is escrowed; `on` is the pool or a transaction.
    pub async fn mark_queued<'e>(&self, on: impl sql::Executor<'e>, job_id: &str) -> Result<()> {
        sql::query(
            "UPDATE coord_jobs SET state = 'queued' WHERE job_id = $1 AND state = 'pending'",
        )
        .bind(job_id)
        .execute(on)
        .await?;
        Ok(())
    }

    /// A job still in state `from` (`pending`, or `queued` in the transaction that stored it)
    /// → `failed`, when its fee could not be escrowed (nothing to refund).
    pub async fn reject_unpaid<'e>(
        &self,
        on: impl sql::Executor<'e>,
        job_id: &str,
        from: JobState,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        sql::query(
            "UPDATE coord_jobs SET state = 'failed', last_error = $2, finished_at = $3,
             settlement = 'settled' WHERE job_id = $1 AND state = $4",
        )
        .bind(job_id)
        .bind(reason)
        .bind(now)
        .bind(from.as_str())
        .execute(on)
        .await?;
        Ok(())
    }

    pub async fn pending_jobs(&self) -> Result<Vec<JobRow>> {
        let rows = sql::query(PENDING).fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Leases the most urgent queued job to `worker` unless it already holds `limit` leases,
    /// and marks the worker as seen at `now`; the request's `nonce` is stored with it.
    pub async fn claim(
        &self,
        worker: Address,
        limit: Option<u32>,
        lease_id: &str,
        expires_at: i64,
        now: i64,
        nonce: &Nonce,
    ) -> Result<ClaimOutcome> {
        let mut tx = self.pool.begin().await?;
        self.nonce_in(&mut tx, nonce).await?;
        let outcome = self
            .claim_in(&mut tx, worker, limit, lease_id, expires_at, now)
            .await?;
        self.commit(tx, nonce).await?;
        Ok(outcome)
    }

    /// [`JobStore::claim`] inside `tx`.
    pub async fn claim_in(
        &self,
        tx: &mut Tx,
        worker: Address,
        limit: Option<u32>,
        lease_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<ClaimOutcome> {
        // Writing the worker's row locks it, which serialises its claims across replicas.
        sql::query("UPDATE coord_workers SET last_seen = $2 WHERE worker_id = $1")
            .bind(worker.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await?;
        let held = self.leases_held_in(tx, worker).await?;
        if limit.is_some_and(|limit| held >= limit) {
            return Ok(ClaimOutcome::AtCapacity { held });
        }
        let next = sql::query(&self.locking(QUEUE_HEAD, true))
            .fetch_optional(&mut **tx)
            .await?;
        let Some(next) = next else {
            return Ok(ClaimOutcome::Empty);
        };
        let job_id: String = next.try_get("job_id")?;
        let row = sql::query(concat!(
            "UPDATE coord_jobs SET state = 'leased', worker = $2, lease_id = $3,
             lease_expires_at = $4, leased_at = $5 WHERE job_id = $1 RETURNING ",
            job_columns!()
        ))
        .bind(&job_id)
        .bind(worker.to_string())
        .bind(lease_id)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok(ClaimOutcome::Leased(Box::new(job_from_row(&row)?)))
    }

    async fn leases_held_in(&self, tx: &mut Tx, worker: Address) -> Result<u32> {
        let row = sql::query(LEASES_HELD)
            .bind(worker.to_string())
            .fetch_one(&mut **tx)
            .await?;
        Ok(row.try_get::<i64>("n")? as u32)
    }

    pub async fn leases_held(&self, worker: Address) -> Result<u32> {
        let mut tx = self.pool.begin().await?;
        let held = self.leases_held_in(&mut tx, worker).await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Extends the leases in `lease_ids` that `worker` still holds; returns those renewed.
    pub async fn renew(
        &self,
        worker: Address,
        lease_ids: &[String],
        expires_at: i64,
    ) -> Result<Vec<String>> {
        let mut renewed = Vec::new();
        let mut tx = self.pool.begin().await?;
        for lease_id in lease_ids {
            let done = sql::query(
                "UPDATE coord_jobs SET lease_expires_at = $3
                 WHERE lease_id = $1 AND worker = $2 AND state = 'leased'",
            )
            .bind(lease_id)
            .bind(worker.to_string())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                renewed.push(lease_id.clone());
            }
        }
        tx.commit().await?;
        Ok(renewed)
    }

    /// Records a verified result in `tx` if `worker` still holds `lease_id`, crediting `earned`
    /// to the worker's statistics; `settlement` is `Settled` when the fee is paid in `tx` too.
    /// Returns the proved job; `None` when the worker does not hold the lease.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_in(
        &self,
        tx: &mut Tx,
        job_id: &str,
        lease_id: &str,
        worker: Address,
        result: &ProvedResult,
        earned: Amount,
        settlement: Settlement,
        now: i64,
    ) -> Result<Option<JobRow>> {
        let place = match &result.proof {
            StoredProof::Logged(place) => Some(place.as_str()),
            StoredProof::Row(_) => None,
        };
        let worker_id = worker.to_string();
        let row = sql::query(concat!(
            "UPDATE coord_jobs SET state = 'proved', outputs = $4, steps = $5, commitment = $6,
             finished_at = $7, lease_expires_at = NULL, last_error = NULL, proof_place = $8,
             settlement = $9 WHERE job_id = $1 AND lease_id = $2 AND worker = $3
             AND state = 'leased' RETURNING ",
            job_columns!()
        ))
        .bind(job_id)
        .bind(lease_id)
        .bind(worker_id.as_str())
        .bind(serde_json::to_string(&result.outputs).expect("outputs serialize"))
        .bind(result.steps as i64)
        .bind(&result.commitment)
        .bind(now)
        .bind(place)
        .bind(settlement.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if let StoredProof::Row(bytes) = &result.proof {
            sql::query(
                "INSERT INTO coord_proofs (job_id, proof) VALUES ($1, $2)
                 ON CONFLICT (job_id) DO UPDATE SET proof = $2",
            )
            .bind(job_id)
            .bind(bytes.as_slice())
            .execute(&mut **tx)
            .await?;
        }
        let earned_before = sql::query(&self.locking(
            "SELECT earned FROM coord_workers WHERE worker_id = $1",
            false,
        ))
        .bind(worker_id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let before = match earned_before {
            Some(row) => row
                .try_get::<String>("earned")?
                .parse::<u128>()
                .map_err(|_| corrupt("earned"))?,
            None => 0,
        };
        sql::query(
            "UPDATE coord_workers SET proofs_done = proofs_done + 1, earned = $2
             WHERE worker_id = $1",
        )
        .bind(worker_id.as_str())
        .bind(before.saturating_add(earned.0).to_string())
        .execute(&mut **tx)
        .await?;
        Ok(Some(job_from_row(&row)?))
    }

    /// Takes a job back from `worker` (a failure or an invalid proof) and counts the attempt.
    /// `None` when the worker does not hold `lease_id`.
    pub async fn release(
        &self,
        job_id: &str,
        lease_id: &str,
        worker: Address,
        reason: &str,
        now: i64,
    ) -> Result<Option<Released>> {
        let mut tx = self.pool.begin().await?;
        let row = sql::query(&format!(
            "SELECT attempts, max_attempts FROM coord_jobs
             WHERE job_id = $1 AND lease_id = $2 AND worker = $3 AND state = 'leased'{}",
            self.for_update(false)
        ))
        .bind(job_id)
        .bind(lease_id)
        .bind(worker.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let released = self.release_in(&mut tx, job_id, &row, reason, now).await?;
        tx.commit().await?;
        Ok(Some(released))
    }

    async fn release_in(
        &self,
        tx: &mut Tx,
        job_id: &str,
        row: &sql::Row,
        reason: &str,
        now: i64,
    ) -> Result<Released> {
        let attempts = row.try_get::<i64>("attempts")? + 1;
        let max_attempts: i64 = row.try_get("max_attempts")?;
        let (state, released) = if attempts >= max_attempts {
            ("failed", Released::Failed)
        } else {
            ("queued", Released::Requeued)
        };
        let finished = (released == Released::Failed).then_some(now);
        let last_error = match released {
            Released::Failed => format!("failed after {attempts} attempts; last: {reason}"),
            Released::Requeued => reason.to_string(),
        };
        sql::query(
            "UPDATE coord_jobs SET state = $2, attempts = $3, lease_id = NULL,
             lease_expires_at = NULL, last_error = $4, finished_at = $5,
             worker = CASE WHEN $2 = 'failed' THEN worker ELSE NULL END
             WHERE job_id = $1",
        )
        .bind(job_id)
        .bind(state)
        .bind(attempts)
        .bind(last_error)
        .bind(finished)
        .execute(&mut **tx)
        .await?;
        Ok(released)
    }

    /// Notes that the result of `job_id` brought its worker the lease `lease_id`; `on` is the
    /// pool or a transaction.
    pub async fn set_next_lease<'e>(
        &self,
        on: impl sql::Executor<'e>,
        job_id: &str,
        lease_id: &str,
    ) -> Result<()> {
        sql::query("UPDATE coord_jobs SET next_lease_id = $2 WHERE job_id = $1")
            .bind(job_id)
            .bind(lease_id)
            .execute(on)
            .await?;
        Ok(())
    }

    /// The job whose lease the result of `job_id` brought `worker`, while the worker holds it.
    pub async fn next_lease_of(&self, job_id: &str, worker: Address) -> Result<Option<JobRow>> {
        let row = sql::query(NEXT_LEASE)
            .bind(job_id)
            .bind(worker.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The worker's latest jobs, the last leased first.
    pub async fn recent_jobs(&self, worker: Address, limit: u32) -> Result<Vec<JobRow>> {
        let rows = sql::query(RECENT)
            .bind(worker.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// How many jobs are in each state. Jobs in flight and failed ones are counted in their
    /// indexes; proved jobs, nearly all of them, have none of their own and are the rest.
    pub async fn jobs_by_state(&self) -> Result<Vec<(JobState, u64)>> {
        let mut tx = self.pool.begin().await?;
        let mut counts = sql::query(IN_FLIGHT_COUNTS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let n: i64 = row.try_get("n")?;
                let state = JobState::parse(&state).ok_or_else(|| corrupt("state"))?;
                Ok((state, n as u64))
            })
            .collect::<Result<Vec<_>>>()?;
        let failed = sql::query(FAILED_COUNT)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64>("n")? as u64;
        let all = sql::query("SELECT COUNT(*) AS n FROM coord_jobs")
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64>("n")? as u64;
        tx.commit().await?;
        let in_flight: u64 = counts.iter().map(|(_, n)| n).sum();
        counts.push((JobState::Failed, failed));
        counts.push((JobState::Proved, all.saturating_sub(in_flight + failed)));
        Ok(counts)
    }
}

#[cfg(test)]
mod tests;
