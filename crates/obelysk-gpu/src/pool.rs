//! Several GPUs proving several jobs at once: one job per device, each device with its own
//! threads.
//!
//! stwo spreads a proof's host work over rayon's threads, and the GPU backend finds its device
//! from the calling thread ([`Cuda::bind`]). So each device gets a rayon pool whose threads are
//! bound to it, and a proof runs inside that pool: everything it launches, from any of its
//! threads, goes to that device.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::backend::Cuda;
use crate::{CudaKernels, GpuConfig, GpuError, Result};

struct Slot {
    kernels: &'static CudaKernels,
    threads: rayon::ThreadPool,
    /// Held while a proof runs: one proof per device at a time.
    busy: Mutex<()>,
}

/// The devices of a [`GpuConfig`], ready to prove.
pub struct GpuPool {
    slots: Vec<Slot>,
    next: AtomicUsize,
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
                Ok(Slot {
                    kernels,
                    threads,
                    busy: Mutex::new(()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
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

    /// Runs `work` on a free device, or, when every device is busy, on the next one in turn
    /// once it is free. Returns the device's ordinal with the result.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> (usize, R) {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let free = (0..n).find_map(|k| {
            let slot = &self.slots[(start + k) % n];
            slot.busy.try_lock().ok().map(|guard| (slot, guard))
        });
        let (slot, _guard) = match free {
            Some(found) => found,
            None => {
                let slot = &self.slots[start];
                (slot, slot.busy.lock().unwrap_or_else(|e| e.into_inner()))
            }
        };
        (slot.kernels.ordinal(), slot.threads.install(work))
    }
}
