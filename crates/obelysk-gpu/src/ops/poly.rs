//! Evaluation of a polynomial at a point of the extension (`PolyOps::eval_at_point`).

use stwo::core::circle::CirclePoint;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;

use super::{holds, sum_partials, words, Kernels};
use crate::Result;

/// Chunk of coefficients one thread folds in [`eval_at_point`]; `reduce.cu` allows up to 2^12.
/// Small chunks keep many threads busy (2^16 of them at 2^20 coefficients), whose partial sums
/// a second launch adds up on the device.
const EVAL_CHUNK_LOG: u32 = 4;

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
    let partials = eval_at_point_partials(kernels, coeffs, log_n, point)?;
    sum_partials(kernels, &partials)
}

/// [`eval_at_point`] up to its partial sums (four words each), left on the device: their total
/// is the value. Launches only, so that callers can bring many back in one transfer.
/// `log_n` ≥ 1.
pub fn eval_at_point_partials<K: Kernels>(
    kernels: &K,
    coeffs: &K::Column,
    log_n: u32,
    point: CirclePoint<SecureField>,
) -> Result<K::Column> {
    holds(kernels, coeffs, 1 << log_n, "coefficients")?;
    if log_n == 0 {
        return Err(crate::GpuError::Unsupported(
            "partial sums of a constant polynomial".into(),
        ));
    }
    let factors = kernels.upload(&point_factors(log_n, point))?;
    eval_at_point_partials_with(kernels, coeffs, log_n, &factors)
}

/// stwo's folding factors of `point` for 2^log_n coefficients: y, then x, 2x² − 1, … (as many
/// as bits), reversed; four words each.
pub fn point_factors(log_n: u32, point: CirclePoint<SecureField>) -> Vec<u32> {
    let mut factors = vec![point.y];
    let mut x = point.x;
    for _ in 1..log_n {
        factors.push(x);
        x = CirclePoint::double_x(x);
    }
    factors.reverse();
    factors.into_iter().flat_map(words).collect()
}

/// [`eval_at_point_partials`] with the point's [`point_factors`] already on the device (many
/// polynomials at one point go through [`eval_many_at_point`] instead).
fn eval_at_point_partials_with<K: Kernels>(
    kernels: &K,
    coeffs: &K::Column,
    log_n: u32,
    factors: &K::Column,
) -> Result<K::Column> {
    holds(kernels, coeffs, 1 << log_n, "coefficients")?;
    if log_n == 0 {
        return Err(crate::GpuError::Unsupported(
            "partial sums of a constant polynomial".into(),
        ));
    }
    let chunk_log = log_n.min(EVAL_CHUNK_LOG);
    let work = 1u32 << (log_n - chunk_log);
    let threads = kernels.eval_threads(work);
    let mut wide = kernels.alloc(4 * threads as usize)?;
    kernels.eval_poly_partials(coeffs, log_n, factors, chunk_log, &mut wide)?;
    let mut partials = kernels.alloc(4 * kernels.threads(threads) as usize)?;
    kernels.secure_sum_partials(&wide, threads, 0, threads, &mut partials)?;
    Ok(partials)
}

/// Items of an [`eval_many_at_point`] launch, spread over its columns: enough to fill a device.
const EVAL_MANY_ITEMS: usize = 1 << 16;
/// The largest chunk `reduce.cu` folds in one go.
const MAX_EVAL_CHUNK_LOG: u32 = 12;
/// Values one thread of a `run_sums` pass adds up.
const RUN_SUM: u32 = 16;

/// [`eval_at_point`] for several polynomials of 2^log_n coefficients (log_n ≥ 1) at the point
/// whose [`point_factors`] are `factors`: one launch for all of them, a few to add up the
/// partial sums, and one transfer.
pub fn eval_many_at_point<K: Kernels>(
    kernels: &K,
    columns: &[&K::Column],
    log_n: u32,
    factors: &K::Column,
) -> Result<Vec<SecureField>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let values = eval_many_launch(kernels, columns, log_n, factors)?;
    Ok(decode_many(&kernels.download(&values)?, columns.len()))
}

/// [`eval_many_at_point`] up to its values, left on the device: four words for each of the
/// `columns.len()` values, coordinate by coordinate ([`decode_many`] reads them). Launches
/// only, so that callers can bring many back in one transfer.
pub fn eval_many_launch<K: Kernels>(
    kernels: &K,
    columns: &[&K::Column],
    log_n: u32,
    factors: &K::Column,
) -> Result<K::Column> {
    let n_columns = columns.len();
    if n_columns == 0 || log_n == 0 {
        return Err(crate::GpuError::Unsupported(format!(
            "evaluating {n_columns} polynomials of 2^{log_n} coefficients in one launch"
        )));
    }
    // Lanes per column, a power of two so that every pass of `run_sums` stays within one
    // column's; each lane folds one contiguous chunk where it can, which leaves few products
    // for the chunk's high index bits.
    let lanes_log = (EVAL_MANY_ITEMS / n_columns)
        .next_power_of_two()
        .ilog2()
        .clamp(RUN_SUM.ilog2(), 20)
        .min(log_n);
    let lanes = 1usize << lanes_log;
    let chunk_log = (log_n - lanes_log).min(MAX_EVAL_CHUNK_LOG);
    let mut partials = kernels.alloc(4 * n_columns * lanes)?;
    kernels.eval_many_partials(
        columns,
        log_n,
        factors,
        chunk_log,
        lanes as u32,
        &mut partials,
    )?;
    let mut run = lanes;
    while run > 1 {
        let step = run.min(RUN_SUM as usize);
        let n_runs = n_columns * run / step;
        let mut sums = kernels.alloc(4 * n_runs)?;
        kernels.run_sums(&partials, step as u32, n_runs as u32, &mut sums)?;
        partials = sums;
        run /= step;
    }
    Ok(partials)
}

/// The `n` values of an [`eval_many_launch`], from its words.
pub fn decode_many(words: &[u32], n: usize) -> Vec<SecureField> {
    (0..n)
        .map(|k| super::secure([words[k], words[n + k], words[2 * n + k], words[3 * n + k]]))
        .collect()
}
