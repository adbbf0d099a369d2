//! The coordinator's settings. Flags and `BITSAGE_*` variables (in `main.rs`) and a TOML file
//! all fill this struct; `serde(default)` lets a file name only what it changes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bitsage_ledger::Network;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinatorConfig {
    pub network: Network,
    /// `sqlite://PATH` (created if missing), `sqlite::memory:` or `postgres://…`.
    pub database: String,
    /// What a committed SQLite transaction survives (PostgreSQL's commits always survive a
    /// power loss).
    pub durability: Durability,
    pub listen: SocketAddr,
    /// How long a lease lasts without a heartbeat.
    pub lease_ttl_secs: u64,
    /// Attempts (expired leases, failures, invalid proofs) before a job fails and is refunded.
    pub max_attempts: u32,
    /// Longest long-poll a worker may ask for.
    pub max_wait_secs: u32,
    /// The security floor of the verification gate.
    pub min_security_bits: u32,
    /// Step limit of a job that names none, and the most a job may ask for.
    pub default_max_steps: u64,
    pub max_steps_cap: u64,
    /// How far a signed request's timestamp may be from the coordinator's clock.
    pub skew_window_secs: i64,
    /// Deadline of a job that names none.
    pub default_deadline_secs: u64,
    /// How often expired leases are reclaimed and unsettled fees retried.
    pub maintenance_interval_ms: u64,
    /// Where fees, stakes and payouts live.
    pub settlement: SettlementKind,
    /// The deployment file (`bitsage-starknet deploy|devnet --output`) for Starknet settlement.
    pub contracts: Option<PathBuf>,
}

/// What an SQLite commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// A crash or `kill -9` of the coordinator loses nothing that was answered; a power loss
    /// may roll back the last transactions. No `fsync` per commit.
    #[default]
    Process,
    /// Each commit is on disk before the answer: one `fsync` per commit.
    PowerLoss,
}

impl Durability {
    pub fn sql(self) -> bitsage_sql::Durability {
        match self {
            Durability::Process => bitsage_sql::Durability::Process,
            Durability::PowerLoss => bitsage_sql::Durability::PowerLoss,
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Durability::Process => "process",
            Durability::PowerLoss => "power-loss",
        })
    }
}

/// Where the coordinator settles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettlementKind {
    /// The ledger in the coordinator's database (`bitsage-ledger`).
    #[default]
    Embedded,
    /// The contracts of a Starknet deployment (`bitsage-starknet`), signed by the coordinator's
    /// account.
    Starknet,
}

impl std::fmt::Display for SettlementKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SettlementKind::Embedded => "embedded",
            SettlementKind::Starknet => "starknet",
        })
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            network: Network::Local,
            database: "sqlite://bitsage-coordinator.db".into(),
            durability: Durability::Process,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            lease_ttl_secs: 120,
            max_attempts: 3,
            max_wait_secs: 30,
            min_security_bits: obelysk_prover::DEFAULT_MIN_SECURITY_BITS,
            default_max_steps: obelysk_vm::DEFAULT_STEP_LIMIT,
            max_steps_cap: obelysk_vm::MAX_STEPS,
            skew_window_secs: 120,
            default_deadline_secs: 3600,
            maintenance_interval_ms: 1000,
            settlement: SettlementKind::Embedded,
            contracts: None,
        }
    }
}

impl CoordinatorConfig {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_only_what_it_names_and_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "lease_ttl_secs = 5\nnetwork = \"sepolia\"\ndurability = \"power-loss\"\n",
        )
        .unwrap();
        let config = CoordinatorConfig::from_file(&path).unwrap();
        assert_eq!(config.lease_ttl_secs, 5);
        assert_eq!(config.durability, Durability::PowerLoss);
        assert_eq!(config.network, Network::Sepolia);
        assert_eq!(config.max_attempts, 3);
        std::fs::write(&path, "lease_tll_secs = 5\n").unwrap();
        let err = CoordinatorConfig::from_file(&path).unwrap_err();
        assert!(err.contains("lease_tll_secs"), "{err}");
    }
}
