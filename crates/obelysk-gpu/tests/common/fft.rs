//! The circle FFT's comparisons: interpolation, evaluation and batches of columns, against
//! stwo's CPU backend.

use obelysk_gpu::ops::{self, DeviceTwiddles, Kernels};
use stwo::prover::backend::CpuBackend;
use stwo::prover::poly::circle::{CircleCoefficients, CircleEvaluation, PolyOps};

use super::{column, domain, field, junk, raw};

/// Interpolation on a domain of 2^log_size points with twiddles for a coset `extra` doublings
/// larger (a prover's twiddles cover its largest domain).
pub fn check_interpolate<K: Kernels>(kernels: &K, log_size: u32, extra: u32) {
    let values = column(1 << log_size, 100 + u64::from(log_size));
    let twiddle_coset = domain(log_size + extra).half_coset;
    let cpu_twiddles = CpuBackend::precompute_twiddles(twiddle_coset);
    let expected = CpuBackend::interpolate(
        CircleEvaluation::new(domain(log_size), field(&values)),
        &cpu_twiddles,
    );
    let twiddles = DeviceTwiddles::new(kernels, twiddle_coset).unwrap();
    let mut device = kernels.upload(&values).unwrap();
    ops::interpolate(kernels, &mut device, domain(log_size), &twiddles).unwrap();
    assert_eq!(
        kernels.download(&device).unwrap(),
        raw(&expected.coeffs),
        "interpolation at 2^{log_size}"
    );
}

/// Low-degree extension: 2^log_size coefficients evaluated on a domain `blowup` doublings
/// larger, into a buffer pre-filled with junk.
pub fn check_evaluate<K: Kernels>(kernels: &K, log_size: u32, blowup: u32) {
    let coeffs = column(1 << log_size, 200 + u64::from(log_size));
    let target = domain(log_size + blowup);
    let cpu_twiddles = CpuBackend::precompute_twiddles(target.half_coset);
    let expected = CpuBackend::evaluate(
        &CircleCoefficients::<CpuBackend>::new(field(&coeffs)),
        target,
        &cpu_twiddles,
    );
    let twiddles = DeviceTwiddles::new(kernels, target.half_coset).unwrap();
    let mut buffer = junk(target.size());
    buffer[..coeffs.len()].copy_from_slice(&coeffs);
    let mut device = kernels.upload(&buffer).unwrap();
    ops::evaluate(kernels, &mut device, coeffs.len(), target, &twiddles).unwrap();
    assert_eq!(
        kernels.download(&device).unwrap(),
        raw(&expected.values),
        "evaluation of 2^{log_size} coefficients at blowup 2^{blowup}"
    );
}

/// Several columns, each in its own buffer, interpolated in place and then extended at blowup 2
/// into buffers pre-filled with junk, each pass for all of them, against stwo column by column.
/// Then the same extension in place, the coefficients at the start of each buffer.
pub fn check_columns<K: Kernels>(kernels: &K, log_size: u32, n_columns: usize) {
    let n = 1usize << log_size;
    let columns: Vec<Vec<u32>> = (0..n_columns)
        .map(|k| column(n, 1400 + 10 * u64::from(log_size) + k as u64))
        .collect();
    let (small, big) = (domain(log_size), domain(log_size + 1));
    let cpu_twiddles = CpuBackend::precompute_twiddles(big.half_coset);
    let polys: Vec<CircleCoefficients<CpuBackend>> = columns
        .iter()
        .map(|c| CpuBackend::interpolate(CircleEvaluation::new(small, field(c)), &cpu_twiddles))
        .collect();
    let expected: Vec<Vec<u32>> = polys
        .iter()
        .map(|poly| raw(&CpuBackend::evaluate(poly, big, &cpu_twiddles).values))
        .collect();
    let twiddles = DeviceTwiddles::new(kernels, big.half_coset).unwrap();
    let mut device: Vec<K::Column> = columns.iter().map(|c| kernels.upload(c).unwrap()).collect();
    let mut refs: Vec<&mut K::Column> = device.iter_mut().collect();
    ops::interpolate_columns(kernels, &mut refs, small, &twiddles).unwrap();
    let coeffs: Vec<Vec<u32>> = device
        .iter()
        .map(|c| kernels.download(c).unwrap())
        .collect();
    for (k, poly) in polys.iter().enumerate() {
        assert_eq!(coeffs[k], raw(&poly.coeffs), "column {k} of 2^{log_size}");
    }
    let mut outs: Vec<K::Column> = (0..n_columns)
        .map(|_| kernels.upload(&junk(2 * n)).unwrap())
        .collect();
    let sources: Vec<&K::Column> = device.iter().collect();
    let mut refs: Vec<&mut K::Column> = outs.iter_mut().collect();
    ops::evaluate_columns(kernels, &sources, n, &mut refs, big, &twiddles).unwrap();
    for k in 0..n_columns {
        assert_eq!(
            kernels.download(&outs[k]).unwrap(),
            expected[k],
            "extension of column {k} of 2^{log_size}"
        );
        assert_eq!(
            kernels.download(&device[k]).unwrap(),
            coeffs[k],
            "the coefficients of column {k} of 2^{log_size}, read"
        );
    }
    let mut in_place: Vec<K::Column> = coeffs
        .iter()
        .map(|c| {
            let mut buffer = junk(2 * n);
            buffer[..n].copy_from_slice(c);
            kernels.upload(&buffer).unwrap()
        })
        .collect();
    let mut refs: Vec<&mut K::Column> = in_place.iter_mut().collect();
    ops::evaluate_columns(kernels, &[], n, &mut refs, big, &twiddles).unwrap();
    for k in 0..n_columns {
        assert_eq!(
            kernels.download(&in_place[k]).unwrap(),
            expected[k],
            "extension of column {k} of 2^{log_size} in place"
        );
    }
}
