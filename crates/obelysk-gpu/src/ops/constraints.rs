//! Constraint quotients of a component, through its kernel generated from the AIR.

use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::core::utils::bit_reverse;

use obelysk_prover::air::{Rel, Relations};

use super::{holds, words, AirKernels};
use crate::{GpuError, Result};

/// `ComponentProver::evaluate_constraint_quotients_on_domain` of one component on the device,
/// through its generated kernel (`function`, see [`crate::codegen::constraint_kernels`]): `trace`
/// holds its cells (preprocessed then main columns) and `interaction` its LogUp columns,
/// extended to the evaluation domain of 2^eval_log points (one after another, bit-reversed
/// order); the quotients of `Σ coeffs[k] · constraint_k` are added to `accum`, a secure column
/// of 2^eval_log values. `coeffs` are in constraint order (stwo's powers, reversed).
/// `eval_domain` is the domain of 2^eval_log points the columns were evaluated on: the canonic
/// one, or the start of a larger one (stwo's `EvaluationMode::SubDomain`); the denominators
/// depend on it.
#[allow(clippy::too_many_arguments)]
pub fn constraint_quotients<K: AirKernels>(
    kernels: &K,
    function: &'static str,
    trace: &K::Column,
    interaction: &K::Column,
    trace_log: u32,
    eval_domain: CircleDomain,
    coeffs: &[SecureField],
    relations: &Relations,
    claimed_sum: SecureField,
    accum: &mut K::Column,
) -> Result<()> {
    use obelysk_prover::air::cumsum_shift;
    use stwo::core::constraints::coset_vanishing;

    let eval_log = eval_domain.log_size();
    let kernel = crate::codegen::constraint_kernel(function)
        .ok_or_else(|| GpuError::Unsupported(format!("no generated kernel {function}")))?;
    if eval_log <= trace_log || trace_log < 1 || eval_log > 30 {
        return Err(GpuError::Unsupported(format!(
            "a trace of 2^{trace_log} rows on an evaluation domain of 2^{eval_log}"
        )));
    }
    let n = 1usize << eval_log;
    holds(kernels, trace, kernel.n_cells * n, "component cells")?;
    holds(
        kernels,
        interaction,
        kernel.n_interaction_columns * n,
        "interaction columns",
    )?;
    holds(kernels, accum, 4 * n, "accumulator")?;
    if coeffs.len() != kernel.n_constraints {
        return Err(GpuError::Unsupported(format!(
            "{} coefficients for {} constraints",
            coeffs.len(),
            kernel.n_constraints
        )));
    }
    let challenges = challenges(relations, cumsum_shift(claimed_sum, trace_log));
    let coeff_words: Vec<u32> = coeffs.iter().copied().flat_map(words).collect();
    // The vanishing polynomial of the trace domain on each coset of the evaluation domain, as
    // stwo's component prover computes it.
    let trace_domain = CanonicCoset::new(trace_log);
    let mut denom_inv: Vec<BaseField> = (0..1 << (eval_log - trace_log))
        .map(|i| coset_vanishing(trace_domain.coset(), eval_domain.at(i)).inverse())
        .collect();
    bit_reverse(&mut denom_inv);
    let denom_inv: Vec<u32> = denom_inv.iter().map(|v| v.0).collect();
    kernels.constraint_quotients(
        function,
        trace,
        interaction,
        trace_log,
        eval_log,
        &kernels.upload(&coeff_words)?,
        &kernels.upload(&challenges)?,
        &kernels.upload(&denom_inv)?,
        accum,
    )
}

/// The challenges table the generated kernels read: for each relation z and the powers of alpha
/// (24 words), then the LogUp shift.
pub(crate) fn challenges(relations: &Relations, shift: SecureField) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::with_capacity(crate::codegen::CHALLENGE_WORDS);
    for rel in Rel::ALL {
        let (z, alphas) = relations.z_and_alpha_powers(rel);
        out.extend(words(z));
        out.extend(alphas.into_iter().flat_map(words));
    }
    out.extend(words(shift));
    out
}
