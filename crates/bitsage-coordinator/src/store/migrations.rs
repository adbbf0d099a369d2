//! Versioned schema migrations. `coord_migrations` records what has been applied; pending
//! migrations run once, in order, in one transaction (on PostgreSQL under an advisory lock, so
//! replicas starting at once take turns). New schema changes go at the end of [`MIGRATIONS`];
//! applied ones are never edited. Upgrade every replica of a PostgreSQL deployment together:
//! an older binary does not know what a newer migration moved.

use bitsage_sql as sql;

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

/// `(version, name, statements)`, in order. `BLOB` becomes `BYTEA` on PostgreSQL, and
/// `WITHOUT ROWID` (SQLite's clustered table) is dropped there.
const MIGRATIONS: &[(i64, &str, &[&str])] = &[
    (1, "jobs, workers and nonces", V1),
    (2, "proofs in a table of their own", V2),
    (3, "proofs in a log beside a SQLite database", V3),
    (4, "nonces keyed by signing time", V4),
];

/// An arbitrary key for PostgreSQL's advisory lock that serialises replicas' migrations.
const MIGRATION_LOCK: i64 = 0x6269_7473_6167_6531;

/// Applies what `coord_migrations` does not list yet, in one transaction. On PostgreSQL an
/// advisory lock comes first: replicas starting at once would otherwise race on `CREATE TABLE`,
/// which fails in one of them even with `IF NOT EXISTS`.
pub(super) async fn apply(pool: &sql::Db, postgres: bool) -> Result<()> {
    let mut tx = pool.begin().await?;
    if postgres {
        sql::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sql::query(
        "CREATE TABLE IF NOT EXISTS coord_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let row = sql::query("SELECT COALESCE(MAX(version), 0) AS v FROM coord_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let current: i64 = row.try_get("v")?;
    for (version, name, statements) in MIGRATIONS.iter().filter(|(v, ..)| *v > current) {
        for statement in *statements {
            let statement = match postgres {
                true => statement
                    .replace(" BLOB", " BYTEA")
                    .replace(" WITHOUT ROWID", ""),
                false => statement.to_string(),
            };
            sql::query(&statement).execute(&mut *tx).await?;
        }
        sql::query("INSERT INTO coord_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(*version)
            .bind(*name)
            .bind(bitsage_protocol::unix_millis())
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, name, "schema migration applied");
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_are_recorded() {
        let pool = sql::Db::connect("sqlite::memory:", sql::Durability::Process)
            .await
            .unwrap();
        apply(&pool, false).await.unwrap();
        apply(&pool, false).await.unwrap();
        let row = sql::query("SELECT COUNT(*) AS n, MAX(version) AS v FROM coord_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64>("n").unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(
            row.try_get::<i64>("v").unwrap(),
            MIGRATIONS.last().unwrap().0
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
        for (version, name, statements) in &MIGRATIONS[..3] {
            for statement in *statements {
                sql::query(statement).execute(&mut *tx).await.unwrap();
            }
            sql::query("INSERT INTO coord_migrations VALUES ($1, $2, 0)")
                .bind(*version)
                .bind(*name)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sql::query("INSERT INTO coord_nonces (signer, nonce, signed_at) VALUES ('0xa', 'n', 7)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        apply(&pool, false).await.unwrap();
        let row = sql::query("SELECT signer, nonce FROM coord_nonces_by_time WHERE signed_at = 7")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String>("nonce").unwrap(), "n");
    }
}
