//! DEEP quotients (`QuotientOps`) and the accumulation of secure columns (`AccumulationOps`).

use stwo::core::circle::CirclePoint;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::quotients::{column_line_coeffs, ColumnSampleBatch};
use stwo::core::poly::circle::CanonicCoset;
use stwo::core::utils::bit_reverse;

use super::{as_u32, evaluate_columns, holds, interpolate_columns, point_words, secure, words};
use super::{DeviceTwiddles, Kernels};
use crate::{GpuError, Result};

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
    /// Numerators already on the device: `partials` holds, for each batch of `batches`
    /// (offset in `partials`, log2 of its rows, summed first line coefficient, sample point),
    /// its four coordinate columns one after another, as [`Numerators::layout`] reads them.
    pub fn from_batches(
        partials: C,
        batches: impl IntoIterator<Item = (u32, u32, SecureField, CirclePoint<SecureField>)>,
    ) -> Self {
        let mut numerators = Self {
            partials,
            offsets: Vec::new(),
            log_sizes: Vec::new(),
            samples: Vec::new(),
        };
        for (offset, log_size, first, point) in batches {
            numerators.offsets.push(offset);
            numerators.log_sizes.push(log_size);
            numerators.samples.extend(words(first));
            numerators.samples.extend(point_words(point));
        }
        numerators
    }

    /// Where batch `s` starts in [`Numerators::partials`], log2 of its rows, and its summed
    /// first line coefficient.
    pub fn layout(&self, s: usize) -> (usize, u32, SecureField) {
        let first: [u32; 4] = self.samples[12 * s..12 * s + 4]
            .try_into()
            .expect("4 words");
        (self.offsets[s] as usize, self.log_sizes[s], secure(first))
    }

    /// Every batch's numerators, one after another.
    pub fn into_partials(self) -> C {
        self.partials
    }

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
    let points = kernels.upload(&subdomain_points(lifting_log, log_blowup))?;
    combine_quotients_at(kernels, numerators, &points, lifting_log, log_blowup)
}

/// The points of the evaluation subdomain [`combine_quotients`] works on, in bit-reversed order,
/// as `x, y` words.
pub fn subdomain_points(lifting_log: u32, log_blowup: u32) -> Vec<u32> {
    let (subdomain, _) = CanonicCoset::new(lifting_log)
        .circle_domain()
        .split(log_blowup);
    let mut points: Vec<CirclePoint<BaseField>> = subdomain.iter().collect();
    bit_reverse(&mut points);
    points.iter().flat_map(|p| [p.x.0, p.y.0]).collect()
}

/// [`combine_quotients`] with the subdomain's points already on the device (they depend on the
/// sizes alone, so a prover keeps them).
pub fn combine_quotients_at<K: Kernels>(
    kernels: &K,
    numerators: &Numerators<K::Column>,
    points: &K::Column,
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
    holds(kernels, points, 2 << log_rows, "subdomain points")?;
    let n_samples = numerators.offsets.len();
    let pad = |v: &[u32]| if v.is_empty() { vec![0] } else { v.to_vec() };
    let mut out = kernels.alloc(4 << log_rows)?;
    kernels.quotient_combine(
        &numerators.partials,
        &kernels.upload(&pad(&numerators.offsets))?,
        &kernels.upload(&pad(&numerators.log_sizes))?,
        &kernels.upload(&pad(&numerators.samples))?,
        n_samples as u32,
        points,
        log_rows,
        &mut out,
    )?;
    Ok(out)
}

/// The second half of `QuotientOps::compute_quotients_and_combine`: the quotient's values on the
/// evaluation subdomain (a secure column from [`combine_quotients`]) interpolated there and
/// evaluated on the whole domain of 2^lifting_log points, the four coordinates in their own
/// columns, each step one batch over all four. `subdomain_twiddles` are for the subdomain's
/// half coset, `twiddles` for the domain's.
pub fn extend_quotients<K: Kernels>(
    kernels: &K,
    on_subdomain: &K::Column,
    lifting_log: u32,
    log_blowup: u32,
    subdomain_twiddles: &DeviceTwiddles<K::Column>,
    twiddles: &DeviceTwiddles<K::Column>,
) -> Result<[K::Column; 4]> {
    let domain = CanonicCoset::new(lifting_log).circle_domain();
    let (subdomain, _) = domain.split(log_blowup);
    let rows = subdomain.size();
    let mut coefficients = four(|| kernels.alloc(rows))?;
    kernels.split_into(on_subdomain, 0, rows, rows, &mut coefficients.each_mut())?;
    interpolate_columns(
        kernels,
        &mut coefficients.each_mut(),
        subdomain,
        subdomain_twiddles,
    )?;
    let mut out = four(|| kernels.alloc(domain.size()))?;
    evaluate_columns(
        kernels,
        &coefficients.each_ref(),
        rows,
        &mut out.each_mut(),
        domain,
        twiddles,
    )?;
    Ok(out)
}

fn four<C>(mut alloc: impl FnMut() -> Result<C>) -> Result<[C; 4]> {
    Ok([alloc()?, alloc()?, alloc()?, alloc()?])
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
