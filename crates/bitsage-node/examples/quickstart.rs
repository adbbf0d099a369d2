//! The original README's example: compute 2 * 3 + 5 = 11, prove it, verify it.
//! Run with `cargo run --release --example quickstart -p bitsage-node`.

use bitsage_node::obelysk::{Instruction, ObelyskProver, ObelyskVM, OpCode, ProverConfig, M31};

fn main() -> anyhow::Result<()> {
    // 1. Create and execute your computation
    let mut vm = ObelyskVM::new();

    // Simple example: compute 2 * 3 + 5 = 11
    vm.load_program(vec![
        Instruction::new(OpCode::LoadImm, 0, 2, 0), // r0 = 2
        Instruction::new(OpCode::LoadImm, 1, 3, 0), // r1 = 3
        Instruction::new(OpCode::Mul, 2, 0, 1),     // r2 = r0 * r1 = 6
        Instruction::new(OpCode::LoadImm, 3, 5, 0), // r3 = 5
        Instruction::new(OpCode::Add, 4, 2, 3),     // r4 = r2 + r3 = 11
        Instruction::new(OpCode::Out, 0, 4, 0),     // public output: r4
    ]);

    let trace = vm.execute()?;
    println!("Result: {:?}", trace.final_state());
    assert_eq!(trace.final_state().registers[4], M31::new(11));

    // 2. Generate ZK proof
    let prover = ObelyskProver::new(ProverConfig::default());
    let proof = prover.prove_execution(&trace)?;

    println!("Proof size: {} bytes", proof.size());
    println!("Proof hash: 0x{}", hex::encode(proof.commitment()));

    // 3. Verify locally
    assert!(prover.verify(&proof)?);
    println!("✓ Proof verified!");

    Ok(())
}
