//! Several GPUs proving several jobs at once: one job per device, each device with its own
//! threads.
//!
//! stwo spreads a proof's host work over rayon's threads, and the GPU backend finds its device
//! from the calling thread ([`Cuda::bind`]). So each device gets a rayon pool whose threads are
//! bound to it, and a proof runs inside that pool: everything it launches, from any of its
//! threads, goes to that device.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::backend::Cuda;
use crate::{CudaKernels, GpuConfig, GpuError, Result};

struct Slot {
    kernels: &'static CudaKernels,
    threads: rayon::ThreadPool,
}

/// The devices of a [`GpuConfig`], ready to prove.
pub struct GpuPool {
    slots: Vec<Slot>,
    /// Which slots run a proof: one proof per device at a time.
    busy: Mutex<Vec<bool>>,
    freed: Condvar,
    next: AtomicUsize,
}

/// Frees its slot when the proof ends, panicking or not.
struct Taken<'a> {
    pool: &'a GpuPool,
    slot: usize,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.pool
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)[self.slot] = false;
        self.pool.freed.notify_one();
    }
}

impl std::fmt::Debug for GpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPool")
            .field("devices", &self.names())
            .finish()
    }
}

impl GpuPool {
    /// Opens every configured device (compiling or loading the kernels once per process) and
    /// gives each an equal share of the host's threads.
    pub fn open(config: &GpuConfig) -> Result<Self> {
        let ordinals = config.ordinals()?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_device = (cpus / ordinals.len()).max(1);
        let slots = ordinals
            .into_iter()
            .map(|ordinal| {
                let kernels = Cuda::open(ordinal)?;
                let threads = rayon::ThreadPoolBuilder::new()
                    .num_threads(per_device)
                    .thread_name(move |i| format!("gpu{ordinal}-{i}"))
                    .start_handler(move |_| Cuda::bind(kernels))
                    .build()
                    .map_err(|e| GpuError::Driver(format!("threads for device {ordinal}: {e}")))?;
                Ok(Slot { kernels, threads })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            busy: Mutex::new(vec![false; slots.len()]),
            slots,
            freed: Condvar::new(),
            next: AtomicUsize::new(0),
        })
    }

    /// The devices' names, in ordinal order of the configuration.
    pub fn names(&self) -> Vec<String> {
        self.slots
            .iter()
            .map(|s| s.kernels.name().to_string())
            .collect()
    }

    /// Runs `work` on a free device (taking them in turn), waiting for one when every device is
    /// busy. Returns the device's ordinal with the result.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> (usize, R) {
        let taken = self.take();
        let slot = &self.slots[taken.slot];
        (slot.kernels.ordinal(), slot.threads.install(work))
    }

    fn take(&self) -> Taken<'_> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(slot) = (0..n).map(|k| (start + k) % n).find(|&s| !busy[s]) {
                busy[slot] = true;
                return Taken { pool: self, slot };
            }
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
