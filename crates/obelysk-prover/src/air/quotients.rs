//! The CPU component's constraint quotients on the evaluation domain: stwo's SIMD loop
//! (`stwo_constraint_framework`'s `ComponentProver` for `FrameworkComponent`) with a cheaper
//! read of masks at a row offset.
//!
//! stwo's `SimdDomainEvaluator` reads a mask one row back lane by lane: for each of the 32 lanes
//! of a vector row and each of the LogUp running sum's four coordinates it computes a
//! bit-reversed index and pulls one value out of a 16-lane vector, 128 scattered reads per
//! vector row: a sixth of the CPU component's constraint evaluation. Here the indices are
//! computed once per vector row, and where they follow the usual pattern ([`OffsetRows`]) each
//! coordinate is two vector loads and a blend. The rest follows stwo's loop, with
//! the random coefficients broadcast once instead of once per constraint and row; the result is
//! the same composition polynomial, so proofs are byte for byte the same.

use std::borrow::Cow;

use num_traits::Zero;
use rayon::prelude::*;
use stwo::core::air::accumulation::PointEvaluationAccumulator;
use stwo::core::air::Component;
use stwo::core::circle::CirclePoint;
use stwo::core::constraints::coset_vanishing;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::{SecureField, SECURE_EXTENSION_DEGREE};
use stwo::core::pcs::TreeVec;
use stwo::core::poly::circle::CanonicCoset;
use stwo::core::utils::{bit_reverse, offset_bit_reversed_circle_domain_index};
use stwo::core::ColumnVec;
use stwo::prover::backend::simd::m31::{PackedM31, LOG_N_LANES};
use stwo::prover::backend::simd::qm31::PackedQM31;
use stwo::prover::backend::simd::very_packed_m31::{
    VeryPackedBaseField, VeryPackedSecureField, LOG_N_VERY_PACKED_ELEMS, N_VERY_PACKED_ELEMS,
};
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::poly::circle::{CircleEvaluation, PolyOps};
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::{ComponentProver, DomainEvaluationAccumulator, EvaluationMode, Trace};
use stwo_constraint_framework::{
    EvalAtRow, FrameworkComponent, FrameworkEval, MAX_N_INTERACTIONS, PREPROCESSED_TRACE_IDX,
};

use super::cpu::CpuEval;

/// Lanes of one evaluated vector row.
const ROW_LANES: usize = 1 << (LOG_N_LANES + LOG_N_VERY_PACKED_ELEMS);
/// Vector rows per parallel task.
const CHUNK_ROWS: usize = 16;

type Evaluation = CircleEvaluation<SimdBackend, BaseField, BitReversedOrder>;

/// The CPU component, proven with the loop above and verified as stwo's framework component.
pub struct CpuProver(pub FrameworkComponent<CpuEval>);

impl std::fmt::Debug for CpuProver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CpuProver").finish_non_exhaustive()
    }
}

impl Component for CpuProver {
    fn n_constraints(&self) -> usize {
        self.0.n_constraints()
    }

    fn max_constraint_log_degree_bound(&self) -> u32 {
        self.0.max_constraint_log_degree_bound()
    }

    fn trace_log_degree_bounds(&self) -> TreeVec<ColumnVec<u32>> {
        self.0.trace_log_degree_bounds()
    }

    fn mask_points(
        &self,
        point: CirclePoint<SecureField>,
        max_log_degree_bound: u32,
    ) -> TreeVec<ColumnVec<Vec<CirclePoint<SecureField>>>> {
        self.0.mask_points(point, max_log_degree_bound)
    }

    fn preprocessed_column_indices(&self) -> ColumnVec<usize> {
        Component::preprocessed_column_indices(&self.0)
    }

    fn evaluate_constraint_quotients_at_point(
        &self,
        point: CirclePoint<SecureField>,
        mask: &TreeVec<ColumnVec<Vec<SecureField>>>,
        evaluation_accumulator: &mut PointEvaluationAccumulator,
        max_log_degree_bound: u32,
    ) {
        self.0.evaluate_constraint_quotients_at_point(
            point,
            mask,
            evaluation_accumulator,
            max_log_degree_bound,
        )
    }
}

impl ComponentProver<SimdBackend> for CpuProver {
    fn evaluate_constraint_quotients_on_domain(
        &self,
        trace: &Trace<'_, SimdBackend>,
        accumulator: &mut DomainEvaluationAccumulator<SimdBackend>,
    ) {
        let component = &self.0;
        let n_constraints = component.n_constraints();
        let trace_log = component.log_size();
        // stwo falls back to its CPU loop below one vector row; so do we.
        if n_constraints == 0
            || component.is_disabled()
            || trace_log < LOG_N_LANES + LOG_N_VERY_PACKED_ELEMS
        {
            return ComponentProver::<SimdBackend>::evaluate_constraint_quotients_on_domain(
                component,
                trace,
                accumulator,
            );
        }
        let _span = tracing::info_span!("CPU constraint evaluation").entered();
        let log_bound = component.max_constraint_log_degree_bound();
        let mode = accumulator.evaluation_mode();
        let eval_domain = match mode {
            EvaluationMode::SubDomain { log_expansion } => {
                CanonicCoset::new(log_bound + log_expansion)
                    .circle_domain()
                    .split(log_expansion)
                    .0
            }
            EvaluationMode::ExtendToEvalDomain => CanonicCoset::new(log_bound).circle_domain(),
        };
        let mut polys = trace.polys.sub_tree(component.trace_locations());
        polys[PREPROCESSED_TRACE_IDX] = component
            .preprocessed_column_indices()
            .iter()
            .map(|i| &trace.polys[PREPROCESSED_TRACE_IDX][*i])
            .collect();
        let columns: TreeVec<Vec<Cow<'_, Evaluation>>> = match mode {
            // The committed evaluations start with the sub-domain, in bit-reversed order.
            EvaluationMode::SubDomain { .. } => polys.map_cols(|p| Cow::Borrowed(&p.evals)),
            EvaluationMode::ExtendToEvalDomain => {
                let twiddles = SimdBackend::precompute_twiddles(eval_domain.half_coset);
                polys
                    .as_cols_ref()
                    .map_cols(|p| Cow::Owned(p.get_evaluation_on_domain(eval_domain, &twiddles)))
            }
        };
        let columns = columns.as_cols_ref().map_cols(|c| c.as_ref());

        let trace_domain = CanonicCoset::new(trace_log);
        let log_expand = eval_domain.log_size() - trace_log;
        let mut denom_inv: Vec<BaseField> = (0..1 << log_expand)
            .map(|i| coset_vanishing(trace_domain.coset(), eval_domain.at(i)).inverse())
            .collect();
        bit_reverse(&mut denom_inv);

        let [mut accum] = accumulator.columns([(eval_domain.log_size(), n_constraints)]);
        accum.random_coeff_powers.reverse();
        let coeffs: Vec<VeryPackedSecureField> = accum
            .random_coeff_powers
            .iter()
            .map(|c| VeryPackedSecureField::broadcast(*c))
            .collect();

        // Each task owns `CHUNK_ROWS` vector rows of the four coordinate columns.
        let packed_per_task = CHUNK_ROWS * N_VERY_PACKED_ELEMS;
        let [c0, c1, c2, c3] = &mut accum.col.columns;
        let tasks = c0
            .data
            .chunks_mut(packed_per_task)
            .zip(c1.data.chunks_mut(packed_per_task))
            .zip(c2.data.chunks_mut(packed_per_task))
            .zip(c3.data.chunks_mut(packed_per_task))
            .map(|(((a, b), c), d)| [a, b, c, d])
            .enumerate()
            .collect::<Vec<_>>();
        let eval: &CpuEval = component;
        let lane_masks = lane_masks();
        let shift = trace_log - LOG_N_LANES - LOG_N_VERY_PACKED_ELEMS;
        let eval_log = eval_domain.log_size();
        tasks.into_par_iter().for_each(|(task, out)| {
            for k in 0..out[0].len() / N_VERY_PACKED_ELEMS {
                let vec_row = task * CHUNK_ROWS + k;
                let row = RowEvaluator {
                    columns: &columns,
                    next_column: [0; MAX_N_INTERACTIONS],
                    vec_row,
                    coeffs: &coeffs,
                    row_res: VeryPackedSecureField::zero(),
                    constraint: 0,
                    trace_log,
                    eval_log,
                    offset_rows: None,
                    lane_masks: &lane_masks,
                };
                let row_res = eval.evaluate(row).row_res;
                let denom = VeryPackedBaseField::broadcast(denom_inv[vec_row >> shift]);
                let quotient = row_res * denom;
                for (half, value) in quotient.0.into_iter().enumerate() {
                    let at = k * N_VERY_PACKED_ELEMS + half;
                    let old = PackedQM31::from_packed_m31s(std::array::from_fn(|c| out[c][at]));
                    let new = (old + value).into_packed_m31s();
                    for (c, v) in new.into_iter().enumerate() {
                        out[c][at] = v;
                    }
                }
            }
        });
    }
}

/// Evaluates the constraints of one vector row of the evaluation domain.
struct RowEvaluator<'a> {
    columns: &'a TreeVec<Vec<&'a Evaluation>>,
    next_column: [usize; MAX_N_INTERACTIONS],
    vec_row: usize,
    coeffs: &'a [VeryPackedSecureField],
    row_res: VeryPackedSecureField,
    constraint: usize,
    trace_log: u32,
    eval_log: u32,
    /// Where the lanes at a nonzero offset are, computed once per vector row.
    offset_rows: Option<(isize, OffsetRows)>,
    /// 1 in even lanes, 0 in odd ones, and the reverse.
    lane_masks: &'a [VeryPackedBaseField; 2],
}

/// The lanes of a vector row at a row offset. In bit-reversed order a trace-row shift moves the
/// high bits of an index and keeps its low five: the even lanes of a vector row come from one
/// other vector row and the odd lanes (the other half of the circle domain) from a second, each
/// in place. Only rows next to where the shift wraps around are scattered.
// Lives on the stack of one row's evaluation; boxing the rare scattered case would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
enum OffsetRows {
    Blend { even: usize, odd: usize },
    Scattered([usize; ROW_LANES]),
}

impl RowEvaluator<'_> {
    fn rows_at(&mut self, offset: isize) -> OffsetRows {
        if let Some((cached, rows)) = self.offset_rows {
            if cached == offset {
                return rows;
            }
        }
        let first = self.vec_row * ROW_LANES;
        let rows: [usize; ROW_LANES] = std::array::from_fn(|i| {
            offset_bit_reversed_circle_domain_index(
                first + i,
                self.trace_log,
                self.eval_log,
                offset,
            )
        });
        let (even, odd) = (rows[0] / ROW_LANES, rows[1] / ROW_LANES);
        let in_place = rows
            .iter()
            .enumerate()
            .all(|(lane, &row)| row == [even, odd][lane % 2] * ROW_LANES + lane);
        let found = if in_place {
            OffsetRows::Blend { even, odd }
        } else {
            OffsetRows::Scattered(rows)
        };
        self.offset_rows = Some((offset, found));
        found
    }
}

/// Vector row `row` of a column.
fn vector_row(column: &Evaluation, row: usize) -> VeryPackedBaseField {
    let at = row * N_VERY_PACKED_ELEMS;
    VeryPackedBaseField::from(std::array::from_fn::<PackedM31, N_VERY_PACKED_ELEMS, _>(
        |i| column.values.data[at + i],
    ))
}

/// `[1, 0, 1, 0, …]` and `[0, 1, 0, 1, …]`.
pub(crate) fn lane_masks() -> [VeryPackedBaseField; 2] {
    std::array::from_fn(|parity| {
        VeryPackedBaseField::from_array(std::array::from_fn(|lane| {
            BaseField::from(u32::from(lane % 2 == parity))
        }))
    })
}

impl EvalAtRow for RowEvaluator<'_> {
    type F = VeryPackedBaseField;
    type EF = VeryPackedSecureField;

    fn next_interaction_mask<const N: usize>(
        &mut self,
        interaction: usize,
        offsets: [isize; N],
    ) -> [Self::F; N] {
        let index = self.next_column[interaction];
        self.next_column[interaction] += 1;
        let column = self.columns[interaction][index];
        offsets.map(|offset| {
            if offset == 0 {
                return vector_row(column, self.vec_row);
            }
            match self.rows_at(offset) {
                OffsetRows::Blend { even, odd } => {
                    let [even_mask, odd_mask] = *self.lane_masks;
                    vector_row(column, even) * even_mask + vector_row(column, odd) * odd_mask
                }
                OffsetRows::Scattered(rows) => {
                    let flat = column.values.as_slice();
                    VeryPackedBaseField::from_array(std::array::from_fn(|i| flat[rows[i]]))
                }
            }
        })
    }

    fn add_constraint<G>(&mut self, constraint: G)
    where
        Self::EF: std::ops::Mul<G, Output = Self::EF> + From<G>,
    {
        self.row_res += self.coeffs[self.constraint] * constraint;
        self.constraint += 1;
    }

    fn combine_ef(values: [Self::F; SECURE_EXTENSION_DEGREE]) -> Self::EF {
        VeryPackedSecureField::from_very_packed_m31s(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path is exact where taken (it checks every lane) and taken for all but the rows
    /// next to the wrap-around.
    #[test]
    fn a_row_shift_is_two_vector_rows_almost_everywhere() {
        for (trace_log, eval_log) in [(6, 7), (10, 11), (10, 12), (14, 15)] {
            let vec_rows = 1usize << (eval_log - LOG_N_LANES - LOG_N_VERY_PACKED_ELEMS);
            let columns = TreeVec::new(vec![]);
            let masks = lane_masks();
            let blended = (0..vec_rows)
                .filter(|&vec_row| {
                    let mut row = RowEvaluator {
                        columns: &columns,
                        next_column: [0; MAX_N_INTERACTIONS],
                        vec_row,
                        coeffs: &[],
                        row_res: VeryPackedSecureField::zero(),
                        constraint: 0,
                        trace_log,
                        eval_log,
                        offset_rows: None,
                        lane_masks: &masks,
                    };
                    matches!(row.rows_at(-1), OffsetRows::Blend { .. })
                })
                .count();
            assert!(
                blended + 4 >= vec_rows,
                "{blended} of {vec_rows} rows at 2^{trace_log} in 2^{eval_log}"
            );
        }
    }
}
