//! A whole proof's round trips and launches between host and device, counted in the emulator
//! (the same host code as on a GPU): a per-column or per-query transfer or launch creeping back
//! in shows here first, as milliseconds on a device. Alone in its binary, since the counts are
//! per process.

use obelysk_gpu::backend::EmulatedBackend;
use obelysk_gpu::traffic::traffic;
use obelysk_prover::prove::prove_trace_on;
use obelysk_prover::ProverConfig;
use obelysk_vm::ObelyskVM;

fn trace(seed: u64) -> obelysk_vm::ExecutionTrace {
    let workload = obelysk_workloads::ml_inference(600, seed);
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs);
    vm.execute().unwrap()
}

/// A proof of another trace than the last one's, as a worker's next job is: its queries differ,
/// so the decommitment cannot live off read hints the last proof left.
#[test]
fn a_proof_makes_few_round_trips() {
    let config = ProverConfig::with_security_bits(96).proof_config().unwrap();
    // The first proof also prepares what later proofs of the program reuse.
    prove_trace_on::<EmulatedBackend>(&trace(42), &config, None).unwrap();
    let next = trace(7);
    let before = traffic();
    prove_trace_on::<EmulatedBackend>(&next, &config, None).unwrap();
    let used = traffic() - before;
    println!("{} steps: {used}", next.steps().len());
    // 40 downloads and 80 uploads at 2^16 rows: 19 roots (the trees' and FRI's layers'), 16
    // batches of out-of-domain samples (fewer where more threads ask at once), the tables'
    // lookup counts, the running sum's chunk sums, FRI's last layer, the proof of work's nonce and one fetch for the
    // whole decommitment. That fetch was one per tree and per FRI layer (51 downloads);
    // before the queries were predicted (at the proof of work), about 600, one per query for
    // the first tree read. One per column of a tree would be about a hundred more of either.
    assert!(used.downloads <= 42, "{used}");
    assert!(used.uploads <= 84, "{used}");
    // 2.6 MiB, most of it the small top layers of each tree read whole with its root: 2.8 MiB
    // when a tree's root read also fetched the rows an earlier proof's queries pointed at.
    assert!(used.download_bytes <= 3 << 20, "{used}");
    // 507 launches: a Merkle tree's layers ten to a launch, each component's cells and each
    // sample's numerators gathered in one, the quotients' four coordinates extended together.
    // Each of those one launch per column or per layer was 780. (The emulator's FFT tiles of 2^4
    // values take more passes than a device's.)
    assert!(used.launches <= 560, "{used}");
}
