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
    /// The GPU if one answers, else the CPU.
    Auto,
    Cpu,
    /// The GPU, or an error saying why not.
    Gpu,
    /// The GPU kernels compiled for the host: slow; checks the GPU path without a GPU.
    Emulator,
}

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
            BackendChoice::Gpu => Self::gpu(),
            BackendChoice::Auto => Ok(Self::gpu().unwrap_or_else(|e| Self::Cpu {
                fallback: Some(e.to_string()),
            })),
        }
    }

    fn gpu() -> Result<Self> {
        Ok(Self::Gpu {
            devices: Arc::new(GpuPool::open(&GpuConfig::default())?),
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
            Self::Gpu { devices } => match devices.names().as_slice() {
                [one] => format!("GPU ({one})"),
                many => format!("{} GPUs ({})", many.len(), many.join(", ")),
            },
            Self::Emulator => "GPU kernels in the host emulator".into(),
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Self::Gpu { .. })
    }

    /// Proves `trace`; the proof is the same on every backend, byte for byte.
    pub fn prove(
        &self,
        trace: &ExecutionTrace,
        config: &ProofConfig,
        job_id: Option<JobId>,
    ) -> obelysk_prover::Result<StarkProof> {
        match self {
            Self::Cpu { .. } => prove_trace(trace, config, job_id),
            Self::Gpu { devices } => {
                devices
                    .run(|| prove_trace_on::<GpuBackend>(trace, config, job_id))
                    .1
            }
            Self::Emulator => prove_trace_on::<EmulatedBackend>(trace, config, job_id),
        }
    }
}

impl std::fmt::Display for ProvingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
