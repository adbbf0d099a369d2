//! The contracts' rules in Cairo, run by `cairo-test --starknet` (see docs/starknet.md). The Rust
//! tests against a devnet cover the same rules through real transactions; these run without a
//! chain and check a few edge cases directly.

use starknet::syscalls::deploy_syscall;
use starknet::testing::{set_block_timestamp, set_contract_address};
use starknet::{ClassHash, ContractAddress, SyscallResultTrait};
use crate::interfaces::{
    IJobManagerDispatcher, IJobManagerDispatcherTrait, IPaymentRouterDispatcher,
    IPaymentRouterDispatcherTrait, IProverStakingDispatcher, IProverStakingDispatcherTrait,
    ISageTokenDispatcher, ISageTokenDispatcherTrait, JobState,
};
use crate::jobs::JobManager;
use crate::router::PaymentRouter;
use crate::staking::ProverStaking;
use crate::token::SageToken;

const SAGE: u256 = 1_000_000_000_000_000_000;
const COOLDOWN: u64 = 100;

fn address(value: felt252) -> ContractAddress {
    value.try_into().unwrap()
}

fn owner() -> ContractAddress {
    address('owner')
}

fn treasury() -> ContractAddress {
    address('treasury')
}

fn deploy(class_hash: ClassHash, calldata: Array<felt252>) -> ContractAddress {
    let (deployed, _) = deploy_syscall(class_hash, 0, calldata.span(), false).unwrap_syscall();
    deployed
}

#[derive(Drop, Copy)]
struct Net {
    token: ISageTokenDispatcher,
    staking: IProverStakingDispatcher,
    router: IPaymentRouterDispatcher,
    jobs: IJobManagerDispatcher,
}

/// Token, staking, router and job manager; `owner` holds the supply and is the coordinator.
fn setup() -> Net {
    set_block_timestamp(1_000);
    let supply: u256 = 1_000_000_000 * SAGE;
    let token = deploy(
        SageToken::TEST_CLASS_HASH, array![owner().into(), supply.low.into(), supply.high.into()],
    );
    let staking = deploy(
        ProverStaking::TEST_CLASS_HASH,
        array![token.into(), treasury().into(), owner().into(), COOLDOWN.into()],
    );
    let router = deploy(
        PaymentRouter::TEST_CLASS_HASH, array![token.into(), staking.into(), treasury().into()],
    );
    let jobs = deploy(
        JobManager::TEST_CLASS_HASH,
        array![token.into(), staking.into(), router.into(), owner().into()],
    );
    Net {
        token: ISageTokenDispatcher { contract_address: token },
        staking: IProverStakingDispatcher { contract_address: staking },
        router: IPaymentRouterDispatcher { contract_address: router },
        jobs: IJobManagerDispatcher { contract_address: jobs },
    }
}

/// Gives `who` `amount` from the owner's supply.
fn fund(net: Net, who: ContractAddress, amount: u256) {
    set_contract_address(owner());
    net.token.transfer(who, amount);
}

fn stake(net: Net, who: ContractAddress, amount: u256) {
    fund(net, who, amount);
    set_contract_address(who);
    net.token.approve(net.staking.contract_address, amount);
    net.staking.stake(amount);
}

#[test]
fn tiers_follow_the_ledger_thresholds() {
    let net = setup();
    let worker = address('worker');
    stake(net, worker, 999 * SAGE);
    assert_eq!(net.staking.tier_of(worker), 0);
    stake(net, worker, SAGE);
    assert_eq!(net.staking.tier_of(worker), 1);
    stake(net, worker, 1_500 * SAGE);
    assert_eq!(net.staking.tier_of(worker), 2);
    stake(net, worker, 22_500 * SAGE);
    assert_eq!(net.staking.tier_of(worker), 5);
}

#[test]
fn the_split_is_exact_for_an_uneven_amount() {
    let net = setup();
    let (worker, staker) = (address('worker'), address('staker'));
    stake(net, staker, 1_000 * SAGE);
    let amount: u256 = 10 * SAGE + 7;
    set_contract_address(owner());
    net.token.approve(net.router.contract_address, amount);
    let treasury_before = net.token.balance_of(treasury());
    let (to_worker, to_treasury, to_stakers) = net.router.pay(worker, amount);
    assert_eq!(to_worker + to_treasury + to_stakers, amount);
    assert_eq!(to_worker, amount * 80 / 100);
    assert_eq!(to_stakers, amount * 2 / 100);
    assert_eq!(net.token.balance_of(worker), to_worker);
    assert_eq!(net.token.balance_of(treasury()) - treasury_before, to_treasury);
    // The only staker gets the stakers' part, less at most one unit of rounding.
    assert!(to_stakers - net.staking.pending_rewards(staker) <= 1);
}

#[test]
#[should_panic(expected: ('STAKE: still cooling down', 'ENTRYPOINT_FAILED'))]
fn a_withdrawal_waits_for_the_cooldown() {
    let net = setup();
    let worker = address('worker');
    stake(net, worker, 2_500 * SAGE);
    net.staking.request_unstake(2_000 * SAGE);
    assert_eq!(net.staking.tier_of(worker), 0);
    set_block_timestamp(1_000 + COOLDOWN - 1);
    net.staking.withdraw();
}

#[test]
fn a_withdrawal_pays_after_the_cooldown() {
    let net = setup();
    let worker = address('worker');
    stake(net, worker, 2_500 * SAGE);
    net.staking.request_unstake(2_000 * SAGE);
    set_block_timestamp(1_000 + COOLDOWN);
    assert_eq!(net.staking.withdraw(), 2_000 * SAGE);
    assert_eq!(net.token.balance_of(worker), 2_000 * SAGE);
}

#[test]
fn a_slash_reaches_unbonding_stake() {
    let net = setup();
    let worker = address('worker');
    stake(net, worker, 1_000 * SAGE);
    net.staking.request_unstake(1_000 * SAGE);
    set_contract_address(owner());
    let treasury_before = net.token.balance_of(treasury());
    assert_eq!(net.staking.slash(worker, 5_000, 'forged proof'), 500 * SAGE);
    let (unbonding, _) = net.staking.unbonding_of(worker);
    assert_eq!(unbonding, 500 * SAGE);
    assert_eq!(net.token.balance_of(treasury()) - treasury_before, 500 * SAGE);
}

#[test]
#[should_panic(expected: ('STAKE: caller is not slasher', 'ENTRYPOINT_FAILED'))]
fn only_the_slasher_slashes() {
    let net = setup();
    let worker = address('worker');
    stake(net, worker, 1_000 * SAGE);
    net.staking.slash(worker, 1_000, 'self');
}

#[test]
#[should_panic(expected: ('JOBS: caller not coordinator', 'ENTRYPOINT_FAILED'))]
fn only_the_coordinator_escrows_from_an_allowance() {
    let net = setup();
    let client = address('client');
    fund(net, client, 100 * SAGE);
    set_contract_address(client);
    net.token.approve(net.jobs.contract_address, 100 * SAGE);
    set_contract_address(address('thief'));
    net.jobs.escrow_for('job', client, 100 * SAGE);
}

#[test]
fn a_job_escrowed_from_an_allowance_is_paid_once() {
    let net = setup();
    let (client, worker) = (address('client'), address('worker'));
    stake(net, worker, 1_000 * SAGE);
    fund(net, client, 10 * SAGE);
    set_contract_address(client);
    net.token.approve(net.jobs.contract_address, 10 * SAGE);
    set_contract_address(owner());
    net.jobs.escrow_for('job', client, 10 * SAGE);
    assert_eq!(net.token.balance_of(client), 0);
    net.jobs.assign('job', worker);
    net.jobs.complete('job', 0xc0ffee);
    let job = net.jobs.job('job');
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.client, client);
    assert_eq!(job.proof_commitment, 0xc0ffee);
    assert_eq!(net.token.balance_of(worker), 8 * SAGE);
}

#[test]
#[should_panic(expected: ('JOBS: job is not open', 'ENTRYPOINT_FAILED'))]
fn a_paid_job_is_not_refunded() {
    let net = setup();
    let (client, worker) = (address('client'), address('worker'));
    stake(net, worker, 1_000 * SAGE);
    fund(net, client, 10 * SAGE);
    set_contract_address(client);
    net.token.approve(net.jobs.contract_address, 10 * SAGE);
    set_contract_address(owner());
    net.jobs.escrow_for('job', client, 10 * SAGE);
    net.jobs.assign('job', worker);
    net.jobs.complete('job', 1);
    net.jobs.refund('job');
}

#[test]
#[should_panic(expected: ('JOBS: job id already used', 'ENTRYPOINT_FAILED'))]
fn a_job_id_is_escrowed_once() {
    let net = setup();
    let client = address('client');
    fund(net, client, 20 * SAGE);
    set_contract_address(client);
    net.token.approve(net.jobs.contract_address, 20 * SAGE);
    set_contract_address(owner());
    net.jobs.escrow_for('job', client, 10 * SAGE);
    net.jobs.escrow_for('job', client, 10 * SAGE);
}
