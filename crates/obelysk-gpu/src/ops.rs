//! Host algorithms over device columns, written once for every [`Kernels`] implementation.

use stwo::core::circle::CirclePoint;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::quotients::{column_line_coeffs, ColumnSampleBatch};
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::core::poly::line::LineDomain;
use stwo::core::poly::utils::domain_line_twiddles_from_tree;
use stwo::core::utils::bit_reverse;
use stwo::prover::backend::CpuBackend;
use stwo::prover::poly::circle::PolyOps;
use stwo::prover::poly::twiddles::TwiddleTree;

use crate::{GpuError, Result};

/// What a device (or the emulator) offers: columns of M31 values and the kernels of
/// `kernels/*.cu`, one method per entry point with the same arguments.
pub trait Kernels {
    type Column;

    /// Waits until every launch so far has finished (for timing).
    fn synchronize(&self) -> Result<()>;
    fn upload(&self, values: &[u32]) -> Result<Self::Column>;
    /// Values in `column`.
    fn len(&self, column: &Self::Column) -> usize;
    /// Threads of a launch over `work` items: the partial results a reduction writes.
    fn threads(&self, work: u32) -> u32;
    /// Per-thread partial sums of `PolyOps::eval_at_point` over 2^log_n coefficients, chunks of
    /// 2^chunk_log; `factors` holds log_n QM31 values, `partials` four words per thread.
    fn eval_poly_partials(
        &self,
        coeffs: &Self::Column,
        log_n: u32,
        factors: &Self::Column,
        chunk_log: u32,
        partials: &mut Self::Column,
    ) -> Result<()>;
    /// Per-thread partial sums of values `[start, start + count)` of a secure column of `n`.
    fn secure_sum_partials(
        &self,
        column: &Self::Column,
        n: u32,
        start: u32,
        count: u32,
        partials: &mut Self::Column,
    ) -> Result<()>;
    /// One component's constraint quotients, added to `accum`: `function` is a generated
    /// kernel of [`crate::codegen::constraint_kernels`].
    #[allow(clippy::too_many_arguments)]
    fn constraint_quotients(
        &self,
        function: &'static str,
        trace: &Self::Column,
        interaction: &Self::Column,
        trace_log: u32,
        eval_log: u32,
        coeffs: &Self::Column,
        challenges: &Self::Column,
        denom_inv: &Self::Column,
        accum: &mut Self::Column,
    ) -> Result<()>;
    /// First half of a secure column of `n` minus λ, second half plus λ.
    fn decompose_apply(&self, column: &mut Self::Column, n: u32, lambda: [u32; 4]) -> Result<()>;
    /// A column of `n` values whose contents are unspecified until a kernel writes them.
    fn alloc(&self, n: usize) -> Result<Self::Column>;
    fn download(&self, column: &Self::Column) -> Result<Vec<u32>>;

    fn bit_reverse(&self, column: &mut Self::Column, log_n: u32) -> Result<()>;
    fn fft_layer(
        &self,
        column: &mut Self::Column,
        twiddles: &Self::Column,
        offset: u32,
        layer: u32,
        n_pairs: u32,
    ) -> Result<()>;
    fn ifft_layer(
        &self,
        column: &mut Self::Column,
        itwiddles: &Self::Column,
        offset: u32,
        layer: u32,
        n_pairs: u32,
    ) -> Result<()>;
    fn scale(&self, column: &mut Self::Column, factor: u32, n: u32) -> Result<()>;
    fn zero_from(&self, column: &mut Self::Column, from: u32, n: u32) -> Result<()>;
    /// `dst[dst_start..][..n] = src[src_start..][..n]`.
    fn copy_range(
        &self,
        src: &Self::Column,
        src_start: u32,
        dst: &mut Self::Column,
        dst_start: u32,
        n: u32,
    ) -> Result<()>;
    /// `acc[i] += other[i]` for the first `n` values.
    fn add_assign(&self, acc: &mut Self::Column, other: &Self::Column, n: u32) -> Result<()>;
    /// Leaf hashes (8 words each) of a lifted Merkle tree of 2^lifting_log leaves over the
    /// columns stored one after another in `values`.
    fn merkle_leaves(
        &self,
        values: &Self::Column,
        offsets: &Self::Column,
        log_sizes: &Self::Column,
        n_columns: u32,
        lifting_log: u32,
        out: &mut Self::Column,
    ) -> Result<()>;
    fn merkle_parents(
        &self,
        children: &Self::Column,
        n_parents: u32,
        out: &mut Self::Column,
    ) -> Result<()>;
    /// One batch's DEEP numerators over the first `n_rows` rows of `columns` (each `n` long,
    /// one after another), written at `partials[out_offset..]`. `terms` holds the column index
    /// and `c` of each term, five words per term.
    #[allow(clippy::too_many_arguments)]
    fn quotient_numerators(
        &self,
        columns: &Self::Column,
        n: u32,
        terms: &Self::Column,
        n_terms: u32,
        sum_b: [u32; 4],
        n_rows: u32,
        partials: &mut Self::Column,
        out_offset: u32,
    ) -> Result<()>;
    /// The quotients on the evaluation subdomain of 2^log_rows rows, from every batch's
    /// numerators (see `kernels/quotients.cu` for the layouts).
    #[allow(clippy::too_many_arguments)]
    fn quotient_combine(
        &self,
        partials: &Self::Column,
        offsets: &Self::Column,
        log_sizes: &Self::Column,
        samples: &Self::Column,
        n_samples: u32,
        points: &Self::Column,
        log_rows: u32,
        out: &mut Self::Column,
    ) -> Result<()>;
    /// `src` and `dst` are secure columns: four coordinate columns of `n_in` (and `n_in / 2`)
    /// values one after another.
    #[allow(clippy::too_many_arguments)]
    fn fri_fold(
        &self,
        src: &Self::Column,
        n_in: u32,
        dst: &mut Self::Column,
        itwiddles: &Self::Column,
        offset: u32,
        circle: bool,
        alpha: [u32; 4],
    ) -> Result<()>;
}

/// Smallest domain the FFT kernels take: stwo special-cases sizes 2 and 4, and a launch is not
/// worth it below a few hundred values anyway.
pub const MIN_FFT_LOG_SIZE: u32 = 3;

/// Twiddles a layer kernel reads past its offset for `n_pairs` pairs: one per butterfly block,
/// and for the circle layer (layer 0, also a circle fold) pairs `[x, y]` of the first line layer,
/// one pair per four blocks.
pub fn twiddles_read(layer: u32, n_pairs: u32) -> usize {
    let blocks = (n_pairs >> layer) as usize;
    if layer == 0 {
        2 * blocks.div_ceil(4)
    } else {
        blocks
    }
}

/// `n` as a kernel argument, or why it does not fit one.
fn as_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| GpuError::Unsupported(format!("{what}: {n} is past 2^32")))
}

/// Fails unless `column` holds at least `n` values.
fn holds<K: Kernels>(kernels: &K, column: &K::Column, n: usize, what: &str) -> Result<()> {
    let len = kernels.len(column);
    if len < n {
        return Err(GpuError::Unsupported(format!(
            "{what}: a column of {len} values where {n} are needed"
        )));
    }
    Ok(())
}

/// stwo's twiddle tree for a coset, on the device: forward and inverse, with the host copy that
/// says where each layer starts.
pub struct DeviceTwiddles<C> {
    host: TwiddleTree<CpuBackend>,
    twiddles: C,
    itwiddles: C,
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
    fn line_offsets(&self, domain: impl Into<LineDomain>) -> Vec<u32> {
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
    if !domain.half_coset.is_doubling_of(twiddles.host.root_coset) {
        return Err(GpuError::Unsupported(
            "the twiddles are for another coset".into(),
        ));
    }
    Ok(())
}

/// `CpuBackend::interpolate` on the device: `values` (a circle evaluation on `domain`, in
/// bit-reversed order) become the polynomial's coefficients, in place.
pub fn interpolate<K: Kernels>(
    kernels: &K,
    values: &mut K::Column,
    domain: CircleDomain,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<()> {
    check_domain(domain, twiddles)?;
    holds(kernels, values, domain.size(), "interpolation")?;
    let n_pairs = (domain.size() / 2) as u32;
    let offsets = twiddles.line_offsets(domain);
    // Layer 0 derives the circle twiddles from the first line layer; layer i ≥ 1 uses line
    // layer i − 1.
    for layer in 0..=offsets.len() as u32 {
        let offset = offsets[layer.saturating_sub(1) as usize];
        kernels.ifft_layer(values, &twiddles.itwiddles, offset, layer, n_pairs)?;
    }
    let inverse_size = BaseField::from(domain.size() as u32).inverse();
    kernels.scale(values, inverse_size.0, domain.size() as u32)
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
    check_domain(domain, twiddles)?;
    if n_coeffs > domain.size() {
        return Err(GpuError::Unsupported(format!(
            "{n_coeffs} coefficients do not fit a domain of {}",
            domain.size()
        )));
    }
    holds(kernels, buffer, domain.size(), "evaluation")?;
    let n = domain.size() as u32;
    kernels.zero_from(buffer, n_coeffs as u32, n)?;
    let offsets = twiddles.line_offsets(domain);
    for layer in (0..=offsets.len() as u32).rev() {
        let offset = offsets[layer.saturating_sub(1) as usize];
        kernels.fft_layer(buffer, &twiddles.twiddles, offset, layer, n / 2)?;
    }
    Ok(())
}

/// One FRI step on the device: `src`, a secure column of `n` values in bit-reversed order on
/// `domain` (a line domain, or a circle domain for the first fold), becomes the `n / 2` values
/// of the folded evaluation; stwo's `fold_line` and `fold_circle_into_line` with one step.
fn fri_fold<K: Kernels>(
    kernels: &K,
    src: &K::Column,
    n: usize,
    first_line_layer: u32,
    circle: bool,
    alpha: SecureField,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<K::Column> {
    // Circle twiddles derive from a line layer of at least two values (a domain of 8).
    if n < if circle { 8 } else { 4 } {
        return Err(GpuError::Unsupported(format!(
            "a fold of {n} values is the CPU's work"
        )));
    }
    holds(kernels, src, 4 * n, "fold source")?;
    let mut dst = kernels.alloc(4 * (n / 2))?;
    let alpha = alpha.to_m31_array().map(|c| c.0);
    kernels.fri_fold(
        src,
        n as u32,
        &mut dst,
        &twiddles.itwiddles,
        first_line_layer,
        circle,
        alpha,
    )?;
    Ok(dst)
}

/// `FriOps::fold_line` with one step, on the device.
pub fn fold_line<K: Kernels>(
    kernels: &K,
    src: &K::Column,
    domain: LineDomain,
    alpha: SecureField,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<K::Column> {
    if !domain.coset().is_doubling_of(twiddles.host.root_coset) {
        return Err(GpuError::Unsupported(
            "the twiddles are for another coset".into(),
        ));
    }
    let offsets = twiddles.line_offsets(domain);
    fri_fold(
        kernels,
        src,
        domain.size(),
        offsets[0],
        false,
        alpha,
        twiddles,
    )
}

/// `FriOps::fold_circle_into_line` on the device (into a fresh column: stwo's accumulating
/// variant adds the result to an existing line evaluation, which is the caller's to do).
pub fn fold_circle_into_line<K: Kernels>(
    kernels: &K,
    src: &K::Column,
    domain: CircleDomain,
    alpha: SecureField,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<K::Column> {
    if !domain.half_coset.is_doubling_of(twiddles.host.root_coset) {
        return Err(GpuError::Unsupported(
            "the twiddles are for another coset".into(),
        ));
    }
    let offsets = twiddles.line_offsets(domain);
    fri_fold(
        kernels,
        src,
        domain.size(),
        offsets[0],
        true,
        alpha,
        twiddles,
    )
}

/// The leaves of stwo's lifted Blake2s Merkle tree (`MerkleOpsLifted::build_leaves`) over
/// `columns`, given in increasing order of length as stwo requires: 8 words per leaf.
pub fn merkle_leaves<K: Kernels>(
    kernels: &K,
    columns: &[&[u32]],
    lifting_log: u32,
) -> Result<K::Column> {
    let mut values = Vec::with_capacity(columns.iter().map(|c| c.len()).sum());
    let mut log_sizes = Vec::with_capacity(columns.len());
    for column in columns {
        let n = column.len();
        if n < 2 || !n.is_power_of_two() {
            return Err(GpuError::Unsupported(format!(
                "a column of {n} values in a Merkle tree"
            )));
        }
        log_sizes.push(n.ilog2());
        values.extend_from_slice(column);
    }
    if values.is_empty() {
        values.push(0);
    }
    merkle_leaves_on_device(kernels, &kernels.upload(&values)?, &log_sizes, lifting_log)
}

/// [`merkle_leaves`] over columns already on the device, one after another in `values`, with
/// 2^log_sizes[k] values in column k.
pub fn merkle_leaves_on_device<K: Kernels>(
    kernels: &K,
    values: &K::Column,
    log_sizes: &[u32],
    lifting_log: u32,
) -> Result<K::Column> {
    // As stwo: a tree without columns is one leaf, the hash of nothing.
    let lifting_log = if log_sizes.is_empty() { 0 } else { lifting_log };
    if log_sizes.windows(2).any(|w| w[1] < w[0]) {
        return Err(GpuError::Unsupported(
            "columns must come in increasing order of length".into(),
        ));
    }
    if log_sizes.iter().any(|&l| l == 0 || l > lifting_log) || lifting_log > 30 {
        return Err(GpuError::Unsupported(format!(
            "a column taller than a tree of 2^{lifting_log} leaves, or of one value, or a tree \
             past 2^30 leaves"
        )));
    }
    let mut offsets = Vec::with_capacity(log_sizes.len());
    let mut total: u64 = 0;
    for &l in log_sizes {
        offsets.push(
            u32::try_from(total)
                .map_err(|_| GpuError::Unsupported("more than 2^32 values in one tree".into()))?,
        );
        total += 1 << l;
    }
    as_u32(total as usize, "values in one tree")?;
    holds(kernels, values, total as usize, "Merkle columns")?;
    // Kernels take no empty buffers.
    let pad = |v: &[u32]| if v.is_empty() { vec![0] } else { v.to_vec() };
    let mut out = kernels.alloc(8 << lifting_log)?;
    kernels.merkle_leaves(
        values,
        &kernels.upload(&pad(&offsets))?,
        &kernels.upload(&pad(log_sizes))?,
        log_sizes.len() as u32,
        lifting_log,
        &mut out,
    )?;
    Ok(out)
}

/// The layer above `layer` (`MerkleOpsLifted::build_next_layer`): `n_parents` hashes.
pub fn merkle_parents<K: Kernels>(
    kernels: &K,
    layer: &K::Column,
    n_parents: usize,
) -> Result<K::Column> {
    holds(kernels, layer, 16 * n_parents, "Merkle layer")?;
    let mut out = kernels.alloc(8 * n_parents)?;
    kernels.merkle_parents(layer, as_u32(n_parents, "Merkle parents")?, &mut out)?;
    Ok(out)
}

/// Columns of one size and the sample batches over them, as stwo hands them to
/// `QuotientOps::accumulate_numerators`: `columns` holds the columns one after another, each
/// `column_len` long, in bit-reversed order.
#[derive(Clone, Copy)]
pub struct NumeratorGroup<'a, C> {
    pub columns: &'a C,
    pub column_len: usize,
    pub batches: &'a [ColumnSampleBatch],
}

impl<C> std::fmt::Debug for NumeratorGroup<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumeratorGroup")
            .field("column_len", &self.column_len)
            .field("batches", &self.batches.len())
            .finish_non_exhaustive()
    }
}

/// Every batch's DEEP numerators on the device, in one buffer.
#[derive(Debug)]
pub struct Numerators<C> {
    partials: C,
    offsets: Vec<u32>,
    log_sizes: Vec<u32>,
    /// Per batch: the summed first line coefficient, then the sample point's x and y.
    samples: Vec<u32>,
}

impl<C> Numerators<C> {
    /// The numerator column of batch `s` (coordinate-major) and its summed first line
    /// coefficient, as stwo's `AccumulatedNumerators` holds them.
    pub fn batch<K: Kernels<Column = C>>(
        &self,
        kernels: &K,
        s: usize,
    ) -> Result<(Vec<u32>, SecureField)> {
        let all = kernels.download(&self.partials)?;
        let start = self.offsets[s] as usize;
        let rows = 4usize << self.log_sizes[s];
        let first: [u32; 4] = self.samples[12 * s..12 * s + 4]
            .try_into()
            .expect("4 words");
        Ok((all[start..start + rows].to_vec(), secure(first)))
    }
}

fn words(value: SecureField) -> [u32; 4] {
    value.to_m31_array().map(|c| c.0)
}

fn secure(words: [u32; 4]) -> SecureField {
    SecureField::from_m31_array(words.map(BaseField::from_u32_unchecked))
}

fn point_words(p: CirclePoint<SecureField>) -> [u32; 8] {
    let [x, y] = [words(p.x), words(p.y)];
    std::array::from_fn(|i| if i < 4 { x[i] } else { y[i - 4] })
}

/// `QuotientOps::accumulate_numerators` for every group, on the device.
pub fn accumulate_numerators<K: Kernels>(
    kernels: &K,
    groups: &[NumeratorGroup<'_, K::Column>],
    log_blowup: u32,
) -> Result<Numerators<K::Column>> {
    let mut offsets = Vec::new();
    let mut log_sizes = Vec::new();
    let mut total = 0usize;
    for group in groups {
        let rows = group.column_len >> log_blowup;
        if rows < 2 || !rows.is_power_of_two() {
            return Err(GpuError::Unsupported(format!(
                "columns of {} values at blowup 2^{log_blowup}",
                group.column_len
            )));
        }
        let width = kernels.len(group.columns) / group.column_len;
        if let Some(bad) = group
            .batches
            .iter()
            .flat_map(|b| &b.cols_vals_randpows)
            .find(|d| d.column_index >= width)
        {
            return Err(GpuError::Unsupported(format!(
                "a sample of column {} in a group of {width} columns",
                bad.column_index
            )));
        }
        as_u32(kernels.len(group.columns), "values in one group")?;
        for _ in group.batches {
            offsets.push(as_u32(total, "numerator values")?);
            log_sizes.push(rows.ilog2());
            total += 4 * rows;
        }
    }
    as_u32(total, "numerator values")?;
    let mut partials = kernels.alloc(total.max(1))?;
    let mut samples = Vec::new();
    let mut next = 0;
    for group in groups {
        let rows = (group.column_len >> log_blowup) as u32;
        for (batch, coeffs) in group.batches.iter().zip(column_line_coeffs(group.batches)) {
            let terms: Vec<u32> = batch
                .cols_vals_randpows
                .iter()
                .zip(&coeffs)
                .flat_map(|(data, (_, _, c))| {
                    std::iter::once(data.column_index as u32).chain(words(*c))
                })
                .collect();
            let sum_b: SecureField = coeffs.iter().map(|(_, b, _)| *b).sum();
            let first: SecureField = coeffs.iter().map(|(a, ..)| *a).sum();
            let terms_column = kernels.upload(if terms.is_empty() { &[0] } else { &terms })?;
            kernels.quotient_numerators(
                group.columns,
                group.column_len as u32,
                &terms_column,
                coeffs.len() as u32,
                words(sum_b),
                rows,
                &mut partials,
                offsets[next],
            )?;
            samples.extend(words(first));
            samples.extend(point_words(batch.point));
            next += 1;
        }
    }
    Ok(Numerators {
        partials,
        offsets,
        log_sizes,
        samples,
    })
}

/// The first half of `QuotientOps::compute_quotients_and_combine`: the combined quotient on the
/// evaluation subdomain (the first 2^(lifting_log − log_blowup) rows of the canonic domain of
/// 2^lifting_log points, bit-reversed), a secure column. Extending it to the whole domain is an
/// interpolation on the subdomain and an evaluation on the domain.
pub fn combine_quotients<K: Kernels>(
    kernels: &K,
    numerators: &Numerators<K::Column>,
    lifting_log: u32,
    log_blowup: u32,
) -> Result<K::Column> {
    let (subdomain, _) = CanonicCoset::new(lifting_log)
        .circle_domain()
        .split(log_blowup);
    let log_rows = subdomain.log_size();
    if numerators.log_sizes.iter().any(|&l| l > log_rows) {
        return Err(GpuError::Unsupported(
            "a batch is taller than the subdomain".into(),
        ));
    }
    let mut points: Vec<CirclePoint<BaseField>> = subdomain.iter().collect();
    bit_reverse(&mut points);
    let points: Vec<u32> = points.iter().flat_map(|p| [p.x.0, p.y.0]).collect();
    let n_samples = numerators.offsets.len();
    let pad = |v: &[u32]| if v.is_empty() { vec![0] } else { v.to_vec() };
    let mut out = kernels.alloc(4 << log_rows)?;
    kernels.quotient_combine(
        &numerators.partials,
        &kernels.upload(&pad(&numerators.offsets))?,
        &kernels.upload(&pad(&numerators.log_sizes))?,
        &kernels.upload(&pad(&numerators.samples))?,
        n_samples as u32,
        &kernels.upload(&points)?,
        log_rows,
        &mut out,
    )?;
    Ok(out)
}

/// The second half of `QuotientOps::compute_quotients_and_combine`: the quotient's values on the
/// evaluation subdomain (a secure column from [`combine_quotients`]) interpolated there and
/// evaluated on the whole domain of 2^lifting_log points, coordinate by coordinate.
/// `subdomain_twiddles` are for the subdomain's half coset, `twiddles` for the domain's.
pub fn extend_quotients<K: Kernels>(
    kernels: &K,
    on_subdomain: &K::Column,
    lifting_log: u32,
    log_blowup: u32,
    subdomain_twiddles: &DeviceTwiddles<K::Column>,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<K::Column> {
    let domain = CanonicCoset::new(lifting_log).circle_domain();
    let (subdomain, _) = domain.split(log_blowup);
    let (rows, size) = (subdomain.size() as u32, domain.size() as u32);
    let mut out = kernels.alloc(4 * domain.size())?;
    let mut coordinate = kernels.alloc(subdomain.size())?;
    let mut extended = kernels.alloc(domain.size())?;
    for c in 0..4 {
        kernels.copy_range(on_subdomain, c * rows, &mut coordinate, 0, rows)?;
        interpolate(kernels, &mut coordinate, subdomain, subdomain_twiddles)?;
        kernels.copy_range(&coordinate, 0, &mut extended, 0, rows)?;
        evaluate(kernels, &mut extended, subdomain.size(), domain, twiddles)?;
        kernels.copy_range(&extended, 0, &mut out, c * size, size)?;
    }
    Ok(out)
}

/// `AccumulationOps::accumulate`: `acc += other`, secure columns of `n` values each.
pub fn accumulate<K: Kernels>(
    kernels: &K,
    acc: &mut K::Column,
    other: &K::Column,
    n: usize,
) -> Result<()> {
    holds(kernels, acc, 4 * n, "accumulator")?;
    holds(kernels, other, 4 * n, "accumulated column")?;
    kernels.add_assign(acc, other, as_u32(4 * n, "accumulated values")?)
}

/// Adds the four-word partial results of a reduction.
fn sum_partials<K: Kernels>(kernels: &K, partials: &K::Column) -> Result<SecureField> {
    Ok(kernels
        .download(partials)?
        .chunks(4)
        .map(|w| secure([w[0], w[1], w[2], w[3]]))
        .sum())
}

/// Chunk of coefficients one thread folds in [`eval_at_point`]; `reduce.cu` allows up to 2^12.
const EVAL_CHUNK_LOG: u32 = 8;

/// `PolyOps::eval_at_point`: the polynomial with 2^log_n coefficients (stwo's order, on the
/// device) at a point of the extension.
pub fn eval_at_point<K: Kernels>(
    kernels: &K,
    coeffs: &K::Column,
    log_n: u32,
    point: CirclePoint<SecureField>,
) -> Result<SecureField> {
    holds(kernels, coeffs, 1 << log_n, "coefficients")?;
    if log_n == 0 {
        let first = kernels.download(coeffs)?[0];
        return Ok(BaseField::from_u32_unchecked(first).into());
    }
    // stwo's folding factors: y, then x, 2x² − 1, … (as many as bits), reversed.
    let mut factors = vec![point.y];
    let mut x = point.x;
    for _ in 1..log_n {
        factors.push(x);
        x = CirclePoint::double_x(x);
    }
    factors.reverse();
    let factors: Vec<u32> = factors.into_iter().flat_map(words).collect();
    let chunk_log = log_n.min(EVAL_CHUNK_LOG);
    let work = 1u32 << (log_n - chunk_log);
    let mut partials = kernels.alloc(4 * kernels.threads(work) as usize)?;
    kernels.eval_poly_partials(
        coeffs,
        log_n,
        &kernels.upload(&factors)?,
        chunk_log,
        &mut partials,
    )?;
    sum_partials(kernels, &partials)
}

/// Σ of values `[start, start + count)` of a secure column of `n` values.
fn secure_sum<K: Kernels>(
    kernels: &K,
    column: &K::Column,
    n: u32,
    start: u32,
    count: u32,
) -> Result<SecureField> {
    let mut partials = kernels.alloc(4 * kernels.threads(count).max(1) as usize)?;
    kernels.secure_sum_partials(column, n, start, count, &mut partials)?;
    sum_partials(kernels, &partials)
}

/// `FriOps::decompose` in place: with λ = (Σ first half − Σ second half) / n over a secure
/// column of `n` values in bit-reversed order, the first half loses λ and the second gains it;
/// returns λ.
pub fn decompose<K: Kernels>(kernels: &K, column: &mut K::Column, n: usize) -> Result<SecureField> {
    if n < 2 || !n.is_power_of_two() {
        return Err(GpuError::Unsupported(format!(
            "a decomposition of {n} values"
        )));
    }
    holds(kernels, column, 4 * n, "decomposed column")?;
    let n32 = as_u32(n, "decomposed values")?;
    let half = n32 / 2;
    let a = secure_sum(kernels, column, n32, 0, half)?;
    let b = secure_sum(kernels, column, n32, half, half)?;
    let lambda = (a - b) / BaseField::from_u32_unchecked(n32);
    kernels.decompose_apply(column, n32, words(lambda))?;
    Ok(lambda)
}

/// `ComponentProver::evaluate_constraint_quotients_on_domain` of one component on the device,
/// through its generated kernel (`function`, see [`crate::codegen::constraint_kernels`]): `trace`
/// holds its cells (preprocessed then main columns) and `interaction` its LogUp columns,
/// extended to the evaluation domain of 2^eval_log points (one after another, bit-reversed
/// order); the quotients of `Σ coeffs[k] · constraint_k` are added to `accum`, a secure column
/// of 2^eval_log values. `coeffs` are in constraint order (stwo's powers, reversed).
#[allow(clippy::too_many_arguments)]
pub fn constraint_quotients<K: Kernels>(
    kernels: &K,
    function: &'static str,
    trace: &K::Column,
    interaction: &K::Column,
    trace_log: u32,
    eval_log: u32,
    coeffs: &[SecureField],
    relations: &obelysk_prover::air::Relations,
    claimed_sum: SecureField,
    accum: &mut K::Column,
) -> Result<()> {
    use obelysk_prover::air::{cumsum_shift, Rel};
    use stwo::core::constraints::coset_vanishing;

    let kernel = crate::codegen::constraint_kernel(function)
        .ok_or_else(|| GpuError::Unsupported(format!("no generated kernel {function}")))?;
    if eval_log <= trace_log || trace_log < 1 || eval_log > 30 {
        return Err(GpuError::Unsupported(format!(
            "a trace of 2^{trace_log} rows on an evaluation domain of 2^{eval_log}"
        )));
    }
    let n = 1usize << eval_log;
    holds(kernels, trace, kernel.n_cells * n, "component cells")?;
    holds(
        kernels,
        interaction,
        kernel.n_interaction_columns * n,
        "interaction columns",
    )?;
    holds(kernels, accum, 4 * n, "accumulator")?;
    if coeffs.len() != kernel.n_constraints {
        return Err(GpuError::Unsupported(format!(
            "{} coefficients for {} constraints",
            coeffs.len(),
            kernel.n_constraints
        )));
    }
    let mut challenges: Vec<u32> = Vec::with_capacity(crate::codegen::CHALLENGE_WORDS);
    for rel in Rel::ALL {
        let (z, alphas) = relations.z_and_alpha_powers(rel);
        challenges.extend(words(z));
        challenges.extend(alphas.into_iter().flat_map(words));
    }
    challenges.extend(words(cumsum_shift(claimed_sum, trace_log)));
    let coeff_words: Vec<u32> = coeffs.iter().copied().flat_map(words).collect();
    // The vanishing polynomial of the trace domain on each coset of the evaluation domain, as
    // stwo's component prover computes it.
    let trace_domain = CanonicCoset::new(trace_log);
    let eval_domain = CanonicCoset::new(eval_log).circle_domain();
    let mut denom_inv: Vec<BaseField> = (0..1 << (eval_log - trace_log))
        .map(|i| coset_vanishing(trace_domain.coset(), eval_domain.at(i)).inverse())
        .collect();
    bit_reverse(&mut denom_inv);
    let denom_inv: Vec<u32> = denom_inv.iter().map(|v| v.0).collect();
    kernels.constraint_quotients(
        function,
        trace,
        interaction,
        trace_log,
        eval_log,
        &kernels.upload(&coeff_words)?,
        &kernels.upload(&challenges)?,
        &kernels.upload(&denom_inv)?,
        accum,
    )
}
