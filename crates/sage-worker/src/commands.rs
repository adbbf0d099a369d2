//! The operator commands other than `setup` and `start`.

use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bitsage_ledger::Amount;
use bitsage_protocol::CoordinatorClient;
use serde::{Deserialize, Serialize};

use crate::config::WorkerConfig;
use crate::daemon::{now_ms, DaemonState};
use crate::home::{write_atomic, Home};
use crate::pidfile::{alive, running};

pub fn stop(home: &Home) -> anyhow::Result<()> {
    let Some(pid) = running(home) else {
        println!("no worker is running from {}", home.root().display());
        return Ok(());
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("could not signal pid {pid}");
    }
    eprintln!("asked the worker (pid {pid}) to stop; waiting for the jobs in flight…");
    let started = Instant::now();
    // The lock goes a moment before the process does.
    while running(home) == Some(pid) || alive(pid) {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the worker (pid {pid}) is still finishing after 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("stopped");
    Ok(())
}

pub async fn status(home: &Home) -> anyhow::Result<()> {
    let config = WorkerConfig::load(home)?;
    match running(home) {
        Some(pid) => println!("worker: running (pid {pid})"),
        None => println!("worker: not running"),
    }
    let client = CoordinatorClient::new(&config.coordinator_url, None);
    match client.health().await {
        Ok(h) => println!(
            "coordinator: reachable at {} ({} network)",
            config.coordinator_url, h.network
        ),
        Err(e) => println!("coordinator: unreachable ({e})"),
    }
    let address = crate::keys::address(&config)?;
    if let Ok(account) = client.account(address).await {
        let tier = account
            .tier
            .map(|t| format!("{t:?}"))
            .unwrap_or_else(|| "none (stake at least 1000 SAGE)".into());
        println!("tier: {tier} ({} SAGE staked)", account.stake);
    }
    if let Ok(worker) = client.worker(address).await {
        println!(
            "proofs done (all time): {}, earned {} SAGE",
            worker.worker.proofs_done, worker.worker.earned
        );
    }
    if let Ok(text) = std::fs::read_to_string(home.state()) {
        if let Ok(state) = serde_json::from_str::<DaemonState>(&text) {
            if running(home) == Some(state.pid) {
                println!("backend: {}", state.backend);
                println!(
                    "leases in flight: {} of {} slots",
                    state.leases_in_flight.len(),
                    state.slots
                );
                println!(
                    "proofs since start: {}, earned {} SAGE",
                    state.proofs_done, state.earned
                );
                if let Some(e) = state.last_error {
                    println!("last error: {e}");
                }
            }
        }
    }
    Ok(())
}

pub fn logs(home: &Home, follow: bool, lines: usize) -> anyhow::Result<()> {
    let path = home.log();
    let mut file = std::fs::File::open(&path)
        .with_context(|| format!("no log at {} (has the worker run?)", path.display()))?;
    let reader = std::io::BufReader::new(&file);
    let all: Vec<String> = reader.lines().map_while(Result::ok).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in &all[all.len().saturating_sub(lines)..] {
        if writeln!(out, "{line}").is_err() {
            return Ok(()); // a closed pipe is not an error
        }
    }
    if !follow {
        return Ok(());
    }
    let mut pos = file.seek(std::io::SeekFrom::End(0))?;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let len = std::fs::metadata(&path)?.len();
        if len < pos {
            pos = 0;
        }
        if len > pos {
            file.seek(std::io::SeekFrom::Start(pos))?;
            let mut chunk = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut chunk)?;
            pos += chunk.len() as u64;
            if out.write_all(&chunk).and_then(|_| out.flush()).is_err() {
                return Ok(());
            }
        }
    }
}

/// A hint for an unreachable coordinator on the local network, where it runs inside `start`.
fn local_hint(config: &WorkerConfig) -> &'static str {
    if config.network == bitsage_ledger::Network::Local {
        " (on the local network the coordinator runs inside `sage-worker start`: is it running?)"
    } else {
        ""
    }
}

async fn signed_client(home: &Home) -> anyhow::Result<(WorkerConfig, CoordinatorClient)> {
    let config = WorkerConfig::load(home)?;
    let key = crate::keys::signing_key(home, config.network)?;
    let client = CoordinatorClient::new(&config.coordinator_url, Some(key));
    Ok((config, client))
}

pub async fn info(home: &Home, verbose: bool) -> anyhow::Result<()> {
    let config = WorkerConfig::load(home)?;
    let client = CoordinatorClient::new(&config.coordinator_url, None);
    let address = crate::keys::address(&config)?;
    let account = client
        .account(address)
        .await
        .map_err(|e| anyhow::anyhow!("{e}{}", local_hint(&config)))?;
    println!(
        "worker:    {} ({} network)",
        config.worker_id, config.network
    );
    println!("address:   {address}");
    println!("balance:   {} SAGE", account.balance);
    println!(
        "stake:     {} SAGE ({})",
        account.stake,
        account
            .tier
            .map(|t| format!("{t:?}"))
            .unwrap_or_else(|| "no tier".into())
    );
    if !account.pending_unstake.is_zero() {
        println!(
            "unstaking: {} SAGE (withdrawable at {})",
            account.pending_unstake,
            account.unstake_ready_at.unwrap_or(0)
        );
    }
    println!("rewards:   {} SAGE claimable", account.rewards);
    match client.worker(address).await {
        Ok(detail) => {
            println!(
                "proofs:    {} accepted, {} refused",
                detail.worker.proofs_done, detail.worker.invalid_proofs
            );
            println!(
                "earnings:  {} SAGE (80% of every fee paid to this worker)",
                detail.worker.earned
            );
            if verbose {
                println!("recent jobs:");
                for job in &detail.recent_jobs {
                    println!(
                        "  {} {:<7} {:>8} steps  fee {} SAGE",
                        job.job_id,
                        job.state.as_str(),
                        job.steps.unwrap_or(0),
                        job.fee
                    );
                }
                println!(
                    "gpu:       {}",
                    if config.gpu.detected {
                        config.gpu.model.as_str()
                    } else {
                        "none (CPU backend)"
                    }
                );
                println!(
                    "keys:      {} / {}",
                    config.wallet.private_key_path, config.wallet.elgamal_key_path
                );
            }
        }
        Err(e) => println!("proofs:    not registered yet ({e})"),
    }
    Ok(())
}

/// The backup file: the config and both keystores, which stay encrypted with their password.
#[derive(Serialize, Deserialize)]
struct Backup {
    version: u32,
    created_at: i64,
    worker_toml: String,
    starknet_keystore: serde_json::Value,
    elgamal_keystore: serde_json::Value,
}

pub fn export(home: &Home, output: Option<PathBuf>) -> anyhow::Result<()> {
    let read = |p: PathBuf| -> anyhow::Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let backup = Backup {
        version: 1,
        created_at: now_ms(),
        worker_toml: std::fs::read_to_string(home.config())
            .context("reading worker.toml (run setup)")?,
        starknet_keystore: read(home.starknet_keystore())?,
        elgamal_keystore: read(home.elgamal_keystore())?,
    };
    let text = serde_json::to_string_pretty(&backup)?;
    match output {
        Some(path) => {
            write_atomic(&path, text.as_bytes())?;
            crate::home::restrict(&path)?;
            eprintln!(
                "backup written to {} (keys encrypted with your keystore password)",
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}

pub enum Move {
    Stake(Amount),
    Unstake(Amount),
    Claim,
    Withdraw,
    Faucet,
    /// Only show the account (on chain).
    Info,
}

pub async fn move_funds(
    home: &Home,
    contracts: Option<PathBuf>,
    action: Move,
) -> anyhow::Result<()> {
    if let Some(contracts) = contracts {
        return on_chain(home, &contracts, action).await;
    }
    let (config, client) = signed_client(home).await?;
    let moved = match action {
        Move::Stake(a) => client.stake(a).await,
        Move::Unstake(a) => client.unstake(a).await,
        Move::Claim => client.claim().await,
        Move::Withdraw => client.withdraw().await,
        Move::Faucet => client.faucet().await,
        Move::Info => unreachable!("info has its own command"),
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}{}",
            if e.is_transient() {
                local_hint(&config)
            } else {
                ""
            }
        )
    })?;
    let a = &moved.account;
    println!(
        "moved {} SAGE: balance {} SAGE, stake {} SAGE ({}), unstaking {} SAGE, rewards {} SAGE",
        moved.amount,
        a.balance,
        a.stake,
        a.tier
            .map(|t| format!("{t:?}"))
            .unwrap_or_else(|| "no tier".into()),
        a.pending_unstake,
        a.rewards
    );
    Ok(())
}

/// Faucet and stake on chain until the worker's account reaches the first tier (a local
/// devnet; like `fund_locally` for the embedded ledger).
pub async fn reach_first_tier_on_chain(
    home: &Home,
    contracts: &Path,
    stake: u64,
) -> anyhow::Result<()> {
    use bitsage_starknet::{account, deploy::Deployment, sage::Sage, Felt};

    let config = WorkerConfig::load(home)?;
    let deployment = Deployment::load(contracts)?;
    let secret = crate::keys::signing_key(home, config.network)?.secret();
    let chain = account::open(&deployment, Felt::from_bytes_be(&secret.to_bytes_be())).await?;
    let sage = Sage::new(&chain, &deployment);
    let me = chain.address();
    if sage.tier_of(me).await? > 0 {
        return Ok(());
    }
    let want = Amount::sage(u128::from(stake.max(1_000)));
    let missing = want.0.saturating_sub(sage.stake_of(me).await?);
    if sage.balance(me).await? < missing {
        sage.faucet().await?;
    }
    sage.stake(missing).await?;
    eprintln!("✓ Staked {} SAGE on Starknet from {me:#x}", Amount(missing));
    Ok(())
}

/// The same operations on Starknet, signed by the worker's own account (opened on first use on
/// a devnet). Reverts come back in the contract's words.
pub async fn on_chain(home: &Home, contracts: &Path, action: Move) -> anyhow::Result<()> {
    use bitsage_starknet::{account, deploy::Deployment, sage::Sage, Felt};

    let config = WorkerConfig::load(home)?;
    let deployment = Deployment::load(contracts)?;
    let secret = crate::keys::signing_key(home, config.network)?.secret();
    let key = Felt::from_bytes_be(&secret.to_bytes_be());
    let chain = account::open(&deployment, key).await?;
    let sage = Sage::new(&chain, &deployment);
    let me = chain.address();
    let moved = match action {
        Move::Stake(a) => sage.stake(a.0).await.map(|_| a.0)?,
        Move::Unstake(a) => sage.request_unstake(a.0).await.map(|_| a.0)?,
        Move::Claim => sage.claim_rewards().await?,
        Move::Withdraw => sage.withdraw().await?,
        Move::Faucet => sage.faucet().await?,
        Move::Info => 0,
    };
    let (unbonding, unlock_at) = sage.unbonding_of(me).await?;
    // The contract numbers tiers 1..=5 in the ledger's order; 0 is no tier.
    let tier = match sage.tier_of(me).await? {
        0 => None,
        n => bitsage_ledger::StakeTier::ALL
            .get(usize::from(n) - 1)
            .copied(),
    }
    .map(|t| format!("{t:?}"))
    .unwrap_or_else(|| "no tier".into());
    if !matches!(action, Move::Info) {
        println!("moved {} SAGE on Starknet", Amount(moved));
    }
    println!("account:   {me:#x} (Starknet, {})", deployment.rpc);
    println!("balance:   {} SAGE", Amount(sage.balance(me).await?));
    println!(
        "stake:     {} SAGE ({tier})",
        Amount(sage.stake_of(me).await?)
    );
    if unbonding > 0 {
        println!(
            "unstaking: {} SAGE (withdrawable at chain time {unlock_at})",
            Amount(unbonding)
        );
    }
    println!(
        "rewards:   {} SAGE claimable",
        Amount(sage.pending_rewards(me).await?)
    );
    Ok(())
}
