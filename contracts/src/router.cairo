/// Splits every payment exactly: 80% to the worker, 2% to the stakers through
/// `ProverStaking::distribute_rewards`, and the rest (18% plus the rounding) to the treasury, so
/// the three parts always add up to the payment. The same rule as `bitsage_ledger::FeeSplit`.
#[starknet::contract]
pub mod PaymentRouter {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use starknet::{ContractAddress, get_caller_address, get_contract_address};
    use crate::interfaces::{
        IPaymentRouter, IProverStakingDispatcher, IProverStakingDispatcherTrait,
        ISageTokenDispatcher, ISageTokenDispatcherTrait,
    };

    #[storage]
    struct Storage {
        token: ContractAddress,
        staking: ContractAddress,
        treasury: ContractAddress,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        PaymentSplit: PaymentSplit,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PaymentSplit {
        #[key]
        pub payer: ContractAddress,
        #[key]
        pub worker: ContractAddress,
        pub amount: u256,
        pub to_worker: u256,
        pub to_treasury: u256,
        pub to_stakers: u256,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        token: ContractAddress,
        staking: ContractAddress,
        treasury: ContractAddress,
    ) {
        self.token.write(token);
        self.staking.write(staking);
        self.treasury.write(treasury);
    }

    /// `floor(amount * percent / 100)` without overflow for any `amount`.
    fn share(amount: u256, percent: u256) -> u256 {
        amount / 100 * percent + (amount % 100) * percent / 100
    }

    #[abi(embed_v0)]
    impl PaymentRouterImpl of IPaymentRouter<ContractState> {
        fn pay(ref self: ContractState, worker: ContractAddress, amount: u256) -> (u256, u256, u256) {
            let payer = get_caller_address();
            let token = ISageTokenDispatcher { contract_address: self.token.read() };
            token.transfer_from(payer, get_contract_address(), amount);
            let to_worker = share(amount, 80);
            let to_stakers = share(amount, 2);
            let to_treasury = amount - to_worker - to_stakers;
            token.transfer(worker, to_worker);
            token.transfer(self.treasury.read(), to_treasury);
            if to_stakers > 0 {
                let staking = self.staking.read();
                token.approve(staking, to_stakers);
                IProverStakingDispatcher { contract_address: staking }.distribute_rewards(to_stakers);
            }
            self.emit(PaymentSplit { payer, worker, amount, to_worker, to_treasury, to_stakers });
            (to_worker, to_treasury, to_stakers)
        }

        fn treasury(self: @ContractState) -> ContractAddress {
            self.treasury.read()
        }
    }
}
