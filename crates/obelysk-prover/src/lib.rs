//! Circle-STARK proofs of Obelysk VM executions, built on StarkWare's `stwo`.
//!
//! [`ObelyskProver::prove_execution`] turns an [`ExecutionTrace`] into a [`StarkProof`] that binds
//! the program (hash and preprocessed program table), the public inputs and outputs, the step
//! count and an optional job id; [`ObelyskProver::verify`] checks it at the configured minimum
//! security. The AIR lives in [`air`]; its design is in `docs/air.md`.
//!
//! Not here: the network (see `bitsage-protocol`) and GPU backends (`obelysk-gpu`). The prover
//! runs on stwo's SIMD CPU backend, multi-threaded through rayon.

// `air::packed` writes its inlined field arithmetic with portable SIMD, as stwo does.
#![feature(portable_simd)]

pub mod air;
pub mod baseline;
pub mod claim;
pub mod components;
pub mod config;
pub mod error;
pub mod proof;
pub mod prove;
pub mod soundness;
pub mod testing;
pub mod verify;

pub use claim::{Claim, JobId, Shape};
pub use config::{ProofConfig, ProverConfig, DEFAULT_MIN_SECURITY_BITS};
pub use error::{Error, Result, VerifyError};
pub use proof::StarkProof;
pub use prove::ProverBackend;

use obelysk_vm::{ExecutionTrace, Program, M31};

/// Log targets that note proving and verification phases at info level, several lines per
/// proof: a service handling many proofs keeps them at warn.
pub const PHASE_LOG_TARGETS: [&str; 3] = ["stwo", "stwo_constraint_framework", "obelysk_prover"];

/// What a verifier expects a proof to be about. `None` fields are not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedClaim {
    pub program: Option<Program>,
    pub inputs: Option<Vec<M31>>,
    pub outputs: Option<Vec<M31>>,
    pub steps: Option<u64>,
    /// `Some(None)` expects a proof without a job id.
    pub job_id: Option<Option<JobId>>,
}

/// Proves and verifies Obelysk executions.
#[derive(Clone, Debug)]
pub struct ObelyskProver {
    config: ProverConfig,
    min_security_bits: u32,
}

impl ObelyskProver {
    pub fn new(config: ProverConfig) -> Self {
        Self {
            config,
            min_security_bits: DEFAULT_MIN_SECURITY_BITS,
        }
    }

    /// Lowers or raises the security floor for verification (default 96 bits).
    pub fn with_min_security_bits(mut self, bits: u32) -> Self {
        self.min_security_bits = bits;
        self
    }

    pub fn config(&self) -> &ProverConfig {
        &self.config
    }

    /// Proves an execution without a job id.
    pub fn prove_execution(&self, trace: &ExecutionTrace) -> Result<StarkProof> {
        self.prove_for_job(trace, None)
    }

    /// Proves an execution bound to `job_id`.
    pub fn prove_for_job(
        &self,
        trace: &ExecutionTrace,
        job_id: Option<JobId>,
    ) -> Result<StarkProof> {
        let config = self.config.proof_config()?;
        soundness::check_request(self.config.security_bits, trace)?;
        prove::prove_trace(trace, &config, job_id)
    }

    /// `Ok(true)` when the proof is valid for its own claim, `Ok(false)` when it is not (use
    /// [`ObelyskProver::check`] for the reason).
    pub fn verify(&self, proof: &StarkProof) -> Result<bool> {
        Ok(self.check(proof).is_ok())
    }

    /// Verifies the proof and says why it was rejected.
    pub fn check(&self, proof: &StarkProof) -> Result<(), VerifyError> {
        verify::verify_proof(proof, self.min_security_bits)
    }

    /// Verifies the proof and that its claim is the expected one.
    pub fn verify_claim(
        &self,
        proof: &StarkProof,
        expected: &ExpectedClaim,
    ) -> Result<(), VerifyError> {
        let claim = &proof.claim;
        if let Some(program) = &expected.program {
            if claim.program_hash != program.hash() || proof.program != *program {
                return Err(VerifyError::WrongProgram {
                    expected: proof::to_hex(&program.hash()),
                    found: proof::to_hex(&claim.program_hash),
                });
            }
        }
        if expected.inputs.as_ref().is_some_and(|i| *i != claim.inputs) {
            return Err(VerifyError::WrongInputs);
        }
        if expected
            .outputs
            .as_ref()
            .is_some_and(|o| *o != claim.outputs)
        {
            return Err(VerifyError::WrongOutputs);
        }
        if let Some(steps) = expected.steps {
            if steps != claim.steps {
                return Err(VerifyError::WrongSteps {
                    expected: steps,
                    found: claim.steps,
                });
            }
        }
        if let Some(job) = &expected.job_id {
            if *job != claim.job_id {
                let show =
                    |id: &Option<JobId>| id.map_or("none".to_string(), |i| proof::to_hex(&i));
                return Err(VerifyError::WrongJobId {
                    expected: show(job),
                    found: show(&claim.job_id),
                });
            }
        }
        self.check(proof)
    }
}
