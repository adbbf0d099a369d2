//! FRI on the device: folds and the decomposition (`FriOps`).

use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::CircleDomain;
use stwo::core::poly::line::LineDomain;

use super::{as_u32, holds, sum_partials, words, DeviceTwiddles, Kernels};
use crate::{GpuError, Result};

/// One FRI step on the device: `src`, a secure column of `n` values in bit-reversed order on
/// a line domain (or, with `circle`, on the circle domain whose half coset is `line`'s), becomes
/// the `n / 2` values of the folded evaluation; stwo's `fold_line` and `fold_circle_into_line`
/// with one step.
#[allow(clippy::too_many_arguments)]
fn fri_fold<K: Kernels>(
    kernels: &K,
    src: &K::Column,
    n: usize,
    line: LineDomain,
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
    twiddles.covers(line.coset())?;
    holds(kernels, src, 4 * n, "fold source")?;
    let mut dst = kernels.alloc(4 * (n / 2))?;
    let alpha = alpha.to_m31_array().map(|c| c.0);
    kernels.fri_fold(
        src,
        n as u32,
        &mut dst,
        &twiddles.itwiddles,
        twiddles.line_offsets(line)[0],
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
    fri_fold(kernels, src, domain.size(), domain, false, alpha, twiddles)
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
    fri_fold(
        kernels,
        src,
        domain.size(),
        domain.into(),
        true,
        alpha,
        twiddles,
    )
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
