//! The kernels of Obelysk's own AIR, on top of stwo's backend operations ([`Kernels`]): the
//! generated constraint quotients, the CPU component's main columns and lookup counts from the
//! steps' records, its LogUp columns and their running sum; and the shape checks both
//! implementations make before a launch.

use super::Kernels;
use crate::{GpuError, Result};

/// What a device (or the emulator) offers for the Obelysk AIR, one method per entry point of
/// `kernels/*.cu` with the same arguments.
pub trait AirKernels: Kernels {
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
    /// The CPU component's main columns (50 of 2^log_n rows, one after another, into `out`)
    /// from `n_steps` step records (13 words each) and the program's `n_code` instructions
    /// (four words each): `kernels/witness.cu`.
    fn fill_cpu_columns(
        &self,
        records: &Self::Column,
        n_steps: u32,
        code: &Self::Column,
        n_code: u32,
        log_n: u32,
        out: &mut Self::Column,
    ) -> Result<()>;
    /// How often `n_steps` step records look up each table row, added into `counts`: a program of
    /// 2^program_log instructions (`n_code` of them in `code`), then the range tables
    /// (`LookupCounts::from_words`). `kernels/witness.cu`.
    fn count_lookups(
        &self,
        records: &Self::Column,
        n_steps: u32,
        code: &Self::Column,
        n_code: u32,
        program_log: u32,
        counts: &mut Self::Column,
    ) -> Result<()>;
    /// The CPU component's LogUp interaction columns on its trace domain of 2^log_n rows, through
    /// the generated `cpu_interaction_columns`: `trace` holds its main columns one after another
    /// and `out` gets the columns [`crate::codegen::interaction_shape`] counts (the last four hold
    /// row sums).
    fn interaction_columns(
        &self,
        trace: &Self::Column,
        log_n: u32,
        challenges: &Self::Column,
        out: &mut Self::Column,
    ) -> Result<()>;
    /// For each chunk of 2^chunk_log values, in coset order, of the secure column at columns
    /// `first..first + 4` of `columns` (2^log_n values each, bit-reversed circle-domain order):
    /// Σ (v − shift), four words per chunk into `partials`.
    #[allow(clippy::too_many_arguments)]
    fn prefix_sum_partials(
        &self,
        columns: &Self::Column,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: [u32; 4],
        partials: &mut Self::Column,
    ) -> Result<()>;
    /// Rewrites that secure column as its running sum of (v − shift) in coset order, each chunk
    /// starting from `starts` (four words per chunk).
    #[allow(clippy::too_many_arguments)]
    fn prefix_sum_apply(
        &self,
        columns: &mut Self::Column,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: [u32; 4],
        starts: &Self::Column,
    ) -> Result<()>;
}

/// Fails unless a CPU-column fill's shape fits: `n_steps` records within 2^log_n rows (at most
/// 2^30), and buffers that hold them.
pub fn check_cpu_fill(
    records: usize,
    n_steps: u32,
    code: usize,
    n_code: u32,
    log_n: u32,
    out: usize,
) -> Result<()> {
    use obelysk_prover::air::{cpu::col, witness::record};
    let fits = log_n <= 30
        && (n_steps as usize) <= 1 << log_n
        && records >= n_steps as usize * record::WORDS
        && code >= 4 * n_code as usize
        && out >= col::COUNT << log_n;
    if !fits {
        return Err(GpuError::Unsupported(format!(
            "{n_steps} steps in 2^{log_n} rows from {records} record words, {n_code} \
             instructions in {code} words, into {out} words"
        )));
    }
    Ok(())
}

/// Fails unless a count of lookups fits: `n_steps` records in `records` words, `n_code`
/// instructions in `code` words, at most 2^program_log of them, and the counts in `counts` words.
pub fn check_count_lookups(
    records: usize,
    n_steps: u32,
    code: usize,
    n_code: u32,
    program_log: u32,
    counts: usize,
) -> Result<()> {
    use obelysk_prover::air::witness::{record, LookupCounts};
    let fits = program_log <= 24
        && (n_code as usize) <= 1 << program_log
        && records >= n_steps as usize * record::WORDS
        && code >= 4 * n_code as usize
        && counts >= LookupCounts::words(program_log);
    if !fits {
        return Err(GpuError::Unsupported(format!(
            "lookups of {n_steps} steps from {records} record words, {n_code} instructions in \
             {code} words (at most 2^{program_log}), into {counts} words"
        )));
    }
    Ok(())
}

/// Fails unless a prefix sum's shape fits: 2^log_n values (1 ≤ log_n ≤ 30) in chunks of
/// 2^chunk_log, over the secure column at `first` of `columns`, with a partial per chunk.
pub fn check_prefix_sum(
    columns: usize,
    first: u32,
    log_n: u32,
    chunk_log: u32,
    partials: usize,
) -> Result<()> {
    if !(1..=30).contains(&log_n) || chunk_log > log_n {
        return Err(GpuError::Unsupported(format!(
            "a prefix sum over 2^{log_n} values in chunks of 2^{chunk_log}"
        )));
    }
    let n = 1usize << log_n;
    if columns < (first as usize + 4) * n || partials < 4 * (n >> chunk_log) {
        return Err(GpuError::Unsupported(format!(
            "a prefix sum over columns {first}..{} of 2^{log_n} values in {columns} words, with \
             {partials} words of partials",
            first + 4
        )));
    }
    Ok(())
}
