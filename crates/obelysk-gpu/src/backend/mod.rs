//! stwo's backend traits over device columns, so that stwo's `prove` runs unchanged with its
//! columns on a GPU ([`GpuBackend`]) or in the emulator ([`EmulatedBackend`], the same kernels
//! compiled as host C++, which lets a whole proof be compared with the CPU's on any machine).
//!
//! Base columns and Merkle layers live on the device ([`DeviceColumn`]); secure columns are
//! four base columns (stwo's `SecureColumnByCoords`). What stays on the host: Fiat–Shamir, proof
//! of work, and the few operations our AIR never or rarely runs (barycentric evaluation, GKR,
//! the packing of FRI leaves, the lift of the composition accumulators), which go through
//! stwo's CPU backend on a downloaded copy; each says so where it is implemented.
//!
//! stwo's traits cannot fail, so a device error here is a panic with the driver's message; the
//! callers ([`crate::prove`]) check the device before they start.

mod accumulation;
mod cache;
mod column;
mod components;
mod fri;
mod gkr;
mod merkle;
mod poly;
mod quotients;

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleChannel;
use stwo::prover::backend::{Backend, BackendForChannel};

pub use column::{DeviceColumn, Element};
pub use components::GeneratedKernel;
pub use poly::Twiddles;

use crate::emulator::Emulator;
use crate::ops::Kernels;
use crate::{CudaKernels, GpuError, Result};

/// Where a [`DeviceBackend`]'s columns live: one process-wide set of kernels, because stwo's
/// columns are created without a context (`Column::zeros(len)`).
pub trait Device: 'static + Copy + Debug + Default + Send + Sync {
    type Kernels: Kernels<Column: Send + Sync> + Send + Sync + 'static;
    /// The process's kernels. Panics if none were installed ([`Cuda::install`]).
    fn kernels() -> &'static Self::Kernels;
}

/// A device buffer of `D`.
pub type Buffer<D> = <<D as Device>::Kernels as Kernels>::Column;

/// The CUDA device chosen by [`Cuda::install`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Cuda;

static CUDA: OnceLock<Arc<CudaKernels>> = OnceLock::new();

impl Cuda {
    /// Opens device `ordinal` (compiling and loading every kernel) and makes it the one
    /// [`GpuBackend`] proves on in this process. A second call with another ordinal keeps the
    /// first device: several GPUs need several processes for now.
    pub fn install(ordinal: usize) -> Result<Arc<CudaKernels>> {
        if let Some(kernels) = CUDA.get() {
            return Ok(kernels.clone());
        }
        let kernels = CudaKernels::shared(ordinal)?;
        Ok(CUDA.get_or_init(|| kernels).clone())
    }
}

impl Device for Cuda {
    type Kernels = CudaKernels;

    fn kernels() -> &'static CudaKernels {
        CUDA.get()
            .expect("GpuBackend used before Cuda::install opened a device")
    }
}

/// The emulator, with a launch shape that makes every thread stride (as the tests use).
#[derive(Clone, Copy, Debug, Default)]
pub struct Emulated;

impl Device for Emulated {
    type Kernels = Emulator;

    fn kernels() -> &'static Emulator {
        static EMULATOR: Emulator = Emulator { grid: 3, block: 7 };
        &EMULATOR
    }
}

/// stwo's `Backend` over the columns of device `D`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct DeviceBackend<D>(#[serde(skip)] PhantomData<D>);

/// Proves on the CUDA device installed with [`Cuda::install`].
pub type GpuBackend = DeviceBackend<Cuda>;
/// Proves with the kernels compiled as host C++: slow, for checking a whole proof anywhere.
pub type EmulatedBackend = DeviceBackend<Emulated>;

impl<D: Device> Backend for DeviceBackend<D> {}
impl<D: Device> BackendForChannel<Blake2sMerkleChannel> for DeviceBackend<D> {}

/// The kernels of `D`.
fn kernels<D: Device>() -> &'static D::Kernels {
    D::kernels()
}

/// Unwraps a device result inside one of stwo's infallible trait methods.
#[track_caller]
fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e: GpuError| panic!("GPU backend: {e}"))
}
