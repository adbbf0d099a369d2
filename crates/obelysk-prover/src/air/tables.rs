//! Lookup tables: the program (preprocessed `(pc, opcode, a, b, c)` rows) and the range tables
//! (preprocessed `0..2^bits`). Each table row yields its tuple with a multiplicity column that the
//! prover fills with the number of uses.

use stwo_constraint_framework::{EvalAtRow, FrameworkComponent, FrameworkEval};

use super::preprocessed::{program_field_id, seq_id};
use stwo::core::fields::qm31::SecureField;

use super::{add_lookups, cumsum_shift, AirField, Lookup, Rel, Relations};

pub type ProgramTableComponent = FrameworkComponent<ProgramTableEval>;
pub type RangeTableComponent = FrameworkComponent<RangeTableEval>;

#[derive(Clone, Debug)]
pub struct ProgramTableEval {
    pub log_size: u32,
    pub relations: Relations,
    pub claimed_sum: SecureField,
}

impl FrameworkEval for ProgramTableEval {
    fn log_size(&self) -> u32 {
        self.log_size
    }

    fn max_constraint_log_degree_bound(&self) -> u32 {
        self.log_size + 1
    }

    fn evaluate<E: EvalAtRow>(&self, mut eval: E) -> E {
        let mut row = vec![eval.get_preprocessed_column(seq_id(self.log_size))];
        row.extend((0..4).map(|k| eval.get_preprocessed_column(program_field_id(k))));
        row.push(eval.next_trace_mask());
        let shift = cumsum_shift(self.claimed_sum, self.log_size());
        add_lookups(&mut eval, &self.relations, self.lookups(&row), shift);
        eval
    }
}

impl ProgramTableEval {
    /// `row` = `[pc, opcode, a, b, c]` (preprocessed) then the multiplicity.
    pub fn lookups<F: AirField>(&self, row: &[F]) -> Vec<Lookup<F>> {
        vec![Lookup::new(
            Rel::Program,
            -row[5].clone(),
            std::array::from_fn::<_, 5, _>(|i| row[i].clone()),
        )]
    }
}

#[derive(Clone, Debug)]
pub struct RangeTableEval {
    pub bits: u32,
    pub relations: Relations,
    pub claimed_sum: SecureField,
}

impl FrameworkEval for RangeTableEval {
    fn log_size(&self) -> u32 {
        self.bits
    }

    fn max_constraint_log_degree_bound(&self) -> u32 {
        self.bits + 1
    }

    fn evaluate<E: EvalAtRow>(&self, mut eval: E) -> E {
        let row = [
            eval.get_preprocessed_column(seq_id(self.bits)),
            eval.next_trace_mask(),
        ];
        let shift = cumsum_shift(self.claimed_sum, self.log_size());
        add_lookups(&mut eval, &self.relations, self.lookups(&row), shift);
        eval
    }
}

impl RangeTableEval {
    /// `row` = `[value]` (preprocessed) then the multiplicity.
    pub fn lookups<F: AirField>(&self, row: &[F]) -> Vec<Lookup<F>> {
        vec![Lookup::new(
            Rel::range(self.bits),
            -row[1].clone(),
            [row[0].clone()],
        )]
    }
}
