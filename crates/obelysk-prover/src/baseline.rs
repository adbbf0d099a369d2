//! A plain stwo AIR used as the benchmark baseline: `n_columns` base columns over `2^log_rows`
//! rows with degree-two constraints (`c_i = c_{i-2}^2 + c_{i-1}^2`, stwo's wide-Fibonacci shape),
//! no lookups, proven under the same PCS configuration as Obelysk proofs. The ratio of the two
//! prove times shows what the Obelysk AIR costs above raw stwo throughput.

use std::time::{Duration, Instant};

use num_traits::Zero;
use stwo::core::air::Component;
use stwo::core::channel::Blake2sChannel;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::fields::FieldExpOps;
use stwo::core::pcs::CommitmentSchemeVerifier;
use stwo::core::poly::circle::CanonicCoset;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleChannel;
use stwo::prover::backend::simd::column::BaseColumn;
use stwo::prover::backend::simd::m31::{PackedM31, LOG_N_LANES};
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::poly::circle::{CircleEvaluation, PolyOps};
use stwo::prover::{prove, CommitmentSchemeProver};
use stwo_constraint_framework::{
    EvalAtRow, FrameworkComponent, FrameworkEval, TraceLocationAllocator,
};

use crate::config::ProofConfig;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
struct WideEval {
    log_rows: u32,
    n_columns: usize,
}

impl FrameworkEval for WideEval {
    fn log_size(&self) -> u32 {
        self.log_rows
    }
    fn max_constraint_log_degree_bound(&self) -> u32 {
        self.log_rows + 1
    }
    fn evaluate<E: EvalAtRow>(&self, mut eval: E) -> E {
        let mut a = eval.next_trace_mask();
        let mut b = eval.next_trace_mask();
        for _ in 2..self.n_columns {
            let c = eval.next_trace_mask();
            eval.add_constraint(c.clone() - (a.square() + b.square()));
            a = b;
            b = c;
        }
        eval
    }
}

/// Timings of one baseline proof.
#[derive(Clone, Copy, Debug)]
pub struct BaselineTiming {
    pub prove: Duration,
    pub verify: Duration,
}

/// Generates, proves and verifies the baseline AIR. Trace generation is inside the prove time,
/// as it is for Obelysk proofs.
pub fn run_baseline(
    log_rows: u32,
    n_columns: usize,
    config: &ProofConfig,
) -> Result<BaselineTiming> {
    let log_rows = log_rows.max(LOG_N_LANES);
    let n_columns = n_columns.max(2);
    let pcs = config.pcs_config()?;
    let start = Instant::now();
    let twiddles = SimdBackend::precompute_twiddles(
        CanonicCoset::new(log_rows + 1 + config.log_blowup)
            .circle_domain()
            .half_coset,
    );
    let channel = &mut Blake2sChannel::default();
    pcs.mix_into(channel);
    let mut scheme =
        CommitmentSchemeProver::<SimdBackend, Blake2sMerkleChannel>::new(pcs, &twiddles);
    scheme.set_store_polynomials_coefficients();
    scheme.tree_builder().commit(channel);

    let n_vec = 1usize << (log_rows - LOG_N_LANES);
    let mut columns: Vec<BaseColumn> = (0..n_columns)
        .map(|_| BaseColumn::from_cpu(&vec![BaseField::zero(); 1 << log_rows]))
        .collect();
    for vec_row in 0..n_vec {
        let mut a = PackedM31::broadcast(BaseField::from_u32_unchecked(1));
        let mut b = PackedM31::from_array(std::array::from_fn(|j| {
            BaseField::from_u32_unchecked((vec_row * 16 + j) as u32)
        }));
        columns[0].data[vec_row] = a;
        columns[1].data[vec_row] = b;
        for column in columns.iter_mut().skip(2) {
            (a, b) = (b, a.square() + b.square());
            column.data[vec_row] = b;
        }
    }
    let domain = CanonicCoset::new(log_rows).circle_domain();
    let mut builder = scheme.tree_builder();
    builder.extend_evals(
        columns
            .into_iter()
            .map(|c| CircleEvaluation::new(domain, c))
            .collect(),
    );
    builder.commit(channel);
    let component = FrameworkComponent::new(
        &mut TraceLocationAllocator::default(),
        WideEval {
            log_rows,
            n_columns,
        },
        SecureField::zero(),
    );
    let proof = prove::<SimdBackend, Blake2sMerkleChannel>(&[&component], channel, scheme)
        .map_err(|e| Error::Proving(e.to_string()))?;
    let prove_time = start.elapsed();

    let start = Instant::now();
    let channel = &mut Blake2sChannel::default();
    pcs.mix_into(channel);
    let verifier = &mut CommitmentSchemeVerifier::<Blake2sMerkleChannel>::new(pcs);
    let sizes = component.trace_log_degree_bounds();
    verifier.commit(proof.commitments[0], &sizes[0], channel);
    verifier.commit(proof.commitments[1], &sizes[1], channel);
    stwo::core::verifier::verify(&[&component], channel, verifier, proof)
        .map_err(|e| Error::Proving(format!("baseline proof failed to verify: {e}")))?;
    Ok(BaselineTiming {
        prove: prove_time,
        verify: start.elapsed(),
    })
}
