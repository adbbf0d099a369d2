//! Where proofs go: a log beside a SQLite file, rows elsewhere, and rows of older versions.

use super::*;

const WORKER: &str = "0x0000000000000000000000000000000000000000000000000000000000000abc";

/// A store with one job leased to [`WORKER`] under lease `l1`.
async fn store_with_leased_job(url: &str) -> JobStore {
    let pool = sql::Db::connect(url, sql::Durability::Process)
        .await
        .unwrap();
    let store = JobStore::open(pool, false).await.unwrap();
    sql::query(
        "INSERT INTO coord_jobs (job_id, client, workload, program, program_hash, inputs, fee,
         security_bits, max_steps, deadline, state, attempts, max_attempts, worker, lease_id,
         created_at, settlement)
         VALUES ('j1', $1, 'custom', '{}', 'h', '[]', '1', 96, 10, 0, 'leased', 0, 3, $1, 'l1',
         0, 'unsettled')",
    )
    .bind(WORKER)
    .execute(&store.pool)
    .await
    .unwrap();
    store
}

fn result(proof: &[u8]) -> ProvedResult {
    ProvedResult {
        outputs: vec![1],
        steps: 4,
        commitment: "0x01".into(),
        proof: StoredProof::Row(proof.to_vec()),
    }
}

fn worker() -> Address {
    WORKER.parse().unwrap()
}

#[tokio::test]
async fn a_sqlite_file_keeps_proofs_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let store = store_with_leased_job(&url).await;
    let proof = vec![7u8; 100_000];
    let kept = store.keep_proof(result(&proof)).unwrap();
    assert!(
        matches!(kept.proof, StoredProof::Logged(_)),
        "a file-backed store logs the proof, got {:?}",
        kept.proof
    );
    assert!(store
        .complete("j1", "l1", worker(), &kept, Amount(1), 5)
        .await
        .unwrap());
    assert_eq!(store.proof("j1").await.unwrap(), Some(proof.clone()));
    let rows = sql::query("SELECT COUNT(*) AS n FROM coord_proofs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(rows.try_get::<i64>("n").unwrap(), 0, "no proof in a row");

    // A later proof for the same lease is not recorded; the first stays the job's proof.
    let late = store.keep_proof(result(&[9u8; 1000])).unwrap();
    assert!(!store
        .complete("j1", "l1", worker(), &late, Amount(1), 6)
        .await
        .unwrap());
    assert_eq!(store.proof("j1").await.unwrap(), Some(proof.clone()));

    // Reopened, the store finds the proof again.
    drop(store);
    let pool = sql::Db::connect(&url, sql::Durability::Process)
        .await
        .unwrap();
    let store = JobStore::open(pool, false).await.unwrap();
    assert_eq!(store.proof("j1").await.unwrap(), Some(proof));
}

#[tokio::test]
async fn in_memory_proofs_are_rows_and_older_rows_are_still_read() {
    let store = store_with_leased_job("sqlite::memory:").await;
    let kept = store.keep_proof(result(b"proof")).unwrap();
    assert_eq!(kept.proof, StoredProof::Row(b"proof".to_vec()));
    assert!(store
        .complete("j1", "l1", worker(), &kept, Amount(1), 5)
        .await
        .unwrap());
    assert_eq!(store.proof("j1").await.unwrap(), Some(b"proof".to_vec()));

    // A proof that a version before migration 3 kept in a row, in a file-backed store.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let store = store_with_leased_job(&url).await;
    sql::query("INSERT INTO coord_proofs (job_id, proof) VALUES ('j1', $1)")
        .bind(b"old".as_slice())
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(store.proof("j1").await.unwrap(), Some(b"old".to_vec()));
}
