//! `bitsage-starknet`: compiles and deploys the settlement contracts.
//!
//! `deploy` puts them on any Starknet node with an existing account; `devnet` starts a local
//! `starknet-devnet`, deploys there with its first predeployed account and keeps the chain
//! running until interrupted. Both write the addresses to a JSON file that the coordinator and
//! the worker read.

use std::path::PathBuf;

use anyhow::Context;
use bitsage_starknet::chain::{receipt_outcome, Chain};
use bitsage_starknet::deploy::{deploy_all, DeployParams};
use bitsage_starknet::devnet::start_deployed;
use bitsage_starknet::toolchain::{contracts_dir, Toolchain};
use bitsage_starknet::Felt;
use clap::{Parser, Subcommand};
use starknet_rust::providers::jsonrpc::{HttpTransport, JsonRpcClient};

#[derive(Parser, Debug)]
#[command(version, about = "Compile and deploy the BitSage settlement contracts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Declare and deploy the contracts with an existing account.
    Deploy {
        /// JSON-RPC endpoint of the node (RPC spec 0.10).
        #[arg(long, env = "STARKNET_RPC")]
        rpc: String,
        /// Address of the deploying account contract.
        #[arg(long, env = "STARKNET_ACCOUNT")]
        account: Felt,
        /// The account's private key.
        #[arg(long, env = "STARKNET_PRIVATE_KEY", hide_env_values = true)]
        private_key: Felt,
        #[command(flatten)]
        common: Common,
    },
    /// Start a local devnet, deploy to it, and keep it running until Ctrl-C.
    Devnet {
        #[command(flatten)]
        common: Common,
    },
    /// Wait for a transaction and say whether it succeeded, with the contract's revert reason
    /// when it did not. Exits 1 for a reverted transaction.
    Status {
        #[arg(long, env = "STARKNET_RPC")]
        rpc: String,
        #[arg(long)]
        tx_hash: Felt,
        /// Seconds to wait for a transaction the node does not know yet.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// Where to write the contract addresses.
    #[arg(long, default_value = "contracts.json")]
    output: PathBuf,
    /// The Cairo crate to compile.
    #[arg(long, default_value_os_t = contracts_dir())]
    contracts: PathBuf,
    /// Seconds between unstaking and withdrawing.
    #[arg(long, default_value_t = 10)]
    unstake_cooldown: u64,
    /// Salt for the contract addresses (deploy twice with different salts).
    #[arg(long, default_value = "1")]
    salt: Felt,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    match cli.command {
        Command::Deploy {
            rpc,
            account,
            private_key,
            common,
        } => {
            let chain = Chain::connect(&rpc, account, private_key).await?;
            deploy(&chain, &rpc, &common, false).await
        }
        Command::Devnet { common } => {
            let params = DeployParams {
                unstake_cooldown_secs: common.unstake_cooldown,
                ..DeployParams::default()
            };
            let (devnet, deployment) = start_deployed(&common.contracts, &params).await?;
            deployment.save(&common.output)?;
            println!(
                "devnet at {} (deployer, treasury and coordinator {:#x}); contracts written to {}; \
                 Ctrl-C stops it",
                devnet.rpc(),
                deployment.coordinator,
                common.output.display()
            );
            tokio::signal::ctrl_c().await?;
            drop(devnet);
            Ok(())
        }
        Command::Status { rpc, tx_hash, wait } => {
            let url: starknet_rust::providers::Url =
                rpc.parse().with_context(|| format!("bad RPC URL {rpc}"))?;
            let node = JsonRpcClient::new(HttpTransport::new(url));
            match receipt_outcome(&node, tx_hash, std::time::Duration::from_secs(wait)).await {
                Ok(()) => {
                    println!("{tx_hash:#x}: succeeded");
                    Ok(())
                }
                Err(bitsage_starknet::Error::Reverted(reason)) => {
                    println!("{tx_hash:#x}: reverted: {reason}");
                    std::process::exit(1)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

async fn deploy(chain: &Chain, rpc: &str, common: &Common, devnet: bool) -> anyhow::Result<()> {
    let toolchain = Toolchain::find()?;
    let build = tempfile::tempdir()?;
    let artifacts = toolchain.compile_all(&common.contracts, build.path())?;
    let params = DeployParams {
        unstake_cooldown_secs: common.unstake_cooldown,
        devnet,
        ..DeployParams::default()
    };
    let deployment = deploy_all(chain, rpc, &artifacts, &params, common.salt).await?;
    deployment.save(&common.output)?;
    println!(
        "deployed: token {:#x}, staking {:#x}, router {:#x}, jobs {:#x}, faucet {:#x}; written to {}",
        deployment.token,
        deployment.staking,
        deployment.router,
        deployment.jobs,
        deployment.faucet,
        common.output.display()
    );
    Ok(())
}
