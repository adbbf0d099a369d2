//! `GkrOps` and `MleOps` on the host, through stwo's CPU backend. stwo's `Backend` requires
//! them; no component of the Obelysk AIR proves with GKR, so they only need to be right.

use std::borrow::Cow;

use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::prover::backend::{Column, CpuBackend};
use stwo::prover::lookups::gkr_prover::{EqEvals, GkrMultivariatePolyOracle, GkrOps, Layer};
use stwo::prover::lookups::mle::{Mle, MleOps};
use stwo::prover::lookups::utils::UnivariatePoly;

use super::{Device, DeviceBackend};

fn secure_to_cpu<D: Device>(
    mle: &Mle<DeviceBackend<D>, SecureField>,
) -> Mle<CpuBackend, SecureField> {
    Mle::new(mle.to_vec())
}

fn secure_from_cpu<D: Device>(
    mle: Mle<CpuBackend, SecureField>,
) -> Mle<DeviceBackend<D>, SecureField> {
    Mle::new(mle.into_evals())
}

fn layer_to_cpu<D: Device>(layer: &Layer<DeviceBackend<D>>) -> Layer<CpuBackend> {
    match layer {
        Layer::GrandProduct(mle) => Layer::GrandProduct(secure_to_cpu(mle)),
        Layer::LogUpGeneric {
            numerators,
            denominators,
        } => Layer::LogUpGeneric {
            numerators: secure_to_cpu(numerators),
            denominators: secure_to_cpu(denominators),
        },
        Layer::LogUpMultiplicities {
            numerators,
            denominators,
        } => Layer::LogUpMultiplicities {
            numerators: Mle::new(numerators.to_cpu()),
            denominators: secure_to_cpu(denominators),
        },
        Layer::LogUpSingles { denominators } => Layer::LogUpSingles {
            denominators: secure_to_cpu(denominators),
        },
    }
}

fn layer_from_cpu<D: Device>(layer: Layer<CpuBackend>) -> Layer<DeviceBackend<D>> {
    match layer {
        Layer::GrandProduct(mle) => Layer::GrandProduct(secure_from_cpu(mle)),
        Layer::LogUpGeneric {
            numerators,
            denominators,
        } => Layer::LogUpGeneric {
            numerators: secure_from_cpu(numerators),
            denominators: secure_from_cpu(denominators),
        },
        Layer::LogUpMultiplicities {
            numerators,
            denominators,
        } => Layer::LogUpMultiplicities {
            numerators: Mle::new(numerators.into_evals().into_iter().collect()),
            denominators: secure_from_cpu(denominators),
        },
        Layer::LogUpSingles { denominators } => Layer::LogUpSingles {
            denominators: secure_from_cpu(denominators),
        },
    }
}

impl<D: Device> MleOps<BaseField> for DeviceBackend<D> {
    fn fix_first_variable(
        mle: Mle<Self, BaseField>,
        assignment: SecureField,
    ) -> Mle<Self, SecureField> {
        let cpu = Mle::<CpuBackend, BaseField>::new(mle.to_cpu());
        secure_from_cpu(CpuBackend::fix_first_variable(cpu, assignment))
    }
}

impl<D: Device> MleOps<SecureField> for DeviceBackend<D> {
    fn fix_first_variable(
        mle: Mle<Self, SecureField>,
        assignment: SecureField,
    ) -> Mle<Self, SecureField> {
        let cpu = Mle::<CpuBackend, SecureField>::new(mle.into_evals());
        secure_from_cpu(CpuBackend::fix_first_variable(cpu, assignment))
    }
}

impl<D: Device> GkrOps for DeviceBackend<D> {
    fn gen_eq_evals(y: &[SecureField], v: SecureField) -> Mle<Self, SecureField> {
        secure_from_cpu(CpuBackend::gen_eq_evals(y, v))
    }

    fn next_layer(layer: &Layer<Self>) -> Layer<Self> {
        layer_from_cpu(CpuBackend::next_layer(&layer_to_cpu(layer)))
    }

    fn sum_as_poly_in_first_variable(
        h: &GkrMultivariatePolyOracle<'_, Self>,
        claim: SecureField,
    ) -> UnivariatePoly<SecureField> {
        // The equality evaluations are a function of `y` alone (stwo never changes them after
        // `EqEvals::generate`), so the CPU's are generated again from it.
        let cpu = GkrMultivariatePolyOracle {
            eq_evals: Cow::Owned(EqEvals::<CpuBackend>::generate(h.eq_evals.y())),
            input_layer: layer_to_cpu(&h.input_layer),
            eq_fixed_var_correction: h.eq_fixed_var_correction,
            lambda: h.lambda,
        };
        CpuBackend::sum_as_poly_in_first_variable(&cpu, claim)
    }
}
