//! The circle FFT: interpolation and evaluation (`PolyOps`), in passes through shared memory
//! ([`FftPass`]) or, where the kernels say so, three layers per launch ([`Layers`]).

use stwo::core::circle::Coset;
use stwo::core::fields::m31::BaseField;
use stwo::core::poly::circle::CircleDomain;
use stwo::core::poly::line::LineDomain;
use stwo::core::poly::utils::domain_line_twiddles_from_tree;
use stwo::prover::backend::CpuBackend;
use stwo::prover::poly::circle::PolyOps;
use stwo::prover::poly::twiddles::TwiddleTree;

use super::{as_u32, holds, FftPass, Kernels, Layers, MIN_FFT_LOG_SIZE};
use crate::{GpuError, Result};

/// stwo's twiddle tree for a coset, on the device: forward and inverse, with the host copy that
/// says where each layer starts.
pub struct DeviceTwiddles<C> {
    pub(super) host: TwiddleTree<CpuBackend>,
    pub(super) twiddles: C,
    pub(super) itwiddles: C,
}

impl<C> std::fmt::Debug for DeviceTwiddles<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceTwiddles")
            .field("root_log_size", &self.host.root_coset.log_size())
            .finish_non_exhaustive()
    }
}

impl<C> DeviceTwiddles<C> {
    /// The tree of stwo's CPU backend for `coset` (what `precompute_twiddles` gives), uploaded.
    pub fn new<K: Kernels<Column = C>>(
        kernels: &K,
        coset: stwo::core::circle::Coset,
    ) -> Result<Self> {
        let host = CpuBackend::precompute_twiddles(coset);
        let raw = |v: &[BaseField]| v.iter().map(|x| x.0).collect::<Vec<u32>>();
        Ok(Self {
            twiddles: kernels.upload(&raw(&host.twiddles))?,
            itwiddles: kernels.upload(&raw(&host.itwiddles))?,
            host,
        })
    }

    /// Offsets into the buffer of the domain's line layers, largest first (what stwo's
    /// `domain_line_twiddles_from_tree` slices).
    /// Fails unless `coset` is a doubling of this tree's root, so that its twiddles are a
    /// suffix of the tree.
    pub(super) fn covers(&self, coset: Coset) -> Result<()> {
        if !coset.is_doubling_of(self.host.root_coset) {
            return Err(GpuError::Unsupported(
                "the twiddles are for another coset".into(),
            ));
        }
        Ok(())
    }

    pub(super) fn line_offsets(&self, domain: impl Into<LineDomain>) -> Vec<u32> {
        let buffer = &self.host.twiddles;
        domain_line_twiddles_from_tree(domain, buffer)
            .iter()
            .map(|layer| {
                let bytes = layer.as_ptr() as usize - buffer.as_ptr() as usize;
                (bytes / std::mem::size_of::<BaseField>()) as u32
            })
            .collect()
    }
}

fn check_domain<C>(domain: CircleDomain, twiddles: &DeviceTwiddles<C>) -> Result<()> {
    if domain.log_size() < MIN_FFT_LOG_SIZE {
        return Err(GpuError::Unsupported(format!(
            "a domain of 2^{} points is below the kernels' 2^{MIN_FFT_LOG_SIZE}",
            domain.log_size()
        )));
    }
    twiddles.covers(domain.half_coset)
}

/// `CpuBackend::interpolate` on the device: `values` (a circle evaluation on `domain`, in
/// bit-reversed order) become the polynomial's coefficients, in place.
pub fn interpolate<K: Kernels>(
    kernels: &K,
    values: &mut K::Column,
    domain: CircleDomain,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<()> {
    interpolate_columns(kernels, &mut [values], domain, twiddles)
}

/// [`interpolate`] for several evaluations on `domain`, each in its own buffer
/// (`PolyOps::interpolate_columns`): each pass covers all of them.
pub fn interpolate_columns<K: Kernels>(
    kernels: &K,
    columns: &mut [&mut K::Column],
    domain: CircleDomain,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<()> {
    check_domain(domain, twiddles)?;
    let n = domain.size();
    for column in columns.iter() {
        holds(kernels, column, n, "interpolation")?;
    }
    let total = as_u32(n * columns.len(), "interpolated values")?;
    if columns.is_empty() {
        return Ok(());
    }
    let n_columns = columns.len() as u32;
    let inverse_size = BaseField::from(n as u32).inverse();
    let mut passes = fft_passes(kernels, domain, n_columns, twiddles);
    if let Some(last) = passes.last_mut() {
        last.factor = inverse_size.0;
        for pass in &passes {
            kernels.ifft_pass(columns, &[], &twiddles.itwiddles, pass)?;
        }
        return Ok(());
    }
    in_one_buffer(kernels, columns, &[], n, n, |batch| {
        for layers in fft_launches(domain, twiddles) {
            kernels.ifft_layers(batch, &twiddles.itwiddles, layers, n as u32, n_columns)?;
        }
        kernels.scale(batch, inverse_size.0, total)
    })
}

/// `CpuBackend::evaluate` on the device: `buffer` holds a polynomial's coefficients in its
/// first `n_coeffs` values; it becomes the evaluation on `domain` (bit-reversed order). Whatever
/// the buffer held past the coefficients is overwritten.
pub fn evaluate<K: Kernels>(
    kernels: &K,
    buffer: &mut K::Column,
    n_coeffs: usize,
    domain: CircleDomain,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<()> {
    evaluate_columns(kernels, &[], n_coeffs, &mut [buffer], domain, twiddles)
}

/// [`evaluate`] for several polynomials of `n_coeffs` coefficients into buffers of
/// `domain.size()` values: polynomial k is read from `coeffs[k]` (or from the start of
/// `outs[k]` when `coeffs` is empty) and its evaluation written to `outs[k]`. Each pass covers
/// all of them; the first reads the coefficients where they are.
pub fn evaluate_columns<K: Kernels>(
    kernels: &K,
    coeffs: &[&K::Column],
    n_coeffs: usize,
    outs: &mut [&mut K::Column],
    domain: CircleDomain,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<()> {
    check_domain(domain, twiddles)?;
    let n = domain.size();
    if n_coeffs > n || !(coeffs.is_empty() || coeffs.len() == outs.len()) {
        return Err(GpuError::Unsupported(format!(
            "{} polynomials of {n_coeffs} coefficients into {} buffers of {n}",
            coeffs.len(),
            outs.len()
        )));
    }
    for out in outs.iter() {
        holds(kernels, out, n, "evaluation")?;
    }
    for column in coeffs {
        holds(kernels, column, n_coeffs, "coefficients")?;
    }
    as_u32(n * outs.len(), "evaluated values")?;
    if outs.is_empty() {
        return Ok(());
    }
    let n_columns = outs.len() as u32;
    let mut passes = fft_passes(kernels, domain, n_columns, twiddles);
    if let Some(first) = passes.last_mut() {
        first.zeros_from = n_coeffs as u32;
        let (first, rest) = passes.split_last().expect("a pass");
        kernels.fft_pass(outs, coeffs, &twiddles.twiddles, first)?;
        for pass in rest.iter().rev() {
            kernels.fft_pass(outs, &[], &twiddles.twiddles, pass)?;
        }
        return Ok(());
    }
    in_one_buffer(kernels, outs, coeffs, n_coeffs, n, |batch| {
        kernels.zero_from(batch, n_coeffs as u32, n as u32, n_columns)?;
        for layers in fft_launches(domain, twiddles).into_iter().rev() {
            kernels.fft_layers(batch, &twiddles.twiddles, layers, n as u32, n_columns)?;
        }
        Ok(())
    })
}

/// Runs `f` over `columns` held in one buffer, n values each, as the three-layer kernels take
/// them: a single column in place is that buffer; otherwise the first `n_read` values of each
/// of `sources` (of each column when there are none) are copied into one, and the results back.
fn in_one_buffer<K: Kernels>(
    kernels: &K,
    columns: &mut [&mut K::Column],
    sources: &[&K::Column],
    n_read: usize,
    n: usize,
    f: impl FnOnce(&mut K::Column) -> Result<()>,
) -> Result<()> {
    if let ([column], []) = (&mut *columns, sources) {
        return f(column);
    }
    let mut batch = kernels.alloc(columns.len() * n)?;
    let parts: Vec<(&K::Column, usize)> = if sources.is_empty() {
        columns.iter().map(|c| (&**c, 0)).collect()
    } else {
        sources.iter().map(|&c| (c, 0)).collect()
    };
    kernels.concat(&parts, n_read, n, &mut batch, 0)?;
    f(&mut batch)?;
    kernels.split_into(&batch, 0, n, n, columns)
}

/// The shared-memory passes of an FFT over `domain`, lowest layers first; none where the
/// kernels run the three-layer launches instead.
fn fft_passes<K: Kernels>(
    kernels: &K,
    domain: CircleDomain,
    n_columns: u32,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Vec<FftPass> {
    let offsets = twiddles.line_offsets(domain);
    FftPass::plan(
        domain.log_size(),
        n_columns,
        kernels.fft_tile_log(),
        |layer| offsets[layer.saturating_sub(1) as usize],
    )
}

/// The launches of an FFT over `domain`, lowest layers first. Layer 0 derives the circle
/// twiddles from the first line layer; layer i ≥ 1 uses line layer i − 1.
fn fft_launches<C>(domain: CircleDomain, twiddles: &DeviceTwiddles<C>) -> Vec<Layers> {
    let offsets = twiddles.line_offsets(domain);
    Layers::split(offsets.len() as u32 + 1, |layer| {
        offsets[layer.saturating_sub(1) as usize]
    })
}
