//! `sage-worker --contracts FILE` on a real devnet: the worker opens its own Starknet account for
//! its key and stakes, unstakes and reads its account on chain. Skipped, with the reason, without
//! the Cairo toolchain or `starknet-devnet`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use bitsage_starknet::chain::Chain;
use bitsage_starknet::deploy::{deploy_all, DeployParams};
use bitsage_starknet::devnet::Devnet;
use bitsage_starknet::toolchain::{contracts_dir, Toolchain};
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
    let toolchain = match Toolchain::find() {
        Ok(t) => t,
        Err(e) => return eprintln!("skipped the_worker_stakes_on_chain_with_its_own_key: {e}"),
    };
    let devnet = match Devnet::start() {
        Ok(d) => d,
        Err(e) => return eprintln!("skipped the_worker_stakes_on_chain_with_its_own_key: {e}"),
    };
    let build = tempfile::tempdir().unwrap();
    let artifacts = toolchain
        .compile_all(&contracts_dir(), build.path())
        .unwrap();
    let deployer = &devnet.accounts().await.unwrap()[0];
    let chain = Chain::connect(&devnet.rpc(), deployer.address, deployer.private_key)
        .await
        .unwrap();
    let params = DeployParams {
        unstake_cooldown_secs: 3_600,
        devnet: true,
        ..DeployParams::default()
    };
    let deployment = deploy_all(&chain, &devnet.rpc(), &artifacts, &params, Felt::ONE)
        .await
        .unwrap();
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
