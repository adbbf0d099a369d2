//! Memory boundary: for every address of a space, yield `(space, addr, 0, 0)` (memory starts at
//! zero) and consume `(space, addr, final value, final timestamp)`. Addresses come from a
//! preprocessed column, so each appears exactly once; with the CPU's strictly increasing
//! timestamps this makes every access chain start at zero and read the last write.

use stwo_constraint_framework::{EvalAtRow, FrameworkComponent, FrameworkEval};

use super::preprocessed::seq_id;
use stwo::core::fields::qm31::SecureField;

use super::{add_lookups, cumsum_shift, konst, AirField, Lookup, Rel, Relations};

/// 16 registers.
pub const REGISTER_LOG: u32 = 4;

pub type MemoryBoundaryComponent = FrameworkComponent<MemoryBoundaryEval>;

#[derive(Clone, Debug)]
pub struct MemoryBoundaryEval {
    pub space: u32,
    pub log_size: u32,
    pub relations: Relations,
    pub claimed_sum: SecureField,
}

impl FrameworkEval for MemoryBoundaryEval {
    fn log_size(&self) -> u32 {
        self.log_size
    }

    fn max_constraint_log_degree_bound(&self) -> u32 {
        self.log_size + 1
    }

    fn evaluate<E: EvalAtRow>(&self, mut eval: E) -> E {
        let row = [
            eval.get_preprocessed_column(seq_id(self.log_size)),
            eval.next_trace_mask(),
            eval.next_trace_mask(),
        ];
        let shift = cumsum_shift(self.claimed_sum, self.log_size);
        add_lookups(&mut eval, &self.relations, self.lookups(&row), shift);
        eval
    }
}

impl MemoryBoundaryEval {
    /// `row` = `[addr]` (preprocessed) then the final value and final timestamp.
    pub fn lookups<F: AirField>(&self, row: &[F]) -> Vec<Lookup<F>> {
        let [addr, final_value, final_ts] = [0, 1, 2].map(|i| row[i].clone());
        let space = konst::<F>(self.space);
        let zero = konst::<F>(0);
        vec![
            Lookup::new(
                Rel::Memory,
                -konst::<F>(1),
                [space.clone(), addr.clone(), zero.clone(), zero],
            ),
            Lookup::new(Rel::Memory, konst(1), [space, addr, final_value, final_ts]),
        ]
    }
}
