//! CUDA kernels for the Obelysk prover, and the host code that drives them.
//!
//! Kernels live in `kernels/*.cu`, are embedded with `include_str!` ([`kernels::SOURCES`]) and
//! compiled by NVRTC at run time for the device's own architecture ([`nvrtc`]); the crate needs no
//! CUDA toolkit to build, and the driver and NVRTC libraries are looked for before `cudarc` touches
//! them, so a machine without them gets [`GpuError::GpuUnavailable`] instead of a panic.
//!
//! The host algorithms ([`ops`]) are written once against the [`ops::Kernels`] trait and run on
//! two implementations: [`cuda::CudaKernels`] on a device, and [`emulator::Emulator`], the same
//! `.cu` sources compiled as host C++ (`kernels/emu/`), which lets the differential tests compare
//! every kernel with stwo's CPU backend on machines without a GPU.
//!
//! On top of them, [`backend`] implements stwo's backend traits over device columns, so that
//! stwo's `prove` runs unchanged on a GPU ([`backend::GpuBackend`]) or on the emulated kernels
//! ([`backend::EmulatedBackend`]), giving the CPU's proof byte for byte; [`pool`] puts one job on
//! each of several GPUs, and [`prove::ProvingBackend`] is the choice the CLIs and the worker
//! make. `docs/gpu.md` has the measurements and what is left.

pub mod backend;
pub mod codegen;
pub mod cuda;
pub mod emulator;
pub mod kernels;
pub mod library;
pub mod nvrtc;
pub mod ops;
pub mod pool;
pub mod prove;
pub mod traffic;

pub use cuda::{prewarm_gpu, CudaKernels, GpuConfig};

/// Why a GPU operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No usable device: no driver library, no device, or no NVRTC. Callers fall back to the CPU.
    #[error("no GPU: {0}")]
    GpuUnavailable(String),
    /// A kernel did not compile; the log is NVRTC's.
    #[error("kernel file {file} did not compile:\n{log}")]
    Compile { file: &'static str, log: String },
    /// The driver refused an allocation, copy or launch.
    #[error("CUDA driver: {0}")]
    Driver(String),
    /// The operation does not fit these kernels (for example a domain too small to be worth a
    /// launch); the caller should use the CPU backend.
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, GpuError>;
