//! The kernels compiled as host C++ (`kernels/emu/host.cpp`), behind [`Kernels`]: the
//! differential tests run the host algorithms of [`crate::ops`] on it and compare with stwo's CPU
//! backend, on machines without a GPU. The entry points are in `kernels.rs`; this file holds the
//! launch shape and what they share.

use crate::ops::{FftPass, Layers, SHARED_FFT_MAX_LOG};
use crate::Result;

mod air;
pub(crate) mod ffi;
mod kernels;

/// Runs each launch as `grid` blocks of `block` threads, one thread after another. Small odd
/// shapes make every thread stride over several elements, which is what the kernels' loops must
/// get right.
#[derive(Clone, Copy, Debug)]
pub struct Emulator {
    pub grid: u32,
    pub block: u32,
    /// [`crate::ops::Kernels::fft_tile_log`]: small tiles split even small FFTs into several
    /// passes.
    pub fft_tile_log: u32,
}

impl Emulator {
    /// A launch shape with the device's FFT tiles.
    pub const fn new(grid: u32, block: u32) -> Self {
        Self {
            grid,
            block,
            fft_tile_log: SHARED_FFT_MAX_LOG,
        }
    }
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new(3, 7)
    }
}

/// `emu_fft_layers` and `emu_ifft_layers` take the same arguments.
type LayersFn =
    unsafe extern "C" fn(u32, u32, *mut u32, *const u32, u32, u32, u32, u32, u32, u32, u32);
/// So do `emu_fft_pass` and `emu_ifft_pass`.
type PassFn =
    unsafe extern "C" fn(u32, u32, *const *mut u32, *const *const u32, *const u32, *const FftPass);

impl Emulator {
    /// FFT layers in either direction over `n_columns` columns of `n` values.
    fn layers(
        &self,
        kernel: LayersFn,
        columns: &mut [u32],
        twiddles: &[u32],
        layers: Layers,
        (n, n_columns): (u32, u32),
    ) -> Result<()> {
        check(columns, n as usize * n_columns as usize);
        layers.check(n, twiddles.len())?;
        let [offset0, offset1, offset2] = layers.offsets;
        // SAFETY: n_columns columns of n values, and every layer's twiddles, exist (checked).
        unsafe {
            kernel(
                self.grid,
                self.block,
                columns.as_mut_ptr(),
                twiddles.as_ptr(),
                offset0,
                offset1,
                offset2,
                layers.low,
                layers.count,
                n,
                n_columns,
            )
        };
        Ok(())
    }

    /// One shared-memory FFT pass in either direction.
    fn pass(
        &self,
        kernel: PassFn,
        columns: &mut [&mut Vec<u32>],
        sources: &[&Vec<u32>],
        twiddles: &[u32],
        pass: &FftPass,
    ) -> Result<()> {
        pass.check(twiddles.len())?;
        let lens = |c: &[&Vec<u32>]| c.iter().map(|c| c.len()).collect::<Vec<_>>();
        let column_lens: Vec<usize> = columns.iter().map(|c| c.len()).collect();
        pass.check_columns(&column_lens, &lens(sources))?;
        let targets: Vec<*mut u32> = columns.iter_mut().map(|c| c.as_mut_ptr()).collect();
        let reads: Vec<*const u32> = if sources.is_empty() {
            targets.iter().map(|&c| c.cast_const()).collect()
        } else {
            sources.iter().map(|c| c.as_ptr()).collect()
        };
        // SAFETY: every column, source and layer's twiddles holds what the pass touches
        // (checked); the pass is laid out as the kernel's `FftPass`. Sources are the columns
        // themselves or other vectors (the borrows are distinct).
        unsafe {
            kernel(
                self.grid,
                self.block,
                targets.as_ptr(),
                reads.as_ptr(),
                twiddles.as_ptr(),
                pass,
            )
        };
        Ok(())
    }

    /// Runs a checked [`crate::ops::copy_plan`] of `n_copies` copies of `n` words (the
    /// destinations are the callers' `&mut` vectors, distinct from the sources).
    fn copy_many(&self, plan: &[u32], n_copies: usize, n: usize) {
        let (n_copies, n) = (
            u32::try_from(n_copies).expect("copies fit a plan"),
            u32::try_from(n).expect("checked by the plan"),
        );
        // SAFETY: every copy's ranges lie in its vector (`copy_plan`).
        unsafe { ffi::emu_copy_many(self.grid, self.block, plan.as_ptr(), n_copies, n) };
    }
}

/// Panics unless `column` holds every index a kernel over `n` values touches: the C side trusts
/// its lengths.
fn check(column: &[u32], n: usize) {
    assert!(
        column.len() >= n,
        "a column of {} values for a launch over {n}",
        column.len()
    );
}
