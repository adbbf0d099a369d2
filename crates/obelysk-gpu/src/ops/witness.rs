//! The CPU component's main columns filled on the device from the steps' records, and the
//! tables' lookups counted there: a fraction of the words the columns themselves would take to
//! upload, and no host time filling them or counting.

use obelysk_prover::air::cpu::col;
use obelysk_prover::air::witness::{instruction_words, LookupCounts, StepRecord};
use obelysk_prover::Shape;
use obelysk_vm::Program;

use super::{as_u32, AirKernels};
use crate::Result;

/// `obelysk_prover::air::witness::cpu_columns` on the device: the 50 columns of
/// 2^shape.cpu_log rows, one after another in one buffer; and
/// `obelysk_prover::air::witness::count_lookups` from the same records, brought back.
pub fn cpu_columns<K: AirKernels>(
    kernels: &K,
    program: &Program,
    shape: &Shape,
    records: &[StepRecord],
) -> Result<(K::Column, LookupCounts)> {
    let code = instruction_words(program);
    let words = records.as_flattened();
    // Buffers are never empty: a launch needs somewhere to point.
    let records_on_device = kernels.upload(if words.is_empty() { &[0] } else { words })?;
    let code_on_device = kernels.upload(if code.is_empty() { &[0] } else { &code })?;
    let n_steps = as_u32(records.len(), "steps")?;
    let n_code = as_u32(code.len() / 4, "instructions")?;
    let mut out = kernels.alloc(col::COUNT << shape.cpu_log)?;
    kernels.fill_cpu_columns(
        &records_on_device,
        n_steps,
        &code_on_device,
        n_code,
        shape.cpu_log,
        &mut out,
    )?;
    let words = LookupCounts::words(shape.program_log);
    let mut counts = kernels.alloc(words)?;
    kernels.zero_from(&mut counts, 0, as_u32(words, "counts")?, 1)?;
    kernels.count_lookups(
        &records_on_device,
        n_steps,
        &code_on_device,
        n_code,
        shape.program_log,
        &mut counts,
    )?;
    let counts = LookupCounts::from_words(shape.program_log, &kernels.download(&counts)?);
    Ok((out, counts))
}
