//! The economic rules of the BitSage network, with a real store.
//!
//! SAGE balances, a faucet for test networks, staking with tiers and an unstake cooldown, job fee
//! escrow and settlement (80% worker, 18% treasury, 2% stakers), staker rewards through a
//! reward-per-share accumulator, and slashing. [`Settlement`] is what the coordinator and CLIs
//! call; [`SqlLedger`] implements it on SQLite (embedded default) or PostgreSQL (several
//! coordinator replicas), recording every movement in an append-only journal from which the
//! balances can be rebuilt ([`SqlLedger::replay_journal`]).
//!
//! Not here: Starknet settlement (`bitsage-starknet`'s `StarknetSettlement`, the second
//! [`Settlement`]) and HTTP.

pub mod address;
pub mod amount;
pub mod clock;
pub mod rules;
mod store;
pub mod tier;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use address::Address;
pub use amount::{Amount, ONE_SAGE};
pub use clock::{Clock, ManualClock, SystemClock};
pub use rules::FeeSplit;
pub use store::{JournalEntry, Replayed, SqlLedger};
pub use tier::StakeTier;

/// Which network the ledger serves: it decides whether the faucet exists and default cooldowns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Local,
    Sepolia,
    Mainnet,
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Network::Local => "local",
            Network::Sepolia => "sepolia",
            Network::Mainnet => "mainnet",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerConfig {
    pub network: Network,
    /// SAGE granted per faucet call.
    pub faucet_grant: Amount,
    /// Seconds an address waits between faucet calls.
    pub faucet_cooldown_secs: i64,
    /// Seconds between `unstake` and the tokens becoming withdrawable.
    pub unstake_cooldown_secs: i64,
}

impl LedgerConfig {
    /// Defaults: a generous faucet and seconds of cooldown locally, days elsewhere.
    pub fn for_network(network: Network) -> Self {
        match network {
            Network::Local => Self {
                network,
                faucet_grant: Amount::sage(10_000),
                faucet_cooldown_secs: 10,
                unstake_cooldown_secs: 10,
            },
            Network::Sepolia => Self {
                network,
                faucet_grant: Amount::sage(1_000),
                faucet_cooldown_secs: 24 * 3600,
                unstake_cooldown_secs: 7 * 24 * 3600,
            },
            Network::Mainnet => Self {
                network,
                faucet_grant: Amount::ZERO,
                faucet_cooldown_secs: 0,
                unstake_cooldown_secs: 7 * 24 * 3600,
            },
        }
    }
}

/// One account as the CLIs show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub address: Address,
    pub balance: Amount,
    /// Active stake (counts for tiers and rewards).
    pub stake: Amount,
    /// Unstaked, waiting for the cooldown.
    pub pending_unstake: Amount,
    /// When `pending_unstake` becomes withdrawable (unix seconds).
    pub unstake_ready_at: Option<i64>,
    /// Rewards claimable now.
    pub rewards: Amount,
    pub tier: Option<StakeTier>,
}

/// Sums over the whole ledger. `minted` always equals the sum of the other buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub minted: Amount,
    pub balances: Amount,
    pub stakes: Amount,
    pub pending_unstakes: Amount,
    pub escrow: Amount,
    /// Stakers' 2% not yet claimed (including rounding dust).
    pub reward_pool: Amount,
    pub treasury: Amount,
}

impl Totals {
    /// Everything that is not `minted`.
    pub fn held(&self) -> Option<Amount> {
        [
            self.stakes,
            self.pending_unstakes,
            self.escrow,
            self.reward_pool,
            self.treasury,
        ]
        .into_iter()
        .try_fold(self.balances, Amount::checked_add)
    }
}

/// State of a job's fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscrowState {
    Escrowed,
    Paid,
    Refunded,
}

impl EscrowState {
    pub fn as_str(self) -> &'static str {
        match self {
            EscrowState::Escrowed => "escrowed",
            EscrowState::Paid => "paid",
            EscrowState::Refunded => "refunded",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("account {account} has {available} SAGE in {bucket}, {requested} SAGE was asked")]
    InsufficientFunds {
        account: Address,
        bucket: &'static str,
        requested: Amount,
        available: Amount,
    },
    #[error("the faucet does not exist on {network}")]
    FaucetDisabled { network: Network },
    #[error("account {account} used the faucet recently; try again in {retry_after_secs}s")]
    FaucetRateLimited {
        account: Address,
        retry_after_secs: i64,
    },
    #[error("account {account} has {amount} unstaking until {ready_at} (now {now}); withdraw after that")]
    CooldownActive {
        account: Address,
        amount: Amount,
        ready_at: i64,
        now: i64,
    },
    #[error("account {account} has nothing to withdraw")]
    NothingToWithdraw { account: Address },
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("job {job_id} has no escrowed fee")]
    UnknownJob { job_id: String },
    #[error("job {job_id} was already {state}")]
    JobAlreadySettled { job_id: String, state: &'static str },
    #[error("job {job_id} is already escrowed with different terms")]
    JobConflict { job_id: String },
    #[error("idempotency key `{key}` was used for a different operation")]
    IdempotencyConflict { key: String },
    #[error("slash fraction {bps} basis points is outside 1..=10000")]
    InvalidFraction { bps: u32 },
    #[error("amount overflow")]
    Overflow,
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "on Starknet every account signs its own {operation}: run it with \
         `sage-worker --contracts FILE` (the deployment file of the coordinator's contracts)"
    )]
    SignedByAccount { operation: &'static str },
    #[error("worker {worker} holds no stake tier any more and cannot be paid")]
    WorkerWithoutTier { worker: Address },
    #[error("the chain refused the transaction: {0}")]
    ChainRejected(String),
    #[error("the settlement chain did not answer: {0}")]
    ChainUnavailable(String),
    #[error("database error: {0}")]
    Database(#[from] bitsage_sql::Error),
}

impl LedgerError {
    /// Whether the ledger failed rather than refused: its database or its chain was unreachable
    /// or its data is damaged. The same call may succeed later; nothing is wrong with it.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            LedgerError::Database(_) | LedgerError::Corrupt(_) | LedgerError::ChainUnavailable(_)
        )
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// The ledger operations the coordinator and the CLIs use. Operations a client may retry take an
/// idempotency key: the same key returns the first outcome without repeating the movement.
#[async_trait]
pub trait Settlement: Send + Sync {
    async fn account(&self, address: Address) -> Result<AccountInfo>;
    async fn faucet(&self, address: Address, key: Option<&str>) -> Result<Amount>;
    async fn stake(
        &self,
        address: Address,
        amount: Amount,
        key: Option<&str>,
    ) -> Result<AccountInfo>;
    async fn unstake(
        &self,
        address: Address,
        amount: Amount,
        key: Option<&str>,
    ) -> Result<AccountInfo>;
    /// Moves matured unstakes to the balance; returns the amount.
    async fn withdraw(&self, address: Address, key: Option<&str>) -> Result<Amount>;
    /// Moves accrued staking rewards to the balance; returns the amount.
    async fn claim(&self, address: Address, key: Option<&str>) -> Result<Amount>;
    /// Escrows a job's fee from the client. Idempotent on `job_id` with the same terms.
    async fn escrow(&self, job_id: &str, client: Address, fee: Amount) -> Result<()>;
    /// Pays an escrowed fee out after the proof with this 32-byte commitment was accepted.
    /// Idempotent for the same worker.
    async fn pay(
        &self,
        job_id: &str,
        worker: Address,
        proof_commitment: &[u8; 32],
    ) -> Result<FeeSplit>;
    /// Returns an escrowed fee to the client (the job failed for good). Idempotent.
    async fn refund(&self, job_id: &str) -> Result<Amount>;
    /// Moves `bps / 10000` of a worker's active stake to the treasury, recording why.
    async fn slash(&self, worker: Address, bps: u32, reason: &str) -> Result<Amount>;
    async fn totals(&self) -> Result<Totals>;
}
