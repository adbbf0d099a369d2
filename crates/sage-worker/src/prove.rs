//! Turning a leased job into a proof the coordinator will accept: execute, prove bound to the
//! job id, and verify our own proof before anyone else sees it.

use std::time::{Duration, Instant};

use anyhow::Context;
use bitsage_protocol::JobSpec;
use obelysk_gpu::prove::{BackendChoice, ProvingBackend};
use obelysk_prover::{ExpectedClaim, ObelyskProver, ProverConfig, StarkProof};
use obelysk_vm::{ObelyskVM, M31};

/// A proof ready to submit.
#[derive(Debug)]
pub struct Proved {
    pub proof: StarkProof,
    pub steps: u64,
    pub elapsed: Duration,
}

/// The backend this process proves on: `BITSAGE_PROVER_BACKEND` (`auto`, the default: the GPU
/// when a CUDA device answers, else the CPU; `cpu`; `gpu`, which fails without a device).
pub fn select_backend() -> anyhow::Result<ProvingBackend> {
    let choice = match std::env::var("BITSAGE_PROVER_BACKEND").as_deref() {
        Err(_) | Ok("auto") | Ok("") => BackendChoice::Auto,
        Ok("cpu") => BackendChoice::Cpu,
        Ok("gpu") => BackendChoice::Gpu,
        Ok(other) => anyhow::bail!("BITSAGE_PROVER_BACKEND={other}: expected auto, cpu or gpu"),
    };
    ProvingBackend::select(choice).context("BITSAGE_PROVER_BACKEND=gpu")
}

pub fn prove_job(spec: &JobSpec, backend: &ProvingBackend) -> anyhow::Result<Proved> {
    let started = Instant::now();
    let mut vm = ObelyskVM::new();
    vm.load(&spec.program);
    vm.set_inputs(spec.inputs.iter().map(|v| M31::new(*v)).collect());
    vm.set_step_limit(spec.max_steps);
    let trace = vm.execute().context("executing the job's program")?;
    let job_id = obelysk_prover::proof::parse_hex32(&spec.job_id).map_err(anyhow::Error::msg)?;
    let prover = ObelyskProver::new(ProverConfig::with_security_bits(spec.security_bits))
        .with_min_security_bits(spec.security_bits);
    let config = prover.config().proof_config()?;
    obelysk_prover::soundness::check_request(spec.security_bits, &trace)?;
    let proof = backend
        .prove(&trace, &config, Some(job_id))
        .with_context(|| format!("proving on {}", backend.describe()))?;
    // Never hand the coordinator a proof we would reject ourselves.
    prover
        .verify_claim(
            &proof,
            &ExpectedClaim {
                program: Some(spec.program.clone()),
                inputs: Some(spec.inputs.iter().map(|v| M31::new(*v)).collect()),
                job_id: Some(Some(job_id)),
                ..Default::default()
            },
        )
        .context("our own proof failed verification")?;
    Ok(Proved {
        steps: proof.claim.steps,
        proof,
        elapsed: started.elapsed(),
    })
}
