use starknet::ContractAddress;

/// ERC-20 with 18 decimals.
#[starknet::interface]
pub trait ISageToken<T> {
    fn name(self: @T) -> felt252;
    fn symbol(self: @T) -> felt252;
    fn decimals(self: @T) -> u8;
    fn total_supply(self: @T) -> u256;
    fn balance_of(self: @T, account: ContractAddress) -> u256;
    fn allowance(self: @T, owner: ContractAddress, spender: ContractAddress) -> u256;
    fn transfer(ref self: T, recipient: ContractAddress, amount: u256) -> bool;
    fn transfer_from(
        ref self: T, sender: ContractAddress, recipient: ContractAddress, amount: u256,
    ) -> bool;
    fn approve(ref self: T, spender: ContractAddress, amount: u256) -> bool;
}

/// Hands out a fixed grant per call, at most once per cooldown per account.
#[starknet::interface]
pub trait IFaucet<T> {
    fn claim(ref self: T) -> u256;
    fn grant(self: @T) -> u256;
    fn cooldown(self: @T) -> u64;
    fn next_claim_at(self: @T, account: ContractAddress) -> u64;
}

/// Stake, tiers, unstaking with a cooldown, slashing, and the stakers' share of fees.
#[starknet::interface]
pub trait IProverStaking<T> {
    fn stake(ref self: T, amount: u256);
    /// Moves `amount` of active stake into an unbonding batch that matures after the cooldown.
    fn request_unstake(ref self: T, amount: u256);
    /// Pays out the unbonding stake once it has matured; returns the amount.
    fn withdraw(ref self: T) -> u256;
    /// Pays out accrued rewards; returns the amount.
    fn claim_rewards(ref self: T) -> u256;
    /// Moves `bps / 10000` of the worker's stake (active first, then unbonding) to the
    /// treasury. Slasher only.
    fn slash(ref self: T, worker: ContractAddress, bps: u16, reason: felt252) -> u256;
    /// Pulls `amount` from the caller (who must have approved it) into the stakers' rewards.
    fn distribute_rewards(ref self: T, amount: u256);
    fn stake_of(self: @T, worker: ContractAddress) -> u256;
    /// The unbonding amount and when it matures (seconds since the epoch).
    fn unbonding_of(self: @T, worker: ContractAddress) -> (u256, u64);
    fn pending_rewards(self: @T, worker: ContractAddress) -> u256;
    /// 0 below the lowest tier, then 1 Consumer .. 5 Frontier.
    fn tier_of(self: @T, worker: ContractAddress) -> u8;
    fn total_staked(self: @T) -> u256;
    fn cooldown(self: @T) -> u64;
}

/// Splits a payment: 80% to the worker, 2% to the stakers, the rest (18% and rounding) to the
/// treasury.
#[starknet::interface]
pub trait IPaymentRouter<T> {
    /// Pulls `amount` from the caller (who must have approved it) and splits it; returns
    /// `(worker, treasury, stakers)`.
    fn pay(ref self: T, worker: ContractAddress, amount: u256) -> (u256, u256, u256);
    fn treasury(self: @T) -> ContractAddress;
}

#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store)]
pub enum JobState {
    #[default]
    None,
    Escrowed,
    Assigned,
    Completed,
    Refunded,
}

#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct JobInfo {
    pub client: ContractAddress,
    pub worker: ContractAddress,
    pub fee: u256,
    pub state: JobState,
    pub proof_commitment: u256,
}

/// Escrows job fees and releases them once the coordinator has accepted a proof.
#[starknet::interface]
pub trait IJobManager<T> {
    /// The caller (the client) escrows `fee` for `job_id`; it must have approved the amount.
    fn escrow(ref self: T, job_id: felt252, fee: u256);
    /// Escrows `fee` for `job_id` from `client`, which must have approved the JobManager for
    /// it: a client approves once and the coordinator escrows each job it accepts.
    /// Coordinator only.
    fn escrow_for(ref self: T, job_id: felt252, client: ContractAddress, fee: u256);
    /// Records the worker that leased the job. Coordinator only; the worker must hold a tier.
    fn assign(ref self: T, job_id: felt252, worker: ContractAddress);
    /// Pays the fee out through the router once the coordinator accepted the proof with this
    /// commitment. Coordinator only.
    fn complete(ref self: T, job_id: felt252, proof_commitment: u256);
    /// Returns the fee to the client after the job failed for good. Coordinator only.
    fn refund(ref self: T, job_id: felt252);
    fn job(self: @T, job_id: felt252) -> JobInfo;
}
