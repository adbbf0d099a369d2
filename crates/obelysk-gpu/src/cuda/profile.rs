//! Counting every launch, and timing device calls by name under `OBELYSK_GPU_PROFILE=1`
//! ([`crate::traffic::profiling`]).

use std::cell::Cell;
use std::time::Instant;

use cudarc::driver::DriverError;

use super::CudaKernels;
use crate::{GpuError, Result};

impl CudaKernels {
    /// Under profiling, times the rest of the caller's scope as `name`.
    pub(super) fn timed(&self, name: &'static str) -> Option<Timed<'_>> {
        crate::traffic::profiling().then(|| {
            self.profile_start(name);
            Timed(self)
        })
    }

    /// Under [`crate::traffic::profiling`]: waits for the device, then starts timing `name`.
    pub(super) fn profile_start(&self, name: &'static str) {
        let _ = self.stream.synchronize();
        PROFILED.set(Some((name, Instant::now())));
    }

    /// Under profiling: waits for the device and adds the time since [`Self::profile_start`].
    fn profile_end(&self) {
        if let Some((name, start)) = PROFILED.take() {
            let _ = self.stream.synchronize();
            crate::traffic::record(name, start.elapsed());
        }
    }

    /// A launch's result, counted (and timed, under profiling).
    pub(super) fn launched(&self, result: std::result::Result<(), DriverError>) -> Result<()> {
        crate::traffic::launch();
        self.profile_end();
        result.map_err(|e| GpuError::Driver(format!("launch: {e}")))
    }
}

/// Ends a [`CudaKernels::timed`] scope.
pub(super) struct Timed<'a>(&'a CudaKernels);

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        self.0.profile_end();
    }
}

thread_local! {
    /// The device call being timed under profiling, and when it started.
    static PROFILED: Cell<Option<(&'static str, Instant)>> = const { Cell::new(None) };
}
