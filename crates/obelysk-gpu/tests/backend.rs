//! Whole proofs through stwo's `prove` on the device backend, compared byte for byte with the
//! SIMD backend's: in the emulator on every machine, and on a CUDA device where there is one
//! (elsewhere that test prints why it skipped; `REQUIRE_GPU=1` makes a skip a failure).

use obelysk_gpu::backend::{Cuda, EmulatedBackend, GpuBackend};
use obelysk_gpu::pool::GpuPool;
use obelysk_gpu::GpuConfig;
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
    for (batch, bits) in [(8, 96), (8, 100), (40, 96)] {
        same_proof::<EmulatedBackend>(&trace(batch), &config(bits));
    }
}

/// Proofs of different traces at once in the emulator, one device for all: each one's reads
/// are fetched together with the others' (one fetch serves every read group of a device) and
/// its samples come back in the others' transfers, and each proof is still the SIMD backend's.
#[test]
fn concurrent_proofs_in_the_emulator_equal_the_simd_proofs() {
    let config = config(96);
    let traces: Vec<ExecutionTrace> = (0..3).map(|k| trace(8 + 16 * k)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = traces
            .iter()
            .map(|trace| {
                let config = &config;
                scope.spawn(move || prove_trace_on::<EmulatedBackend>(trace, config, None))
            })
            .collect();
        for (trace, handle) in traces.iter().zip(handles) {
            let proof = handle.join().unwrap().unwrap();
            let expected = prove_trace(trace, &config, None).unwrap();
            assert!(
                proof.to_bytes() == expected.to_bytes(),
                "a proof made beside others differs ({} steps)",
                trace.steps().len()
            );
        }
    });
}

#[test]
fn whole_proofs_on_the_device_equal_the_simd_proofs() {
    if let Err(e) = Cuda::open(0) {
        if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") {
            panic!("REQUIRE_GPU=1 and {e}");
        }
        println!("skipped whole_proofs_on_the_device_equal_the_simd_proofs: {e}");
        return;
    }
    for (batch, bits) in [(8, 96), (8, 100), (40, 96), (2000, 96)] {
        same_proof::<GpuBackend>(&trace(batch), &config(bits));
    }
}

/// Jobs proven at once through a pool of two slots on the first device (the mechanism that puts
/// one job on each of several GPUs, checked where there is one GPU): each proof is the CPU's.
#[test]
fn concurrent_jobs_through_a_device_pool_equal_the_simd_proofs() {
    let pool = match GpuPool::open(&GpuConfig {
        devices: Some(vec![0, 0]),
    }) {
        Ok(pool) => pool,
        Err(e) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 and {e}")
        }
        Err(e) => {
            println!("skipped concurrent_jobs_through_a_device_pool_equal_the_simd_proofs: {e}");
            return;
        }
    };
    let config = config(96);
    let traces: Vec<ExecutionTrace> = (0..4).map(|k| trace(8 + 30 * k)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = traces
            .iter()
            .map(|trace| {
                let (pool, config) = (&pool, &config);
                scope.spawn(move || {
                    let (_, proof) = pool.run(|| prove_trace_on::<GpuBackend>(trace, config, None));
                    (trace, proof.unwrap())
                })
            })
            .collect();
        for handle in handles {
            let (trace, proof) = handle.join().unwrap();
            let expected = prove_trace(trace, &config, None).unwrap();
            assert!(
                proof.to_bytes() == expected.to_bytes(),
                "a pooled proof differs"
            );
        }
    });
}
