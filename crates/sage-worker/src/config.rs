//! `worker.toml`, in the shape of the original README, and how the environment overrides it.

use std::net::SocketAddr;

use anyhow::Context;
use bitsage_ledger::Network;
use serde::{Deserialize, Serialize};

use crate::home::Home;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub worker_id: String,
    pub network: Network,
    pub coordinator_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starknet_rpc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    pub wallet: WalletConfig,
    pub gpu: GpuConfig,
    #[serde(default)]
    pub settings: Settings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WalletConfig {
    /// The worker's public key, which is its account on the embedded ledger.
    pub address: String,
    pub private_key_path: String,
    pub elgamal_key_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elgamal_public_key: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuConfig {
    pub detected: bool,
    pub count: u32,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub memory_gb: u64,
    #[serde(default)]
    pub compute_capability: String,
    #[serde(default)]
    pub tee_supported: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub poll_interval_secs: u64,
    pub heartbeat_interval_secs: u64,
    pub max_concurrent_jobs: u32,
    pub auto_claim_rewards: bool,
    /// Where `/metrics`, `/health` and `/gpu/status` are served.
    pub metrics_addr: SocketAddr,
    /// SAGE staked by `start --network local` when the stake is below the first tier.
    pub local_stake: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            poll_interval_secs: 5,
            heartbeat_interval_secs: 30,
            max_concurrent_jobs: 16,
            auto_claim_rewards: true,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            local_stake: 1_000,
        }
    }
}

/// The coordinator a network uses unless told otherwise.
pub fn default_coordinator(network: Network) -> &'static str {
    match network {
        Network::Local => "http://127.0.0.1:8080",
        Network::Sepolia => "https://sepolia.coordinator.bitsage.network",
        Network::Mainnet => "https://coordinator.bitsage.network",
    }
}

pub fn parse_network(text: &str) -> anyhow::Result<Network> {
    match text {
        "local" => Ok(Network::Local),
        "sepolia" => Ok(Network::Sepolia),
        "mainnet" => Ok(Network::Mainnet),
        other => anyhow::bail!("unknown network `{other}`: use local, sepolia or mainnet"),
    }
}

impl WorkerConfig {
    /// Reads `worker.toml`, then applies `BITSAGE_NETWORK` and `BITSAGE_COORDINATOR_URL`.
    pub fn load(home: &Home) -> anyhow::Result<Self> {
        let path = home.config();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (run `sage-worker setup` first, or set BITSAGE_HOME)",
                path.display()
            )
        })?;
        let mut config: Self =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.apply_env()?;
        Ok(config)
    }

    pub fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Ok(network) = std::env::var("BITSAGE_NETWORK") {
            self.network = parse_network(&network).context("BITSAGE_NETWORK")?;
        }
        if let Ok(url) = std::env::var("BITSAGE_COORDINATOR_URL") {
            self.coordinator_url = url;
        }
        Ok(())
    }

    pub fn save(&self, home: &Home) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self).context("encoding worker.toml")?;
        crate::home::write_atomic(&home.config(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_readme_example_parses() {
        let text = r#"
worker_id = "worker-abc12345"
network = "mainnet"
coordinator_url = "https://coordinator.bitsage.network"
starknet_rpc = "https://starknet-mainnet.public.blastapi.io"
dashboard_url = "https://dashboard.bitsage.network"

[wallet]
address = "0x1"
private_key_path = "~/.bitsage/keys/starknet.key"
elgamal_key_path = "~/.bitsage/keys/elgamal.key"

[gpu]
detected = true
count = 4
model = "NVIDIA H100 80GB HBM3"
memory_gb = 80
compute_capability = "9.0"
tee_supported = true

[settings]
poll_interval_secs = 5
heartbeat_interval_secs = 30
max_concurrent_jobs = 16
auto_claim_rewards = true
"#;
        let config: WorkerConfig = toml::from_str(text).unwrap();
        assert_eq!(config.network, Network::Mainnet);
        assert_eq!(config.gpu.count, 4);
        assert_eq!(config.settings.max_concurrent_jobs, 16);
        assert_eq!(config.settings.metrics_addr.port(), 9090);
        let again: WorkerConfig =
            toml::from_str(&toml::to_string_pretty(&config).unwrap()).unwrap();
        assert_eq!(again, config);
    }
}
