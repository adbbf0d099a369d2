//! `bitsage-coordinator`: serves the BitSage job protocol.
//!
//! Settings come from defaults, then `--config FILE` (TOML), then `BITSAGE_*` variables, then
//! flags. Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM), 1 on an error.

mod bench;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use bitsage_coordinator::{Coordinator, CoordinatorConfig, Durability, SettlementKind};
use bitsage_ledger::Network;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Parser, Debug)]
#[command(
    name = "bitsage-coordinator",
    version,
    about = "The BitSage coordinator: takes jobs, leases them to staked workers, verifies every proof before paying"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Measure jobs/s, coordinator CPU per job and idle long-poll cost on loopback (SQLite).
    Bench(bench::BenchArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NetworkArg {
    Local,
    Sepolia,
    Mainnet,
    /// A local starknet-devnet started with the coordinator, the contracts compiled and
    /// deployed to it, and settlement there (local ledger rules; the chain and the job
    /// database, in a temporary directory, last as long as the process).
    Devnet,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// TOML file with any of the settings below (file keys are the flag names with `_`).
    #[arg(long, env = "BITSAGE_COORDINATOR_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "BITSAGE_LISTEN")]
    listen: Option<SocketAddr>,
    /// `sqlite://PATH` (the default, created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "BITSAGE_DATABASE")]
    database: Option<String>,
    /// What an answered SQLite commit survives: `process` (a crash or kill -9 of the
    /// coordinator; no fsync per commit) or `power-loss` (one fsync per commit).
    #[arg(long, env = "BITSAGE_DURABILITY", value_enum)]
    durability: Option<DurabilityArg>,
    /// Which network's ledger rules apply (the faucet exists on local and sepolia only).
    #[arg(long, env = "BITSAGE_NETWORK", value_enum)]
    network: Option<NetworkArg>,
    /// Seconds a lease lasts without a heartbeat.
    #[arg(long, env = "BITSAGE_LEASE_TTL_SECS")]
    lease_ttl_secs: Option<u64>,
    /// Attempts before a job fails and its fee is refunded.
    #[arg(long, env = "BITSAGE_MAX_ATTEMPTS")]
    max_attempts: Option<u32>,
    /// Security floor (bits) of the verification gate.
    #[arg(long, env = "BITSAGE_MIN_SECURITY_BITS")]
    min_security_bits: Option<u32>,
    /// Milliseconds between maintenance rounds (expired leases, unsettled fees).
    #[arg(long, env = "BITSAGE_MAINTENANCE_INTERVAL_MS")]
    maintenance_interval_ms: Option<u64>,
    /// Where fees, stakes and payouts live: the embedded ledger in the database, or the
    /// Starknet contracts named by --contracts.
    #[arg(long, env = "BITSAGE_SETTLEMENT", value_enum)]
    settlement: Option<SettlementArg>,
    /// Deployment file of the contracts (`bitsage-starknet deploy|devnet --output`); implies
    /// `--settlement starknet`. With `--network devnet`: where the new deployment is written
    /// (default contracts.json), for workers and clients to read.
    #[arg(long, env = "BITSAGE_STARKNET_CONTRACTS")]
    contracts: Option<PathBuf>,
    /// Private key of the deployment's coordinator account (not needed on a devnet, which
    /// tells the key of its predeployed accounts).
    #[arg(long, env = "BITSAGE_CHAIN_PRIVATE_KEY", hide_env_values = true)]
    chain_private_key: Option<bitsage_starknet::Felt>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DurabilityArg {
    Process,
    PowerLoss,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SettlementArg {
    Embedded,
    Starknet,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<CoordinatorConfig> {
        let mut config = match &self.config {
            Some(path) => CoordinatorConfig::from_file(path).map_err(anyhow::Error::msg)?,
            None => CoordinatorConfig::default(),
        };
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = &self.database {
            config.database = v.clone();
        }
        if let Some(v) = self.durability {
            config.durability = match v {
                DurabilityArg::Process => Durability::Process,
                DurabilityArg::PowerLoss => Durability::PowerLoss,
            };
        }
        if let Some(v) = self.network {
            config.network = match v {
                NetworkArg::Local | NetworkArg::Devnet => Network::Local,
                NetworkArg::Sepolia => Network::Sepolia,
                NetworkArg::Mainnet => Network::Mainnet,
            };
        }
        if let Some(v) = self.lease_ttl_secs {
            config.lease_ttl_secs = v;
        }
        if let Some(v) = self.max_attempts {
            config.max_attempts = v.max(1);
        }
        if let Some(v) = self.min_security_bits {
            config.min_security_bits = v;
        }
        if let Some(v) = self.maintenance_interval_ms {
            config.maintenance_interval_ms = v;
        }
        if let Some(v) = &self.contracts {
            config.contracts = Some(v.clone());
            config.settlement = SettlementKind::Starknet;
        }
        if let Some(v) = self.settlement {
            config.settlement = match v {
                SettlementArg::Embedded => SettlementKind::Embedded,
                SettlementArg::Starknet => SettlementKind::Starknet,
            };
        }
        Ok(config)
    }
}

// glibc returns every freed block above its mmap threshold to the kernel, and requests carry
// proofs of a few hundred KiB: with it, half the coordinator's CPU went to page faults on fresh
// zeroed pages. mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bench prints a report; the prover's progress logs would drown it.
    let level = match cli.command {
        Command::Serve(_) => tracing::Level::INFO,
        Command::Bench(_) => tracing::Level::WARN,
    };
    // The verifier's phase notes (stwo logs three lines per proof at info) only when they go
    // wrong: at hundreds of proofs a second they were most of the log and a cost of their own.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_targets(obelysk_prover::PHASE_LOG_TARGETS.map(|t| (t, tracing::Level::WARN)));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .with(filter)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(async {
            let mut config = args.config()?;
            // Kept until the coordinator stops: dropping them stops the chain and removes the
            // temporary database.
            let _devnet = match args.network {
                Some(NetworkArg::Devnet) => Some(devnet(&mut config, &args).await?),
                _ => None,
            };
            serve(config, args.chain_private_key).await
        }),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
    }
}

async fn serve(
    config: CoordinatorConfig,
    chain_key: Option<bitsage_starknet::Felt>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "binding {} (is another coordinator running?)",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let coordinator = Coordinator::open_with_chain_key(config.clone(), chain_key)
        .await
        .with_context(|| {
            format!(
                "opening the database {} and the {} settlement",
                config.database, config.settlement
            )
        })?;
    tracing::info!(%addr, network = %config.network, database = %config.database, settlement = %config.settlement, "coordinator listening");
    // Printed on stdout so scripts and tests that pass port 0 learn the address.
    println!("listening on http://{addr}");
    bitsage_coordinator::serve(coordinator, listener, shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("coordinator stopped");
    Ok(())
}

/// `--network devnet`: starts the chain, deploys the contracts and points `config` at them.
async fn devnet(
    config: &mut CoordinatorConfig,
    args: &ServeArgs,
) -> anyhow::Result<(bitsage_starknet::devnet::Devnet, tempfile::TempDir)> {
    use bitsage_starknet::deploy::DeployParams;
    use bitsage_starknet::toolchain::contracts_dir;

    if let Some(db) = &args.database {
        anyhow::bail!(
            "--network devnet keeps its job database in a temporary directory: the chain ends \
             with this process, and a database ({db}) outliving it would hold fees that exist \
             nowhere. To keep both, run the chain apart (`bitsage-starknet devnet`) and pass \
             --contracts"
        );
    }
    eprintln!("• Starting starknet-devnet and deploying the contracts (a few seconds)");
    let (devnet, deployment) =
        bitsage_starknet::devnet::start_deployed(&contracts_dir(), &DeployParams::default())
            .await
            .context("--network devnet")?;
    let path = args
        .contracts
        .clone()
        .unwrap_or_else(|| PathBuf::from("contracts.json"));
    deployment.save(&path)?;
    eprintln!(
        "✓ Devnet at {}; contracts written to {} (pass it to sage-worker and bitsage-proof \
         with --contracts)",
        devnet.rpc(),
        path.display()
    );
    config.settlement = SettlementKind::Starknet;
    config.contracts = Some(path);
    // Jobs settle on a chain that ends with this process, and so does their database.
    let database = tempfile::tempdir()?;
    config.database = format!(
        "sqlite://{}",
        database.path().join("coordinator.db").display()
    );
    Ok((devnet, database))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
