/// Gives `grant` SAGE per claim from its own balance, at most once per `cooldown` seconds per
/// account.
#[starknet::contract]
pub mod Faucet {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address};
    use crate::interfaces::{IFaucet, ISageTokenDispatcher, ISageTokenDispatcherTrait};

    #[storage]
    struct Storage {
        token: ContractAddress,
        grant: u256,
        cooldown: u64,
        next_claim_at: Map<ContractAddress, u64>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        Claimed: Claimed,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Claimed {
        #[key]
        pub account: ContractAddress,
        pub amount: u256,
        pub next_claim_at: u64,
    }

    #[constructor]
    fn constructor(ref self: ContractState, token: ContractAddress, grant: u256, cooldown: u64) {
        self.token.write(token);
        self.grant.write(grant);
        self.cooldown.write(cooldown);
    }

    #[abi(embed_v0)]
    impl FaucetImpl of IFaucet<ContractState> {
        fn claim(ref self: ContractState) -> u256 {
            let account = get_caller_address();
            let now = get_block_timestamp();
            assert(now >= self.next_claim_at.read(account), 'FAUCET: claimed too recently');
            let next = now + self.cooldown.read();
            self.next_claim_at.write(account, next);
            let amount = self.grant.read();
            let token = ISageTokenDispatcher { contract_address: self.token.read() };
            token.transfer(account, amount);
            self.emit(Claimed { account, amount, next_claim_at: next });
            amount
        }

        fn grant(self: @ContractState) -> u256 {
            self.grant.read()
        }

        fn cooldown(self: @ContractState) -> u64 {
            self.cooldown.read()
        }

        fn next_claim_at(self: @ContractState, account: ContractAddress) -> u64 {
            self.next_claim_at.read(account)
        }
    }
}
