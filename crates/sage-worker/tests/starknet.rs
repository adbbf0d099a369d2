//! `sage-worker --contracts FILE` on a real devnet: the worker opens its own Starknet account for
//! its key and stakes, unstakes and reads its account on chain. Skipped, with the reason, without
//! the Cairo toolchain or `starknet-devnet`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use bitsage_starknet::deploy::DeployParams;
use bitsage_starknet::devnet::start_deployed_for_test;
use bitsage_starknet::Felt;

fn worker(home: &Path, contracts: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sage-worker"));
    c.env("BITSAGE_HOME", home)
        .env("BITSAGE_KEYSTORE_PASSWORD", "correct horse")
        .env("BITSAGE_STARKNET_CONTRACTS", contracts)
        .env_remove("BITSAGE_NETWORK")
        .env_remove("BITSAGE_COORDINATOR_URL")
        .env_remove("STARKNET_PRIVATE_KEY")
        .stdin(Stdio::null());
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn the_worker_stakes_on_chain_with_its_own_key() {
    let params = DeployParams {
        unstake_cooldown_secs: 3_600,
        ..DeployParams::default()
    };
    let Some((_devnet, deployment)) =
        start_deployed_for_test("the_worker_stakes_on_chain_with_its_own_key", &params).await
    else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let contracts = home.path().join("contracts.json");
    deployment.save(&contracts).unwrap();

    // No coordinator is needed: setup only fails to register.
    let setup = worker(home.path(), &contracts)
        .args(["setup", "--network", "local", "--yes"])
        .args(["--coordinator-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(setup.status.success(), "{}", text(&setup));

    let run = |args: &[&str]| worker(home.path(), &contracts).args(args).output().unwrap();
    let faucet = run(&["faucet"]);
    assert!(faucet.status.success(), "{}", text(&faucet));
    assert!(
        text(&faucet).contains("balance:   10000 SAGE"),
        "{}",
        text(&faucet)
    );
    let stake = run(&["stake", "--amount", "2500"]);
    assert!(stake.status.success(), "{}", text(&stake));
    assert!(text(&stake).contains("(Workstation)"), "{}", text(&stake));
    let unstake = run(&["unstake", "--amount", "2000"]);
    assert!(unstake.status.success(), "{}", text(&unstake));
    let info = run(&["info"]);
    assert!(info.status.success(), "{}", text(&info));
    assert!(
        text(&info).contains("500 SAGE (no tier)"),
        "{}",
        text(&info)
    );
    assert!(
        text(&info).contains("unstaking: 2000 SAGE"),
        "{}",
        text(&info)
    );
    let early = run(&["withdraw"]);
    assert!(!early.status.success());
    assert!(
        text(&early).contains("STAKE: still cooling down"),
        "the contract's words reach the operator: {}",
        text(&early)
    );
}

/// A coordinator that settles on the devnet, in this process, on a free port.
async fn starknet_coordinator(
    contracts: &Path,
    db: &Path,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    use bitsage_coordinator::{Coordinator, CoordinatorConfig, SettlementKind};
    let port = bitsage_testkit::free_port().unwrap();
    let config = CoordinatorConfig {
        database: format!("sqlite://{}", db.join("coordinator.db").display()),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        maintenance_interval_ms: 100,
        settlement: SettlementKind::Starknet,
        contracts: Some(contracts.to_path_buf()),
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::open(config.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bitsage_coordinator::serve(
        coordinator,
        listener,
        async move {
            let _ = rx.await;
        },
    ));
    (format!("http://127.0.0.1:{port}"), tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_proves_for_a_starknet_coordinator_and_is_paid_on_chain() {
    use bitsage_ledger::{Amount, FeeSplit};
    use bitsage_protocol::*;
    use bitsage_starknet::sage::{JobState as ChainJobState, Sage};
    use bitsage_starknet::settlement::job_key;
    use bitsage_starknet::SAGE;

    let Some((devnet, deployment)) = start_deployed_for_test(
        "the_daemon_proves_for_a_starknet_coordinator_and_is_paid_on_chain",
        &DeployParams::default(),
    )
    .await
    else {
        return;
    };
    let deployer = devnet.account(0).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let contracts = home.path().join("contracts.json");
    deployment.save(&contracts).unwrap();
    let db = tempfile::tempdir().unwrap();
    let (url, _stop) = starknet_coordinator(&contracts, db.path()).await;

    let setup = worker(home.path(), &contracts)
        .args([
            "setup",
            "--network",
            "local",
            "--yes",
            "--coordinator-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(setup.status.success(), "{}", text(&setup));
    // Without the deployment file the worker cannot stake and says what to pass.
    let blind = worker(home.path(), &contracts)
        .env_remove("BITSAGE_STARKNET_CONTRACTS")
        .args(["start", "--coordinator-url", &url])
        .output()
        .unwrap();
    assert!(!blind.status.success());
    assert!(
        text(&blind).contains("--contracts FILE"),
        "{}",
        text(&blind)
    );

    let metrics = format!("127.0.0.1:{}", bitsage_testkit::free_port().unwrap());
    let mut daemon = worker(home.path(), &contracts)
        .args([
            "start",
            "--coordinator-url",
            &url,
            "--metrics-addr",
            &metrics,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // A client with its own account lets the JobManager take its fees, then submits.
    let key = bitsage_wallet::SigningKey::generate();
    let secret = Felt::from_bytes_be(&key.secret().to_bytes_be());
    let client_chain = bitsage_starknet::account::open(&deployment, secret)
        .await
        .unwrap();
    let client_sage = Sage::new(&client_chain, &deployment);
    client_sage.faucet().await.unwrap();
    client_sage.approve_jobs(10 * SAGE).await.unwrap();
    let client = CoordinatorClient::new(&url, Some(key));
    let job = client
        .submit_job(&SubmitJobRequest {
            workload: WorkloadKind::MlInference,
            program: None,
            params: WorkloadParams {
                batch_size: Some(2),
                seed: Some(1),
            },
            inputs: vec![],
            fee: Amount::sage(10),
            deadline_secs: None,
            security_bits: None,
            max_steps: None,
            idempotency_key: None,
        })
        .await
        .unwrap();

    let view = Sage::new(&deployer, &deployment);
    let chain_key = job_key(&job.job_id);
    let started = std::time::Instant::now();
    while view.job(chain_key).await.unwrap().state != ChainJobState::Completed {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the job was not paid on chain: {:?}",
            client.job(&job.job_id).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    // The worker's account took the faucet's 10,000, staked part of it and earned 80% of 10.
    let paid_to = view.job(chain_key).await.unwrap().worker;
    let held = view.balance(paid_to).await.unwrap() + view.stake_of(paid_to).await.unwrap();
    let split = FeeSplit::of(Amount::sage(10));
    assert_eq!(held, 10_000 * SAGE + split.worker.0);
    assert!(view.tier_of(paid_to).await.unwrap() > 0);
}
