//! The job protocol end to end on loopback: real HTTP, real proofs, the SQLite store.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use base64::Engine;
use bitsage_ledger::{Amount, FeeSplit};
use bitsage_protocol::*;
use common::*;
use obelysk_prover::{ExpectedClaim, ObelyskProver, ProverConfig, StarkProof};
use obelysk_vm::M31;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_prove_jobs_that_the_client_verifies_and_the_ledger_pays() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let w1 = staked_worker(&net.url, 1_000).await;
    let w2 = staked_worker(&net.url, 2_500).await;

    let mut jobs = Vec::new();
    for i in 0..4u32 {
        jobs.push(
            client
                .submit_job(&custom_job(vec![i + 2, 7], 10))
                .await
                .unwrap(),
        );
    }
    let ml = SubmitJobRequest {
        workload: WorkloadKind::MlInference,
        program: None,
        params: WorkloadParams {
            batch_size: Some(3),
            seed: Some(7),
        },
        inputs: vec![],
        ..custom_job(vec![], 10)
    };
    jobs.push(client.submit_job(&ml).await.unwrap());
    assert!(jobs.iter().all(|j| j.state == JobState::Queued));

    let proved = Arc::new(AtomicUsize::new(0));
    let total = jobs.len();
    let run = |w: CoordinatorClient| {
        let proved = proved.clone();
        tokio::spawn(async move { work_until(&w, &proved, total).await })
    };
    let (a, b) = (run(w1.clone()), run(w2.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a + b, total);

    for job in &jobs {
        let view = client.job(&job.job_id).await.unwrap();
        assert_eq!(view.state, JobState::Proved, "{view:?}");
        let proof_view = client.job_proof(&job.job_id).await.unwrap();
        assert_eq!(Some(&proof_view.commitment), view.commitment.as_ref());
        let proof = StarkProof::from_json(&proof_view.proof_file.to_string()).unwrap();
        let id = obelysk_prover::proof::parse_hex32(&job.job_id).unwrap();
        ObelyskProver::new(ProverConfig::default())
            .verify_claim(
                &proof,
                &ExpectedClaim {
                    job_id: Some(Some(id)),
                    outputs: view
                        .outputs
                        .as_ref()
                        .map(|o| o.iter().map(|v| M31::new(*v)).collect()),
                    ..Default::default()
                },
            )
            .expect("the client verifies the proof it fetched");
    }
    // in0 * in1 + 5 for the first job.
    assert_eq!(
        client.job(&jobs[0].job_id).await.unwrap().outputs,
        Some(vec![2 * 7 + 5])
    );

    // 80% of each fee went to whoever proved it; nothing was created or lost.
    let split = FeeSplit::of(Amount::sage(10));
    let earned = |n: usize| Amount(split.worker.0 * n as u128);
    let faucet = Amount::sage(10_000);
    let ledger = net.coordinator.ledger();
    let b1 = ledger.account(w1.address().unwrap()).await.unwrap();
    let b2 = ledger.account(w2.address().unwrap()).await.unwrap();
    assert_eq!(b1.balance.0 + b1.stake.0, faucet.0 + earned(a).0);
    assert_eq!(b2.balance.0 + b2.stake.0, faucet.0 + earned(b).0);
    let totals = ledger.totals().await.unwrap();
    assert_eq!(totals.held(), Some(totals.minted));
    assert_eq!(totals.escrow, Amount::ZERO);

    let workers = client.workers().await.unwrap();
    assert_eq!(
        workers.iter().map(|w| w.proofs_done).sum::<u64>(),
        total as u64
    );
    let credited: u128 = workers.iter().map(|w| w.earned.0).sum();
    assert_eq!(
        credited,
        earned(total).0,
        "worker statistics match the payouts"
    );
    let metrics = reqwest::get(format!("{}/metrics", net.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!("bitsage_proofs_accepted_total {total}")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("bitsage_jobs{{state=\"proved\"}} {total}")));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_requeues_the_job_and_the_last_attempt_refunds_it() {
    let net = start(|c| {
        c.lease_ttl_secs = 1;
        c.max_attempts = 2;
    })
    .await;
    let client = funded_client(&net.url).await;
    let worker = staked_worker(&net.url, 1_000).await;
    let job = client
        .submit_job(&custom_job(vec![3, 4], 100))
        .await
        .unwrap();
    let before = client
        .account(client.address().unwrap())
        .await
        .unwrap()
        .balance;

    let first = worker.lease(0).await.unwrap().expect("a job is queued");
    wait_for(
        async || client.job(&job.job_id).await.unwrap().state == JobState::Queued,
        "the lease to expire",
    )
    .await;
    let view = client.job(&job.job_id).await.unwrap();
    assert_eq!(view.attempts, 1);
    assert_eq!(view.last_error.as_deref(), Some("lease expired"));

    // The stale lease's result is refused: the worker no longer holds it.
    let late = prove_lease(&first).await;
    let err = worker.submit_result(&job.job_id, &late).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("lease_not_held"))
    );

    // A heartbeat on a lost lease says so.
    let beat = worker
        .heartbeat(&HeartbeatRequest {
            lease_ids: vec![first.lease_id.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(beat.lost, vec![first.lease_id.clone()]);

    let _second = worker.lease(0).await.unwrap().expect("requeued");
    wait_for(
        async || client.job(&job.job_id).await.unwrap().state == JobState::Failed,
        "the job to fail after its last attempt",
    )
    .await;
    let after = client
        .account(client.address().unwrap())
        .await
        .unwrap()
        .balance;
    assert_eq!(
        after.0,
        before.0 + Amount::sage(100).0,
        "the fee was refunded"
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_worker_takes_before_its_deadline_fails_and_is_refunded() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let me = client.address().unwrap();
    let before = client.account(me).await.unwrap().balance;
    let mut request = custom_job(vec![1, 2], 100);
    request.deadline_secs = Some(1);
    let job = client.submit_job(&request).await.unwrap();
    assert_eq!(
        client.account(me).await.unwrap().balance.0,
        before.0 - Amount::sage(100).0,
        "the fee is escrowed"
    );
    wait_for(
        async || client.job(&job.job_id).await.unwrap().state == JobState::Failed,
        "the job to fail at its deadline",
    )
    .await;
    wait_for(
        async || client.account(me).await.unwrap().balance == before,
        "the fee to be refunded",
    )
    .await;
    // A worker that comes later finds nothing to do.
    let worker = staked_worker(&net.url, 1_000).await;
    assert!(worker.lease(0).await.unwrap().is_none());
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_lease_alive() {
    let net = start(|c| c.lease_ttl_secs = 1).await;
    let client = funded_client(&net.url).await;
    let worker = staked_worker(&net.url, 1_000).await;
    let job = client.submit_job(&custom_job(vec![1, 2], 1)).await.unwrap();
    let lease = worker.lease(0).await.unwrap().unwrap();
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let beat = worker
            .heartbeat(&HeartbeatRequest {
                lease_ids: vec![lease.lease_id.clone()],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(beat.renewed, vec![lease.lease_id.clone()]);
    }
    assert_eq!(
        client.job(&job.job_id).await.unwrap().state,
        JobState::Leased
    );
    // A heartbeat may carry measured capacity; it replaces what registration declared.
    worker
        .heartbeat(&HeartbeatRequest {
            lease_ids: vec![lease.lease_id.clone()],
            capacity: Some(Capacity {
                max_concurrent_jobs: 2,
                steps_per_sec: Some(123_456.0),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let view = client
        .worker(worker.address().unwrap())
        .await
        .unwrap()
        .worker;
    assert_eq!(view.capacity.steps_per_sec, Some(123_456.0));
    assert_eq!(view.capacity.max_concurrent_jobs, 2);
    // Too many lease ids for one heartbeat: refused whole, the real lease untouched.
    let mut flood = vec![lease.lease_id.clone(); MAX_HEARTBEAT_LEASES];
    flood.push("x".into());
    let err = worker
        .heartbeat(&HeartbeatRequest {
            lease_ids: flood,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("too_many_leases"))
    );
    let result = prove_lease(&lease).await;
    worker.submit_result(&job.job_id, &result).await.unwrap();
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_proofs_are_refused_counted_and_the_job_requeued() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let worker = staked_worker(&net.url, 1_000).await;
    let job = client
        .submit_job(&custom_job(vec![5, 6], 10))
        .await
        .unwrap();
    let lease = worker.lease(0).await.unwrap().unwrap();

    // A valid proof of the same program and inputs, but for another job id.
    let other_id = format!("0x{}", "11".repeat(32));
    let spec = lease.job.clone();
    let forged = tokio::task::spawn_blocking(move || prove_spec(&spec, &other_id))
        .await
        .unwrap();
    let err = worker
        .submit_result(
            &job.job_id,
            &ResultRequest {
                lease_id: lease.lease_id.clone(),
                proof: forged,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_proof"))
    );
    assert!(err.to_string().contains("job id"), "{err}");

    let view = client.job(&job.job_id).await.unwrap();
    assert_eq!((view.state, view.attempts), (JobState::Queued, 1));
    let me = worker.address().unwrap();
    let w = client
        .workers()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.worker_id == me)
        .unwrap();
    assert_eq!(w.invalid_proofs, 1);

    // Another job's inputs: lease again, prove different inputs.
    let lease = worker.lease(0).await.unwrap().unwrap();
    let mut spec = lease.job.clone();
    spec.inputs = vec![5, 7];
    let id = job.job_id.clone();
    let wrong_inputs = tokio::task::spawn_blocking(move || prove_spec(&spec, &id))
        .await
        .unwrap();
    let err = worker
        .submit_result(
            &job.job_id,
            &ResultRequest {
                lease_id: lease.lease_id.clone(),
                proof: wrong_inputs,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_proof"));

    // Garbage is refused the same way; not base64 is a 400.
    let lease = worker.lease(0).await.unwrap().unwrap();
    let garbage = ResultRequest {
        lease_id: lease.lease_id.clone(),
        proof: "AAAA".into(),
    };
    let err = worker
        .submit_result(&job.job_id, &garbage)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_proof"));
    let totals = net.coordinator.ledger().totals().await.unwrap();
    assert_eq!(
        totals.escrow,
        Amount::ZERO,
        "three bad attempts fail the job and refund it"
    );
    assert_eq!(
        client.job(&job.job_id).await.unwrap().state,
        JobState::Failed
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_from_another_worker_are_refused_and_a_repeated_result_is_one_completion() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let holder = staked_worker(&net.url, 1_000).await;
    let thief = staked_worker(&net.url, 1_000).await;
    let job = client
        .submit_job(&custom_job(vec![2, 2], 10))
        .await
        .unwrap();
    let lease = holder.lease(0).await.unwrap().unwrap();
    let result = prove_lease(&lease).await;

    let err = thief.submit_result(&job.job_id, &result).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("lease_not_held"))
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&result.proof)
        .unwrap();
    let err = thief
        .submit_proof(&job.job_id, &lease.lease_id, bytes.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("lease_not_held"), "binary upload: {err}");
    let err = thief
        .fail(
            &job.job_id,
            &FailRequest {
                lease_id: lease.lease_id.clone(),
                reason: "nope".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("lease_not_held"));

    let first = holder.submit_result(&job.job_id, &result).await.unwrap();
    let again = holder.submit_result(&job.job_id, &result).await.unwrap();
    assert_eq!(first, again);
    // The same proof through the binary route is the same completion.
    let binary = holder
        .submit_proof(&job.job_id, &lease.lease_id, bytes)
        .await
        .unwrap();
    assert_eq!(first, binary);
    assert_eq!(
        first.payout.unwrap().worker,
        FeeSplit::of(Amount::sage(10)).worker
    );
    let me = holder.account(holder.address().unwrap()).await.unwrap();
    assert_eq!(
        me.balance.0,
        Amount::sage(9_000).0 + FeeSplit::of(Amount::sage(10)).worker.0,
        "paid once"
    );
    net.stop().await;
}

/// `?next=true`: the result's answer carries the worker's next job, leased in the same
/// transaction; with the queue empty it carries none and the result stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_can_bring_the_next_job_with_it() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let worker = staked_worker(&net.url, 1_000).await;
    let mut jobs = Vec::new();
    for i in 0..2 {
        let job = client
            .submit_job(&custom_job(vec![i, 3], 10))
            .await
            .unwrap();
        jobs.push(job.job_id);
    }
    let proof = |result: &ResultRequest| {
        base64::engine::general_purpose::STANDARD
            .decode(&result.proof)
            .unwrap()
    };
    let first = worker.lease(0).await.unwrap().unwrap();
    let first_proof = proof(&prove_lease(&first).await);
    let answer = worker
        .submit_proof_and_lease(&first.job.job_id, &first.lease_id, first_proof.clone())
        .await
        .unwrap();
    assert_eq!(answer.job.state, JobState::Proved);
    assert!(answer.payout.is_some(), "paid in the same answer");
    let second = answer
        .next
        .expect("the other queued job came with the result");
    assert_ne!(second.job.job_id, first.job.job_id);
    assert!(jobs.contains(&second.job.job_id));
    let view = client.job(&second.job.job_id).await.unwrap();
    assert_eq!(
        (view.state, view.worker),
        (JobState::Leased, Some(worker.address().unwrap()))
    );
    // The answer lost, the worker sends the result again: the same lease comes back with it,
    // not another one, and nothing is paid twice.
    let again = worker
        .submit_proof_and_lease(&first.job.job_id, &first.lease_id, first_proof)
        .await
        .unwrap();
    assert_eq!(again.job.state, JobState::Proved);
    assert_eq!(again.payout, answer.payout);
    let again = again.next.expect("the lease the first answer brought");
    assert_eq!(
        (&again.lease_id, &again.job.job_id),
        (&second.lease_id, &second.job.job_id)
    );

    let last = worker
        .submit_proof_and_lease(
            &second.job.job_id,
            &second.lease_id,
            proof(&prove_lease(&second).await),
        )
        .await
        .unwrap();
    assert_eq!((last.job.state, last.next), (JobState::Proved, None));

    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fail_requeues_with_its_reason() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let worker = staked_worker(&net.url, 1_000).await;
    let job = client
        .submit_job(&custom_job(vec![2, 3], 10))
        .await
        .unwrap();
    let lease = worker.lease(0).await.unwrap().unwrap();
    let view = worker
        .fail(
            &job.job_id,
            &FailRequest {
                lease_id: lease.lease_id,
                reason: "GPU fell off the bus".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!((view.state, view.attempts), (JobState::Queued, 1));
    assert!(view.last_error.unwrap().contains("GPU fell off the bus"));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stake_decides_who_gets_work_how_much_and_in_what_order() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;

    let unstaked = staked_worker(&net.url, 0).await;
    let err = unstaked.lease(0).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("insufficient_stake"))
    );

    // A Consumer holds at most 4 leases.
    let consumer = staked_worker(&net.url, 1_000).await;
    for i in 0..5 {
        client.submit_job(&custom_job(vec![i, 1], 1)).await.unwrap();
    }
    for _ in 0..4 {
        consumer.lease(0).await.unwrap().unwrap();
    }
    let err = consumer.lease(0).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(429), Some("lease_limit")));

    // Drain the fifth job so the queue is empty.
    let drain = staked_worker(&net.url, 1_000).await;
    drain.lease(0).await.unwrap().unwrap();

    // Both parked: the higher tier gets the next job even though it asked later.
    let low = staked_worker(&net.url, 1_000).await;
    let high = staked_worker(&net.url, 10_000).await;
    let low_task = {
        let low = low.clone();
        tokio::spawn(async move { low.lease(10).await.unwrap() })
    };
    parked(&net.url, 1).await;
    let high_task = tokio::spawn(async move { high.lease(10).await.unwrap() });
    parked(&net.url, 2).await;
    let first = client.submit_job(&custom_job(vec![7, 7], 1)).await.unwrap();
    let high_lease = high_task
        .await
        .unwrap()
        .expect("the Enterprise worker is served");
    assert_eq!(
        high_lease.job.job_id, first.job_id,
        "the higher tier was served first"
    );
    assert!(!low_task.is_finished(), "the Consumer still waits");
    let second = client.submit_job(&custom_job(vec![6, 6], 1)).await.unwrap();
    let low_lease = low_task
        .await
        .unwrap()
        .expect("then the Consumer is served");
    assert_eq!(low_lease.job.job_id, second.job_id);

    // Earlier deadlines first.
    let mut late = custom_job(vec![9, 9], 1);
    late.deadline_secs = Some(600);
    let mut soon = custom_job(vec![8, 8], 1);
    soon.deadline_secs = Some(60);
    let _late = client.submit_job(&late).await.unwrap();
    let soon = client.submit_job(&soon).await.unwrap();
    let next = low.lease(0).await.unwrap().unwrap();
    assert_eq!(next.job.job_id, soon.job_id);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_are_checked_and_escrowed() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let broke = CoordinatorClient::new(&net.url, Some(bitsage_wallet::SigningKey::generate()));

    let err = broke
        .submit_job(&custom_job(vec![1, 2], 10))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(402), Some("insufficient_funds"))
    );
    assert!(err.to_string().contains("10 SAGE was asked"), "{err}");

    let mut no_program = custom_job(vec![1, 2], 10);
    no_program.program = None;
    assert_eq!(
        client.submit_job(&no_program).await.unwrap_err().code(),
        Some("missing_program")
    );
    let bad_input = custom_job(vec![u32::MAX, 2], 10);
    assert_eq!(
        client.submit_job(&bad_input).await.unwrap_err().code(),
        Some("invalid_inputs")
    );
    let free = custom_job(vec![1, 2], 0);
    assert_eq!(
        client.submit_job(&free).await.unwrap_err().code(),
        Some("invalid_fee")
    );
    let mut other = custom_job(vec![], 1);
    other.workload = WorkloadKind::BatchVerify;
    other.program = None;
    assert_eq!(
        client.submit_job(&other).await.unwrap_err().code(),
        Some("unsupported_workload")
    );

    // An idempotency key makes a retried submission the same job, escrowed once.
    let mut keyed = custom_job(vec![1, 2], 10);
    keyed.idempotency_key = Some("order-42".into());
    let a = client.submit_job(&keyed).await.unwrap();
    let b = client.submit_job(&keyed).await.unwrap();
    assert_eq!(a.job_id, b.job_id);
    let totals = net.coordinator.ledger().totals().await.unwrap();
    assert_eq!(totals.escrow, Amount::sage(10));
    keyed.fee = Amount::sage(11);
    assert_eq!(
        client.submit_job(&keyed).await.unwrap_err().code(),
        Some("idempotency_conflict")
    );

    // The security floor applies to what a client asks.
    let mut weak = custom_job(vec![1, 2], 1);
    weak.security_bits = Some(40);
    assert_eq!(client.submit_job(&weak).await.unwrap().security_bits, 96);
    // And what no proof of the job can deliver is refused before any work: at the default
    // 2^20 steps the QM31 challenges give 97 bits, so a job may ask 97 and not 98.
    let mut most = custom_job(vec![1, 2], 1);
    most.security_bits = Some(97);
    assert_eq!(client.submit_job(&most).await.unwrap().security_bits, 97);
    for bits in [128, 98] {
        let mut job = custom_job(vec![1, 2], 1);
        job.security_bits = Some(bits);
        let err = client.submit_job(&job).await.unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(422), Some("invalid_security"))
        );
        assert!(err.to_string().contains("ask for 97 or fewer"), "{err}");
    }
    // Past 2^21 steps a proof gives 95 bits, under the 96-bit floor: the coordinator caps
    // max_steps there.
    let mut long = custom_job(vec![1, 2], 1);
    long.max_steps = Some(obelysk_vm::MAX_STEPS);
    let err = client.submit_job(&long).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_max_steps"));
    assert!(
        err.to_string().contains(&format!("1..={}", 1 << 21))
            && err.to_string().contains("96-bit floor"),
        "{err}"
    );
    long.max_steps = Some(1 << 21);
    assert_eq!(client.submit_job(&long).await.unwrap().security_bits, 96);
    net.stop().await;
}

/// Waits until `n` lease requests wait for work (`bitsage_long_polls_parked`).
async fn parked(url: &str, n: u32) {
    let started = std::time::Instant::now();
    loop {
        let metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(&format!("bitsage_long_polls_parked {n}\n")) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{n} lease requests never parked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_at_once_reach_every_waiting_tier_without_delay() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let low = staked_worker(&net.url, 1_000).await;
    let high = staked_worker(&net.url, 10_000).await;
    // Each lease request is parked before the next step, however slow the machine.
    let low_task = tokio::spawn(async move { low.lease(20).await.unwrap() });
    parked(&net.url, 1).await;
    let high_task = tokio::spawn(async move { high.lease(20).await.unwrap() });
    parked(&net.url, 2).await;
    // Both wake-ups go to the Enterprise worker first; the Consumer must still get the second
    // job now, not when its 20-second wait ends.
    let started = std::time::Instant::now();
    let first = client.submit_job(&custom_job(vec![1, 1], 1)).await.unwrap();
    let second = client.submit_job(&custom_job(vec![2, 2], 1)).await.unwrap();
    let high_lease = high_task.await.unwrap().expect("the higher tier is served");
    let low_lease = low_task
        .await
        .unwrap()
        .expect("the lower tier is served too");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(high_lease.job.job_id, first.job_id);
    assert_eq!(low_lease.job.job_id, second.job_id);
    net.stop().await;
}

#[tokio::test]
async fn a_floor_no_default_job_can_reach_stops_the_coordinator_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.min_security_bits = 98;
    let err = bitsage_coordinator::Coordinator::open(config.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("min_security_bits 98"), "{err}");
    // With shorter runs it can.
    config.default_max_steps = 1 << 18;
    let coordinator = bitsage_coordinator::Coordinator::open(config)
        .await
        .unwrap();
    let cap = coordinator.config().max_steps_cap;
    assert_eq!(cap, obelysk_prover::soundness::max_steps_for(98, 1));
    assert!(((1 << 18)..(1 << 21)).contains(&cap), "{cap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_no_proof_can_satisfy_fails_at_start_and_is_refunded() {
    let net = start(|_| {}).await;
    let client = funded_client(&net.url).await;
    let job = client
        .submit_job(&custom_job(vec![1, 2], 10))
        .await
        .unwrap();
    let config = test_config(net.dir.path());
    let dir = net.stop_keeping_files().await;
    // As a coordinator from before submissions were checked against the field would have
    // taken it.
    let db = bitsage_sql::Db::connect(&config.database, config.durability.sql())
        .await
        .unwrap();
    bitsage_sql::query("UPDATE coord_jobs SET security_bits = 128")
        .execute(&db)
        .await
        .unwrap();
    drop(db);
    let coordinator = bitsage_coordinator::Coordinator::open(config)
        .await
        .unwrap();
    let view = coordinator.job(&job.job_id).await.unwrap();
    assert_eq!(view.state, JobState::Failed);
    let why = view.last_error.unwrap_or_default();
    assert!(why.contains("asks for 128 bits"), "{why}");
    let totals = coordinator.ledger().totals().await.unwrap();
    assert_eq!(totals.escrow, Amount::ZERO);
    drop(dir);
}
