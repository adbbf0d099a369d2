//! The contracts on a real local chain: each test starts its own `starknet-devnet`, compiles the
//! contracts from `contracts/` (once per run) and deploys them. Without the Cairo toolchain or
//! the devnet binary, each test prints why it is skipped.

use std::path::PathBuf;
use std::sync::OnceLock;

use bitsage_starknet::chain::Chain;
use bitsage_starknet::deploy::{deploy_all, DeployParams, Deployment};
use bitsage_starknet::devnet::{Devnet, DevnetAccount};
use bitsage_starknet::sage::{JobState, Sage};
use bitsage_starknet::toolchain::{contracts_dir, Artifact, Toolchain};
use bitsage_starknet::{Error, Felt, SAGE};

/// Compiled once for the whole test binary; `Err` holds the skip reason.
fn artifacts() -> Result<&'static [Artifact], String> {
    static ARTIFACTS: OnceLock<Result<(tempfile::TempDir, Vec<Artifact>), String>> =
        OnceLock::new();
    ARTIFACTS
        .get_or_init(|| {
            let toolchain = Toolchain::find().map_err(|e| e.to_string())?;
            let out = tempfile::tempdir().map_err(|e| e.to_string())?;
            let artifacts = toolchain
                .compile_all(&contracts_dir(), out.path())
                .map_err(|e| format!("FAILED: {e}"))?;
            Ok((out, artifacts))
        })
        .as_ref()
        .map(|(_, a)| a.as_slice())
        .map_err(Clone::clone)
}

struct Net {
    devnet: Devnet,
    deployment: Deployment,
    /// accounts[0] deployed everything and is treasury and coordinator.
    accounts: Vec<DevnetAccount>,
}

impl Net {
    async fn chain(&self, index: usize) -> Chain {
        let a = &self.accounts[index];
        Chain::connect(&self.devnet.rpc(), a.address, a.private_key)
            .await
            .unwrap()
    }
}

/// A deployed network, or `None` after printing why the test is skipped. A compile failure is
/// a failure, not a skip.
async fn net(test: &str) -> Option<Net> {
    let artifacts = match artifacts() {
        Ok(a) => a,
        Err(e) if e.starts_with("FAILED") => panic!("{e}"),
        Err(e) => {
            eprintln!("skipped {test}: {e}");
            return None;
        }
    };
    let devnet = match Devnet::start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped {test}: {e}");
            return None;
        }
    };
    let accounts = devnet.accounts().await.unwrap();
    let deployer = &accounts[0];
    let chain = Chain::connect(&devnet.rpc(), deployer.address, deployer.private_key)
        .await
        .unwrap();
    let params = DeployParams {
        unstake_cooldown_secs: 3_600,
        faucet_cooldown_secs: 60,
        devnet: true,
        ..DeployParams::default()
    };
    let deployment = deploy_all(&chain, &devnet.rpc(), artifacts, &params, Felt::from(7u8))
        .await
        .unwrap();
    Some(Net {
        devnet,
        deployment,
        accounts,
    })
}

fn reverted(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Reverted(reason)) => reason,
        other => panic!("expected a revert, got {other:?}"),
    }
}

#[tokio::test]
async fn deploy_faucet_and_stake_to_a_tier() {
    let Some(net) = net("deploy_faucet_and_stake_to_a_tier").await else {
        return;
    };
    let d = &net.deployment;
    let path = tempfile::tempdir().unwrap();
    let file: PathBuf = path.path().join("contracts.json");
    d.save(&file).unwrap();
    assert_eq!(&Deployment::load(&file).unwrap(), d);
    // A second deployment on the same chain reuses the declared classes.
    let deployer = net.chain(0).await;
    let again = deploy_all(
        &deployer,
        &net.devnet.rpc(),
        artifacts().unwrap(),
        &DeployParams::default(),
        Felt::from(8u8),
    )
    .await
    .unwrap();
    assert_ne!(again.token, d.token);

    let worker = net.chain(1).await;
    let sage = Sage::new(&worker, d);
    assert_eq!(sage.faucet().await.unwrap(), 10_000 * SAGE);
    assert_eq!(
        reverted(sage.faucet().await),
        "FAUCET: claimed too recently",
        "the faucet's rate limit reaches the user in words"
    );
    assert_eq!(sage.tier_of(worker.address()).await.unwrap(), 0);
    sage.stake(2_500 * SAGE).await.unwrap();
    assert_eq!(sage.stake_of(worker.address()).await.unwrap(), 2_500 * SAGE);
    assert_eq!(
        sage.tier_of(worker.address()).await.unwrap(),
        2,
        "Workstation"
    );
    assert_eq!(sage.balance(worker.address()).await.unwrap(), 7_500 * SAGE);
    assert_eq!(
        reverted(sage.stake(1_000_000 * SAGE).await),
        "SAGE: insufficient balance"
    );
    net.devnet.increase_time(61).await.unwrap();
    assert_eq!(
        sage.faucet().await.unwrap(),
        10_000 * SAGE,
        "after the cooldown"
    );

    // `bitsage-starknet status` reads a receipt.
    let tx = sage.transfer(net.accounts[2].address, SAGE).await.unwrap();
    let status = |hash: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bitsage-starknet"))
            .args(["status", "--rpc", &net.devnet.rpc(), "--wait", "1"])
            .args(["--tx-hash", &hash])
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
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown to the node"), "{stderr}");
}

#[tokio::test]
async fn a_proved_job_pays_80_18_2_and_stakers_claim_their_share() {
    let Some(net) = net("a_proved_job_pays_80_18_2_and_stakers_claim_their_share").await else {
        return;
    };
    let d = &net.deployment;
    let coordinator = net.chain(0).await;
    let (worker, client, staker) = (net.chain(1).await, net.chain(2).await, net.chain(3).await);
    let (w, c, s) = (
        Sage::new(&worker, d),
        Sage::new(&client, d),
        Sage::new(&staker, d),
    );
    let boss = Sage::new(&coordinator, d);
    for who in [&w, &c, &s] {
        who.faucet().await.unwrap();
    }
    w.stake(1_000 * SAGE).await.unwrap();
    s.stake(3_000 * SAGE).await.unwrap();

    let job = Felt::from(0xb0b_u64);
    let fee = 1_001 * SAGE + 7;
    c.escrow(job, fee).await.unwrap();
    assert_eq!(
        c.balance(client.address()).await.unwrap(),
        10_000 * SAGE - fee
    );
    assert_eq!(
        reverted(w.assign(job, worker.address()).await),
        "JOBS: caller not coordinator"
    );
    assert_eq!(
        reverted(boss.assign(job, client.address()).await),
        "JOBS: worker has no tier"
    );
    boss.assign(job, worker.address()).await.unwrap();
    let treasury_before = boss.balance(d.treasury).await.unwrap();
    let worker_before = w.balance(worker.address()).await.unwrap();
    boss.complete(job, [0xab; 32]).await.unwrap();

    let to_worker = fee / 100 * 80 + fee % 100 * 80 / 100;
    let to_stakers = fee / 100 * 2 + fee % 100 * 2 / 100;
    let to_treasury = fee - to_worker - to_stakers;
    assert_eq!(
        w.balance(worker.address()).await.unwrap() - worker_before,
        to_worker
    );
    assert_eq!(
        boss.balance(d.treasury).await.unwrap() - treasury_before,
        to_treasury
    );
    assert_eq!(
        boss.balance(d.staking).await.unwrap(),
        4_000 * SAGE + to_stakers
    );
    let info = boss.job(job).await.unwrap();
    assert_eq!(info.state, JobState::Completed);
    assert_eq!(
        (info.client, info.worker, info.fee),
        (client.address(), worker.address(), fee)
    );
    assert_eq!(info.proof_commitment, [0xab; 32]);
    assert_eq!(
        reverted(boss.complete(job, [0; 32]).await),
        "JOBS: job is not assigned",
        "a job is paid once"
    );

    // Stakers share the 2% pro rata: 1,000 and 3,000 staked.
    let (w_reward, s_reward) = (
        w.pending_rewards(worker.address()).await.unwrap(),
        s.pending_rewards(staker.address()).await.unwrap(),
    );
    assert!(
        w_reward + s_reward <= to_stakers,
        "never more than was paid in"
    );
    assert!(
        to_stakers - (w_reward + s_reward) <= 2,
        "rounding loses at most a unit each"
    );
    assert!(
        s_reward / 3 - w_reward <= 1,
        "{s_reward} is three times {w_reward}"
    );
    assert_eq!(s.claim_rewards().await.unwrap(), s_reward);
    assert_eq!(s.pending_rewards(staker.address()).await.unwrap(), 0);

    // A worker that leaves its tier after the lease is not paid.
    let second = Felt::from(0xb0c_u64);
    c.escrow(second, 10 * SAGE).await.unwrap();
    boss.assign(second, worker.address()).await.unwrap();
    w.request_unstake(1_000 * SAGE).await.unwrap();
    assert_eq!(
        reverted(boss.complete(second, [1; 32]).await),
        "JOBS: worker has no tier"
    );
    boss.refund(second).await.unwrap();
}

#[tokio::test]
async fn unstaking_waits_for_the_cooldown() {
    let Some(net) = net("unstaking_waits_for_the_cooldown").await else {
        return;
    };
    let d = &net.deployment;
    let worker = net.chain(1).await;
    let w = Sage::new(&worker, d);
    w.faucet().await.unwrap();
    w.stake(5_000 * SAGE).await.unwrap();
    assert_eq!(w.tier_of(worker.address()).await.unwrap(), 3, "DataCenter");
    w.request_unstake(4_000 * SAGE).await.unwrap();
    assert_eq!(
        w.tier_of(worker.address()).await.unwrap(),
        1,
        "Consumer at once"
    );
    assert_eq!(
        w.unbonding_of(worker.address()).await.unwrap().0,
        4_000 * SAGE
    );
    assert_eq!(reverted(w.withdraw().await), "STAKE: still cooling down");
    assert_eq!(
        reverted(w.request_unstake(2_000 * SAGE).await),
        "STAKE: more than staked"
    );
    net.devnet.increase_time(3_601).await.unwrap();
    assert_eq!(w.withdraw().await.unwrap(), 4_000 * SAGE);
    assert_eq!(reverted(w.withdraw().await), "STAKE: nothing unbonding");
    assert_eq!(w.balance(worker.address()).await.unwrap(), 9_000 * SAGE);
}

#[tokio::test]
async fn the_coordinator_slashes_and_nobody_else_can() {
    let Some(net) = net("the_coordinator_slashes_and_nobody_else_can").await else {
        return;
    };
    let d = &net.deployment;
    let coordinator = net.chain(0).await;
    let worker = net.chain(1).await;
    let (boss, w) = (Sage::new(&coordinator, d), Sage::new(&worker, d));
    w.faucet().await.unwrap();
    w.stake(2_500 * SAGE).await.unwrap();
    assert_eq!(
        reverted(w.slash(worker.address(), 1_000, "self").await),
        "STAKE: caller is not slasher"
    );
    let treasury_before = boss.balance(d.treasury).await.unwrap();
    boss.slash(worker.address(), 1_000, "invalid proof")
        .await
        .unwrap();
    assert_eq!(w.stake_of(worker.address()).await.unwrap(), 2_250 * SAGE);
    assert_eq!(
        w.tier_of(worker.address()).await.unwrap(),
        1,
        "down to Consumer"
    );
    assert_eq!(
        boss.balance(d.treasury).await.unwrap() - treasury_before,
        250 * SAGE
    );

    // Unstaking ahead of a slash does not escape it: unbonding stake is slashed too.
    w.request_unstake(2_000 * SAGE).await.unwrap();
    boss.slash(worker.address(), 5_000, "invalid proof")
        .await
        .unwrap();
    assert_eq!(
        boss.balance(d.treasury).await.unwrap() - treasury_before,
        250 * SAGE + 1_125 * SAGE,
        "half of 250 active plus 2,000 unbonding"
    );
    assert_eq!(w.stake_of(worker.address()).await.unwrap(), 0);
    assert_eq!(
        w.unbonding_of(worker.address()).await.unwrap().0,
        1_125 * SAGE
    );
}

#[tokio::test]
async fn a_failed_job_is_refunded_once() {
    let Some(net) = net("a_failed_job_is_refunded_once").await else {
        return;
    };
    let d = &net.deployment;
    let coordinator = net.chain(0).await;
    let client = net.chain(2).await;
    let (boss, c) = (Sage::new(&coordinator, d), Sage::new(&client, d));
    c.faucet().await.unwrap();
    let job = Felt::from(42u8);
    c.escrow(job, 300 * SAGE).await.unwrap();
    assert_eq!(
        reverted(c.escrow(job, 300 * SAGE).await),
        "JOBS: job id already used"
    );
    assert_eq!(
        reverted(c.refund(job).await),
        "JOBS: caller not coordinator"
    );
    boss.refund(job).await.unwrap();
    assert_eq!(c.balance(client.address()).await.unwrap(), 10_000 * SAGE);
    assert_eq!(boss.job(job).await.unwrap().state, JobState::Refunded);
    assert_eq!(reverted(boss.refund(job).await), "JOBS: job is not open");
}

#[tokio::test]
async fn a_new_key_opens_an_account_and_stakes() {
    let Some(net) = net("a_new_key_opens_an_account_and_stakes").await else {
        return;
    };
    let key = starknet_rust::signers::SigningKey::from_random().secret_scalar();
    let worker = bitsage_starknet::account::open(&net.deployment, key)
        .await
        .unwrap();
    let again = bitsage_starknet::account::open(&net.deployment, key)
        .await
        .unwrap();
    assert_eq!(
        again.address(),
        worker.address(),
        "the address is fixed by the key"
    );
    let w = Sage::new(&worker, &net.deployment);
    w.faucet().await.unwrap();
    w.stake(1_000 * SAGE).await.unwrap();
    assert_eq!(w.tier_of(worker.address()).await.unwrap(), 1);

    let elsewhere = Deployment {
        devnet: false,
        ..net.deployment.clone()
    };
    let other = starknet_rust::signers::SigningKey::from_random().secret_scalar();
    let refused = bitsage_starknet::account::open(&elsewhere, other).await;
    assert!(
        matches!(&refused, Err(Error::Node(m)) if m.contains("fund it with STRK")),
        "{refused:?}"
    );
}
