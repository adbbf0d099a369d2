//! The passes of the shared-memory FFT (`kernels/circle_fft.cu`, `fft_pass`): which layers each
//! pass runs on which tiles. A pass reads and writes every value once, so the fewer passes the
//! less memory traffic: two at 2^21 where the three-layer kernels ([`super::Layers`]) take seven.

use super::{layer_offsets, twiddles_read};
use crate::{GpuError, Result};

/// Largest tile of a pass, as a power of two: 2^12 words are 16 KiB of a block's shared memory
/// (`SHARED_FFT_MAX_LOG`), and so also the most layers one pass runs.
pub const SHARED_FFT_MAX_LOG: u32 = 12;

/// Consecutive values a tile row holds at least, as a power of two, after the first pass: eight
/// words fill a 32-byte sector, so that a pass over strided rows loads no more than it uses.
const MIN_ROW_LOG: u32 = 3;

/// One pass over `n_columns` columns of `n` values, laid out as the kernel's `FftPass`: layers
/// `low .. low + n_layers` on tiles of 2^n_layers rows of 2^c_log consecutive values.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FftPass {
    /// Where layer `low + d`'s twiddles start in the twiddle tree.
    pub offsets: [u32; SHARED_FFT_MAX_LOG as usize],
    pub low: u32,
    pub n_layers: u32,
    pub c_log: u32,
    pub n: u32,
    pub n_columns: u32,
    /// Values at positions ≥ `zeros_from` are read as zeros (`n` for none).
    pub zeros_from: u32,
    /// Every value is multiplied by it when written back (1 for none).
    pub factor: u32,
}

impl FftPass {
    /// The passes of an FFT of `log_n` layers over `n_columns` columns of 2^log_n values, lowest
    /// layers first, with tiles of at most 2^tile_log values (from 1 to
    /// [`SHARED_FFT_MAX_LOG`]); `offset(layer)` locates a layer's twiddles. The first pass runs
    /// the lowest layers on runs of consecutive values; the others split the rest evenly, each
    /// keeping rows of at least 2^3 values where the tile allows.
    pub fn plan(
        log_n: u32,
        n_columns: u32,
        tile_log: u32,
        offset: impl Fn(u32) -> u32,
    ) -> Vec<FftPass> {
        let tile_log = tile_log.min(SHARED_FFT_MAX_LOG).min(log_n);
        if tile_log == 0 {
            return Vec::new();
        }
        let pass = |low: u32, n_layers: u32| FftPass {
            offsets: layer_offsets(low, n_layers, &offset),
            low,
            n_layers,
            c_log: tile_log - n_layers,
            n: 1 << log_n,
            n_columns,
            zeros_from: 1 << log_n,
            factor: 1,
        };
        let mut passes = vec![pass(0, tile_log)];
        let rest = log_n - tile_log;
        let most = tile_log.saturating_sub(MIN_ROW_LOG).max(1);
        let count = rest.div_ceil(most);
        let mut low = tile_log;
        for k in 0..count {
            let n_layers = rest / count + u32::from(k < rest % count);
            passes.push(pass(low, n_layers));
            low += n_layers;
        }
        passes
    }

    /// Checks the pass against a twiddle tree of `n_twiddles` words: the kernel trusts it.
    pub fn check(&self, n_twiddles: usize) -> Result<()> {
        let tile_log = self.n_layers + self.c_log;
        let fits = self.n.is_power_of_two()
            && (1..=SHARED_FFT_MAX_LOG).contains(&self.n_layers)
            && tile_log <= SHARED_FFT_MAX_LOG
            && self.c_log <= self.low
            && self.low + self.n_layers <= self.n.ilog2()
            && self.factor < stwo::core::fields::m31::P;
        if !fits {
            return Err(GpuError::Unsupported(format!(
                "an FFT pass over layers {}..{} in tiles of 2^{tile_log} values of columns of {}",
                self.low,
                self.low + self.n_layers,
                self.n
            )));
        }
        for d in 0..self.n_layers {
            let end = self.offsets[d as usize] as usize + twiddles_read(self.low + d, self.n / 2);
            if end > n_twiddles {
                return Err(GpuError::Unsupported(format!(
                    "layer {} reads twiddles up to {end} of {n_twiddles}",
                    self.low + d
                )));
            }
        }
        Ok(())
    }

    /// Checks the columns of a pass, given their lengths: `n_columns` of at least `n` values,
    /// and as many sources, each holding the values the pass reads, or none (in place).
    pub fn check_columns(&self, columns: &[usize], sources: &[usize]) -> Result<()> {
        let read = self.zeros_from.min(self.n) as usize;
        let fits = columns.len() == self.n_columns as usize
            && columns.iter().all(|&len| len >= self.n as usize)
            && (sources.is_empty() || sources.len() == columns.len())
            && sources.iter().all(|&len| len >= read);
        if !fits {
            return Err(GpuError::Unsupported(format!(
                "an FFT pass over {} columns of {} values, with columns of {columns:?} values and \
                 sources of {sources:?}",
                self.n_columns, self.n
            )));
        }
        Ok(())
    }

    /// Blocks worth launching: one per tile.
    pub fn tiles(&self) -> u64 {
        (u64::from(self.n) >> (self.n_layers + self.c_log)) * u64::from(self.n_columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(passes: &[FftPass]) -> Vec<(u32, u32, u32)> {
        passes
            .iter()
            .map(|p| (p.low, p.n_layers, p.c_log))
            .collect()
    }

    #[test]
    fn passes_cover_every_layer_once_in_tiles_that_fit() {
        for tile_log in 1..=SHARED_FFT_MAX_LOG {
            for log_n in 1..=24 {
                let passes = FftPass::plan(log_n, 3, tile_log, |layer| layer);
                let mut next = 0;
                for p in &passes {
                    assert_eq!(p.low, next, "{tile_log} {log_n}");
                    next += p.n_layers;
                    p.check(1 << 25).unwrap();
                    assert_eq!(p.tiles() << (p.n_layers + p.c_log), 3 << log_n);
                }
                assert_eq!(next, log_n);
            }
        }
    }

    #[test]
    fn large_ffts_take_two_passes_with_full_sectors() {
        let plan = |log_n| shapes(&FftPass::plan(log_n, 1, SHARED_FFT_MAX_LOG, |_| 0));
        assert_eq!(plan(21), [(0, 12, 0), (12, 9, 3)]);
        assert_eq!(plan(20), [(0, 12, 0), (12, 8, 4)]);
        assert_eq!(plan(22), [(0, 12, 0), (12, 5, 7), (17, 5, 7)]);
        assert_eq!(plan(5), [(0, 5, 0)]);
        let passes = FftPass::plan(21, 1, 12, |layer| 100 + layer);
        assert_eq!(
            passes[1].offsets[..9],
            [112, 113, 114, 115, 116, 117, 118, 119, 120]
        );
        assert_eq!(passes[1].offsets[9..], [0, 0, 0]);
    }

    #[test]
    fn passes_the_kernel_cannot_take_are_refused() {
        let good = FftPass::plan(10, 1, 4, |_| 0)[1];
        good.check(1 << 10).unwrap();
        let refused = [
            FftPass {
                n_layers: 0,
                ..good
            },
            FftPass {
                c_log: good.low + 1,
                ..good
            },
            FftPass {
                n_layers: 13,
                c_log: 0,
                ..good
            },
            FftPass { n: 1000, ..good },
            FftPass { low: 10, ..good },
            FftPass {
                factor: stwo::core::fields::m31::P,
                ..good
            },
        ];
        for pass in refused {
            assert!(pass.check(1 << 10).is_err(), "{pass:?}");
        }
        // Too few twiddles for the pass's layers.
        assert!(good.check(4).is_err());
    }

    #[test]
    fn columns_and_sources_must_hold_what_the_pass_reads_and_writes() {
        let pass = FftPass {
            zeros_from: 300,
            ..FftPass::plan(10, 2, 12, |_| 0)[0]
        };
        pass.check_columns(&[1024, 2048], &[]).unwrap();
        pass.check_columns(&[1024, 1024], &[300, 512]).unwrap();
        for (columns, sources) in [
            (&[1024][..], &[][..]),
            (&[1024, 1023], &[]),
            (&[1024, 1024], &[300]),
            (&[1024, 1024], &[300, 299]),
        ] {
            assert!(pass.check_columns(columns, sources).is_err());
        }
    }
}
