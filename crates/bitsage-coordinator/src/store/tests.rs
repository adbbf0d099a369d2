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
         VALUES ('j1', $1, 'custom', $2, 'h', '[]', '1', 96, 10, 0, 'leased', 0, 3, $1, 'l1',
         0, 'unsettled')",
    )
    .bind(WORKER)
    .bind(serde_json::to_string(&obelysk_vm::asm::assemble("halt\n", "t.oasm").unwrap()).unwrap())
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

/// Records `result` for job `j1` under lease `l1` in a transaction of its own.
async fn complete(store: &JobStore, result: &ProvedResult, now: i64) -> bool {
    let mut tx = store.begin().await.unwrap();
    let proved = store
        .complete_in(
            &mut tx,
            "j1",
            "l1",
            worker(),
            result,
            Amount(1),
            Settlement::Unsettled,
            now,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    if let Some(job) = &proved {
        assert_eq!((job.state, job.finished_at), (JobState::Proved, Some(now)));
    }
    proved.is_some()
}

#[tokio::test]
async fn a_sqlite_file_keeps_proofs_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let store = store_with_leased_job(&url).await;
    let proof = vec![7u8; 100_000];
    let kept = store.keep_proof(result(&proof), None).unwrap();
    assert!(
        matches!(kept.proof, StoredProof::Logged(_)),
        "a file-backed store logs the proof, got {:?}",
        kept.proof
    );
    assert!(complete(&store, &kept, 5).await);
    assert_eq!(store.proof("j1").await.unwrap(), Some(proof.clone()));
    let rows = sql::query("SELECT COUNT(*) AS n FROM coord_proofs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(rows.try_get::<i64>("n").unwrap(), 0, "no proof in a row");

    // A later proof for the same lease is not recorded; the first stays the job's proof.
    let late = store
        .keep_proof(result(&[9u8; 1000]), Some(&blake3::hash(&[9u8; 1000])))
        .unwrap();
    assert!(!complete(&store, &late, 6).await);
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
    let kept = store.keep_proof(result(b"proof"), None).unwrap();
    assert_eq!(kept.proof, StoredProof::Row(b"proof".to_vec()));
    assert!(complete(&store, &kept, 5).await);
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

#[tokio::test]
async fn a_nonce_is_stored_by_the_commit_that_carries_it_and_only_once() {
    let store = store_with_leased_job("sqlite::memory:").await;
    let nonce = Nonce::new(WORKER.into(), "n1".into(), 100);

    // Rolled back with its transaction: not stored, so the request may still store it.
    let mut tx = store.begin().await.unwrap();
    store.nonce_in(&mut tx, &nonce).await.unwrap();
    drop(tx);
    assert!(!nonce.is_stored());

    let mut tx = store.begin().await.unwrap();
    store.nonce_in(&mut tx, &nonce).await.unwrap();
    store.commit(tx, &nonce).await.unwrap();
    assert!(nonce.is_stored());
    // A later transaction of the same request skips it; storing it again is a no-op.
    let mut tx = store.begin().await.unwrap();
    store.nonce_in(&mut tx, &nonce).await.unwrap();
    drop(tx);
    store.store_nonce(&nonce).await.unwrap();

    // The same nonce in another request is a replay, in a transaction or alone.
    let replay = Nonce::new(WORKER.into(), "n1".into(), 100);
    let mut tx = store.begin().await.unwrap();
    let refused = store.nonce_in(&mut tx, &replay).await;
    assert!(
        matches!(refused, Err(StoreError::ReplayedNonce(ref n)) if n == "n1"),
        "{refused:?}"
    );
    drop(tx);
    let refused = store.store_nonce(&replay).await;
    assert!(
        matches!(refused, Err(StoreError::ReplayedNonce(_))),
        "{refused:?}"
    );
    // Another signer may use the same nonce.
    let other = Nonce::new("0x1".into(), "n1".into(), 100);
    store.store_nonce(&other).await.unwrap();
}

#[tokio::test]
async fn reads_of_a_growing_store_use_their_indexes() {
    let pool = sql::Db::connect("sqlite::memory:", sql::Durability::Process)
        .await
        .unwrap();
    let store = JobStore::open(pool, false).await.unwrap();
    for query in [
        QUEUE_HEAD,
        LEASES_HELD,
        EXPIRED_LEASES,
        DEADLINE_PASSED,
        NEXT_LEASE,
        PENDING,
        UNSETTLED,
        RECENT,
        IN_FLIGHT_COUNTS,
        FAILED_COUNT,
        JOB,
    ] {
        let plan = sql::query(&format!("EXPLAIN QUERY PLAN {query}"))
            .bind("0xabc")
            .bind(10_i64)
            .fetch_all(store.db())
            .await
            .unwrap();
        let details: Vec<String> = plan
            .iter()
            .map(|row| row.try_get::<String>("detail").unwrap())
            .collect();
        // A plan may search an index or scan a partial one; it may not visit every job.
        let visits_every_job = details.iter().any(|d| {
            d.starts_with("SCAN coord_jobs") && !d.contains("INDEX coord_jobs_")
                || d.contains("TEMP B-TREE")
        });
        assert!(!visits_every_job, "{query}\n{details:#?}");
    }
}
