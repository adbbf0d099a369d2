//! The CPU component's constraint quotients on the evaluation domain: stwo's SIMD loop
//! (`stwo_constraint_framework`'s `ComponentProver` for `FrameworkComponent`) with two changes.
//!
//! - **Row-shifted masks.** stwo's `SimdDomainEvaluator` reads a mask one row back lane by lane:
//!   for each of the 32 lanes of a vector row and each of the LogUp running sum's four
//!   coordinates it computes a bit-reversed index and pulls one value out of a 16-lane vector,
//!   128 scattered reads per vector row. Here the indices are computed once per vector row, and
//!   where they follow the usual pattern ([`OffsetRows`]) each coordinate is two vector loads
//!   and a blend.
//! - **Inlined arithmetic.** The row's constraints run on [`super::packed`]'s types instead of
//!   stwo's, whose QM31 products are calls into another crate with operands passed through
//!   memory; this halved the loop's time. [`RowEval`] is `CpuEval::evaluate` written against
//!   those types; it calls the same `constraints_with` and `lookups_into`.
//!
//! The result is the same composition polynomial, so proofs are byte for byte the same; the
//! fixture test that proves the 557-step workload again and compares bytes fails on any
//! difference in constraint order or arithmetic. The verifier evaluates the generic
//! `CpuEval`.

use std::borrow::Cow;

use rayon::prelude::*;
use stwo::core::air::accumulation::PointEvaluationAccumulator;
use stwo::core::air::Component;
use stwo::core::circle::CirclePoint;
use stwo::core::constraints::coset_vanishing;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::TreeVec;
use stwo::core::poly::circle::CanonicCoset;
use stwo::core::utils::{bit_reverse, offset_bit_reversed_circle_domain_index};
use stwo::core::ColumnVec;
use stwo::prover::backend::simd::m31::{PackedM31, LOG_N_LANES, N_LANES};
use stwo::prover::backend::simd::very_packed_m31::{LOG_N_VERY_PACKED_ELEMS, N_VERY_PACKED_ELEMS};
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::poly::circle::{CircleEvaluation, PolyOps};
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::{ComponentProver, DomainEvaluationAccumulator, EvaluationMode, Trace};
use stwo_constraint_framework::{
    FrameworkComponent, FrameworkEval, INTERACTION_TRACE_IDX, MAX_N_INTERACTIONS,
    ORIGINAL_TRACE_IDX, PREPROCESSED_TRACE_IDX,
};

use super::cpu::{self, CpuEval};
use super::packed::{Base, Ext, Row};
use super::{cumsum_shift, LookupSink, PackedRelations, Rel, MAX_TUPLE};

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
        let constants = Constants {
            coeffs: accum
                .random_coeff_powers
                .iter()
                .map(|c| Ext::splat(*c))
                .collect(),
            relations: PackedRelations::new(&eval.relations),
            shift: Ext::splat(cumsum_shift(eval.claimed_sum, trace_log)),
        };
        let shift = trace_log - LOG_N_LANES - LOG_N_VERY_PACKED_ELEMS;
        let eval_log = eval_domain.log_size();
        tasks.into_par_iter().for_each(|(task, out)| {
            for k in 0..out[0].len() / N_VERY_PACKED_ELEMS {
                let vec_row = task * CHUNK_ROWS + k;
                let reader = RowReader {
                    columns: &columns,
                    next_column: [0; MAX_N_INTERACTIONS],
                    vec_row,
                    trace_log,
                    eval_log,
                    offset_rows: None,
                };
                let sum = RowEval::new(reader, &constants).evaluate();
                let denom = Base::splat(denom_inv[vec_row >> shift]);
                for (half, value) in sum.into_iter().enumerate() {
                    let at = k * N_VERY_PACKED_ELEMS + half;
                    let quotient = value.mul_base(denom);
                    for (c, q) in quotient.0.into_iter().enumerate() {
                        out[c][at] = (Base::from_packed(out[c][at]) + q).into_packed();
                    }
                }
            }
        });
    }
}

/// What every row's evaluation shares, as broadcast vectors: the random coefficients in
/// constraint order, each relation's `z` and powers of `alpha`, and the LogUp shift.
struct Constants {
    coeffs: Vec<Ext>,
    relations: PackedRelations,
    shift: Ext,
}

/// `CpuEval::evaluate` for one vector row, in our inlined arithmetic ([`super::packed`]): the
/// same constraints (`cpu::constraints_with`, then the LogUp constraints of
/// `LogupConstraints` over `cpu::lookups_into`) in the same order, so with the same random
/// coefficients; the verifier evaluates the generic version.
struct RowEval<'a> {
    reader: RowReader<'a>,
    constants: &'a Constants,
    next_coeff: usize,
    sum: [Ext; 2],
    remaining: usize,
    pending: Option<(Row<Base>, [Ext; 2])>,
    earlier: [Ext; 2],
}

impl<'a> RowEval<'a> {
    fn new(reader: RowReader<'a>, constants: &'a Constants) -> Self {
        Self {
            reader,
            constants,
            next_coeff: 0,
            sum: [Ext::zero(); 2],
            remaining: cpu::N_LOOKUPS,
            pending: None,
            earlier: [Ext::zero(); 2],
        }
    }

    /// The row's `Σ coeff_i · constraint_i`, one value per half.
    fn evaluate(mut self) -> [Ext; 2] {
        let row: [Row<Base>; cpu::col::COUNT] = std::array::from_fn(|_| {
            let [value] = self.reader.read(ORIGINAL_TRACE_IDX, [0]);
            value
        });
        cpu::constraints_with(&row, |constraint| self.add_base(constraint));
        cpu::lookups_into(&row, &mut self);
        assert!(
            self.remaining == 0 && self.pending.is_none(),
            "the CPU component produced fewer LogUp terms than it announced"
        );
        assert_eq!(
            self.next_coeff,
            self.constants.coeffs.len(),
            "constraint count"
        );
        self.sum
    }

    fn next_coeff(&mut self) -> Ext {
        let coeff = self.constants.coeffs[self.next_coeff];
        self.next_coeff += 1;
        coeff
    }

    fn add_base(&mut self, constraint: Row<Base>) {
        let coeff = self.next_coeff();
        for (sum, c) in self.sum.iter_mut().zip(constraint.0) {
            *sum += coeff.mul_base(c);
        }
    }

    fn add_ext(&mut self, constraint: [Ext; 2]) {
        let coeff = self.next_coeff();
        for (sum, c) in self.sum.iter_mut().zip(constraint) {
            *sum += coeff * c;
        }
    }

    /// The next extension column of the interaction trace at `offsets`.
    fn read_ext<const N: usize>(&mut self, offsets: [isize; N]) -> [[Ext; 2]; N] {
        let coords: [[Row<Base>; N]; 4] =
            std::array::from_fn(|_| self.reader.read(INTERACTION_TRACE_IDX, offsets));
        std::array::from_fn(|o| {
            std::array::from_fn(|half| Ext(std::array::from_fn(|c| coords[c][o].0[half])))
        })
    }

    /// `LogupConstraints::fraction`.
    fn fraction(&mut self, num: [Ext; 2], den: [Ext; 2]) {
        let constraint = if self.remaining > 0 {
            let [value] = self.read_ext([0]);
            std::array::from_fn(|h| {
                self.earlier[h] += value[h];
                value[h] * den[h] - num[h]
            })
        } else {
            let [prev, cur] = self.read_ext([-1, 0]);
            let earlier = std::mem::replace(&mut self.earlier, [Ext::zero(); 2]);
            let shift = self.constants.shift;
            std::array::from_fn(|h| (cur[h] - prev[h] - earlier[h] + shift) * den[h] - num[h])
        };
        self.add_ext(constraint);
    }
}

impl LookupSink<Row<Base>> for RowEval<'_> {
    /// `LogupConstraints::lookup`.
    fn lookup(&mut self, rel: Rel, multiplicity: Row<Base>, values: &[Row<Base>]) {
        let den: [Ext; 2] = std::array::from_fn(|h| {
            let half: [Base; MAX_TUPLE] =
                std::array::from_fn(|i| values.get(i).map_or(Base::splat(0.into()), |v| v.0[h]));
            self.constants.relations.combine(rel, &half[..values.len()])
        });
        self.remaining = self
            .remaining
            .checked_sub(1)
            .expect("the CPU component produced more LogUp terms than it announced");
        match self.pending.take() {
            None if self.remaining > 0 => self.pending = Some((multiplicity, den)),
            None => self.fraction(multiplicity.0.map(Ext::from_base), den),
            Some((n0, d0)) => {
                let num = std::array::from_fn(|h| {
                    den[h].mul_base(n0.0[h]) + d0[h].mul_base(multiplicity.0[h])
                });
                self.fraction(num, std::array::from_fn(|h| d0[h] * den[h]))
            }
        }
    }
}

/// Reads the masks of one vector row of the evaluation domain, column after column.
struct RowReader<'a> {
    columns: &'a TreeVec<Vec<&'a Evaluation>>,
    next_column: [usize; MAX_N_INTERACTIONS],
    vec_row: usize,
    trace_log: u32,
    eval_log: u32,
    /// Where the lanes at a nonzero offset are, computed once per vector row.
    offset_rows: Option<(isize, OffsetRows)>,
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

impl RowReader<'_> {
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

    /// The next column of `interaction` at each of `offsets`.
    fn read<const N: usize>(&mut self, interaction: usize, offsets: [isize; N]) -> [Row<Base>; N] {
        let index = self.next_column[interaction];
        self.next_column[interaction] += 1;
        let column = self.columns[interaction][index];
        offsets.map(|offset| {
            if offset == 0 {
                return vector_row(column, self.vec_row);
            }
            match self.rows_at(offset) {
                OffsetRows::Blend { even, odd } => {
                    Row::blend(vector_row(column, even), vector_row(column, odd))
                }
                OffsetRows::Scattered(rows) => {
                    let flat = column.values.as_slice();
                    let lanes = |half: usize| {
                        PackedM31::from_array(std::array::from_fn(|i| {
                            flat[rows[half * N_LANES + i]]
                        }))
                    };
                    Row([0, 1].map(|half| Base::from_packed(lanes(half))))
                }
            }
        })
    }
}

/// Vector row `row` of a column.
fn vector_row(column: &Evaluation, row: usize) -> Row<Base> {
    let at = row * N_VERY_PACKED_ELEMS;
    Row([0, 1].map(|half| Base::from_packed(column.values.data[at + half])))
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
            let blended = (0..vec_rows)
                .filter(|&vec_row| {
                    let mut row = RowReader {
                        columns: &columns,
                        next_column: [0; MAX_N_INTERACTIONS],
                        vec_row,
                        trace_log,
                        eval_log,
                        offset_rows: None,
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
