//! `kill -9` at any moment loses no accepted job, no result and no ledger entry.

mod common;

use std::sync::{Arc, Mutex};

use bitsage_ledger::Amount;
use bitsage_protocol::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_coordinator_restarts_with_every_acknowledged_job_lease_and_payment() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("coordinator.db").display());
    let first = Process::spawn(&db, &[]);
    let client = funded_client(&first.url).await;
    let worker = staked_worker(&first.url, 1_000).await;

    // A result accepted and paid before the crash.
    let paid_job = client
        .submit_job(&custom_job(vec![2, 5], 10))
        .await
        .unwrap();
    let paid_lease = worker.lease(0).await.unwrap().unwrap();
    let paid = worker
        .submit_result(&paid_job.job_id, &prove_lease(&paid_lease).await)
        .await
        .unwrap();
    let paid_worker_share = paid.payout.unwrap().worker;

    // A job leased and proved before the crash, submitted after it.
    let leased_job = client
        .submit_job(&custom_job(vec![3, 3], 10))
        .await
        .unwrap();
    let lease = worker.lease(0).await.unwrap().unwrap();
    let result = prove_lease(&lease).await;

    // Submissions keep arriving while the process is killed.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let submitter = {
        let client = client.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..10_000u32 {
                match client.submit_job(&custom_job(vec![i, 1], 1)).await {
                    Ok(job) => acked.lock().unwrap().push(job.job_id),
                    Err(_) => break,
                }
            }
        })
    };
    // Killed mid-stream: after a few acknowledgements, while more are in flight.
    let started = std::time::Instant::now();
    while acked.lock().unwrap().len() < 5 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no submission was acknowledged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first.kill9();
    submitter.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "some submissions were acknowledged before the kill"
    );

    let second = Process::spawn(&db, &[]);
    let client = CoordinatorClient::new(&second.url, client.key().cloned());
    let worker = CoordinatorClient::new(&second.url, worker.key().cloned());
    for job_id in &acked {
        let job = client
            .job(job_id)
            .await
            .expect("an acknowledged job survives the crash");
        assert_eq!(job.state, JobState::Queued, "{job:?}");
    }
    // The accepted result survived: its outputs, its proof and the worker's pay.
    let before = client.job(&paid_job.job_id).await.unwrap();
    assert_eq!(before.state, JobState::Proved);
    assert_eq!(before.outputs, Some(vec![2 * 5 + 5]));
    assert_eq!(
        client.job_proof(&paid_job.job_id).await.unwrap().commitment,
        paid.job.commitment.unwrap()
    );
    let me = worker.account(worker.address().unwrap()).await.unwrap();
    assert_eq!(me.balance.0, Amount::sage(9_000).0 + paid_worker_share.0);

    // The lease survived too, and its result is accepted and paid after the restart.
    assert_eq!(
        client.job(&leased_job.job_id).await.unwrap().state,
        JobState::Leased
    );
    let accepted = worker
        .submit_result(&leased_job.job_id, &result)
        .await
        .unwrap();
    assert_eq!(accepted.job.state, JobState::Proved);
    assert!(accepted.payout.is_some());

    // Money: the client paid the two fees above and every acknowledged job's fee (plus any job
    // accepted in the instant of the kill), and nothing was created or lost.
    let me = client.account(client.address().unwrap()).await.unwrap();
    let spent = Amount::sage(10_000).0 - me.balance.0;
    let acked_fees = Amount::sage(20).0 + Amount::sage(1).0 * acked.len() as u128;
    assert!(
        spent == acked_fees || spent == acked_fees + Amount::sage(1).0,
        "client spent {spent}, acknowledged fees {acked_fees}"
    );
    let metrics = reqwest::get(format!("{}/metrics", second.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("bitsage_jobs{state=\"pending\"} 0"),
        "{metrics}"
    );
}
