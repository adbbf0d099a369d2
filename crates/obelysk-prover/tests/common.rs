//! Programs shared by the integration tests.
#![allow(dead_code)]

use obelysk_vm::asm::assemble;
use obelysk_vm::{ExecutionTrace, ObelyskVM, M31};

pub use obelysk_prover::testing::ALL_OPCODES;

pub fn run(source: &str, inputs: &[i64]) -> ExecutionTrace {
    let program = assemble(source, "test.oasm").expect("test program assembles");
    let mut vm = ObelyskVM::new();
    vm.load(&program);
    vm.set_inputs(inputs.iter().map(|&v| M31::from_i64(v)).collect());
    vm.execute().expect("test program runs")
}

pub fn all_opcodes_trace() -> ExecutionTrace {
    run(ALL_OPCODES, &[3, 4, -5, 6])
}
