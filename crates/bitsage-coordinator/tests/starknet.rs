//! The coordinator settling on Starknet (`settlement = "starknet"`) against a real devnet: tiers
//! read from the staking contract, fees escrowed from the client's allowance, a verified proof
//! paid 80/18/2 on chain with its commitment recorded, a failed job refunded. Skipped, with the
//! reason, without the Cairo toolchain or `starknet-devnet`.

mod common;

use bitsage_coordinator::SettlementKind;
use bitsage_ledger::{Amount, FeeSplit, LedgerError, StakeTier};
use bitsage_protocol::*;
use bitsage_starknet::account::{address_for_key, open};
use bitsage_starknet::chain::Chain;
use bitsage_starknet::deploy::{DeployParams, Deployment};
use bitsage_starknet::devnet::start_deployed_for_test;
use bitsage_starknet::sage::{JobState as ChainJobState, Sage};
use bitsage_starknet::settlement::job_key;
use bitsage_starknet::toolchain::Toolchain;
use bitsage_starknet::{Felt, SAGE};
use bitsage_wallet::SigningKey;
use common::*;

fn felt(value: bitsage_wallet::Felt) -> Felt {
    Felt::from_bytes_be(&value.to_bytes_be())
}

/// The chain account of a coordinator key, opened (and funded with fees) on the devnet.
async fn account(deployment: &Deployment, key: &SigningKey) -> Chain {
    open(deployment, felt(key.secret())).await.unwrap()
}

fn refused(result: Result<impl std::fmt::Debug, ClientError>) -> (String, String) {
    match result {
        Err(ClientError::Api { code, message, .. }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_settle_on_chain_80_18_2_and_a_failed_job_is_refunded() {
    let treasury = Felt::from(0x7ea5u32);
    let params = DeployParams {
        treasury: Some(treasury),
        unstake_cooldown_secs: 3_600,
        ..DeployParams::default()
    };
    let Some((devnet, d)) = start_deployed_for_test(
        "jobs_settle_on_chain_80_18_2_and_a_failed_job_is_refunded",
        &params,
    )
    .await
    else {
        return;
    };
    let deployer = devnet.account(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let contracts = dir.path().join("contracts.json");
    d.save(&contracts).unwrap();
    let net = start(|c| {
        c.settlement = SettlementKind::Starknet;
        c.contracts = Some(contracts.clone());
        c.max_attempts = 1;
    })
    .await;
    let health = net.client(None).health().await.unwrap();
    assert_eq!(health.settlement, "starknet");
    let view = Sage::new(&deployer, &d);

    // The worker stakes on chain with its own account; the coordinator reads the tier there.
    let worker_key = SigningKey::generate();
    let worker_chain = account(&d, &worker_key).await;
    let worker_sage = Sage::new(&worker_chain, &d);
    worker_sage.faucet().await.unwrap();
    worker_sage.stake(2_500 * SAGE).await.unwrap();
    let worker = net.client(Some(worker_key.clone()));
    let registered = register(&worker).await;
    assert_eq!(registered.tier, Some(StakeTier::Workstation));
    assert_eq!(registered.stake, Amount::sage(2_500));
    let worker_at = address_for_key(d.account_class, felt(worker_key.public_key().felt()));
    assert_eq!(worker_at, worker_chain.address());

    // What an account does with its own tokens, it signs on chain itself.
    let (code, message) = refused(worker.stake(Amount::sage(1)).await);
    assert_eq!(code, "sign_on_chain");
    assert!(message.contains("sage-worker --contracts"), "{message}");

    // Without an allowance for the JobManager, the submission is refused in words.
    let client_key = SigningKey::generate();
    let client_chain = account(&d, &client_key).await;
    let client_sage = Sage::new(&client_chain, &d);
    client_sage.faucet().await.unwrap();
    let client = net.client(Some(client_key));
    let fee = Amount(10 * SAGE + 7);
    let job = |inputs| SubmitJobRequest {
        fee,
        ..custom_job(inputs, 0)
    };
    let (code, message) = refused(client.submit_job(&job(vec![3, 4])).await);
    assert_eq!(code, "insufficient_funds");
    assert!(
        message.contains("allowance for the JobManager"),
        "{message}"
    );

    // With one, the fee is escrowed on chain when the job is accepted.
    client_sage.approve_jobs(100 * SAGE).await.unwrap();
    let paid = client.submit_job(&job(vec![5, 6])).await.unwrap();
    let on_chain = view.job(job_key(&paid.job_id)).await.unwrap();
    assert_eq!(on_chain.state, ChainJobState::Escrowed);
    assert_eq!(on_chain.client, client_chain.address());
    assert_eq!(on_chain.fee, fee.0);

    let before = |who| view.balance(who);
    let (worker_before, treasury_before) = (
        before(worker_at).await.unwrap(),
        before(treasury).await.unwrap(),
    );
    let lease = worker.lease(5).await.unwrap().expect("a lease");
    let result = prove_lease(&lease).await;
    worker.submit_result(&paid.job_id, &result).await.unwrap();
    let key = job_key(&paid.job_id);
    wait_for(
        async || view.job(key).await.unwrap().state == ChainJobState::Completed,
        "the job to be completed on chain",
    )
    .await;
    let done = view.job(key).await.unwrap();
    assert_eq!(done.worker, worker_at);
    let commitment = client.job(&paid.job_id).await.unwrap().commitment.unwrap();
    assert_eq!(
        done.proof_commitment,
        obelysk_prover::proof::parse_hex32(&commitment).unwrap(),
        "the verified proof's commitment is on chain"
    );
    let split = FeeSplit::of(fee);
    assert_eq!(
        view.balance(worker_at).await.unwrap() - worker_before,
        split.worker.0
    );
    assert_eq!(
        view.balance(treasury).await.unwrap() - treasury_before,
        split.treasury.0
    );
    // The only staker gets the stakers' 2%, less at most a unit of rounding.
    let rewards = view.pending_rewards(worker_at).await.unwrap();
    assert!(
        split.stakers.0 - rewards <= 1,
        "{rewards} of {}",
        split.stakers
    );
    let info = worker.account(worker.address().unwrap()).await.unwrap();
    assert_eq!(info.rewards.0, rewards);
    assert_eq!(info.tier, Some(StakeTier::Workstation));

    // A job that fails for good is refunded to the client on chain.
    let balance = client_sage.balance(client_chain.address()).await.unwrap();
    let failing = client.submit_job(&job(vec![7, 8])).await.unwrap();
    assert_eq!(
        client_sage.balance(client_chain.address()).await.unwrap(),
        balance - fee.0
    );
    let lease = worker.lease(5).await.unwrap().expect("a lease");
    worker
        .fail(
            &failing.job_id,
            &FailRequest {
                lease_id: lease.lease_id,
                reason: "out of GPU memory".into(),
            },
        )
        .await
        .unwrap();
    let key = job_key(&failing.job_id);
    wait_for(
        async || view.job(key).await.unwrap().state == ChainJobState::Refunded,
        "the failed job to be refunded on chain",
    )
    .await;
    assert_eq!(
        client_sage.balance(client_chain.address()).await.unwrap(),
        balance
    );

    // Settling again answers as the first time did, without a transaction.
    let ledger = net.coordinator.ledger();
    let worker_address = worker.address().unwrap();
    let proof = obelysk_prover::proof::parse_hex32(&commitment).unwrap();
    assert_eq!(
        ledger
            .pay(&paid.job_id, worker_address, &proof)
            .await
            .unwrap(),
        split
    );
    assert!(matches!(
        ledger
            .pay(&paid.job_id, client.address().unwrap(), &proof)
            .await,
        Err(LedgerError::JobAlreadySettled { .. })
    ));
    assert_eq!(ledger.refund(&failing.job_id).await.unwrap(), fee);
    assert!(matches!(
        ledger.refund(&paid.job_id).await,
        Err(LedgerError::JobAlreadySettled { .. })
    ));

    // A slash takes its share on chain and the tier follows.
    let slashed = ledger
        .slash(worker_address, 1_000, "forged proof")
        .await
        .unwrap();
    assert_eq!(slashed, Amount::sage(250));
    let info = ledger.account(worker_address).await.unwrap();
    assert_eq!(info.stake, Amount::sage(2_250));
    assert_eq!(info.tier, Some(StakeTier::Consumer));
    let totals = ledger.totals().await.unwrap();
    assert_eq!(totals.stakes, Amount::sage(2_250));
    assert_eq!(totals.escrow, Amount::ZERO);

    // A worker that leaves its tier between its lease and the payment forfeits the fee, which
    // goes back to the client instead of staying locked in escrow.
    let balance = client_sage.balance(client_chain.address()).await.unwrap();
    let forfeited = client.submit_job(&job(vec![9, 10])).await.unwrap();
    let lease = worker.lease(5).await.unwrap().expect("a lease");
    worker_sage.request_unstake(2_250 * SAGE).await.unwrap();
    let result = prove_lease(&lease).await;
    worker
        .submit_result(&forfeited.job_id, &result)
        .await
        .unwrap();
    let key = job_key(&forfeited.job_id);
    wait_for(
        async || view.job(key).await.unwrap().state == ChainJobState::Refunded,
        "the forfeited fee to be refunded on chain",
    )
    .await;
    assert_eq!(
        client_sage.balance(client_chain.address()).await.unwrap(),
        balance
    );
    net.stop().await;
}

/// `serve --network devnet`: one command starts a chain, deploys the contracts, writes the
/// deployment file and settles there; SIGTERM stops the chain with the coordinator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_network_devnet_brings_its_own_chain() {
    use std::io::{BufRead, BufReader};
    let test = "serve_network_devnet_brings_its_own_chain";
    if let Err(e) = Toolchain::find() {
        return eprintln!("skipped {test}: {e}");
    }
    if std::process::Command::new("starknet-devnet")
        .arg("--version")
        .output()
        .is_err()
    {
        return eprintln!("skipped {test}: starknet-devnet is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let contracts = dir.path().join("contracts.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bitsage-coordinator"))
        .args(["serve", "--network", "devnet", "--listen", "127.0.0.1:0"])
        .arg("--contracts")
        .arg(&contracts)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let health = CoordinatorClient::new(&url, None).health().await.unwrap();
    assert_eq!(health.settlement, "starknet");
    let deployment = Deployment::load(&contracts).unwrap();
    assert!(deployment.devnet);
    let reader = Chain::connect(&deployment.rpc, deployment.coordinator, Felt::ONE)
        .await
        .unwrap();
    let supply = Sage::new(&reader, &deployment)
        .total_supply()
        .await
        .unwrap();
    assert!(supply > 0);

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        Chain::connect(&deployment.rpc, deployment.coordinator, Felt::ONE)
            .await
            .is_err(),
        "the devnet stopped with the coordinator"
    );
}
