//! Typed calls to the deployed contracts for one signing account.

use starknet_rust::core::types::Felt;

use crate::chain::Chain;
use crate::deploy::Deployment;
use crate::{u256_calldata, u256_from, Error, Result};

/// A job as `JobManager` records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobInfo {
    pub client: Felt,
    pub worker: Felt,
    pub fee: u128,
    pub state: JobState,
    pub proof_commitment: [u8; 32],
}

/// `JobManager`'s job states, in the contract's variant order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    None,
    Escrowed,
    Assigned,
    Completed,
    Refunded,
}

/// The SAGE contracts as seen by one account.
#[derive(Debug)]
pub struct Sage<'a> {
    chain: &'a Chain,
    at: &'a Deployment,
}

impl<'a> Sage<'a> {
    pub fn new(chain: &'a Chain, at: &'a Deployment) -> Self {
        Self { chain, at }
    }

    pub fn address(&self) -> Felt {
        self.chain.address()
    }

    pub async fn balance(&self, who: Felt) -> Result<u128> {
        u256_from(
            &self
                .chain
                .call(self.at.token, "balance_of", vec![who])
                .await?,
        )
    }

    /// An allowance of 2^128 or more reads as `u128::MAX`.
    pub async fn allowance(&self, owner: Felt, spender: Felt) -> Result<u128> {
        crate::u256_saturating(
            &self
                .chain
                .call(self.at.token, "allowance", vec![owner, spender])
                .await?,
        )
    }

    pub async fn total_supply(&self) -> Result<u128> {
        u256_from(
            &self
                .chain
                .call(self.at.token, "total_supply", vec![])
                .await?,
        )
    }

    /// Lets the `JobManager` take up to `amount` for jobs that the coordinator escrows on
    /// this account's behalf (the client's account).
    pub async fn approve_jobs(&self, amount: u128) -> Result<Felt> {
        self.chain
            .invoke(
                self.at.token,
                "approve",
                with_amount(vec![self.at.jobs], amount),
            )
            .await
    }

    pub async fn transfer(&self, to: Felt, amount: u128) -> Result<Felt> {
        self.chain
            .invoke(self.at.token, "transfer", with_amount(vec![to], amount))
            .await
    }

    /// Claims the faucet's grant; returns the amount received.
    pub async fn faucet(&self) -> Result<u128> {
        let before = self.balance(self.address()).await?;
        self.chain.invoke(self.at.faucet, "claim", vec![]).await?;
        Ok(self.balance(self.address()).await? - before)
    }

    /// Approves and stakes in one transaction.
    pub async fn stake(&self, amount: u128) -> Result<Felt> {
        self.chain
            .invoke_all(vec![
                (
                    self.at.token,
                    "approve",
                    with_amount(vec![self.at.staking], amount),
                ),
                (self.at.staking, "stake", with_amount(vec![], amount)),
            ])
            .await
    }

    pub async fn request_unstake(&self, amount: u128) -> Result<Felt> {
        self.chain
            .invoke(
                self.at.staking,
                "request_unstake",
                with_amount(vec![], amount),
            )
            .await
    }

    /// Withdraws matured unbonding stake; returns the amount received.
    pub async fn withdraw(&self) -> Result<u128> {
        let before = self.balance(self.address()).await?;
        self.chain
            .invoke(self.at.staking, "withdraw", vec![])
            .await?;
        Ok(self.balance(self.address()).await? - before)
    }

    /// Claims staking rewards; returns the amount received.
    pub async fn claim_rewards(&self) -> Result<u128> {
        let before = self.balance(self.address()).await?;
        self.chain
            .invoke(self.at.staking, "claim_rewards", vec![])
            .await?;
        Ok(self.balance(self.address()).await? - before)
    }

    /// Slashes `bps / 10000` of a worker's stake (the coordinator's account only).
    pub async fn slash(&self, worker: Felt, bps: u16, reason: &str) -> Result<Felt> {
        let reason = starknet_rust::core::utils::cairo_short_string_to_felt(reason)
            .map_err(|e| Error::Node(format!("slash reason {reason:?}: {e}")))?;
        self.chain
            .invoke(self.at.staking, "slash", vec![worker, bps.into(), reason])
            .await
    }

    pub async fn stake_of(&self, who: Felt) -> Result<u128> {
        u256_from(
            &self
                .chain
                .call(self.at.staking, "stake_of", vec![who])
                .await?,
        )
    }

    pub async fn total_staked(&self) -> Result<u128> {
        u256_from(
            &self
                .chain
                .call(self.at.staking, "total_staked", vec![])
                .await?,
        )
    }

    pub async fn tier_of(&self, who: Felt) -> Result<u8> {
        let out = self
            .chain
            .call(self.at.staking, "tier_of", vec![who])
            .await?;
        small(&out, 0)
    }

    pub async fn pending_rewards(&self, who: Felt) -> Result<u128> {
        u256_from(
            &self
                .chain
                .call(self.at.staking, "pending_rewards", vec![who])
                .await?,
        )
    }

    /// The unbonding amount and when it matures (chain time, seconds).
    pub async fn unbonding_of(&self, who: Felt) -> Result<(u128, u64)> {
        let out = self
            .chain
            .call(self.at.staking, "unbonding_of", vec![who])
            .await?;
        if out.len() != 3 {
            return Err(Error::Node(format!("unbonding_of: {} felts", out.len())));
        }
        Ok((u256_from(&out[..2])?, small(&out, 2)?))
    }

    /// Approves and escrows a job's fee in one transaction (the client's account).
    pub async fn escrow(&self, job: Felt, fee: u128) -> Result<Felt> {
        self.chain
            .invoke_all(vec![
                (
                    self.at.token,
                    "approve",
                    with_amount(vec![self.at.jobs], fee),
                ),
                (self.at.jobs, "escrow", with_amount(vec![job], fee)),
            ])
            .await
    }

    /// Escrows a job's fee from `client`'s allowance to the `JobManager` (the coordinator's
    /// account).
    pub async fn escrow_for(&self, job: Felt, client: Felt, fee: u128) -> Result<Felt> {
        self.chain
            .invoke(
                self.at.jobs,
                "escrow_for",
                with_amount(vec![job, client], fee),
            )
            .await
    }

    /// Assigns a job to the worker that proved it and pays it out, in one transaction (the
    /// coordinator's account, after its verification gate accepted the proof).
    pub async fn assign_and_complete(
        &self,
        job: Felt,
        worker: Felt,
        proof_commitment: [u8; 32],
    ) -> Result<Felt> {
        self.chain
            .invoke_all(vec![
                (self.at.jobs, "assign", vec![job, worker]),
                (
                    self.at.jobs,
                    "complete",
                    complete_calldata(job, proof_commitment),
                ),
            ])
            .await
    }

    /// Records the worker of a job (the coordinator's account).
    pub async fn assign(&self, job: Felt, worker: Felt) -> Result<Felt> {
        self.chain
            .invoke(self.at.jobs, "assign", vec![job, worker])
            .await
    }

    /// Pays a job out after its proof was accepted (the coordinator's account).
    pub async fn complete(&self, job: Felt, proof_commitment: [u8; 32]) -> Result<Felt> {
        self.chain
            .invoke(
                self.at.jobs,
                "complete",
                complete_calldata(job, proof_commitment),
            )
            .await
    }

    /// Returns a failed job's fee to its client (the coordinator's account).
    pub async fn refund(&self, job: Felt) -> Result<Felt> {
        self.chain.invoke(self.at.jobs, "refund", vec![job]).await
    }

    pub async fn job(&self, job: Felt) -> Result<JobInfo> {
        let out = self.chain.call(self.at.jobs, "job", vec![job]).await?;
        if out.len() != 7 {
            return Err(Error::Node(format!("job: {} felts", out.len())));
        }
        let state = match small(&out, 4)? {
            0 => JobState::None,
            1 => JobState::Escrowed,
            2 => JobState::Assigned,
            3 => JobState::Completed,
            4 => JobState::Refunded,
            other => return Err(Error::Node(format!("job state {other}"))),
        };
        let mut proof_commitment = [0u8; 32];
        proof_commitment[..16].copy_from_slice(&out[6].to_bytes_be()[16..]);
        proof_commitment[16..].copy_from_slice(&out[5].to_bytes_be()[16..]);
        Ok(JobInfo {
            client: out[0],
            worker: out[1],
            fee: u256_from(&out[2..4])?,
            state,
            proof_commitment,
        })
    }
}

/// `complete(job, commitment: u256)`: the commitment's big-endian bytes as (low, high).
fn complete_calldata(job: Felt, proof_commitment: [u8; 32]) -> Vec<Felt> {
    let (high, low) = proof_commitment.split_at(16);
    let word = |b: &[u8]| Felt::from_bytes_be_slice(b);
    vec![job, word(low), word(high)]
}

fn with_amount(mut calldata: Vec<Felt>, amount: u128) -> Vec<Felt> {
    calldata.extend(u256_calldata(amount));
    calldata
}

fn small<T: TryFrom<u64>>(out: &[Felt], index: usize) -> Result<T> {
    out.get(index)
        .and_then(|f| u64::try_from(*f).ok())
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| Error::Node(format!("expected a small integer at position {index}")))
}
