//! Whole proofs through stwo's `prove` on the device backend, compared byte for byte with the
//! SIMD backend's: in the emulator on every machine, and on a CUDA device where there is one
//! (elsewhere that test prints why it skipped; `REQUIRE_GPU=1` makes a skip a failure).

use obelysk_gpu::backend::{Cuda, EmulatedBackend, GpuBackend};
use obelysk_prover::prove::{prove_trace, prove_trace_on};
use obelysk_prover::verify::verify_proof;
use obelysk_prover::{ProofConfig, ProverBackend, ProverConfig};
use obelysk_vm::{ExecutionTrace, ObelyskVM};

fn trace(batch: u32) -> ExecutionTrace {
    let workload = obelysk_workloads::ml_inference(batch, 42);
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs);
    vm.execute().unwrap()
}

fn config(bits: u32) -> ProofConfig {
    ProverConfig::with_security_bits(bits)
        .proof_config()
        .unwrap()
}

/// The proof of `trace` on `B` is the SIMD backend's, byte for byte, and verifies.
fn same_proof<B: ProverBackend>(trace: &ExecutionTrace, config: &ProofConfig) {
    let expected = prove_trace(trace, config, None).unwrap();
    let got = prove_trace_on::<B>(trace, config, None).unwrap();
    verify_proof(&got, config.security_bits).unwrap();
    assert!(
        got.to_bytes() == expected.to_bytes(),
        "the device backend's proof differs from the SIMD backend's ({} steps, {} bits)",
        trace.steps().len(),
        config.security_bits
    );
}

#[test]
fn whole_proofs_in_the_emulator_equal_the_simd_proofs() {
    for (batch, bits) in [(8, 96), (8, 128), (40, 96)] {
        same_proof::<EmulatedBackend>(&trace(batch), &config(bits));
    }
}

#[test]
fn whole_proofs_on_the_device_equal_the_simd_proofs() {
    if let Err(e) = Cuda::install(0) {
        if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") {
            panic!("REQUIRE_GPU=1 and {e}");
        }
        println!("skipped whole_proofs_on_the_device_equal_the_simd_proofs: {e}");
        return;
    }
    for (batch, bits) in [(8, 96), (8, 128), (40, 96), (2000, 96)] {
        same_proof::<GpuBackend>(&trace(batch), &config(bits));
    }
}
