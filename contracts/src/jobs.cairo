/// Job escrow. A client escrows a job's fee; the coordinator records the worker that leased it,
/// and once its verification gate has accepted the proof, completes the job, which pays the fee
/// out through the payment router; a job that fails for good is refunded to the client.
#[starknet::contract]
pub mod JobManager {
    use core::num::traits::Zero;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_caller_address, get_contract_address};
    use crate::interfaces::{
        IJobManager, IPaymentRouterDispatcher, IPaymentRouterDispatcherTrait,
        IProverStakingDispatcher, IProverStakingDispatcherTrait, ISageTokenDispatcher,
        ISageTokenDispatcherTrait, JobInfo, JobState,
    };

    #[storage]
    struct Storage {
        token: ContractAddress,
        staking: ContractAddress,
        router: ContractAddress,
        coordinator: ContractAddress,
        clients: Map<felt252, ContractAddress>,
        workers: Map<felt252, ContractAddress>,
        fees: Map<felt252, u256>,
        states: Map<felt252, JobState>,
        proof_commitments: Map<felt252, u256>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        JobEscrowed: JobEscrowed,
        JobAssigned: JobAssigned,
        JobCompleted: JobCompleted,
        JobRefunded: JobRefunded,
    }

    #[derive(Drop, starknet::Event)]
    pub struct JobEscrowed {
        #[key]
        pub job_id: felt252,
        pub client: ContractAddress,
        pub fee: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct JobAssigned {
        #[key]
        pub job_id: felt252,
        pub worker: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct JobCompleted {
        #[key]
        pub job_id: felt252,
        pub worker: ContractAddress,
        pub proof_commitment: u256,
        pub to_worker: u256,
        pub to_treasury: u256,
        pub to_stakers: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct JobRefunded {
        #[key]
        pub job_id: felt252,
        pub client: ContractAddress,
        pub fee: u256,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        token: ContractAddress,
        staking: ContractAddress,
        router: ContractAddress,
        coordinator: ContractAddress,
    ) {
        self.token.write(token);
        self.staking.write(staking);
        self.router.write(router);
        self.coordinator.write(coordinator);
    }

    #[abi(embed_v0)]
    impl JobManagerImpl of IJobManager<ContractState> {
        fn escrow(ref self: ContractState, job_id: felt252, fee: u256) {
            self.escrow_from(job_id, get_caller_address(), fee);
        }

        fn escrow_for(ref self: ContractState, job_id: felt252, client: ContractAddress, fee: u256) {
            self.only_coordinator();
            assert(!client.is_zero(), 'JOBS: zero client');
            self.escrow_from(job_id, client, fee);
        }

        fn assign(ref self: ContractState, job_id: felt252, worker: ContractAddress) {
            self.only_coordinator();
            let state = self.states.read(job_id);
            assert(
                state == JobState::Escrowed || state == JobState::Assigned,
                'JOBS: job is not open',
            );
            let staking = IProverStakingDispatcher { contract_address: self.staking.read() };
            assert(staking.tier_of(worker) > 0, 'JOBS: worker has no tier');
            self.workers.write(job_id, worker);
            self.states.write(job_id, JobState::Assigned);
            self.emit(JobAssigned { job_id, worker });
        }

        fn complete(ref self: ContractState, job_id: felt252, proof_commitment: u256) {
            self.only_coordinator();
            assert(self.states.read(job_id) == JobState::Assigned, 'JOBS: job is not assigned');
            let worker = self.workers.read(job_id);
            let staking = IProverStakingDispatcher { contract_address: self.staking.read() };
            assert(staking.tier_of(worker) > 0, 'JOBS: worker has no tier');
            let fee = self.fees.read(job_id);
            self.states.write(job_id, JobState::Completed);
            self.proof_commitments.write(job_id, proof_commitment);
            let router = self.router.read();
            self.token().approve(router, fee);
            let (to_worker, to_treasury, to_stakers) = IPaymentRouterDispatcher {
                contract_address: router,
            }
                .pay(worker, fee);
            self
                .emit(
                    JobCompleted {
                        job_id, worker, proof_commitment, to_worker, to_treasury, to_stakers,
                    },
                );
        }

        fn refund(ref self: ContractState, job_id: felt252) {
            self.only_coordinator();
            let state = self.states.read(job_id);
            assert(
                state == JobState::Escrowed || state == JobState::Assigned,
                'JOBS: job is not open',
            );
            let client = self.clients.read(job_id);
            let fee = self.fees.read(job_id);
            self.states.write(job_id, JobState::Refunded);
            self.token().transfer(client, fee);
            self.emit(JobRefunded { job_id, client, fee });
        }

        fn job(self: @ContractState, job_id: felt252) -> JobInfo {
            JobInfo {
                client: self.clients.read(job_id),
                worker: self.workers.read(job_id),
                fee: self.fees.read(job_id),
                state: self.states.read(job_id),
                proof_commitment: self.proof_commitments.read(job_id),
            }
        }
    }

    #[generate_trait]
    impl Internal of InternalTrait {
        fn token(self: @ContractState) -> ISageTokenDispatcher {
            ISageTokenDispatcher { contract_address: self.token.read() }
        }

        fn escrow_from(
            ref self: ContractState, job_id: felt252, client: ContractAddress, fee: u256,
        ) {
            assert(self.states.read(job_id) == JobState::None, 'JOBS: job id already used');
            assert(fee > 0, 'JOBS: fee is zero');
            self.token().transfer_from(client, get_contract_address(), fee);
            self.clients.write(job_id, client);
            self.fees.write(job_id, fee);
            self.states.write(job_id, JobState::Escrowed);
            self.emit(JobEscrowed { job_id, client, fee });
        }

        fn only_coordinator(self: @ContractState) {
            let caller = get_caller_address();
            assert(!caller.is_zero(), 'JOBS: zero caller');
            assert(caller == self.coordinator.read(), 'JOBS: caller not coordinator');
        }
    }
}
