//! Host algorithms over device columns, written once for every [`Kernels`] implementation: one
//! file per stage of a proof, each the counterpart of a stwo backend trait.

mod air;
mod constraints;
mod fft;
mod fft_pass;
mod fri;
mod interaction;
mod merkle;
mod poly;
mod quotients;
mod witness;

pub use air::{check_count_lookups, check_cpu_fill, check_prefix_sum, AirKernels};
pub use constraints::constraint_quotients;
pub use fft::{evaluate, evaluate_columns, interpolate, interpolate_columns, DeviceTwiddles};
pub use fft_pass::{FftPass, SHARED_FFT_MAX_LOG};
pub use fri::{decompose, fold_circle_into_line, fold_line};
pub use interaction::interaction_columns;
pub use merkle::{
    check_merkle_layers, grind, merkle_layers, merkle_leaves, merkle_leaves_on_device,
    merkle_parents, GRIND_LOW_BITS, MERKLE_LAYERS_PER_LAUNCH,
};
pub use poly::{
    decode_many, eval_at_point, eval_at_point_partials, eval_many_at_point, eval_many_launch,
    point_factors,
};
pub use quotients::{
    accumulate, accumulate_numerators, combine_quotients, combine_quotients_at, extend_quotients,
    subdomain_points, NumeratorGroup, Numerators,
};
pub use witness::cpu_columns;

use stwo::core::circle::CirclePoint;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;

use crate::{GpuError, Result};

/// What a device (or the emulator) offers: columns of M31 values and the kernels of
/// `kernels/*.cu` behind stwo's backend operations, one method per entry point with the same
/// arguments. The Obelysk AIR's own kernels are [`AirKernels`].
pub trait Kernels {
    type Column;

    /// Waits until every launch so far has finished (for timing).
    fn synchronize(&self) -> Result<()>;
    fn upload(&self, values: &[u32]) -> Result<Self::Column>;
    /// Values in `column`.
    fn len(&self, column: &Self::Column) -> usize;
    /// Threads of a launch over `work` items: the partial results a reduction writes.
    fn threads(&self, work: u32) -> u32;
    /// Threads of an [`Kernels::eval_poly_partials`] launch over `work` chunks: the values of
    /// the secure column it writes.
    fn eval_threads(&self, work: u32) -> u32;
    /// Per-thread partial sums of `PolyOps::eval_at_point` over 2^log_n coefficients, chunks of
    /// 2^chunk_log; `factors` holds log_n QM31 values, `partials` is a secure column of one
    /// value per thread ([`Kernels::eval_threads`]).
    fn eval_poly_partials(
        &self,
        coeffs: &Self::Column,
        log_n: u32,
        factors: &Self::Column,
        chunk_log: u32,
        partials: &mut Self::Column,
    ) -> Result<()>;
    /// [`Kernels::eval_poly_partials`] for several columns of 2^log_n coefficients at one point
    /// in one launch: `partials` is a secure column of `columns.len() · lanes` values, column
    /// k's sum split over values `k · lanes ..` (`kernels/reduce.cu`, `eval_many_partials`).
    fn eval_many_partials(
        &self,
        columns: &[&Self::Column],
        log_n: u32,
        factors: &Self::Column,
        chunk_log: u32,
        lanes: u32,
        partials: &mut Self::Column,
    ) -> Result<()>;
    /// The sum of each run of `run` values of a secure column of `n_runs · run` values, into the
    /// secure column `out` of `n_runs` values.
    fn run_sums(
        &self,
        values: &Self::Column,
        run: u32,
        n_runs: u32,
        out: &mut Self::Column,
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
    /// First half of a secure column of `n` minus λ, second half plus λ.
    fn decompose_apply(&self, column: &mut Self::Column, n: u32, lambda: [u32; 4]) -> Result<()>;
    /// A column of `n` values whose contents are unspecified until a kernel writes them.
    fn alloc(&self, n: usize) -> Result<Self::Column>;
    fn download(&self, column: &Self::Column) -> Result<Vec<u32>>;

    fn bit_reverse(&self, column: &mut Self::Column, log_n: u32) -> Result<()>;
    /// Consecutive FFT layers ([`Layers`]) in one launch, highest first, over `n_columns`
    /// columns of `n` values, one after another.
    fn fft_layers(
        &self,
        columns: &mut Self::Column,
        twiddles: &Self::Column,
        layers: Layers,
        n: u32,
        n_columns: u32,
    ) -> Result<()>;
    /// The inverse FFT's layers, lowest first, laid out as [`Kernels::fft_layers`].
    fn ifft_layers(
        &self,
        columns: &mut Self::Column,
        itwiddles: &Self::Column,
        layers: Layers,
        n: u32,
        n_columns: u32,
    ) -> Result<()>;
    /// Largest tile of the shared-memory FFT ([`Kernels::fft_pass`]) as a power of two, or 0
    /// for the three-layer kernels ([`Kernels::fft_layers`]).
    fn fft_tile_log(&self) -> u32;
    /// One pass of the shared-memory FFT, evaluation direction, over `pass.n_columns` columns
    /// of `pass.n` values: column k is read from `sources[k]` (or from `columns[k]` when
    /// `sources` is empty) and written to `columns[k]` ([`FftPass::check_columns`]).
    fn fft_pass(
        &self,
        columns: &mut [&mut Self::Column],
        sources: &[&Self::Column],
        twiddles: &Self::Column,
        pass: &FftPass,
    ) -> Result<()>;
    /// One pass of the shared-memory FFT, interpolation direction, laid out as
    /// [`Kernels::fft_pass`].
    fn ifft_pass(
        &self,
        columns: &mut [&mut Self::Column],
        sources: &[&Self::Column],
        itwiddles: &Self::Column,
        pass: &FftPass,
    ) -> Result<()>;
    fn scale(&self, column: &mut Self::Column, factor: u32, n: u32) -> Result<()>;
    /// Values `[from, n)` of each of `n_columns` columns of `n` values set to zero.
    fn zero_from(
        &self,
        columns: &mut Self::Column,
        from: u32,
        n: u32,
        n_columns: u32,
    ) -> Result<()>;
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
    /// `out[out_start + k·words..][..words] = src[rows[k]·words..][..words]` for every row; a
    /// row past `src` is an error.
    fn gather(
        &self,
        src: &Self::Column,
        rows: &[u32],
        words: u32,
        out: &mut Self::Column,
        out_start: u32,
    ) -> Result<()>;
    /// `n` words from each part `(column, start)` into `out` at `out_start + k · stride` for
    /// part k, in one launch.
    fn concat(
        &self,
        parts: &[(&Self::Column, usize)],
        n: usize,
        stride: usize,
        out: &mut Self::Column,
        out_start: usize,
    ) -> Result<()>;
    /// `n` words of `src` from `start + k · stride` into the start of `outs[k]`, in one launch.
    fn split_into(
        &self,
        src: &Self::Column,
        start: usize,
        stride: usize,
        n: usize,
        outs: &mut [&mut Self::Column],
    ) -> Result<()>;
    /// Several [`Kernels::gather`]s in one launch and one upload (of [`gather_plan`]).
    fn gather_many(
        &self,
        gathers: &[Gather<'_, Self::Column>],
        out: &mut Self::Column,
    ) -> Result<()>;
    /// `acc[i] += small[j]` for the first `n` values, `j` the index of stwo's lift of a column
    /// 2^log_ratio times shorter (pairs of values repeated).
    fn lift_add(
        &self,
        acc: &mut Self::Column,
        small: &Self::Column,
        n: u32,
        log_ratio: u32,
    ) -> Result<()>;
    /// Leaf hashes (8 words each) of a lifted Merkle tree of 2^lifting_log leaves over
    /// `columns`, column k holding 2^log_sizes[k] values (increasing), read where they are.
    fn merkle_leaves(
        &self,
        columns: &[&Self::Column],
        log_sizes: &[u32],
        lifting_log: u32,
        out: &mut Self::Column,
    ) -> Result<()>;
    fn merkle_parents(
        &self,
        children: &Self::Column,
        n_parents: u32,
        out: &mut Self::Column,
    ) -> Result<()>;
    /// `layers.len()` layers above `children` in one launch: layer l (`n_parents >> l`
    /// hashes) into `layers[l]` ([`check_merkle_layers`]).
    fn merkle_layers(
        &self,
        children: &Self::Column,
        n_parents: u32,
        layers: &mut [&mut Self::Column],
    ) -> Result<()>;
    /// Proof of work over chunks `first_hi .. first_hi + n_chunks` of 2^low_bits nonces each:
    /// `found[c]` (which the caller fills with `u32::MAX`) gets the smallest low half of a
    /// nonce of chunk `first_hi + c` that passes (`kernels/blake2s.cu`, `pow_grind`).
    #[allow(clippy::too_many_arguments)]
    fn pow_grind(
        &self,
        prefixed: [u32; 8],
        first_hi: u32,
        n_chunks: u32,
        low_bits: u32,
        pow_bits: u32,
        found: &mut Self::Column,
    ) -> Result<()>;
    /// stwo's `pack_leaves_input`: the four coordinates of a secure column of `4 · n_packed`
    /// values into 16 columns of `n_packed` (`kernels/columns.cu`).
    fn pack_leaves(
        &self,
        coordinates: [&Self::Column; 4],
        n_packed: u32,
        out: &mut [Self::Column; 16],
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

/// Most FFT layers one launch runs: a thread keeps 2^3 values in registers.
pub const MAX_FUSED_LAYERS: u32 = 3;

/// FFT layers `low .. low + count` for one launch; `offsets[d]` is where layer `low + d`'s
/// twiddles start in the twiddle tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layers {
    pub low: u32,
    pub count: u32,
    pub offsets: [u32; MAX_FUSED_LAYERS as usize],
}

impl Layers {
    /// Splits the `n_layers` layers of an FFT, from 0 up, into launches of at most
    /// [`MAX_FUSED_LAYERS`]; `offset(layer)` locates a layer's twiddles.
    pub fn split(n_layers: u32, offset: impl Fn(u32) -> u32) -> Vec<Layers> {
        (0..n_layers)
            .step_by(MAX_FUSED_LAYERS as usize)
            .map(|low| {
                let count = MAX_FUSED_LAYERS.min(n_layers - low);
                let offsets = layer_offsets(low, count, &offset);
                Layers {
                    low,
                    count,
                    offsets,
                }
            })
            .collect()
    }

    /// Checks the launch's shape against columns of `n` values and a twiddle tree of
    /// `n_twiddles` words; the kernels trust it.
    pub fn check(&self, n: u32, n_twiddles: usize) -> Result<()> {
        let fits = (1..=MAX_FUSED_LAYERS).contains(&self.count)
            && self.low + self.count <= n.max(1).ilog2()
            && n.is_power_of_two();
        if !fits {
            return Err(GpuError::Unsupported(format!(
                "FFT layers {}..{} over columns of {n} values",
                self.low,
                self.low + self.count
            )));
        }
        for d in 0..self.count {
            let end = self.offsets[d as usize] as usize + twiddles_read(self.low + d, n / 2);
            if end > n_twiddles {
                return Err(GpuError::Unsupported(format!(
                    "layer {} reads twiddles up to {end} of {n_twiddles}",
                    self.low + d
                )));
            }
        }
        Ok(())
    }
}

/// Where the twiddles of layers `low .. low + count` start (`offset(layer)`), zeros after them.
pub(crate) fn layer_offsets<const N: usize>(
    low: u32,
    count: u32,
    offset: impl Fn(u32) -> u32,
) -> [u32; N] {
    std::array::from_fn(|d| {
        let d = d as u32;
        if d < count {
            offset(low + d)
        } else {
            0
        }
    })
}

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

/// Values of the shorter column [`Kernels::lift_add`] reads for `n` values of the longer one,
/// or why the shapes are not a lift (stwo's lift takes powers of two, the shorter column of at
/// least two values).
pub fn lifted_len(n: u32, log_ratio: u32) -> Result<usize> {
    if !n.is_power_of_two() || log_ratio >= 31 || (n >> log_ratio) < 2 {
        return Err(GpuError::Unsupported(format!(
            "a lift of {n} values from a column 2^{log_ratio} times shorter"
        )));
    }
    Ok((n >> log_ratio) as usize)
}

/// The column table `merkle_leaves` reads (see `kernels/blake2s.cu`): each column's address and
/// log size. Fails unless the sizes increase, lie in 1..=lifting_log (at most 2^30 leaves), and
/// every column holds its 2^log_size values.
pub fn leaves_table<C>(
    columns: &[&C],
    log_sizes: &[u32],
    lifting_log: u32,
    len: impl Fn(&C) -> usize,
    address: impl Fn(&C) -> u64,
) -> Result<Vec<u32>> {
    if columns.len() != log_sizes.len() || log_sizes.windows(2).any(|w| w[1] < w[0]) {
        return Err(GpuError::Unsupported(
            "a size for every column, in increasing order of length".into(),
        ));
    }
    if lifting_log > 30 || log_sizes.iter().any(|&l| l == 0 || l > lifting_log) {
        return Err(GpuError::Unsupported(format!(
            "a column taller than a tree of 2^{lifting_log} leaves, or of one value, or a tree \
             past 2^30 leaves"
        )));
    }
    let mut table = Vec::with_capacity(3 * columns.len());
    for (column, &l) in columns.iter().zip(log_sizes) {
        if len(column) < 1 << l {
            return Err(GpuError::Unsupported(format!(
                "a column of {} values for 2^{l} leaves' worth",
                len(column)
            )));
        }
        let a = address(column);
        table.extend([a as u32, (a >> 32) as u32, l]);
    }
    Ok(table)
}

/// The plan `copy_many` reads (see `kernels/columns.cu`) for copies of `n` words, each given as
/// (source address, its length, start; destination address, its length, start). Fails unless
/// every range lies in its column and fits the kernel's 32-bit offsets.
pub fn copy_plan(copies: &[(u64, usize, usize, u64, usize, usize)], n: usize) -> Result<Vec<u32>> {
    let mut plan = Vec::with_capacity(6 * copies.len());
    for &(src, src_len, src_start, dst, dst_len, dst_start) in copies {
        if src_start + n > src_len || dst_start + n > dst_len {
            return Err(GpuError::Unsupported(format!(
                "a copy of {n} words from {src_start} of {src_len} to {dst_start} of {dst_len}"
            )));
        }
        as_u32(src_start + n, "a copy's end")?;
        as_u32(dst_start + n, "a copy's end")?;
        plan.extend([
            src as u32,
            (src >> 32) as u32,
            src_start as u32,
            dst as u32,
            (dst >> 32) as u32,
            dst_start as u32,
        ]);
    }
    as_u32(n, "words per copy")?;
    Ok(plan)
}

/// A column as a plan names it: its address (as the kernel reads it) and length in words.
pub type Place = (u64, usize);

/// [`copy_plan`] for [`Kernels::concat`]: `n` words of each part (`(place, start)`) into `out`
/// at `out_start + k · stride` for part k.
pub fn concat_plan(
    parts: &[(Place, usize)],
    out: Place,
    n: usize,
    stride: usize,
    out_start: usize,
) -> Result<Vec<u32>> {
    let copies: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(k, &((src, src_len), start))| {
            (src, src_len, start, out.0, out.1, out_start + k * stride)
        })
        .collect();
    copy_plan(&copies, n)
}

/// [`copy_plan`] for [`Kernels::split_into`]: `n` words of `src` from `start + k · stride` into
/// the start of `outs[k]`.
pub fn split_plan(
    src: Place,
    start: usize,
    stride: usize,
    outs: &[Place],
    n: usize,
) -> Result<Vec<u32>> {
    let copies: Vec<_> = outs
        .iter()
        .enumerate()
        .map(|(k, &(dst, dst_len))| (src.0, src.1, start + k * stride, dst, dst_len, 0))
        .collect();
    copy_plan(&copies, n)
}

/// One source of [`Kernels::gather_many`]: `rows` of `src` (values `words` wide) go to `out`
/// from `out_start`, one after another.
#[derive(Debug)]
pub struct Gather<'a, C> {
    pub src: &'a C,
    pub rows: &'a [u32],
    pub words: u32,
    pub out_start: usize,
}

/// The plan `gather_many` reads (see `kernels/columns.cu`) and its widest source's row count;
/// `address` gives a source's address as the kernel reads it. Fails unless every row lies in its
/// source and every value in `out` (of `out_len` words). A source with the same rows as the one
/// before shares its row list.
pub fn gather_plan<C>(
    gathers: &[Gather<'_, C>],
    len: impl Fn(&C) -> usize,
    address: impl Fn(&C) -> u64,
    out_len: usize,
) -> Result<(Vec<u32>, u32)> {
    let mut plan = vec![0u32; 6 * gathers.len()];
    let mut max_rows = 0;
    let mut last_rows: Option<(&[u32], u32)> = None;
    for (k, g) in gathers.iter().enumerate() {
        check_rows(g.rows, len(g.src), g.words)?;
        let end = g.out_start + g.rows.len() * g.words as usize;
        if end > out_len {
            return Err(GpuError::Unsupported(format!(
                "a gather to words {}..{end} of {out_len}",
                g.out_start
            )));
        }
        let rows_at = match last_rows {
            Some((rows, at)) if rows == g.rows => at,
            _ => {
                let at = as_u32(plan.len(), "a gather plan")?;
                plan.extend_from_slice(g.rows);
                last_rows = Some((g.rows, at));
                at
            }
        };
        let n_rows = as_u32(g.rows.len(), "rows of one gather")?;
        max_rows = max_rows.max(n_rows);
        let a = address(g.src);
        plan[6 * k..][..6].copy_from_slice(&[
            a as u32,
            (a >> 32) as u32,
            g.words,
            n_rows,
            rows_at,
            as_u32(g.out_start, "a gather's output")?,
        ]);
    }
    as_u32(plan.len(), "a gather plan")?;
    Ok((plan, max_rows))
}

/// Fails unless `eval_many_partials` can take `n_columns` columns of 2^log_n coefficients in
/// chunks of 2^chunk_log, `lanes` items per column.
pub fn check_eval_many(n_columns: usize, log_n: u32, chunk_log: u32, lanes: u32) -> Result<()> {
    if chunk_log > log_n
        || chunk_log > 12
        || lanes == 0
        || n_columns as u64 * lanes as u64 > u32::MAX as u64 / 4
    {
        return Err(GpuError::Unsupported(format!(
            "{n_columns} columns of 2^{log_n} coefficients in chunks of 2^{chunk_log}, \
             {lanes} lanes each"
        )));
    }
    Ok(())
}

/// Fails unless a grind over `n_chunks` chunks of 2^low_bits nonces fits the kernel (low halves
/// below p, as stwo's nonces have them) and `found` holds a word per chunk.
pub fn check_grind(n_chunks: u32, low_bits: u32, found: usize) -> Result<()> {
    if low_bits > 30 || (n_chunks as u64) << low_bits > u32::MAX as u64 || found < n_chunks as usize
    {
        return Err(GpuError::Unsupported(format!(
            "a grind over {n_chunks} chunks of 2^{low_bits} nonces into {found} words"
        )));
    }
    Ok(())
}

/// Fails unless every row lies in a column of `len` values of `words` words each.
pub fn check_rows(rows: &[u32], len: usize, words: u32) -> Result<()> {
    let values = len / words.max(1) as usize;
    match rows.iter().find(|&&r| r as usize >= values) {
        Some(r) => Err(GpuError::Unsupported(format!(
            "row {r} of a column of {values} values"
        ))),
        None => Ok(()),
    }
}

/// `n` as a kernel argument, or why it does not fit one.
pub(crate) fn as_u32(n: usize, what: &str) -> Result<u32> {
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

fn words(value: SecureField) -> [u32; 4] {
    value.to_m31_array().map(|c| c.0)
}

fn secure(words: [u32; 4]) -> SecureField {
    SecureField::from_m31_array(words.map(BaseField::from_u32_unchecked))
}

pub(crate) fn point_words(p: CirclePoint<SecureField>) -> [u32; 8] {
    let [x, y] = [words(p.x), words(p.y)];
    std::array::from_fn(|i| if i < 4 { x[i] } else { y[i - 4] })
}

/// Adds the four-word partial results of a reduction.
fn sum_partials<K: Kernels>(kernels: &K, partials: &K::Column) -> Result<SecureField> {
    Ok(sum_words(&kernels.download(partials)?))
}

/// The sum of QM31 values held as four words each.
pub fn sum_words(words: &[u32]) -> SecureField {
    words
        .chunks(4)
        .map(|w| secure([w[0], w[1], w[2], w[3]]))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_layers_split_into_launches_of_at_most_three_and_are_checked() {
        let launches = Layers::split(7, |layer| 100 + layer);
        let shapes: Vec<_> = launches.iter().map(|l| (l.low, l.count)).collect();
        assert_eq!(shapes, [(0, 3), (3, 3), (6, 1)]);
        assert_eq!(launches[1].offsets, [103, 104, 105]);
        assert_eq!(launches[2].offsets, [106, 0, 0]);
        // 2^7 values, twiddles enough for every layer.
        for l in &launches {
            l.check(1 << 7, 1 << 10).unwrap();
        }
        // Past the columns' layers, too few twiddles, no layer at all.
        assert!(launches[2].check(1 << 6, 1 << 10).is_err());
        assert!(launches[0].check(1 << 7, 100).is_err());
        let empty = Layers {
            count: 0,
            ..launches[0]
        };
        assert!(empty.check(1 << 7, 1 << 10).is_err());
    }
}
