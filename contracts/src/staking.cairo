/// Prover staking. Active stake decides a worker's tier; unstaking moves stake into an unbonding
/// batch that can be withdrawn after the cooldown; the slasher moves a share of a worker's
/// active stake to the treasury; the stakers' 2% of every fee is shared pro rata through a
/// reward-per-share accumulator.
#[starknet::contract]
pub mod ProverStaking {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{
        ContractAddress, get_block_timestamp, get_caller_address, get_contract_address,
    };
    use crate::interfaces::{IProverStaking, ISageTokenDispatcher, ISageTokenDispatcherTrait};

    /// Scale of the reward-per-share accumulator. `stake * reward_per_share` stays below 2^256
    /// as long as the rewards ever distributed (times 10^18) and the largest stake, both below
    /// 10^27 units, multiply to less than 10^77.
    const PRECISION: u256 = 1_000_000_000_000_000_000;
    const SAGE: u256 = 1_000_000_000_000_000_000;

    #[storage]
    struct Storage {
        token: ContractAddress,
        treasury: ContractAddress,
        slasher: ContractAddress,
        cooldown: u64,
        total_staked: u256,
        stakes: Map<ContractAddress, u256>,
        unbonding: Map<ContractAddress, u256>,
        unlock_at: Map<ContractAddress, u64>,
        reward_per_share: u256,
        reward_debt: Map<ContractAddress, u256>,
        rewards_owed: Map<ContractAddress, u256>,
        /// Rewards that arrived while nothing was staked; shared at the next distribution.
        undistributed: u256,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        Staked: Staked,
        UnstakeRequested: UnstakeRequested,
        Withdrawn: Withdrawn,
        RewardsClaimed: RewardsClaimed,
        RewardsDistributed: RewardsDistributed,
        Slashed: Slashed,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Staked {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub stake: u256,
        pub tier: u8,
    }

    #[derive(Drop, starknet::Event)]
    pub struct UnstakeRequested {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub unlock_at: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Withdrawn {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct RewardsClaimed {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct RewardsDistributed {
        pub amount: u256,
        pub total_staked: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Slashed {
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub reason: felt252,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        token: ContractAddress,
        treasury: ContractAddress,
        slasher: ContractAddress,
        cooldown: u64,
    ) {
        self.token.write(token);
        self.treasury.write(treasury);
        self.slasher.write(slasher);
        self.cooldown.write(cooldown);
    }

    #[abi(embed_v0)]
    impl ProverStakingImpl of IProverStaking<ContractState> {
        fn stake(ref self: ContractState, amount: u256) {
            assert(amount > 0, 'STAKE: amount is zero');
            let worker = get_caller_address();
            self.token().transfer_from(worker, get_contract_address(), amount);
            let stake = self.stakes.read(worker) + amount;
            self.set_stake(worker, stake);
            self.total_staked.write(self.total_staked.read() + amount);
            self.emit(Staked { worker, amount, stake, tier: tier_for(stake) });
        }

        fn request_unstake(ref self: ContractState, amount: u256) {
            assert(amount > 0, 'STAKE: amount is zero');
            let worker = get_caller_address();
            let stake = self.stakes.read(worker);
            assert(stake >= amount, 'STAKE: more than staked');
            self.set_stake(worker, stake - amount);
            self.total_staked.write(self.total_staked.read() - amount);
            let unlock_at = get_block_timestamp() + self.cooldown.read();
            self.unbonding.write(worker, self.unbonding.read(worker) + amount);
            self.unlock_at.write(worker, unlock_at);
            self.emit(UnstakeRequested { worker, amount, unlock_at });
        }

        fn withdraw(ref self: ContractState) -> u256 {
            let worker = get_caller_address();
            let amount = self.unbonding.read(worker);
            assert(amount > 0, 'STAKE: nothing unbonding');
            assert(get_block_timestamp() >= self.unlock_at.read(worker), 'STAKE: still cooling down');
            self.unbonding.write(worker, 0);
            self.token().transfer(worker, amount);
            self.emit(Withdrawn { worker, amount });
            amount
        }

        fn claim_rewards(ref self: ContractState) -> u256 {
            let worker = get_caller_address();
            self.settle(worker);
            let amount = self.rewards_owed.read(worker);
            if amount > 0 {
                self.rewards_owed.write(worker, 0);
                self.token().transfer(worker, amount);
            }
            self.emit(RewardsClaimed { worker, amount });
            amount
        }

        fn slash(ref self: ContractState, worker: ContractAddress, bps: u16, reason: felt252) -> u256 {
            assert(get_caller_address() == self.slasher.read(), 'STAKE: caller is not slasher');
            assert(bps <= 10000, 'STAKE: bps above 10000');
            // Unbonding stake is still at stake: unstaking right before a slash must not help.
            let stake = self.stakes.read(worker);
            let unbonding = self.unbonding.read(worker);
            let amount = (stake + unbonding) * bps.into() / 10000;
            let from_stake = if amount < stake {
                amount
            } else {
                stake
            };
            self.set_stake(worker, stake - from_stake);
            self.total_staked.write(self.total_staked.read() - from_stake);
            self.unbonding.write(worker, unbonding - (amount - from_stake));
            if amount > 0 {
                self.token().transfer(self.treasury.read(), amount);
            }
            self.emit(Slashed { worker, amount, reason });
            amount
        }

        fn distribute_rewards(ref self: ContractState, amount: u256) {
            self.token().transfer_from(get_caller_address(), get_contract_address(), amount);
            let total = self.total_staked.read();
            let pool = amount + self.undistributed.read();
            if total == 0 {
                self.undistributed.write(pool);
            } else {
                // What the per-share increment cannot represent waits for the next distribution.
                let increment = pool * PRECISION / total;
                self.undistributed.write(pool - increment * total / PRECISION);
                self.reward_per_share.write(self.reward_per_share.read() + increment);
            }
            self.emit(RewardsDistributed { amount, total_staked: total });
        }

        fn stake_of(self: @ContractState, worker: ContractAddress) -> u256 {
            self.stakes.read(worker)
        }

        fn unbonding_of(self: @ContractState, worker: ContractAddress) -> (u256, u64) {
            (self.unbonding.read(worker), self.unlock_at.read(worker))
        }

        fn pending_rewards(self: @ContractState, worker: ContractAddress) -> u256 {
            self.rewards_owed.read(worker) + self.accrued(worker)
        }

        fn tier_of(self: @ContractState, worker: ContractAddress) -> u8 {
            tier_for(self.stakes.read(worker))
        }

        fn total_staked(self: @ContractState) -> u256 {
            self.total_staked.read()
        }

        fn cooldown(self: @ContractState) -> u64 {
            self.cooldown.read()
        }
    }

    /// The tiers of `bitsage-ledger`: Consumer 1,000, Workstation 2,500, DataCenter 5,000,
    /// Enterprise 10,000, Frontier 25,000 SAGE.
    fn tier_for(stake: u256) -> u8 {
        if stake >= 25_000 * SAGE {
            5
        } else if stake >= 10_000 * SAGE {
            4
        } else if stake >= 5_000 * SAGE {
            3
        } else if stake >= 2_500 * SAGE {
            2
        } else if stake >= 1_000 * SAGE {
            1
        } else {
            0
        }
    }

    #[generate_trait]
    impl Internal of InternalTrait {
        fn token(self: @ContractState) -> ISageTokenDispatcher {
            ISageTokenDispatcher { contract_address: self.token.read() }
        }

        /// Rewards earned since the worker's debt was last set.
        fn accrued(self: @ContractState, worker: ContractAddress) -> u256 {
            let earned = self.stakes.read(worker) * self.reward_per_share.read() / PRECISION;
            earned - self.reward_debt.read(worker)
        }

        fn settle(ref self: ContractState, worker: ContractAddress) {
            let owed = self.rewards_owed.read(worker) + self.accrued(worker);
            self.rewards_owed.write(worker, owed);
            let stake = self.stakes.read(worker);
            self.reward_debt.write(worker, stake * self.reward_per_share.read() / PRECISION);
        }

        /// Changes a stake after booking what the old stake earned.
        fn set_stake(ref self: ContractState, worker: ContractAddress, stake: u256) {
            self.settle(worker);
            self.stakes.write(worker, stake);
            self.reward_debt.write(worker, stake * self.reward_per_share.read() / PRECISION);
        }
    }
}
