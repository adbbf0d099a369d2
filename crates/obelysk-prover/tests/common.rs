//! Programs shared by the integration tests.
#![allow(dead_code)]

use obelysk_vm::asm::assemble;
use obelysk_vm::{ExecutionTrace, ObelyskVM, M31};

/// Uses every opcode, both outcomes of each conditional jump, memory and I/O.
pub const ALL_OPCODES: &str = "
    in r1                 ; n
    loadi r2, 0
loop:
    in r3
    store r3, [r2 + 5]
    load r4, [r2 + 5]
    mul r5, r4, r4
    add r6, r6, r5
    sub r7, r6, r4
    addi r2, r2, 1
    muli r8, r2, 3
    lt r9, r2, r1
    jnz r9, loop
    inv r10, r6
    jz r0, skip
    loadi r11, 99
skip:
    jz r6, never
    lt r12, r7, r0
    jmp end
never:
    loadi r13, 7
end:
    out r6
    out r10
    halt
";

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
