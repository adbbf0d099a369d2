use obelysk_prover::{ObelyskProver, ProverConfig};
use obelysk_vm::{Instruction, ObelyskVM, OpCode, M31};

#[test]
fn quickstart_proves_and_verifies() {
    let mut vm = ObelyskVM::new();
    vm.load_program(vec![
        Instruction::new(OpCode::LoadImm, 0, 2, 0),
        Instruction::new(OpCode::LoadImm, 1, 3, 0),
        Instruction::new(OpCode::Mul, 2, 0, 1),
        Instruction::new(OpCode::LoadImm, 3, 5, 0),
        Instruction::new(OpCode::Add, 4, 2, 3),
        Instruction::new(OpCode::Out, 0, 4, 0),
    ]);
    let trace = vm.execute().unwrap();
    assert_eq!(trace.outputs(), &[M31::new(11)]);
    let prover = ObelyskProver::new(ProverConfig::default());
    let proof = prover.prove_execution(&trace).unwrap();
    prover.check(&proof).unwrap();
}
