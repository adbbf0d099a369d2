//! What the maintenance loop and crash recovery run over the store: leases that ran out, jobs
//! whose deadline passed, fees still to move.

use bitsage_sql as sql;

use super::{
    job_from_row, JobRow, JobStore, Released, Result, Settlement, DEADLINE_PASSED, EXPIRED_LEASES,
    FAIL_QUEUED, QUEUED_ASKING_MORE, UNSETTLED,
};

impl JobStore {
    /// Moves every lease's expiry to at least `until`; returns how many leases there are.
    pub async fn extend_leases(&self, until: i64) -> Result<u64> {
        let done = sql::query(
            "UPDATE coord_jobs SET lease_expires_at = CASE WHEN lease_expires_at < $1 THEN $1
             ELSE lease_expires_at END WHERE state = 'leased'",
        )
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Returns every job whose lease ran out before `now` to the queue (or fails it).
    pub async fn expire_leases(&self, now: i64) -> Result<Vec<(String, Released)>> {
        let mut tx = self.pool.begin().await?;
        let rows = sql::query(&self.locking(EXPIRED_LEASES, true))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let job_id: String = row.try_get("job_id")?;
            let released = self
                .release_in(&mut tx, &job_id, row, "lease expired", now)
                .await?;
            out.push((job_id, released));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Fails every queued job whose deadline passed before `now` (its fee, unsettled, is then
    /// refunded); returns their ids. A lease already granted runs its course: the worker took
    /// the job in time.
    pub async fn fail_past_deadline(&self, now: i64) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        let rows = sql::query(DEADLINE_PASSED)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(|row| Ok(row.try_get("job_id")?)).collect()
    }

    /// Queued, unleased jobs that ask for more than `bits` bits of security.
    pub async fn queued_asking_more_than(&self, bits: u32) -> Result<Vec<JobRow>> {
        let rows = sql::query(QUEUED_ASKING_MORE)
            .bind(i64::from(bits))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Fails a job still queued and unleased, with `reason` (its fee, unsettled, is then
    /// refunded); whether it did.
    pub async fn fail_queued(&self, job_id: &str, reason: &str, now: i64) -> Result<bool> {
        let done = sql::query(FAIL_QUEUED)
            .bind(now)
            .bind(reason)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Proved or failed jobs whose fee has not moved yet.
    pub async fn unsettled(&self) -> Result<Vec<JobRow>> {
        let rows = sql::query(UNSETTLED).fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Whether the job's fee has moved; `on` is the pool or a transaction.
    pub async fn set_settlement<'e>(
        &self,
        on: impl sql::Executor<'e>,
        job_id: &str,
        settlement: Settlement,
    ) -> Result<()> {
        sql::query("UPDATE coord_jobs SET settlement = $2 WHERE job_id = $1")
            .bind(job_id)
            .bind(settlement.as_str())
            .execute(on)
            .await?;
        Ok(())
    }
}
