//! The Obelysk virtual machine: a register machine over the Mersenne-31 field.
//!
//! This crate holds the instruction set ([`isa`]), a reference interpreter ([`ObelyskVM`]) that
//! records an [`ExecutionTrace`], and the `.oasm` text assembler ([`asm`]). It knows nothing about
//! proofs: `obelysk-prover` turns an [`ExecutionTrace`] into a STARK. The ISA is documented in
//! `docs/isa.md`.

pub mod asm;
pub mod field;
pub mod isa;
pub mod vm;

pub use field::{M31, P};
pub use isa::{
    Instruction, OpCode, Program, ProgramError, LT_BITS, MAX_DATA_WORDS, MAX_PROGRAM_LEN,
    MAX_STEPS, NUM_REGISTERS,
};
pub use vm::{ExecutionTrace, ObelyskVM, Step, VmError, VmState, DEFAULT_STEP_LIMIT};
