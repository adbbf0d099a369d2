//! Choosing the backend a process proves on: the GPU when a device answers, else the CPU, with
//! the reason.

use std::sync::Arc;

use obelysk_prover::prove::{prove_trace, prove_trace_on};
use obelysk_prover::{JobId, ProofConfig, StarkProof};
use obelysk_vm::ExecutionTrace;

use crate::backend::{EmulatedBackend, GpuBackend};
use crate::pool::GpuPool;
use crate::{GpuConfig, Result};

/// What the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// The GPU if one answers, else the CPU; traces below [`AUTO_GPU_MIN_LOG_STEPS`] stay on
    /// the CPU, which proves them faster.
    Auto,
    Cpu,
    /// The GPU, or an error saying why not.
    Gpu,
    /// The GPU kernels compiled for the host: slow; checks the GPU path without a GPU.
    Emulator,
}

/// From 2^14 steps up an H100 proves faster than its 16-core host's SIMD backend (12 ms against
/// 19–26 ms at 2^14, docs/benchmarks.md); smaller traces, not measured on a device, stay on the
/// CPU, where a GPU proof's fixed cost (about 10 ms of launches and round trips) would dominate.
pub const AUTO_GPU_MIN_LOG_STEPS: u32 = 14;

/// The backend proofs run on, once chosen.
#[derive(Clone, Debug)]
pub enum ProvingBackend {
    /// stwo's SIMD backend; `fallback` says why the GPU was not used, when one was wanted.
    Cpu {
        fallback: Option<String>,
    },
    /// Every CUDA device `CUDA_VISIBLE_DEVICES` leaves visible, one proof per device at a time.
    Gpu {
        devices: Arc<GpuPool>,
        /// Traces of fewer steps are proven on the CPU.
        min_steps: u64,
    },
    Emulator,
}

impl ProvingBackend {
    /// Opens the device where `choice` wants one (compiling or loading every kernel once per
    /// process).
    pub fn select(choice: BackendChoice) -> Result<Self> {
        match choice {
            BackendChoice::Cpu => Ok(Self::Cpu { fallback: None }),
            BackendChoice::Emulator => Ok(Self::Emulator),
            BackendChoice::Gpu => Self::gpu(0),
            BackendChoice::Auto => {
                Ok(
                    Self::gpu(1 << AUTO_GPU_MIN_LOG_STEPS).unwrap_or_else(|e| Self::Cpu {
                        fallback: Some(e.to_string()),
                    }),
                )
            }
        }
    }

    fn gpu(min_steps: u64) -> Result<Self> {
        Ok(Self::Gpu {
            devices: Arc::new(GpuPool::open(&GpuConfig::default())?),
            min_steps,
        })
    }

    /// One line for logs and `--help`-level output: which backend, and why the CPU if a GPU
    /// was wanted.
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu { fallback: None } => "CPU (stwo SIMD backend)".into(),
            Self::Cpu {
                fallback: Some(why),
            } => format!("CPU (stwo SIMD backend), because {why}"),
            Self::Gpu { devices, min_steps } => {
                let names = devices.names();
                let gpus = match names.as_slice() {
                    [one] => format!("GPU ({one})"),
                    many => format!("{} GPUs ({})", many.len(), many.join(", ")),
                };
                match min_steps {
                    0 => gpus,
                    n => format!("{gpus} for traces of {n} steps or more, CPU below"),
                }
            }
            Self::Emulator => "GPU kernels in the host emulator".into(),
        }
    }

    /// Whether a trace of `steps` steps is proven on a GPU.
    pub fn gpu_for(&self, steps: u64) -> bool {
        matches!(self, Self::Gpu { min_steps, .. } if steps >= *min_steps)
    }

    /// Proves `trace`; the proof is the same on every backend, byte for byte.
    pub fn prove(
        &self,
        trace: &ExecutionTrace,
        config: &ProofConfig,
        job_id: Option<JobId>,
    ) -> obelysk_prover::Result<StarkProof> {
        match self {
            Self::Gpu { devices, .. } if self.gpu_for(trace.steps().len() as u64) => {
                devices
                    .run(|| device_proof(|| prove_trace_on::<GpuBackend>(trace, config, job_id)))
                    .1
            }
            Self::Emulator => {
                device_proof(|| prove_trace_on::<EmulatedBackend>(trace, config, job_id))
            }
            // The CPU, or a GPU backend for a trace below its threshold.
            Self::Cpu { .. } | Self::Gpu { .. } => prove_trace(trace, config, job_id),
        }
    }
}

/// Runs a proof on the device backend, whose stwo traits cannot return errors and panic on a
/// device failure instead: the panic becomes this proof's error, and the process goes on.
///
/// Logs what crossed between host and device meanwhile: proofs running at once
/// on several devices are counted together.
fn device_proof(
    prove: impl FnOnce() -> obelysk_prover::Result<StarkProof>,
) -> obelysk_prover::Result<StarkProof> {
    let before = crate::traffic::traffic();
    let proof = std::panic::catch_unwind(std::panic::AssertUnwindSafe(prove));
    tracing::info!(traffic = %(crate::traffic::traffic() - before), "device proof");
    for (name, calls, took) in crate::traffic::take_profile() {
        tracing::info!(name, calls, ms = took.as_secs_f64() * 1e3, "device profile");
    }
    proof.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        Err(obelysk_prover::Error::Proving(format!(
            "the GPU backend failed: {message}"
        )))
    })
}

impl std::fmt::Display for ProvingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
