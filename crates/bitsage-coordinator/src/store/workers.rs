//! Registered workers: what they declared, when they were last seen, what they proved.

use bitsage_ledger::{Address, Amount};
use bitsage_sql as sql;

use super::{address, corrupt, JobStore, Result};

/// A registered worker.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerRow {
    pub worker_id: Address,
    pub gpus: String,
    pub capacity: String,
    pub registered_at: i64,
    pub last_seen: i64,
    pub proofs_done: u64,
    pub invalid_proofs: u64,
    /// The worker's share of every fee it was paid, all time.
    pub earned: Amount,
}

fn worker_from_row(row: &sql::Row) -> Result<WorkerRow> {
    Ok(WorkerRow {
        worker_id: address(&row.try_get::<String>("worker_id")?)?,
        gpus: row.try_get("gpus")?,
        capacity: row.try_get("capacity")?,
        registered_at: row.try_get("registered_at")?,
        last_seen: row.try_get("last_seen")?,
        proofs_done: row.try_get::<i64>("proofs_done")? as u64,
        invalid_proofs: row.try_get::<i64>("invalid_proofs")? as u64,
        earned: row
            .try_get::<String>("earned")?
            .parse::<u128>()
            .map(Amount)
            .map_err(|_| corrupt("earned"))?,
    })
}

impl JobStore {
    /// Registers `worker` or updates what it declares.
    pub async fn upsert_worker(
        &self,
        worker: Address,
        gpus: &str,
        capacity: &str,
        now: i64,
    ) -> Result<WorkerRow> {
        sql::query(
            "INSERT INTO coord_workers (worker_id, gpus, capacity, registered_at, last_seen,
             proofs_done, invalid_proofs, earned) VALUES ($1, $2, $3, $4, $4, 0, 0, '0')
             ON CONFLICT (worker_id) DO UPDATE SET gpus = $2, capacity = $3, last_seen = $4",
        )
        .bind(worker.to_string())
        .bind(gpus)
        .bind(capacity)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.worker(worker)
            .await?
            .ok_or_else(|| corrupt("upserted worker vanished"))
    }

    pub async fn worker(&self, worker: Address) -> Result<Option<WorkerRow>> {
        self.worker_on(&self.pool, worker).await
    }

    /// [`JobStore::worker`] on `on`, the pool or a transaction.
    pub async fn worker_on<'e>(
        &self,
        on: impl sql::Executor<'e>,
        worker: Address,
    ) -> Result<Option<WorkerRow>> {
        let row = sql::query("SELECT * FROM coord_workers WHERE worker_id = $1")
            .bind(worker.to_string())
            .fetch_optional(on)
            .await?;
        row.as_ref().map(worker_from_row).transpose()
    }

    pub async fn workers(&self) -> Result<Vec<WorkerRow>> {
        let rows = sql::query("SELECT * FROM coord_workers ORDER BY registered_at, worker_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(worker_from_row).collect()
    }

    /// Marks the worker as seen.
    pub async fn touch_worker(&self, worker: Address, now: i64) -> Result<()> {
        sql::query("UPDATE coord_workers SET last_seen = $2 WHERE worker_id = $1")
            .bind(worker.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the worker as seen and records the GPUs (JSON) and, when given, the capacity (JSON)
    /// it reports.
    pub async fn report_worker(
        &self,
        worker: Address,
        gpus: &str,
        capacity: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sql::query(
            "UPDATE coord_workers SET last_seen = $2, gpus = $3,
             capacity = COALESCE($4, capacity) WHERE worker_id = $1",
        )
        .bind(worker.to_string())
        .bind(now)
        .bind(gpus)
        .bind(capacity)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn count_invalid_proof(&self, worker: Address) -> Result<()> {
        sql::query(
            "UPDATE coord_workers SET invalid_proofs = invalid_proofs + 1 WHERE worker_id = $1",
        )
        .bind(worker.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
