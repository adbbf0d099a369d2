//! The CPU component's LogUp interaction columns, built on the device from its main columns
//! (already there for the commitment) instead of on the host and uploaded.

use obelysk_prover::air::{cumsum_shift, Relations};
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;

use super::constraints::challenges;
use super::{holds, secure, words, AirKernels};
use crate::{GpuError, Result};

/// At most this many chunks (log2) in the running sum: their partial sums travel to the host
/// and back, 16 bytes each.
const MAX_CHUNKS_LOG: u32 = 14;

/// `obelysk_prover::air::witness::interaction_trace` for the CPU component, on the device:
/// `trace` holds its main columns (2^log_n values each, one after another); returns the
/// interaction columns, one after another, and the claimed sum. The columns are those the host
/// builds, value for value: every paired fraction but the last, then the running sum (in coset
/// order) of each row's fractions minus the LogUp shift.
pub fn interaction_columns<K: AirKernels>(
    kernels: &K,
    trace: &K::Column,
    log_n: u32,
    relations: &Relations,
) -> Result<(K::Column, SecureField)> {
    let (n_columns, n_cells) = crate::codegen::interaction_shape();
    if !(1..=30).contains(&log_n) {
        return Err(GpuError::Unsupported(format!(
            "interaction columns of 2^{log_n} rows"
        )));
    }
    let n = 1usize << log_n;
    holds(kernels, trace, n_cells * n, "the CPU component's cells")?;
    let table = kernels.upload(&challenges(relations, SecureField::default()))?;
    let mut out = kernels.alloc(n_columns * n)?;
    kernels.interaction_columns(trace, log_n, &table, &mut out)?;

    // The last four columns hold row sums; their total is the claimed sum, which sets the
    // shift, and each chunk's total minus its share of the shift is where the next one starts.
    let first = super::as_u32(n_columns - 4, "interaction columns")?;
    let chunk_log = log_n.saturating_sub(MAX_CHUNKS_LOG);
    let mut partials = kernels.alloc(4 * (n >> chunk_log))?;
    kernels.prefix_sum_partials(&out, first, log_n, chunk_log, [0; 4], &mut partials)?;
    let chunk_sums: Vec<SecureField> = kernels
        .download(&partials)?
        .chunks_exact(4)
        .map(|w| secure([w[0], w[1], w[2], w[3]]))
        .collect();
    let claimed_sum: SecureField = chunk_sums.iter().copied().sum();
    let shift = cumsum_shift(claimed_sum, log_n);
    let chunk_shift = shift * BaseField::from_u32_unchecked(1 << chunk_log);
    let mut start = SecureField::default();
    let starts: Vec<u32> = chunk_sums
        .iter()
        .flat_map(|&sum| {
            let this = start;
            start += sum - chunk_shift;
            words(this)
        })
        .collect();
    kernels.prefix_sum_apply(
        &mut out,
        first,
        log_n,
        chunk_log,
        words(shift),
        &kernels.upload(&starts)?,
    )?;
    Ok((out, claimed_sum))
}
