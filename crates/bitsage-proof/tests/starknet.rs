//! `bitsage-proof status --tx-hash` against a real devnet (skipped, with the reason, when
//! `starknet-devnet` is not installed).

mod common;

use std::process::Command;

use bitsage_starknet::chain::Chain;
use bitsage_starknet::devnet::Devnet;
use bitsage_starknet::{u256_calldata, Felt};

/// The STRK fee token every devnet predeploys.
const STRK: &str = "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";

#[tokio::test]
async fn status_reads_a_transaction_receipt() {
    let devnet = match Devnet::start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped status_reads_a_transaction_receipt: {e}");
            return;
        }
    };
    let accounts = devnet.accounts().await.unwrap();
    let chain = Chain::connect(&devnet.rpc(), accounts[0].address, accounts[0].private_key)
        .await
        .unwrap();
    let mut calldata = vec![accounts[1].address];
    calldata.extend(u256_calldata(1_000));
    let tx = chain
        .invoke(Felt::from_hex(STRK).unwrap(), "transfer", calldata)
        .await
        .unwrap();

    let status = |hash: String| {
        Command::new(env!("CARGO_BIN_EXE_bitsage-proof"))
            .args(["status", "--rpc", &devnet.rpc(), "--tx-hash", &hash])
            .output()
            .unwrap()
    };
    let out = status(format!("{tx:#x}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
    let out = status("0x1234".into());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown to the node"), "{stderr}");
    let out = status("not-hex".into());
    assert_eq!(out.status.code(), Some(2), "unreadable input");
}

/// `submit --contracts` against a coordinator that settles on the devnet: the fresh client key
/// gets an account, the faucet's grant and an allowance for the JobManager, and the fee is
/// paid on chain once a worker's proof was verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_pays_through_the_client_account_on_chain() {
    use bitsage_coordinator::{Coordinator, CoordinatorConfig, SettlementKind};
    use bitsage_protocol::*;
    use bitsage_starknet::deploy::DeployParams;
    use bitsage_starknet::devnet::start_deployed_for_test;
    use bitsage_starknet::sage::{JobState as ChainJobState, Sage};
    use bitsage_starknet::settlement::job_key;
    use bitsage_starknet::SAGE;
    use bitsage_wallet::SigningKey;

    let Some((devnet, deployment)) = start_deployed_for_test(
        "submit_pays_through_the_client_account_on_chain",
        &DeployParams::default(),
    )
    .await
    else {
        return;
    };
    let deployer = devnet.account(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let contracts = dir.path().join("contracts.json");
    deployment.save(&contracts).unwrap();
    let config = CoordinatorConfig {
        database: format!("sqlite://{}", dir.path().join("c.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        maintenance_interval_ms: 100,
        settlement: SettlementKind::Starknet,
        contracts: Some(contracts.clone()),
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::open(config.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(bitsage_coordinator::serve(
        coordinator,
        listener,
        std::future::pending(),
    ));

    // A worker staked on chain with its own account, proving in this process.
    let worker_key = SigningKey::generate();
    let worker_secret = Felt::from_bytes_be(&worker_key.secret().to_bytes_be());
    let worker_chain = bitsage_starknet::account::open(&deployment, worker_secret)
        .await
        .unwrap();
    let worker_sage = Sage::new(&worker_chain, &deployment);
    worker_sage.faucet().await.unwrap();
    worker_sage.stake(1_000 * SAGE).await.unwrap();
    let worker = CoordinatorClient::new(&url, Some(worker_key));
    worker
        .register(&RegisterWorkerRequest::default())
        .await
        .unwrap();
    let proving = tokio::spawn(common::prove_leases(worker));

    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let submit = |contracts: Option<&std::path::Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bitsage-proof"));
        c.current_dir(&root)
            .args(["submit", "--coordinator-url", &url, "--workload", "custom"])
            .args(["--program", "examples/quickstart.oasm", "--wait"])
            .env_remove("STARKNET_PRIVATE_KEY")
            .env_remove("BITSAGE_STARKNET_CONTRACTS");
        if let Some(path) = contracts {
            c.arg("--contracts").arg(path);
        }
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let blind = submit(None).await.unwrap();
    assert!(!blind.status.success());
    let stderr = String::from_utf8_lossy(&blind.stderr);
    assert!(stderr.contains("settles on Starknet"), "{stderr}");

    let out = submit(Some(&contracts)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("lets the JobManager escrow up to 10 SAGE"),
        "{stdout}"
    );
    assert!(stdout.contains("verified locally"), "{stdout}");
    let job_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let view = Sage::new(&deployer, &deployment);
    let started = std::time::Instant::now();
    loop {
        let job = view.job(job_key(&job_id)).await.unwrap();
        if job.state == ChainJobState::Completed {
            assert_eq!(job.worker, worker_chain.address());
            assert_eq!(job.fee, 10 * SAGE);
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "not paid on chain: {job:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    proving.abort();
}
