//! stwo's backend traits over device columns, so that stwo's `prove` runs unchanged with its
//! columns on a GPU ([`GpuBackend`]) or in the emulator ([`EmulatedBackend`], the same kernels
//! compiled as host C++, which lets a whole proof be compared with the CPU's on any machine).
//!
//! Base columns and Merkle layers live on the device ([`DeviceColumn`]); secure columns are
//! four base columns (stwo's `SecureColumnByCoords`). What stays on the host: Fiat–Shamir, and
//! the few operations our AIR never or rarely runs (barycentric evaluation, GKR, domains too
//! small for a launch), which go through stwo's CPU backend on a downloaded copy; each says so
//! where it is implemented.
//!
//! stwo's traits cannot fail, so a device error here is a panic with the driver's message; the
//! callers ([`crate::prove`]) check the device before they start.

mod accumulation;
mod cache;
mod column;
mod components;
mod fri;
mod gkr;
mod group;
mod hints;
mod merkle;
mod poly;
mod queries;
mod quotients;
mod sample;

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleChannel;
use stwo::prover::backend::{Backend, BackendForChannel};

pub use column::{DeviceColumn, Element};
pub use components::GeneratedKernel;
pub use poly::Twiddles;

use crate::emulator::Emulator;
use crate::ops::{AirKernels, Kernels};
use crate::{CudaKernels, GpuError, Result};

/// Where a [`DeviceBackend`]'s columns live. stwo creates columns without a context
/// (`Column::zeros(len)`), so the kernels are found from the calling thread.
pub trait Device: 'static + Copy + Debug + Default + Send + Sync {
    type Kernels: AirKernels<Column: Send + Sync> + Send + Sync + 'static;
    /// The kernels this thread's work runs on. Panics if no device was opened.
    fn kernels() -> &'static Self::Kernels;
    /// Which device [`Device::kernels`] is: buffers kept between proofs are kept per device.
    fn instance() -> u64;
}

/// A device buffer of `D`.
pub type Buffer<D> = <<D as Device>::Kernels as Kernels>::Column;

/// A CUDA device: the one bound to this thread ([`Cuda::bind`], which [`crate::pool::GpuPool`]
/// does for its threads), else the first one opened.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cuda;

/// Every device opened, for the life of the process.
static OPENED: Mutex<Vec<&'static CudaKernels>> = Mutex::new(Vec::new());
/// How many: with more than one, a thread must be bound to say which.
static N_OPENED: AtomicUsize = AtomicUsize::new(0);
static FIRST: OnceLock<&'static CudaKernels> = OnceLock::new();

thread_local! {
    static BOUND: Cell<Option<&'static CudaKernels>> = const { Cell::new(None) };
}

impl Cuda {
    /// Opens device `ordinal` (compiling and loading every kernel) once per process. The first
    /// device opened serves threads that have none bound.
    pub fn open(ordinal: usize) -> Result<&'static CudaKernels> {
        let mut opened = OPENED.lock().expect("device list");
        if let Some(kernels) = opened.iter().find(|k| k.ordinal() == ordinal) {
            return Ok(kernels);
        }
        // Shared with `prewarm_gpu`, which may have compiled the kernels already.
        let kernels: &'static CudaKernels = Box::leak(Box::new(CudaKernels::shared(ordinal)?));
        opened.push(kernels);
        N_OPENED.store(opened.len(), Ordering::Release);
        FIRST.get_or_init(|| kernels);
        Ok(kernels)
    }

    /// Makes `kernels` the device of the calling thread's GPU work.
    pub fn bind(kernels: &'static CudaKernels) {
        BOUND.set(Some(kernels));
    }
}

impl Device for Cuda {
    type Kernels = CudaKernels;

    fn kernels() -> &'static CudaKernels {
        if let Some(kernels) = BOUND.get() {
            return kernels;
        }
        // With several devices, an unbound thread could mix one device's buffers with
        // another's: refuse rather than guess.
        assert!(
            N_OPENED.load(Ordering::Acquire) <= 1,
            "GPU work on a thread bound to no device while several are open (use GpuPool)"
        );
        FIRST
            .get()
            .copied()
            .expect("GpuBackend used before Cuda::open opened a device")
    }

    fn instance() -> u64 {
        Self::kernels().ordinal() as u64
    }
}

/// The emulator, with a launch shape that makes every thread stride (as the tests use).
#[derive(Clone, Copy, Debug, Default)]
pub struct Emulated;

impl Device for Emulated {
    type Kernels = Emulator;

    fn kernels() -> &'static Emulator {
        // Tiles of 2^4 values: the proofs' FFTs take several passes, as the device's do.
        static EMULATOR: Emulator = Emulator {
            fft_tile_log: 4,
            ..Emulator::new(3, 7)
        };
        &EMULATOR
    }

    fn instance() -> u64 {
        0
    }
}

/// stwo's `Backend` over the columns of device `D`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct DeviceBackend<D>(#[serde(skip)] PhantomData<D>);

/// Proves on the CUDA device of the calling thread ([`Cuda`]).
pub type GpuBackend = DeviceBackend<Cuda>;
/// Proves with the kernels compiled as host C++: slow, for checking a whole proof anywhere.
pub type EmulatedBackend = DeviceBackend<Emulated>;

impl<D: Device> Backend for DeviceBackend<D> {}
impl<D: Device> BackendForChannel<Blake2sMerkleChannel> for DeviceBackend<D> {}

/// The kernels of `D`.
fn kernels<D: Device>() -> &'static D::Kernels {
    D::kernels()
}

/// The `T` of the calling thread's device of `D`, made by `make` on first use and kept for the
/// life of the process (the sampler, the read groups' registry).
fn per_device<D: Device, T: Send + Sync + 'static>(make: impl FnOnce() -> T) -> Arc<T> {
    type Entry = (TypeId, u64, Arc<dyn Any + Send + Sync>);
    static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    let key = (TypeId::of::<(D, T)>(), D::instance());
    let mut entries = ENTRIES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, _, entry)) = entries.iter().find(|(t, i, _)| (*t, *i) == key) {
        return entry
            .clone()
            .downcast()
            .expect("entries are keyed by their type");
    }
    let entry = Arc::new(make());
    entries.push((key.0, key.1, entry.clone()));
    entry
}

/// A count or offset of words as a kernel argument; past 2^32 words is an error, not a wrap.
#[track_caller]
fn u32_of(n: usize) -> u32 {
    ok(crate::ops::as_u32(n, "words in one device buffer"))
}

/// Unwraps a device result inside one of stwo's infallible trait methods.
#[track_caller]
fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e: GpuError| panic!("GPU backend: {e}"))
}
