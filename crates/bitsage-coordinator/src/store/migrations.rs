//! The job store's schema, version by version (`coord_migrations` records what was applied).
//! New schema changes go at the end of [`MIGRATIONS`]; applied ones are never edited.

use bitsage_sql::{self as sql, Migration};

use super::Result;

const V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS coord_jobs (
        job_id TEXT PRIMARY KEY, client TEXT NOT NULL, workload TEXT NOT NULL,
        program TEXT NOT NULL, program_hash TEXT NOT NULL, inputs TEXT NOT NULL,
        fee TEXT NOT NULL, security_bits BIGINT NOT NULL, max_steps BIGINT NOT NULL,
        deadline BIGINT NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL,
        max_attempts BIGINT NOT NULL, worker TEXT, lease_id TEXT, lease_expires_at BIGINT,
        created_at BIGINT NOT NULL, leased_at BIGINT, finished_at BIGINT, outputs TEXT,
        steps BIGINT, commitment TEXT, last_error TEXT, settlement TEXT NOT NULL,
        proof BLOB)",
    "CREATE INDEX IF NOT EXISTS coord_jobs_queue ON coord_jobs (state, deadline, created_at)",
    "CREATE INDEX IF NOT EXISTS coord_jobs_worker ON coord_jobs (worker, state)",
    "CREATE TABLE IF NOT EXISTS coord_workers (
        worker_id TEXT PRIMARY KEY, gpus TEXT NOT NULL, capacity TEXT NOT NULL,
        registered_at BIGINT NOT NULL, last_seen BIGINT NOT NULL,
        proofs_done BIGINT NOT NULL, invalid_proofs BIGINT NOT NULL, earned TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS coord_nonces (
        signer TEXT NOT NULL, nonce TEXT NOT NULL, signed_at BIGINT NOT NULL,
        PRIMARY KEY (signer, nonce))",
    "CREATE INDEX IF NOT EXISTS coord_nonces_age ON coord_nonces (signed_at)",
];

/// Proofs move to a table of their own. SQLite rewrites a whole row, overflow pages included,
/// when any column of it changes: with the proof inline, every later update of a proved job
/// (settlement, a repeated result) wrote the proof again, to the WAL and then to the database.
const V2: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS coord_proofs (job_id TEXT PRIMARY KEY, proof BLOB NOT NULL)",
    "INSERT INTO coord_proofs (job_id, proof)
        SELECT job_id, proof FROM coord_jobs WHERE proof IS NOT NULL
        ON CONFLICT (job_id) DO NOTHING",
    "UPDATE coord_jobs SET proof = NULL WHERE proof IS NOT NULL",
];

/// Proofs of a SQLite database in a file go to a log beside it (see `ProofLog`); the row keeps
/// the proof's place. Rows written before stay where they are and are still read.
const V3: &[&str] = &["ALTER TABLE coord_jobs ADD COLUMN proof_place TEXT"];

/// Nonces keyed by signing time first. A replay repeats the signed time, so the triple is as
/// unique as (signer, nonce) for what matters; every new nonce then lands on the last page of
/// one tree, where it landed on a random page of two (the key, the age index) besides the
/// table's, and pruning cuts the front of that tree.
const V4: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS coord_nonces_by_time (
        signed_at BIGINT NOT NULL, signer TEXT NOT NULL, nonce TEXT NOT NULL,
        PRIMARY KEY (signed_at, signer, nonce)) WITHOUT ROWID",
    "INSERT INTO coord_nonces_by_time (signed_at, signer, nonce)
        SELECT signed_at, signer, nonce FROM coord_nonces",
    "DROP TABLE coord_nonces",
];

/// Indexes that hold only the jobs they serve. Indexes over every job (by state, by worker and
/// state) moved each job's entries at every step, into regions that grew for ever: several WAL
/// pages per job, and the settlement sweep read every finished job's row once a second. Now the
/// jobs in flight share one small index (the queue reads it in order: queued jobs have no
/// worker), and a finished job leaves an entry only in its worker's history, or among the
/// failed or the unsettled ones.
const V5: &[&str] = &[
    "DROP INDEX IF EXISTS coord_jobs_queue",
    "DROP INDEX IF EXISTS coord_jobs_worker",
    "CREATE INDEX IF NOT EXISTS coord_jobs_active
        ON coord_jobs (state, worker, deadline, created_at, job_id)
        WHERE state = 'pending' OR state = 'queued' OR state = 'leased'",
    "CREATE INDEX IF NOT EXISTS coord_jobs_failed ON coord_jobs (finished_at)
        WHERE state = 'failed'",
    "CREATE INDEX IF NOT EXISTS coord_jobs_unsettled ON coord_jobs (finished_at)
        WHERE settlement = 'unsettled' AND (state = 'proved' OR state = 'failed')",
    "CREATE INDEX IF NOT EXISTS coord_jobs_by_worker ON coord_jobs (worker, leased_at)
        WHERE worker IS NOT NULL",
];

/// The lease a job's result brought its worker (`?next=true`), so that the result sent again,
/// its answer lost, brings the same lease back instead of leaving it to expire unknown.
const V6: &[&str] = &["ALTER TABLE coord_jobs ADD COLUMN next_lease_id TEXT"];

/// In order; see [`sql::migrate`] for how PostgreSQL reads them.
const MIGRATIONS: &[Migration] = &[
    migration(1, "jobs, workers and nonces", V1),
    migration(2, "proofs in a table of their own", V2),
    migration(3, "proofs in a log beside a SQLite database", V3),
    migration(4, "nonces keyed by signing time", V4),
    migration(5, "indexes of the jobs they serve", V5),
    migration(6, "the lease a result brought", V6),
];

const fn migration(
    version: i64,
    name: &'static str,
    statements: &'static [&'static str],
) -> Migration {
    Migration {
        version,
        name,
        statements,
        sqlite_only: false,
    }
}

pub(super) async fn apply(pool: &sql::Db) -> Result<()> {
    Ok(sql::migrate(pool, "coord_migrations", MIGRATIONS).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_are_recorded() {
        let pool = sql::Db::connect("sqlite::memory:", sql::Durability::Process)
            .await
            .unwrap();
        apply(&pool).await.unwrap();
        apply(&pool).await.unwrap();
        let row = sql::query("SELECT COUNT(*) AS n, MAX(version) AS v FROM coord_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64>("n").unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(
            row.try_get::<i64>("v").unwrap(),
            MIGRATIONS.last().unwrap().version
        );
        sql::query("SELECT job_id, earned FROM coord_jobs, coord_workers LIMIT 1")
            .fetch_optional(&pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn nonces_stored_before_version_4_are_kept() {
        let pool = sql::Db::connect("sqlite::memory:", sql::Durability::Process)
            .await
            .unwrap();
        // A database as version 3 left it, with one nonce.
        let mut tx = pool.begin().await.unwrap();
        sql::query(
            "CREATE TABLE coord_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        for m in &MIGRATIONS[..3] {
            for statement in m.statements {
                sql::query(statement).execute(&mut *tx).await.unwrap();
            }
            sql::query("INSERT INTO coord_migrations VALUES ($1, $2, 0)")
                .bind(m.version)
                .bind(m.name)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sql::query("INSERT INTO coord_nonces (signer, nonce, signed_at) VALUES ('0xa', 'n', 7)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        apply(&pool).await.unwrap();
        let row = sql::query("SELECT signer, nonce FROM coord_nonces_by_time WHERE signed_at = 7")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String>("nonce").unwrap(), "n");
    }
}
