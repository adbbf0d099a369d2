//! BitSage settlement contracts: the SAGE token, a faucet, prover staking with tiers and staker
//! rewards, job escrow, and the 80/18/2 payment split. Amounts are in the token's smallest unit
//! (18 decimals), as in `bitsage-ledger`.

pub mod faucet;
pub mod interfaces;
pub mod jobs;
pub mod router;
pub mod staking;
pub mod token;

#[cfg(test)]
mod tests;
