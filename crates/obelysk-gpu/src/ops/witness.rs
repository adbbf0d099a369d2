//! The CPU component's main columns filled on the device from the steps' records: a fraction of
//! the words the columns themselves would take to upload, and no host time filling them.

use obelysk_prover::air::cpu::col;
use obelysk_prover::air::witness::{instruction_words, StepRecord};
use obelysk_vm::Program;

use super::{as_u32, Kernels};
use crate::Result;

/// `obelysk_prover::air::witness::cpu_columns` on the device: the 50 columns of 2^log_size
/// rows, one after another in one buffer.
pub fn cpu_columns<K: Kernels>(
    kernels: &K,
    program: &Program,
    log_size: u32,
    records: &[StepRecord],
) -> Result<K::Column> {
    let code = instruction_words(program);
    let words = records.as_flattened();
    // Buffers are never empty: a launch needs somewhere to point.
    let records_on_device = kernels.upload(if words.is_empty() { &[0] } else { words })?;
    let code_on_device = kernels.upload(if code.is_empty() { &[0] } else { &code })?;
    let mut out = kernels.alloc(col::COUNT << log_size)?;
    kernels.fill_cpu_columns(
        &records_on_device,
        as_u32(records.len(), "steps")?,
        &code_on_device,
        as_u32(code.len() / 4, "instructions")?,
        log_size,
        &mut out,
    )?;
    Ok(out)
}
