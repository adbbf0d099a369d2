//! The BitSage node's Rust API in one place.
//!
//! `use bitsage_node::obelysk::{ObelyskVM, ObelyskProver, ProverConfig, Instruction, OpCode, M31};`
//! gives the VM and the prover as the original README shows them. This crate only re-exports;
//! the code lives in `obelysk-vm`, `obelysk-prover` and `obelysk-workloads`.

/// Obelysk: the VM, its assembler, the prover and the named workloads.
pub mod obelysk {
    pub use obelysk_prover::{
        Claim, Error, ExpectedClaim, JobId, ObelyskProver, ProofConfig, ProverConfig, StarkProof,
        VerifyError, DEFAULT_MIN_SECURITY_BITS,
    };
    pub use obelysk_vm::{
        asm, ExecutionTrace, Instruction, ObelyskVM, OpCode, Program, VmError, VmState, M31,
    };
    pub use obelysk_workloads as workloads;
}
