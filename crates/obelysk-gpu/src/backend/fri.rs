//! `FriOps`: folds and the decomposition, on a secure column packed into one buffer (the four
//! coordinates one after another, as the kernels take it).

use std::array;

use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::line::LineDomain;
use stwo::prover::backend::{Column, CpuBackend};
use stwo::prover::fri::FriOps;
use stwo::prover::line::LineEvaluation;
use stwo::prover::poly::circle::{PolyOps, SecureEvaluation};
use stwo::prover::poly::twiddles::TwiddleTree;
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::secure_column::SecureColumnByCoords;

use super::poly::device_twiddles;
use super::{kernels, ok, Buffer, Device, DeviceBackend, DeviceColumn};
use crate::ops::{self, Kernels};

/// The four coordinates of `values`, one after another in one buffer.
pub(super) fn pack<D: Device>(values: &SecureColumnByCoords<DeviceBackend<D>>) -> Buffer<D> {
    let n = values.len();
    let kernels = kernels::<D>();
    let mut packed = ok(kernels.alloc((4 * n).max(1)));
    let parts: Vec<_> = values.columns.iter().map(|c| (c.buffer(), 0)).collect();
    ok(kernels.concat(&parts, n, n, &mut packed, 0));
    packed
}

/// [`unpack`], with the four coordinates made one read group: a FRI layer's decommitment reads
/// them together.
fn unpack_read_together<D: Device>(
    packed: Buffer<D>,
    n: usize,
) -> SecureColumnByCoords<DeviceBackend<D>> {
    let values = unpack(packed, n);
    DeviceColumn::group_for_decommitment(&values.columns.each_ref());
    values
}

/// The inverse of [`pack`] for a column of `n` values.
pub(super) fn unpack<D: Device>(
    packed: Buffer<D>,
    n: usize,
) -> SecureColumnByCoords<DeviceBackend<D>> {
    let mut columns: [DeviceColumn<D, BaseField>; 4] = array::from_fn(|_| DeviceColumn::alloc(n));
    let mut outs: Vec<_> = columns.iter_mut().map(|c| c.buffer_mut()).collect();
    ok(kernels::<D>().split_into(&packed, 0, n, n, &mut outs));
    SecureColumnByCoords { columns }
}

fn to_cpu<D: Device>(
    values: &SecureColumnByCoords<DeviceBackend<D>>,
) -> SecureColumnByCoords<CpuBackend> {
    SecureColumnByCoords {
        columns: values.columns.each_ref().map(|c| c.to_cpu()),
    }
}

fn to_device<D: Device>(
    values: SecureColumnByCoords<CpuBackend>,
) -> SecureColumnByCoords<DeviceBackend<D>> {
    SecureColumnByCoords {
        columns: values.columns.map(|c| c.into_iter().collect()),
    }
}

/// Folds of fewer values than this are the CPU's (the kernels' smallest).
const MIN_LINE_FOLD: usize = 4;
const MIN_CIRCLE_FOLD: usize = 8;

impl<D: Device> FriOps for DeviceBackend<D> {
    fn fold_line(
        eval: &LineEvaluation<Self>,
        alpha: SecureField,
        twiddles: &TwiddleTree<Self>,
        fold_step: u32,
    ) -> LineEvaluation<Self> {
        assert!(fold_step >= 1);
        let kernels = kernels::<D>();
        let mut domain: LineDomain = eval.domain();
        let mut values = pack(&eval.values);
        let mut alpha = alpha;
        for step in 0..fold_step {
            if domain.size() < MIN_LINE_FOLD {
                // The last few values: stwo's CPU fold, which needs no twiddles.
                let rest = LineEvaluation::new(domain, to_cpu(&unpack::<D>(values, domain.size())));
                let cpu_twiddles = CpuBackend::precompute_twiddles(domain.coset());
                let folded = CpuBackend::fold_line(&rest, alpha, &cpu_twiddles, fold_step - step);
                return LineEvaluation::new(folded.domain(), to_device(folded.values));
            }
            values = ok(ops::fold_line(
                kernels,
                &values,
                domain,
                alpha,
                device_twiddles(twiddles),
            ));
            domain = domain.double();
            alpha = alpha * alpha;
        }
        LineEvaluation::new(domain, unpack_read_together(values, domain.size()))
    }

    fn fold_circle_into_line(
        src: &SecureEvaluation<Self, BitReversedOrder>,
        alpha: SecureField,
        twiddles: &TwiddleTree<Self>,
    ) -> LineEvaluation<Self> {
        let domain = src.domain;
        // stwo folds only FRI's first layer from the circle: the layer the queries index.
        super::queries::fri_first_layer(domain.log_size());
        let line = LineDomain::new(domain.half_coset);
        if domain.size() < MIN_CIRCLE_FOLD {
            let cpu =
                SecureEvaluation::<CpuBackend, BitReversedOrder>::new(domain, to_cpu(&src.values));
            let cpu_twiddles = CpuBackend::precompute_twiddles(domain.half_coset);
            let folded = CpuBackend::fold_circle_into_line(&cpu, alpha, &cpu_twiddles);
            return LineEvaluation::new(folded.domain(), to_device(folded.values));
        }
        let folded = ok(ops::fold_circle_into_line(
            kernels::<D>(),
            &pack(&src.values),
            domain,
            alpha,
            device_twiddles(twiddles),
        ));
        LineEvaluation::new(line, unpack_read_together(folded, line.size()))
    }

    fn decompose(
        eval: &SecureEvaluation<Self, BitReversedOrder>,
    ) -> (SecureEvaluation<Self, BitReversedOrder>, SecureField) {
        let n = eval.domain.size();
        let mut packed = pack(&eval.values);
        let lambda = ok(ops::decompose(kernels::<D>(), &mut packed, n));
        (
            SecureEvaluation::new(eval.domain, unpack_read_together(packed, n)),
            lambda,
        )
    }
}
