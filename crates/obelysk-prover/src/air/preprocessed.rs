//! Preprocessed columns: fixed by public data only (the program and the component sizes), so the
//! verifier recomputes their commitment itself instead of trusting the prover's.

use stwo::core::fields::m31::BaseField;
use stwo::core::poly::circle::CanonicCoset;
use stwo::prover::backend::simd::column::BaseColumn;
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::poly::circle::CircleEvaluation;
use stwo::prover::poly::BitReversedOrder;
use stwo_constraint_framework::preprocessed_columns::PreProcessedColumnId;

use super::{m31, INVALID_OPCODE, RANGE_BITS};
use crate::claim::Shape;
use obelysk_vm::Program;

pub type Evaluation = CircleEvaluation<SimdBackend, BaseField, BitReversedOrder>;

/// `0, 1, …, 2^log_size - 1` (row `i` holds `i`).
pub fn seq_id(log_size: u32) -> PreProcessedColumnId {
    PreProcessedColumnId {
        id: format!("seq_{log_size}"),
    }
}

/// Field `k` (0 = opcode, 1 = a, 2 = b, 3 = c) of the program table.
pub fn program_field_id(k: usize) -> PreProcessedColumnId {
    PreProcessedColumnId {
        id: format!("program_{}", ["op", "a", "b", "c"][k]),
    }
}

/// The preprocessed columns in commitment order, with their ids.
pub fn columns(program: &Program, shape: &Shape) -> Vec<(PreProcessedColumnId, Evaluation)> {
    // `seq` at the tallest size serves no component. It is there because stwo 2.3 maps query
    // positions into a preprocessed tree shorter than the others in a way that can leave them
    // out of order, and its Merkle verifier then rejects valid proofs (about one in ten above
    // 2^13 steps); a preprocessed tree as tall as the tallest trace avoids that mapping.
    let mut logs = vec![
        super::memory::REGISTER_LOG,
        shape.data_log,
        shape.program_log,
        shape.max_log_size(),
    ];
    logs.extend(RANGE_BITS);
    logs.sort_unstable();
    logs.dedup();
    let mut out: Vec<_> = logs
        .into_iter()
        .map(|log| (seq_id(log), evaluation(log, |i| m31(i as u32))))
        .collect();
    let code = program.instructions();
    for k in 0..4 {
        let column = evaluation(shape.program_log, |i| match code.get(i) {
            Some(ins) => m31([ins.opcode as u32, ins.a, ins.b, ins.c][k]),
            None if k == 0 => m31(INVALID_OPCODE),
            None => m31(0),
        });
        out.push((program_field_id(k), column));
    }
    out
}

pub fn ids(columns: &[(PreProcessedColumnId, Evaluation)]) -> Vec<PreProcessedColumnId> {
    columns.iter().map(|(id, _)| id.clone()).collect()
}

fn evaluation(log_size: u32, value: impl Fn(usize) -> BaseField) -> Evaluation {
    let column: BaseColumn = (0..1usize << log_size).map(value).collect();
    CircleEvaluation::new(CanonicCoset::new(log_size).circle_domain(), column)
}
