//! [`StarknetSettlement`]: the ledger's [`Settlement`] on the deployed contracts, for a
//! coordinator started with `--settlement starknet`.
//!
//! The ledger names accounts by Stark public key; on chain each key owns an account contract at
//! [`address_for_key`]. The coordinator's own account (the deployment's `coordinator`) sends
//! every transaction: it escrows a job's fee from the client's allowance to the `JobManager`,
//! assigns and completes the job in one transaction once the verification gate accepted the
//! proof (the proof's commitment goes on chain), refunds failed jobs and slashes. What an account
//! does with its own tokens (faucet, stake, unstake, withdraw, claim) it signs itself, with
//! `sage-worker --contracts`: here those are [`LedgerError::SignedByAccount`].
//!
//! Every write first reads the job's record, so each operation is idempotent like the embedded
//! ledger's: a retry after a crash finds the work done and answers as the first call did.

use async_trait::async_trait;
use bitsage_ledger::{
    AccountInfo, Address, Amount, FeeSplit, LedgerError, Settlement, StakeTier, Totals,
};
use starknet_rust::core::types::Felt;
use starknet_rust::core::utils::starknet_keccak;
use starknet_rust::signers::SigningKey;

use crate::account::address_for_key;
use crate::chain::Chain;
use crate::deploy::Deployment;
use crate::sage::{JobState, Sage};
use crate::Error;

type Result<T> = std::result::Result<T, LedgerError>;

/// Settlement on the contracts of one deployment, signed by the coordinator's account.
#[derive(Debug)]
pub struct StarknetSettlement {
    deployment: Deployment,
    chain: Chain,
    /// One transaction at a time: the account's nonces form one sequence, and two transactions
    /// built at once would take the same nonce.
    sending: tokio::sync::Mutex<()>,
}

impl StarknetSettlement {
    /// Connects with the private key of the deployment's coordinator account; a key that is
    /// not that account's is refused here rather than at the first transaction.
    pub async fn connect(deployment: Deployment, private_key: Felt) -> crate::Result<Self> {
        let chain = Chain::connect(&deployment.rpc, deployment.coordinator, private_key).await?;
        let public_key = SigningKey::from_secret_scalar(private_key)
            .verifying_key()
            .scalar();
        let on_chain = chain
            .call(deployment.coordinator, "get_public_key", vec![])
            .await?;
        if on_chain.first() != Some(&public_key) {
            return Err(Error::Node(format!(
                "the key given does not sign for the coordinator account {:#x} of this deployment",
                deployment.coordinator
            )));
        }
        Ok(Self {
            deployment,
            chain,
            sending: tokio::sync::Mutex::new(()),
        })
    }

    /// On a devnet, the coordinator account is one of the predeployed ones (the deployer, by
    /// default), whose key the devnet tells: no key to pass around for local runs.
    pub async fn connect_devnet(deployment: Deployment) -> crate::Result<Self> {
        if !deployment.devnet {
            return Err(Error::Node(
                "the deployment is not on a devnet: give the coordinator account's private key"
                    .into(),
            ));
        }
        let accounts = crate::devnet::predeployed_accounts(&deployment.rpc).await?;
        let key = accounts
            .iter()
            .find(|a| a.address == deployment.coordinator)
            .map(|a| a.private_key)
            .ok_or_else(|| {
                Error::Devnet(format!(
                    "the coordinator account {:#x} is not a predeployed devnet account: give its \
                     private key",
                    deployment.coordinator
                ))
            })?;
        Self::connect(deployment, key).await
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The account contract of a ledger address (a Stark public key).
    pub fn chain_address(&self, address: Address) -> Felt {
        address_for_key(self.deployment.account_class, felt(address))
    }

    fn sage(&self) -> Sage<'_> {
        Sage::new(&self.chain, &self.deployment)
    }
}

/// A coordinator job id (any string; in practice `0x` and 64 hex digits, 256 bits, which need
/// not fit a felt) as the contract's `felt252` key: its Starknet Keccak, 250 bits.
pub fn job_key(job_id: &str) -> Felt {
    starknet_keccak(job_id.as_bytes())
}

fn felt(address: Address) -> Felt {
    Felt::from_bytes_be(&address.bytes())
}

fn amount(units: u128) -> Amount {
    Amount(units)
}

/// A revert is the chain's answer and final; anything else may pass, so the caller retries.
fn ledger_error(e: Error) -> LedgerError {
    match e {
        Error::Reverted(reason) => LedgerError::ChainRejected(reason),
        other => LedgerError::ChainUnavailable(other.to_string()),
    }
}

/// `tier_of`'s 1..=5, in the ledger's order.
fn tier(index: u8) -> Option<StakeTier> {
    index
        .checked_sub(1)
        .and_then(|i| StakeTier::ALL.get(usize::from(i)).copied())
}

#[async_trait]
impl Settlement for StarknetSettlement {
    async fn account(&self, address: Address) -> Result<AccountInfo> {
        let who = self.chain_address(address);
        let sage = self.sage();
        let (balance, stake, (unbonding, ready_at), rewards, tier_index) = tokio::try_join!(
            sage.balance(who),
            sage.stake_of(who),
            sage.unbonding_of(who),
            sage.pending_rewards(who),
            sage.tier_of(who),
        )
        .map_err(ledger_error)?;
        Ok(AccountInfo {
            address,
            balance: amount(balance),
            stake: amount(stake),
            pending_unstake: amount(unbonding),
            unstake_ready_at: (unbonding > 0).then_some(ready_at as i64),
            rewards: amount(rewards),
            tier: tier(tier_index),
        })
    }

    async fn faucet(&self, _: Address, _: Option<&str>) -> Result<Amount> {
        Err(LedgerError::SignedByAccount {
            operation: "faucet claim",
        })
    }

    async fn stake(&self, _: Address, _: Amount, _: Option<&str>) -> Result<AccountInfo> {
        Err(LedgerError::SignedByAccount { operation: "stake" })
    }

    async fn unstake(&self, _: Address, _: Amount, _: Option<&str>) -> Result<AccountInfo> {
        Err(LedgerError::SignedByAccount {
            operation: "unstake",
        })
    }

    async fn withdraw(&self, _: Address, _: Option<&str>) -> Result<Amount> {
        Err(LedgerError::SignedByAccount {
            operation: "withdrawal",
        })
    }

    async fn claim(&self, _: Address, _: Option<&str>) -> Result<Amount> {
        Err(LedgerError::SignedByAccount {
            operation: "reward claim",
        })
    }

    async fn escrow(&self, job_id: &str, client: Address, fee: Amount) -> Result<()> {
        if fee.is_zero() {
            return Err(LedgerError::ZeroAmount);
        }
        let key = job_key(job_id);
        let payer = self.chain_address(client);
        let sage = self.sage();
        let _sending = self.sending.lock().await;
        let same_terms = |job: crate::sage::JobInfo| {
            if job.client == payer && job.fee == fee.0 {
                Ok(())
            } else {
                Err(LedgerError::JobConflict {
                    job_id: job_id.to_string(),
                })
            }
        };
        let job = sage.job(key).await.map_err(ledger_error)?;
        if job.state != JobState::None {
            return same_terms(job);
        }
        // Checked first so that the client reads which of the two is short, in SAGE.
        let (balance, allowance) = tokio::try_join!(
            sage.balance(payer),
            sage.allowance(payer, self.deployment.jobs)
        )
        .map_err(ledger_error)?;
        for (bucket, available) in [
            ("balance", balance),
            ("allowance for the JobManager", allowance),
        ] {
            if available < fee.0 {
                // An earlier escrow of this job (a transaction that outlived its receipt wait)
                // may have landed since the first read and spent the allowance.
                let job = sage.job(key).await.map_err(ledger_error)?;
                if job.state != JobState::None {
                    return same_terms(job);
                }
                return Err(LedgerError::InsufficientFunds {
                    account: client,
                    bucket,
                    requested: fee,
                    available: amount(available),
                });
            }
        }
        match sage.escrow_for(key, payer, fee.0).await {
            Ok(_) => Ok(()),
            // Another coordinator replica may have escrowed it meanwhile.
            Err(Error::Reverted(reason)) => match sage.job(key).await.map_err(ledger_error)? {
                job if job.state != JobState::None => same_terms(job),
                _ => Err(LedgerError::ChainRejected(reason)),
            },
            Err(e) => Err(ledger_error(e)),
        }
    }

    async fn pay(
        &self,
        job_id: &str,
        worker: Address,
        proof_commitment: &[u8; 32],
    ) -> Result<FeeSplit> {
        let key = job_key(job_id);
        let payee = self.chain_address(worker);
        let sage = self.sage();
        let _sending = self.sending.lock().await;
        let job = sage.job(key).await.map_err(ledger_error)?;
        let settled = |state| LedgerError::JobAlreadySettled {
            job_id: job_id.to_string(),
            state,
        };
        match job.state {
            JobState::None => {
                return Err(LedgerError::UnknownJob {
                    job_id: job_id.to_string(),
                })
            }
            JobState::Completed if job.worker == payee => return Ok(FeeSplit::of(amount(job.fee))),
            JobState::Completed => return Err(settled("paid")),
            JobState::Refunded => return Err(settled("refunded")),
            JobState::Escrowed | JobState::Assigned => {}
        }
        // `assign` and `complete` both require a tier; without one the transaction would
        // revert on every retry.
        if sage.tier_of(payee).await.map_err(ledger_error)? == 0 {
            return Err(LedgerError::WorkerWithoutTier { worker });
        }
        match sage
            .assign_and_complete(key, payee, *proof_commitment)
            .await
        {
            // The router splits with the ledger's formula (tested on the devnet).
            Ok(_) => Ok(FeeSplit::of(amount(job.fee))),
            Err(Error::Reverted(reason)) => match sage.job(key).await.map_err(ledger_error)? {
                done if done.state == JobState::Completed && done.worker == payee => {
                    Ok(FeeSplit::of(amount(done.fee)))
                }
                _ => Err(LedgerError::ChainRejected(reason)),
            },
            Err(e) => Err(ledger_error(e)),
        }
    }

    async fn refund(&self, job_id: &str) -> Result<Amount> {
        let key = job_key(job_id);
        let sage = self.sage();
        let _sending = self.sending.lock().await;
        let job = sage.job(key).await.map_err(ledger_error)?;
        match job.state {
            JobState::None => Err(LedgerError::UnknownJob {
                job_id: job_id.to_string(),
            }),
            JobState::Refunded => Ok(amount(job.fee)),
            JobState::Completed => Err(LedgerError::JobAlreadySettled {
                job_id: job_id.to_string(),
                state: "paid",
            }),
            JobState::Escrowed | JobState::Assigned => {
                sage.refund(key).await.map_err(ledger_error)?;
                Ok(amount(job.fee))
            }
        }
    }

    /// Not idempotent, unlike the job operations: a retry after a transaction that landed
    /// unseen slashes again, and the amount is read as the difference of two reads. The
    /// coordinator does not slash automatically.
    async fn slash(&self, worker: Address, bps: u32, reason: &str) -> Result<Amount> {
        let bps = u16::try_from(bps)
            .ok()
            .filter(|b| (1..=10_000).contains(b))
            .ok_or(LedgerError::InvalidFraction { bps })?;
        let who = self.chain_address(worker);
        let sage = self.sage();
        let _sending = self.sending.lock().await;
        let held = async || -> crate::Result<u128> {
            let (stake, (unbonding, _)) =
                tokio::try_join!(sage.stake_of(who), sage.unbonding_of(who))?;
            Ok(stake + unbonding)
        };
        let before = held().await.map_err(ledger_error)?;
        // A Cairo short string holds 31 ASCII characters.
        let reason: String = reason.chars().filter(char::is_ascii).take(31).collect();
        sage.slash(who, bps, &reason).await.map_err(ledger_error)?;
        let after = held().await.map_err(ledger_error)?;
        Ok(amount(before.saturating_sub(after)))
    }

    /// The chain has no list of accounts, so `balances` is the supply less what staking,
    /// escrow and treasury hold (accounts, the faucet's reserve and any other contract
    /// together), and `pending_unstakes` is everything the staking contract holds beyond
    /// active stake: unbonding stake and unclaimed rewards (`reward_pool` stays zero).
    async fn totals(&self) -> Result<Totals> {
        let sage = self.sage();
        let at = &self.deployment;
        let (minted, stakes, staking_held, escrow, treasury) = tokio::try_join!(
            sage.total_supply(),
            sage.total_staked(),
            sage.balance(at.staking),
            sage.balance(at.jobs),
            sage.balance(at.treasury),
        )
        .map_err(ledger_error)?;
        let beyond_stake = staking_held.saturating_sub(stakes);
        let held = stakes + beyond_stake + escrow + treasury;
        Ok(Totals {
            minted: amount(minted),
            balances: amount(minted.checked_sub(held).ok_or(LedgerError::Overflow)?),
            stakes: amount(stakes),
            pending_unstakes: amount(beyond_stake),
            escrow: amount(escrow),
            reward_pool: Amount::ZERO,
            treasury: amount(treasury),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_are_felts_and_distinct() {
        let a = job_key(&format!("0x{}", "ff".repeat(32)));
        let b = job_key(&format!("0x{}", "fe".repeat(32)));
        assert_ne!(a, b);
        assert!(a.to_bytes_be()[0] < 0x04, "250 bits");
    }

    #[test]
    fn tiers_follow_the_contract_numbering() {
        assert_eq!(tier(0), None);
        assert_eq!(tier(1), Some(StakeTier::Consumer));
        assert_eq!(tier(5), Some(StakeTier::Frontier));
        assert_eq!(tier(6), None);
    }
}
