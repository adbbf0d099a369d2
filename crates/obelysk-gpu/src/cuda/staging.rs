//! Uploads through page-locked memory.

use std::sync::PoisonError;

use cudarc::driver::{CudaSlice, DevicePtrMut, DriverError};

use super::{guarded, CudaKernels};
use crate::{GpuError, Result};

/// Words one thread copies into page-locked memory at least.
const PINNED_COPY_CHUNK: usize = 1 << 16;

impl CudaKernels {
    /// An upload through [`Self::staging`]: the driver copies pageable memory through small
    /// buffers of its own at a fraction of the bus's speed (a 2^20-step proof's 54 MB of step
    /// records took several milliseconds on an H100's host), and one thread copies into
    /// page-locked memory at a fraction of what several do. `None` when the driver has no
    /// page-locked memory to give (said once): the caller uploads from pageable memory.
    pub(super) fn upload_pinned(&self, values: &[u32]) -> Result<Option<CudaSlice<u32>>> {
        fn driver(what: &'static str) -> impl Fn(DriverError) -> GpuError {
            move |e| GpuError::Driver(format!("{what}: {e}"))
        }
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        if staging.as_ref().is_none_or(|s| s.len() < values.len()) {
            // The old buffer goes first: the new one may be most of the host's locked memory.
            *staging = None;
            let len = values.len().next_power_of_two();
            let context = self.stream.context();
            // SAFETY: the contents are unset until the copy below writes the part uploaded.
            match guarded("allocating page-locked memory", || unsafe {
                context.alloc_pinned::<u32>(len)
            }) {
                Ok(pinned) => *staging = Some(pinned),
                Err(e) => {
                    static SAID: std::sync::Once = std::sync::Once::new();
                    SAID.call_once(|| tracing::warn!("uploads from pageable memory: {e}"));
                    return Ok(None);
                }
            }
        }
        let pinned = staging.as_mut().expect("allocated above");
        let host = &mut pinned
            .as_mut_slice()
            .map_err(driver("page-locked memory"))?[..values.len()];
        // Threads of its own, not rayon's: a rayon worker waiting here for its chunks could
        // pick up another upload and block on the staging lock it holds.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let chunk = values.len().div_ceil(threads).max(PINNED_COPY_CHUNK);
        std::thread::scope(|scope| {
            for (to, from) in host.chunks_mut(chunk).zip(values.chunks(chunk)) {
                scope.spawn(move || to.copy_from_slice(from));
            }
        });
        // SAFETY: every word is written by the copy below before anything reads it.
        let mut out = unsafe { self.stream.alloc::<u32>(values.len()) }
            .map_err(driver("allocating an upload"))?;
        {
            let (dst, _sync) = out.device_ptr_mut(&self.stream);
            // SAFETY: `out` holds as many words as `host`, which is page-locked and stays
            // untouched until the stream has finished the copy (the synchronization below).
            unsafe {
                cudarc::driver::result::memcpy_htod_async(dst, host, self.stream.cu_stream())
            }
            .map_err(driver("upload"))?;
        }
        // The next upload reuses the staging memory.
        self.stream.synchronize().map_err(driver("upload"))?;
        Ok(Some(out))
    }
}
