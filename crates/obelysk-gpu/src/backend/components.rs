//! The Obelysk components' constraint quotients on the device, through the kernels generated
//! from the AIR ([`crate::codegen`]): stwo-constraint-framework's component prover, with the
//! row loop replaced by one kernel launch.

use stwo::core::air::Component;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::prover::backend::simd::column::BaseColumn;
use stwo::prover::backend::Column;
use stwo::prover::poly::circle::{CircleEvaluation, PolyOps};
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::{ComponentProver, DomainEvaluationAccumulator, EvaluationMode, Poly, Trace};
use stwo_constraint_framework::{
    FrameworkComponent, FrameworkEval, INTERACTION_TRACE_IDX, ORIGINAL_TRACE_IDX,
    PREPROCESSED_TRACE_IDX,
};

use obelysk_prover::air::cpu::CpuEval;
use obelysk_prover::air::memory::MemoryBoundaryEval;
use obelysk_prover::air::preprocessed::Evaluation;
use obelysk_prover::air::quotients::CpuProver;
use obelysk_prover::air::tables::{ProgramTableEval, RangeTableEval};
use obelysk_prover::air::witness::{LookupCounts, StepRecord};
use obelysk_prover::air::{Relations, DATA_SPACE, REGISTER_SPACE};
use obelysk_prover::components::Components;
use obelysk_prover::{ProverBackend, Shape};
use obelysk_vm::Program;

use super::fri::{pack, unpack};
use super::{kernels, ok, u32_of, Buffer, Device, DeviceBackend, DeviceColumn};
use crate::ops::{self, Kernels};

/// An evaluator with a generated kernel: its name, and the values the kernel takes as
/// arguments.
pub trait GeneratedKernel: FrameworkEval {
    fn kernel(&self) -> &'static str;
    fn relations(&self) -> &Relations;
    fn claimed_sum(&self) -> SecureField;
}

impl GeneratedKernel for CpuEval {
    fn kernel(&self) -> &'static str {
        "cpu_constraint_quotients"
    }
    fn relations(&self) -> &Relations {
        &self.relations
    }
    fn claimed_sum(&self) -> SecureField {
        self.claimed_sum
    }
}

impl GeneratedKernel for ProgramTableEval {
    fn kernel(&self) -> &'static str {
        "program_table_quotients"
    }
    fn relations(&self) -> &Relations {
        &self.relations
    }
    fn claimed_sum(&self) -> SecureField {
        self.claimed_sum
    }
}

impl GeneratedKernel for RangeTableEval {
    fn kernel(&self) -> &'static str {
        match self.bits {
            12 => "range12_table_quotients",
            5 => "range5_table_quotients",
            bits => panic!("no generated kernel for a {bits}-bit range table"),
        }
    }
    fn relations(&self) -> &Relations {
        &self.relations
    }
    fn claimed_sum(&self) -> SecureField {
        self.claimed_sum
    }
}

impl GeneratedKernel for MemoryBoundaryEval {
    fn kernel(&self) -> &'static str {
        match self.space {
            REGISTER_SPACE => "register_memory_quotients",
            DATA_SPACE => "data_memory_quotients",
            space => panic!("no generated kernel for memory space {space}"),
        }
    }
    fn relations(&self) -> &Relations {
        &self.relations
    }
    fn claimed_sum(&self) -> SecureField {
        self.claimed_sum
    }
}

impl<D: Device, E: GeneratedKernel> ComponentProver<DeviceBackend<D>> for FrameworkComponent<E> {
    fn evaluate_constraint_quotients_on_domain(
        &self,
        trace: &Trace<'_, DeviceBackend<D>>,
        accumulator: &mut DomainEvaluationAccumulator<DeviceBackend<D>>,
    ) {
        let n_constraints = self.n_constraints();
        if n_constraints == 0 {
            return;
        }
        if self.is_disabled() {
            accumulator.skip_coeffs(n_constraints);
            return;
        }
        let kernels = kernels::<D>();
        let log_bound = self.max_constraint_log_degree_bound();
        let trace_log = self.log_size();
        let mode = accumulator.evaluation_mode();
        let eval_domain: CircleDomain = match mode {
            EvaluationMode::SubDomain { log_expansion } => {
                CanonicCoset::new(log_bound + log_expansion)
                    .circle_domain()
                    .split(log_expansion)
                    .0
            }
            EvaluationMode::ExtendToEvalDomain => CanonicCoset::new(log_bound).circle_domain(),
        };
        let n = eval_domain.size();

        // The kernel's cells: the preprocessed columns the component reads, then its main
        // columns; then, in a second buffer, its interaction columns. Each on the evaluation
        // domain: the start of the committed evaluation (bit-reversed order puts the subdomain
        // first), or a fresh evaluation of the polynomial.
        let mut polys = trace.polys.sub_tree(self.trace_locations());
        polys[PREPROCESSED_TRACE_IDX] = self
            .preprocessed_column_indices()
            .iter()
            .map(|i| &trace.polys[PREPROCESSED_TRACE_IDX][*i])
            .collect();
        let twiddles = matches!(mode, EvaluationMode::ExtendToEvalDomain)
            .then(|| DeviceBackend::<D>::precompute_twiddles(eval_domain.half_coset));
        let gather = |columns: &[&&&Poly<DeviceBackend<D>>]| {
            let mut out = ok(kernels.alloc((columns.len() * n).max(1)));
            match &twiddles {
                // The committed evaluations' starts, in one launch.
                None => {
                    let parts: Vec<_> = columns
                        .iter()
                        .map(|poly| {
                            assert!(poly.evals.len() >= n, "a committed column below the domain");
                            (poly.evals.values.buffer(), 0)
                        })
                        .collect();
                    if !parts.is_empty() {
                        ok(kernels.concat(&parts, n, n, &mut out, 0));
                    }
                }
                // One evaluation at a time, so that only one is held besides `out`.
                Some(twiddles) => {
                    for (k, poly) in columns.iter().enumerate() {
                        let extended = poly.get_evaluation_on_domain(eval_domain, twiddles);
                        ok(kernels.copy_range(
                            extended.values.buffer(),
                            0,
                            &mut out,
                            u32_of(k * n),
                            u32_of(n),
                        ));
                    }
                }
            }
            out
        };
        let cells: Vec<_> = polys[PREPROCESSED_TRACE_IDX]
            .iter()
            .chain(&polys[ORIGINAL_TRACE_IDX])
            .collect();
        let cells = gather(&cells);
        let interaction: Vec<_> = polys[INTERACTION_TRACE_IDX].iter().collect();
        let interaction = gather(&interaction);

        let [mut accum] = accumulator.columns([(eval_domain.log_size(), n_constraints)]);
        accum.random_coeff_powers.reverse();
        let mut packed = pack(accum.col);
        let eval: &E = self;
        ok(ops::constraint_quotients(
            kernels,
            eval.kernel(),
            &cells,
            &interaction,
            trace_log,
            eval_domain,
            &accum.random_coeff_powers,
            eval.relations(),
            eval.claimed_sum(),
            &mut packed,
        ));
        *accum.col = unpack(packed, n);
    }
}

impl<D: Device> ComponentProver<DeviceBackend<D>> for CpuProver {
    fn evaluate_constraint_quotients_on_domain(
        &self,
        trace: &Trace<'_, DeviceBackend<D>>,
        accumulator: &mut DomainEvaluationAccumulator<DeviceBackend<D>>,
    ) {
        self.0
            .evaluate_constraint_quotients_on_domain(trace, accumulator)
    }
}

impl<D: Device> ProverBackend for DeviceBackend<D> {
    fn expect_queries(n_queries: usize) {
        super::queries::expect_queries(n_queries);
    }

    fn provers(components: &Components) -> Vec<&dyn ComponentProver<Self>> {
        let mut out: Vec<&dyn ComponentProver<Self>> = vec![&components.cpu, &components.program];
        out.extend(
            components
                .ranges
                .iter()
                .map(|c| c as &dyn ComponentProver<Self>),
        );
        out.push(&components.registers);
        out.push(&components.data);
        out
    }

    fn instance() -> u64 {
        D::instance()
    }

    /// Uploaded straight from the witness's memory.
    fn evaluation_of(
        domain: CircleDomain,
        values: &BaseColumn,
    ) -> CircleEvaluation<Self, BaseField, BitReversedOrder> {
        CircleEvaluation::new(domain, DeviceColumn::from_values(values.as_slice()))
    }

    /// Uploaded straight from the SIMD column's memory.
    fn evaluation(evaluation: Evaluation) -> CircleEvaluation<Self, BaseField, BitReversedOrder> {
        CircleEvaluation::new(
            evaluation.domain,
            DeviceColumn::from_values(evaluation.values.as_slice()),
        )
    }

    /// Filled on the device from the records, and the lookups counted there; the buffer of all
    /// 50 columns is kept, as the interaction kernel's cells.
    type CpuColumns = Buffer<D>;

    fn cpu_columns(
        program: &Program,
        shape: &Shape,
        records: &[StepRecord],
    ) -> (
        Vec<CircleEvaluation<Self, BaseField, BitReversedOrder>>,
        Buffer<D>,
        LookupCounts,
    ) {
        let (cells, counts) = ok(ops::cpu_columns(kernels::<D>(), program, shape, records));
        (split::<D>(&cells, shape.cpu_log), cells, counts)
    }

    /// Built on the device by the kernel generated from the AIR.
    fn cpu_interaction(
        cells: Buffer<D>,
        log_size: u32,
        relations: &Relations,
    ) -> (
        Vec<CircleEvaluation<Self, BaseField, BitReversedOrder>>,
        SecureField,
    ) {
        let (columns, claimed_sum) = ok(ops::interaction_columns(
            kernels::<D>(),
            &cells,
            log_size,
            relations,
        ));
        drop(cells);
        (split::<D>(&columns, log_size), claimed_sum)
    }
}

/// The columns of 2^log_size values one after another in `buffer`, each copied into its own
/// evaluation (stwo owns and frees its columns one by one).
fn split<D: Device>(
    buffer: &Buffer<D>,
    log_size: u32,
) -> Vec<CircleEvaluation<DeviceBackend<D>, BaseField, BitReversedOrder>> {
    let kernels = kernels::<D>();
    let n = 1usize << log_size;
    let domain = CanonicCoset::new(log_size).circle_domain();
    let mut columns: Vec<Buffer<D>> = (0..kernels.len(buffer) / n)
        .map(|_| ok(kernels.alloc(n)))
        .collect();
    ok(kernels.split_into(buffer, 0, n, n, &mut columns.iter_mut().collect::<Vec<_>>()));
    columns
        .into_iter()
        .map(|column| CircleEvaluation::new(domain, DeviceColumn::from_buffer(column, n)))
        .collect()
}
