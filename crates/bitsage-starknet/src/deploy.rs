//! Declares and deploys the five contracts and records where they are.

use std::path::Path;

use serde::{Deserialize, Serialize};
use starknet_rust::core::types::Felt;

use crate::chain::Chain;
use crate::toolchain::Artifact;
use crate::{u256_calldata, Error, Result, SAGE};

/// Deployment parameters. Defaults follow `bitsage-ledger`'s local network: a generous faucet
/// and short cooldowns, so a devnet behaves like `--network local`.
#[derive(Clone, Debug)]
pub struct DeployParams {
    /// Receives the 18% share and slashed stake; the deployer when `None`.
    pub treasury: Option<Felt>,
    /// May complete and refund jobs and slash stake; the deployer when `None`.
    pub coordinator: Option<Felt>,
    pub supply: u128,
    /// Moved from the deployer to the faucet after deployment.
    pub faucet_funds: u128,
    pub faucet_grant: u128,
    pub faucet_cooldown_secs: u64,
    pub unstake_cooldown_secs: u64,
    /// Deploying to a local devnet (recorded in the deployment file).
    pub devnet: bool,
}

impl Default for DeployParams {
    fn default() -> Self {
        Self {
            treasury: None,
            coordinator: None,
            supply: 1_000_000_000 * SAGE,
            faucet_funds: 100_000_000 * SAGE,
            faucet_grant: 10_000 * SAGE,
            faucet_cooldown_secs: 10,
            unstake_cooldown_secs: 10,
            devnet: false,
        }
    }
}

/// Where the contracts live; written to a JSON file that the coordinator and the worker read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub rpc: String,
    pub token: Felt,
    pub staking: Felt,
    pub router: Felt,
    pub jobs: Felt,
    pub faucet: Felt,
    pub treasury: Felt,
    pub coordinator: Felt,
    /// Class of the deploying account (an OpenZeppelin account on devnet): workers open accounts
    /// of the same class for their own keys.
    pub account_class: Felt,
    /// A local devnet: accounts may be opened with minted fee tokens.
    pub devnet: bool,
}

impl Deployment {
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("plain data serializes");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Artifact(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::Artifact(format!("{}: {e}", path.display())))
    }
}

/// Declares every artifact and deploys token, staking, router, job manager and faucet in that
/// order (each needs the ones before), then funds the faucet. `salt` makes addresses distinct
/// between deployments by the same account.
pub async fn deploy_all(
    chain: &Chain,
    rpc: &str,
    artifacts: &[Artifact],
    params: &DeployParams,
    salt: Felt,
) -> Result<Deployment> {
    let class = |name: &str| {
        artifacts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| Error::Artifact(format!("no compiled {name}")))
    };
    let me = chain.address();
    let treasury = params.treasury.unwrap_or(me);
    let coordinator = params.coordinator.unwrap_or(me);
    let mut hashes = Vec::new();
    for name in [
        "SageToken",
        "ProverStaking",
        "PaymentRouter",
        "JobManager",
        "Faucet",
    ] {
        let hash = chain.declare(class(name)?).await?;
        tracing::info!(name, class_hash = %format!("{hash:#x}"), "declared");
        hashes.push(hash);
    }
    let [token_class, staking_class, router_class, jobs_class, faucet_class] = hashes[..] else {
        unreachable!("five classes")
    };

    let mut calldata = vec![me];
    calldata.extend(u256_calldata(params.supply));
    let token = chain.deploy(token_class, calldata, salt).await?;
    let staking = chain
        .deploy(
            staking_class,
            vec![
                token,
                treasury,
                coordinator,
                params.unstake_cooldown_secs.into(),
            ],
            salt,
        )
        .await?;
    let router = chain
        .deploy(router_class, vec![token, staking, treasury], salt)
        .await?;
    let jobs = chain
        .deploy(jobs_class, vec![token, staking, router, coordinator], salt)
        .await?;
    let mut calldata = vec![token];
    calldata.extend(u256_calldata(params.faucet_grant));
    calldata.push(params.faucet_cooldown_secs.into());
    let faucet = chain.deploy(faucet_class, calldata, salt).await?;
    let mut calldata = vec![faucet];
    calldata.extend(u256_calldata(params.faucet_funds));
    chain.invoke(token, "transfer", calldata).await?;
    let account_class = chain.class_hash_at(me).await?;
    Ok(Deployment {
        rpc: rpc.to_string(),
        token,
        staking,
        router,
        jobs,
        faucet,
        treasury,
        coordinator,
        account_class,
        devnet: params.devnet,
    })
}
