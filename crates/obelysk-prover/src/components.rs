//! The six components of one proof, built identically by prover and verifier.

use num_traits::Zero;
use stwo::core::air::Component;
use stwo::core::fields::qm31::SecureField;
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::ComponentProver;
use stwo_constraint_framework::preprocessed_columns::PreProcessedColumnId;
use stwo_constraint_framework::TraceLocationAllocator;

use crate::air::cpu::{CpuComponent, CpuEval};
use crate::air::memory::{MemoryBoundaryComponent, MemoryBoundaryEval, REGISTER_LOG};
use crate::air::quotients::CpuProver;
use crate::air::tables::{
    ProgramTableComponent, ProgramTableEval, RangeTableComponent, RangeTableEval,
};
use crate::air::{Relations, DATA_SPACE, RANGE_BITS, REGISTER_SPACE};
use crate::claim::Shape;

/// cpu, program, one range table per entry of [`RANGE_BITS`], registers, data.
pub const N_COMPONENTS: usize = 4 + RANGE_BITS.len();

pub struct Components {
    pub cpu: CpuProver,
    pub program: ProgramTableComponent,
    pub ranges: Vec<RangeTableComponent>,
    pub registers: MemoryBoundaryComponent,
    pub data: MemoryBoundaryComponent,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Components").finish_non_exhaustive()
    }
}

/// The evaluators, before claimed sums are known (trace generation needs them).
#[derive(Clone, Debug)]
pub struct Evals {
    pub cpu: CpuEval,
    pub program: ProgramTableEval,
    pub ranges: Vec<RangeTableEval>,
    pub registers: MemoryBoundaryEval,
    pub data: MemoryBoundaryEval,
}

impl Evals {
    pub fn new(shape: &Shape, relations: &Relations) -> Self {
        let relations = relations.clone();
        Self {
            cpu: CpuEval {
                log_size: shape.cpu_log,
                relations: relations.clone(),
                claimed_sum: SecureField::zero(),
            },
            program: ProgramTableEval {
                log_size: shape.program_log,
                relations: relations.clone(),
                claimed_sum: SecureField::zero(),
            },
            ranges: RANGE_BITS
                .iter()
                .map(|&bits| RangeTableEval {
                    bits,
                    relations: relations.clone(),
                    claimed_sum: SecureField::zero(),
                })
                .collect(),
            registers: MemoryBoundaryEval {
                space: REGISTER_SPACE,
                log_size: REGISTER_LOG,
                relations: relations.clone(),
                claimed_sum: SecureField::zero(),
            },
            data: MemoryBoundaryEval {
                space: DATA_SPACE,
                log_size: shape.data_log,
                relations,
                claimed_sum: SecureField::zero(),
            },
        }
    }

    /// Sets each evaluator's claimed LogUp sum (in component order), which its last
    /// interaction column's constraint needs.
    pub fn with_claimed_sums(mut self, sums: &[SecureField; N_COMPONENTS]) -> Self {
        let [cpu, program, ranges @ .., registers, data] = sums;
        self.cpu.claimed_sum = *cpu;
        self.program.claimed_sum = *program;
        for (eval, sum) in self.ranges.iter_mut().zip(ranges) {
            eval.claimed_sum = *sum;
        }
        self.registers.claimed_sum = *registers;
        self.data.claimed_sum = *data;
        self
    }

    pub fn into_components(
        self,
        claimed_sums: &[SecureField; N_COMPONENTS],
        preprocessed: &[PreProcessedColumnId],
    ) -> Components {
        let alloc = &mut TraceLocationAllocator::new_with_preprocessed_columns(preprocessed);
        let evals = self.with_claimed_sums(claimed_sums);
        let [cpu_sum, program_sum, range_sums @ .., reg_sum, data_sum] = *claimed_sums;
        let cpu = CpuProver(CpuComponent::new(alloc, evals.cpu, cpu_sum));
        let program = ProgramTableComponent::new(alloc, evals.program, program_sum);
        let ranges = evals
            .ranges
            .into_iter()
            .zip(range_sums)
            .map(|(eval, sum)| RangeTableComponent::new(alloc, eval, sum))
            .collect();
        let registers = MemoryBoundaryComponent::new(alloc, evals.registers, reg_sum);
        let data = MemoryBoundaryComponent::new(alloc, evals.data, data_sum);
        Components {
            cpu,
            program,
            ranges,
            registers,
            data,
        }
    }
}

impl Components {
    pub fn provers(&self) -> Vec<&dyn ComponentProver<SimdBackend>> {
        let mut out: Vec<&dyn ComponentProver<SimdBackend>> = vec![&self.cpu, &self.program];
        out.extend(
            self.ranges
                .iter()
                .map(|c| c as &dyn ComponentProver<SimdBackend>),
        );
        out.push(&self.registers);
        out.push(&self.data);
        out
    }

    pub fn verifiers(&self) -> Vec<&dyn Component> {
        let mut out: Vec<&dyn Component> = vec![&self.cpu, &self.program];
        out.extend(self.ranges.iter().map(|c| c as &dyn Component));
        out.push(&self.registers);
        out.push(&self.data);
        out
    }

    /// Log sizes of the main (1) and interaction (2) trees' columns, in commitment order.
    pub fn tree_log_sizes(&self, tree: usize) -> Vec<u32> {
        self.verifiers()
            .iter()
            .flat_map(|c| {
                c.trace_log_degree_bounds()
                    .get(tree)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}
