//! A whole proof's round trips between host and device, counted in the emulator (the same host
//! code as on a GPU): a per-column or per-query transfer creeping back in shows here first, as
//! tens of milliseconds on a device. Alone in its binary, since the counts are per process.

use obelysk_gpu::backend::EmulatedBackend;
use obelysk_gpu::traffic::traffic;
use obelysk_prover::prove::prove_trace_on;
use obelysk_prover::ProverConfig;
use obelysk_vm::ObelyskVM;

#[test]
fn a_proof_makes_few_round_trips() {
    let workload = obelysk_workloads::ml_inference(600, 42);
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs);
    let trace = vm.execute().unwrap();
    let config = ProverConfig::with_security_bits(96).proof_config().unwrap();
    // The first proof also prepares what later proofs of the program reuse.
    prove_trace_on::<EmulatedBackend>(&trace, &config, None).unwrap();
    let before = traffic();
    prove_trace_on::<EmulatedBackend>(&trace, &config, None).unwrap();
    let used = traffic() - before;
    println!("{} steps: {used}", trace.steps().len());
    // 41 downloads and 80 uploads at 2^16 rows (67 and 87 while the composition's columns were
    // sampled one at a time and a tree's layers were read apart from its columns); one per
    // column of a tree would be about a hundred more of either.
    assert!(used.downloads <= 45, "{used}");
    assert!(used.uploads <= 84, "{used}");
    assert!(used.download_bytes <= 4 << 20, "{used}");
}
