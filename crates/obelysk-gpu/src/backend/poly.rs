//! `PolyOps`: interpolation, low-degree extension and evaluation at a point on the device.

use std::sync::Arc;

use stwo::core::circle::{CirclePoint, Coset};
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::prover::backend::{Col, Column, CpuBackend};
use stwo::prover::mempool::BaseColumnPool;
use stwo::prover::poly::circle::{CircleCoefficients, CircleEvaluation, PolyOps};
use stwo::prover::poly::twiddles::{TwiddleBuffer, TwiddleTree};
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::Poly;

use super::{cache, kernels, ok, u32_of, Buffer, Device, DeviceBackend, DeviceColumn};
use crate::ops::{self, DeviceTwiddles, Kernels, MIN_FFT_LOG_SIZE};

/// A twiddle tree on the device. stwo's `TwiddleTree` holds a forward and an inverse buffer;
/// here both are the same [`DeviceTwiddles`], which carries both directions.
#[derive(Debug)]
pub struct Twiddles<D: Device>(Option<Arc<DeviceTwiddles<Buffer<D>>>>);

impl<D: Device> Twiddles<D> {
    fn device(&self) -> &DeviceTwiddles<Buffer<D>> {
        self.0
            .as_deref()
            .expect("twiddles used where stwo left them empty")
    }
}

/// The device twiddles of a stwo twiddle tree of this backend.
pub(super) fn device_twiddles<D: Device>(
    tree: &TwiddleTree<DeviceBackend<D>>,
) -> &DeviceTwiddles<Buffer<D>> {
    match &tree.twiddles.0 {
        Some(twiddles) => twiddles,
        None => tree.itwiddles.device(),
    }
}

impl<D: Device> TwiddleBuffer<BitReversedOrder> for Twiddles<D> {
    fn empty() -> Self {
        Self(None)
    }

    /// The twiddles of the subdomain `G_{n+1} · <G_{subdomain_log_size}>` of the canonic coset
    /// of 2^domain_log_size points, computed afresh for that subdomain (stwo's CPU buffer is a
    /// prefix of each layer of the larger tree: the same values).
    fn extract_subdomain_twiddles(&self, domain_log_size: u32, subdomain_log_size: u32) -> Self {
        let (subdomain, _) = CanonicCoset::new(domain_log_size)
            .circle_domain()
            .split(domain_log_size - subdomain_log_size);
        Self(Some(cache::twiddles::<D>(subdomain.half_coset)))
    }
}

/// stwo's CPU twiddles for `coset`, for the few operations that run on the host.
fn cpu_twiddles(coset: Coset) -> TwiddleTree<CpuBackend> {
    CpuBackend::precompute_twiddles(coset)
}

/// Words of one batch buffer at most (1 GiB): a batch lives next to the columns it came from,
/// and its offsets must stay below 2^32.
const BATCH_WORDS: usize = 1 << 28;

/// Indices of the items on each domain, in order of first appearance (`None` items are
/// skipped), in batches of at most [`BATCH_WORDS`] values.
fn batches(domains: impl Iterator<Item = Option<CircleDomain>>) -> Vec<(CircleDomain, Vec<usize>)> {
    let mut by_domain: Vec<(CircleDomain, Vec<usize>)> = Vec::new();
    for (i, domain) in domains.enumerate() {
        let Some(domain) = domain else { continue };
        match by_domain.iter_mut().find(|(d, _)| *d == domain) {
            Some((_, members)) => members.push(i),
            None => by_domain.push((domain, vec![i])),
        }
    }
    by_domain
        .into_iter()
        .flat_map(|(domain, members)| {
            let per_batch = (BATCH_WORDS / domain.size()).max(1);
            members
                .chunks(per_batch)
                .map(|chunk| (domain, chunk.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn to_device<D: Device>(values: Vec<BaseField>) -> DeviceColumn<D, BaseField> {
    values.into_iter().collect()
}

impl<D: Device> PolyOps for DeviceBackend<D> {
    type Twiddles = Twiddles<D>;

    fn interpolate(
        eval: CircleEvaluation<Self, BaseField, BitReversedOrder>,
        itwiddles: &TwiddleTree<Self>,
    ) -> CircleCoefficients<Self> {
        let domain = eval.domain;
        let mut values = eval.values;
        if domain.log_size() < MIN_FFT_LOG_SIZE {
            let cpu = CpuBackend::interpolate(
                CircleEvaluation::new(domain, values.to_cpu()),
                &cpu_twiddles(domain.half_coset),
            );
            return CircleCoefficients::new(to_device(cpu.coeffs));
        }
        ok(ops::interpolate(
            kernels::<D>(),
            values.buffer_mut(),
            domain,
            device_twiddles(itwiddles),
        ));
        CircleCoefficients::new(values)
    }

    /// The columns of each size together, each pass (or launch) for all of them: a launch per
    /// layer per column left a 2^20-step tree waiting on a thousand launches.
    fn interpolate_columns(
        columns: Vec<CircleEvaluation<Self, BaseField, BitReversedOrder>>,
        twiddles: &TwiddleTree<Self>,
    ) -> Vec<CircleCoefficients<Self>> {
        let kernels = kernels::<D>();
        let mut polys: Vec<Option<CircleCoefficients<Self>>> = Vec::new();
        polys.resize_with(columns.len(), || None);
        let mut columns: Vec<Option<_>> = columns.into_iter().map(Some).collect();
        for (domain, members) in batches(columns.iter().map(|c| c.as_ref().map(|c| c.domain))) {
            if members.len() == 1 || domain.log_size() < MIN_FFT_LOG_SIZE {
                for m in members {
                    let eval = columns[m].take().expect("each column once");
                    polys[m] = Some(Self::interpolate(eval, twiddles));
                }
                continue;
            }
            let mut values: Vec<_> = members
                .iter()
                .map(|&m| columns[m].take().expect("each column once").values)
                .collect();
            // Each evaluation's buffer takes its coefficients, as `interpolate` does.
            let mut buffers: Vec<_> = values.iter_mut().map(|v| v.buffer_mut()).collect();
            ok(ops::interpolate_columns(
                kernels,
                &mut buffers,
                domain,
                device_twiddles(twiddles),
            ));
            for (&m, values) in members.iter().zip(values) {
                polys[m] = Some(CircleCoefficients::new(values));
            }
        }
        let polys: Vec<CircleCoefficients<Self>> = polys
            .into_iter()
            .map(|p| p.expect("every column interpolated"))
            .collect();
        // Out-of-domain samples evaluate a tree's columns at the same point.
        DeviceColumn::group(&polys.iter().map(|p| &p.coeffs).collect::<Vec<_>>());
        polys
    }

    fn eval_at_point(
        poly: &CircleCoefficients<Self>,
        point: CirclePoint<SecureField>,
    ) -> SecureField {
        let n = poly.coeffs.len();
        assert!(n.is_power_of_two(), "a polynomial of {n} coefficients");
        let kernels = kernels::<D>();
        if n == 1 {
            return ok(ops::eval_at_point(kernels, poly.coeffs.buffer(), 0, point));
        }
        // A tree's columns are evaluated together (see `ReadGroup`).
        if let Some(value) = poly.coeffs.sample(n.ilog2(), point) {
            return value;
        }
        // Launched here, brought back with other threads' samples (see `sample`).
        let partials = ok(ops::eval_at_point_partials(
            kernels,
            poly.coeffs.buffer(),
            n.ilog2(),
            point,
        ));
        ok(super::sample::sampler::<D>().total(partials))
    }

    /// On the host: used only when coefficients are not stored, and the prover stores them.
    fn barycentric_weights(
        coset: CanonicCoset,
        p: CirclePoint<SecureField>,
    ) -> Col<Self, SecureField> {
        CpuBackend::barycentric_weights(coset, p)
    }

    /// On the host, as [`Self::barycentric_weights`].
    fn barycentric_eval_at_point(
        evals: &CircleEvaluation<Self, BaseField, BitReversedOrder>,
        weights: &Col<Self, SecureField>,
    ) -> SecureField {
        CpuBackend::barycentric_eval_at_point(
            &CircleEvaluation::new(evals.domain, evals.values.to_cpu()),
            weights,
        )
    }

    /// On the host: stwo's prover does not call it.
    fn eval_at_point_by_folding(
        evals: &CircleEvaluation<Self, BaseField, BitReversedOrder>,
        point: CirclePoint<SecureField>,
        twiddles: &TwiddleTree<Self>,
    ) -> SecureField {
        CpuBackend::eval_at_point_by_folding(
            &CircleEvaluation::new(evals.domain, evals.values.to_cpu()),
            point,
            &cpu_twiddles(twiddles.root_coset),
        )
    }

    fn extend(poly: &CircleCoefficients<Self>, log_size: u32) -> CircleCoefficients<Self> {
        let n = poly.coeffs.len();
        assert!(
            1 << log_size >= n,
            "extending {n} coefficients to 2^{log_size}"
        );
        let mut coeffs = DeviceColumn::zeros(1 << log_size);
        ok(kernels::<D>().copy_range(poly.coeffs.buffer(), 0, coeffs.buffer_mut(), 0, u32_of(n)));
        CircleCoefficients::new(coeffs)
    }

    fn evaluate(
        poly: &CircleCoefficients<Self>,
        domain: CircleDomain,
        twiddles: &TwiddleTree<Self>,
    ) -> CircleEvaluation<Self, BaseField, BitReversedOrder> {
        Self::evaluate_into(poly, domain, twiddles, DeviceColumn::alloc(domain.size()))
    }

    fn evaluate_into(
        poly: &CircleCoefficients<Self>,
        domain: CircleDomain,
        twiddles: &TwiddleTree<Self>,
        mut buffer: Col<Self, BaseField>,
    ) -> CircleEvaluation<Self, BaseField, BitReversedOrder> {
        let n = poly.coeffs.len();
        assert!(
            n <= domain.size(),
            "{n} coefficients on a domain of {}",
            domain.size()
        );
        if domain.log_size() < MIN_FFT_LOG_SIZE {
            let cpu = CpuBackend::evaluate(
                &CircleCoefficients::new(poly.coeffs.to_cpu()),
                domain,
                &cpu_twiddles(domain.half_coset),
            );
            return CircleEvaluation::new(domain, to_device(cpu.values));
        }
        assert_eq!(
            buffer.len(),
            domain.size(),
            "an evaluation buffer of another size"
        );
        ok(ops::evaluate_columns(
            kernels::<D>(),
            &[poly.coeffs.buffer()],
            n,
            &mut [buffer.buffer_mut()],
            domain,
            device_twiddles(twiddles),
        ));
        CircleEvaluation::new(domain, buffer)
    }

    /// The polynomials of each size extended together, each pass (or launch) for all of them
    /// (see `interpolate_columns`). stwo's buffer pool is not used: each evaluation gets a
    /// buffer of its own from the batch.
    fn evaluate_polynomials(
        polynomials: Vec<CircleCoefficients<Self>>,
        log_blowup_factor: u32,
        twiddles: &TwiddleTree<Self>,
        store_polynomials_coefficients: bool,
        _pool: &BaseColumnPool<Self>,
    ) -> Vec<Poly<Self>> {
        let kernels = kernels::<D>();
        let domain_of = |p: &CircleCoefficients<Self>| {
            CanonicCoset::new(p.log_size() + log_blowup_factor).circle_domain()
        };
        let mut evals: Vec<Option<CircleEvaluation<Self, BaseField, BitReversedOrder>>> =
            Vec::new();
        evals.resize_with(polynomials.len(), || None);
        for (domain, members) in batches(polynomials.iter().map(|p| Some(domain_of(p)))) {
            if members.len() == 1 || domain.log_size() < MIN_FFT_LOG_SIZE {
                for m in members {
                    evals[m] = Some(Self::evaluate(&polynomials[m], domain, twiddles));
                }
                continue;
            }
            let n_coeffs = polynomials[members[0]].coeffs.len();
            let coeffs: Vec<_> = members
                .iter()
                .map(|&m| polynomials[m].coeffs.buffer())
                .collect();
            let mut values: Vec<DeviceColumn<D, BaseField>> = members
                .iter()
                .map(|_| DeviceColumn::alloc(domain.size()))
                .collect();
            let mut outs: Vec<_> = values.iter_mut().map(|v| v.buffer_mut()).collect();
            ok(ops::evaluate_columns(
                kernels,
                &coeffs,
                n_coeffs,
                &mut outs,
                domain,
                device_twiddles(twiddles),
            ));
            for (&m, values) in members.iter().zip(values) {
                evals[m] = Some(CircleEvaluation::new(domain, values));
            }
        }
        // Out-of-domain samples evaluate a tree's columns at the same point: a tree whose
        // polynomials were not interpolated together (the composition's halves, split from
        // four interpolations) made one round trip per column.
        if store_polynomials_coefficients {
            DeviceColumn::group(&polynomials.iter().map(|p| &p.coeffs).collect::<Vec<_>>());
        }
        polynomials
            .into_iter()
            .zip(evals)
            .map(|(coeffs, evals)| {
                Poly::new(
                    store_polynomials_coefficients.then_some(coeffs),
                    evals.expect("every polynomial evaluated"),
                )
            })
            .collect()
    }

    fn precompute_twiddles(coset: Coset) -> TwiddleTree<Self> {
        let twiddles = cache::twiddles::<D>(coset);
        TwiddleTree {
            root_coset: coset,
            twiddles: Twiddles(Some(twiddles.clone())),
            itwiddles: Twiddles(Some(twiddles)),
        }
    }

    fn split_at_mid(
        poly: CircleCoefficients<Self>,
    ) -> (CircleCoefficients<Self>, CircleCoefficients<Self>) {
        let (left, right) = poly.coeffs.split_at_mid();
        (
            CircleCoefficients::new(left),
            CircleCoefficients::new(right),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_group_by_domain_in_order_and_split_past_the_word_budget() {
        let domain = |log| CanonicCoset::new(log).circle_domain();
        let got = batches(
            [
                Some(domain(4)),
                Some(domain(27)),
                None,
                Some(domain(4)),
                Some(domain(27)),
                Some(domain(27)),
            ]
            .into_iter(),
        );
        // 2^28 words hold two columns of 2^27.
        assert_eq!(
            got,
            vec![
                (domain(4), vec![0, 3]),
                (domain(27), vec![1, 4]),
                (domain(27), vec![5]),
            ]
        );
    }
}
