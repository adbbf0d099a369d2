//! `bitsage-proof bench-kernels`: the CUDA kernels of `obelysk-gpu` on the operations a proof
//! spends its time in, each next to stwo's CPU SIMD backend doing the same work on the same
//! machine: stage by stage, where `bench --backend gpu` times whole proofs.

use std::time::Instant;

use anyhow::anyhow;
use obelysk_gpu::ops::{self, DeviceTwiddles, Kernels};
use serde::Serialize;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::CanonicCoset;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleHasher;
use stwo::prover::backend::simd::column::BaseColumn;
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::fri::FriOps;
use stwo::prover::poly::circle::{CircleEvaluation, PolyOps, SecureEvaluation};
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::secure_column::SecureColumnByCoords;
use stwo::prover::vcs_lifted::ops::MerkleOpsLifted;

use crate::cli::KernelBackend;
use crate::Failure;

#[derive(Debug, Serialize)]
struct Row {
    operation: &'static str,
    log_size: u32,
    columns: usize,
    backend: String,
    device_ms: f64,
    cpu_simd_ms: f64,
    speedup: f64,
}

/// Fastest of `REPEAT` runs of each measurement.
const REPEAT: usize = 3;

pub fn run(
    log_sizes: &[u32],
    columns: usize,
    backend: KernelBackend,
    json: bool,
) -> Result<(), Failure> {
    if let Some(bad) = log_sizes.iter().find(|&&l| !(4..=24).contains(&l)) {
        return Err(Failure::BadInput(anyhow!(
            "--log-sizes {bad} is outside 4..=24"
        )));
    }
    if columns == 0 {
        return Err(Failure::BadInput(anyhow!("--columns must be at least 1")));
    }
    match backend {
        KernelBackend::Gpu => {
            let devices = obelysk_gpu::prewarm_gpu(&obelysk_gpu::GpuConfig::default())
                .map_err(|e| anyhow!("{e}"))?;
            let device = &devices[0];
            let name = device.name().to_string();
            measure(device.as_ref(), &name, log_sizes, columns, json)
        }
        KernelBackend::Emulator => measure(
            &obelysk_gpu::emulator::Emulator::new(64, 256),
            "emulator (host C++, not a speed figure)",
            log_sizes,
            columns,
            json,
        ),
    }
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn fastest(mut f: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..REPEAT {
        best = best.min(f()?);
    }
    Ok(best)
}

fn gpu<T>(r: obelysk_gpu::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("{e}"))
}

/// Values that look like a trace: deterministic, spread over the field.
fn column(n: usize, seed: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i as u64 * 2_654_435_761 + seed as u64 * 40_503) % 0x7fff_ffff) as u32)
        .collect()
}

fn measure<K: Kernels>(
    kernels: &K,
    backend: &str,
    log_sizes: &[u32],
    n_columns: usize,
    json: bool,
) -> Result<(), Failure> {
    if !json {
        println!("kernels on {backend}; CPU figures from stwo's SIMD backend on this machine");
        println!(
            "{:>12} {:>5} {:>8} {:>12} {:>12} {:>8}",
            "operation", "log n", "columns", "device ms", "cpu ms", "speedup"
        );
    }
    for &log in log_sizes {
        let n = 1usize << log;
        let columns: Vec<Vec<u32>> = (0..n_columns).map(|k| column(n, k)).collect();
        let rows = [
            ("lde", n_columns, lde(kernels, &columns, log)?),
            ("merkle", n_columns, merkle(kernels, &columns, log)?),
            ("fri_fold", 1, fold(kernels, &columns[0], log)?),
        ];
        for (operation, columns, (device_ms, cpu_simd_ms)) in rows {
            let row = Row {
                operation,
                log_size: log,
                columns,
                backend: backend.to_string(),
                device_ms,
                cpu_simd_ms,
                speedup: cpu_simd_ms / device_ms,
            };
            if json {
                println!("{}", serde_json::to_string(&row).expect("a row serializes"));
            } else {
                println!(
                    "{:>12} {:>5} {:>8} {:>12.2} {:>12.2} {:>8.2}",
                    row.operation,
                    row.log_size,
                    row.columns,
                    row.device_ms,
                    row.cpu_simd_ms,
                    row.speedup
                );
            }
        }
    }
    Ok(())
}

/// Interpolation of every column on its 2^log domain and evaluation on the domain twice as
/// large (blowup 2), as a commitment does: each pass (or launch) for all columns.
fn lde<K: Kernels>(kernels: &K, columns: &[Vec<u32>], log: u32) -> Result<(f64, f64), Failure> {
    let domain = CanonicCoset::new(log).circle_domain();
    let extended = CanonicCoset::new(log + 1).circle_domain();
    let n = domain.size();
    let twiddles = gpu(DeviceTwiddles::new(kernels, extended.half_coset))?;
    let uploaded: Vec<K::Column> = columns
        .iter()
        .map(|c| gpu(kernels.upload(c)))
        .collect::<Result<_, _>>()?;
    let device = fastest(|| {
        let mut inputs = Vec::with_capacity(columns.len());
        for column in &uploaded {
            let mut input = gpu(kernels.alloc(n))?;
            gpu(kernels.copy_range(column, 0, &mut input, 0, n as u32))?;
            inputs.push(input);
        }
        let mut outputs: Vec<K::Column> = (0..columns.len())
            .map(|_| gpu(kernels.alloc(2 * n)))
            .collect::<Result<_, _>>()?;
        gpu(kernels.synchronize())?;
        let start = Instant::now();
        let mut refs: Vec<&mut K::Column> = inputs.iter_mut().collect();
        gpu(ops::interpolate_columns(
            kernels, &mut refs, domain, &twiddles,
        ))?;
        let coeffs: Vec<&K::Column> = inputs.iter().collect();
        let mut refs: Vec<&mut K::Column> = outputs.iter_mut().collect();
        gpu(ops::evaluate_columns(
            kernels, &coeffs, n, &mut refs, extended, &twiddles,
        ))?;
        gpu(kernels.synchronize())?;
        Ok(ms(start))
    })?;
    let cpu_twiddles = SimdBackend::precompute_twiddles(extended.half_coset);
    let cpu = fastest(|| {
        let evaluations: Vec<CircleEvaluation<SimdBackend, BaseField, BitReversedOrder>> = columns
            .iter()
            .map(|c| CircleEvaluation::new(domain, base_column(c)))
            .collect();
        let start = Instant::now();
        let polys = SimdBackend::interpolate_columns(evaluations, &cpu_twiddles);
        for poly in &polys {
            std::hint::black_box(poly.evaluate_with_twiddles(extended, &cpu_twiddles));
        }
        Ok(ms(start))
    })?;
    Ok((device, cpu))
}

/// The Merkle tree of a commitment: leaves over every column of 2^log values, then every layer
/// up to the root.
fn merkle<K: Kernels>(kernels: &K, columns: &[Vec<u32>], log: u32) -> Result<(f64, f64), Failure> {
    let device: Vec<K::Column> = columns
        .iter()
        .map(|c| gpu(kernels.upload(c)))
        .collect::<Result<_, _>>()?;
    let device: Vec<&K::Column> = device.iter().collect();
    let log_sizes = vec![log; columns.len()];
    let device = fastest(|| {
        gpu(kernels.synchronize())?;
        let start = Instant::now();
        let mut layer = gpu(ops::merkle_leaves_on_device(
            kernels, &device, &log_sizes, log,
        ))?;
        for level in (0..log).rev() {
            layer = gpu(ops::merkle_parents(kernels, &layer, 1 << level))?;
        }
        gpu(kernels.synchronize())?;
        Ok(ms(start))
    })?;
    let cpu_columns: Vec<BaseColumn> = columns.iter().map(|c| base_column(c)).collect();
    let refs: Vec<&BaseColumn> = cpu_columns.iter().collect();
    let cpu = fastest(|| {
        let start = Instant::now();
        let mut layer =
            <SimdBackend as MerkleOpsLifted<Blake2sMerkleHasher>>::build_leaves(&refs, log);
        while layer.len() > 1 {
            layer = <SimdBackend as MerkleOpsLifted<Blake2sMerkleHasher>>::build_next_layer(&layer);
        }
        std::hint::black_box(layer);
        Ok(ms(start))
    })?;
    Ok((device, cpu))
}

/// The first FRI step: a secure column of 2^log values on a circle domain folded into a line.
fn fold<K: Kernels>(kernels: &K, column: &[u32], log: u32) -> Result<(f64, f64), Failure> {
    let domain = CanonicCoset::new(log).circle_domain();
    let alpha = SecureField::from_m31_array([1, 2, 3, 4].map(BaseField::from));
    let twiddles = gpu(DeviceTwiddles::new(kernels, domain.half_coset))?;
    let coords: Vec<u32> = (0..4).flat_map(|_| column.iter().copied()).collect();
    let src = gpu(kernels.upload(&coords))?;
    let device = fastest(|| {
        gpu(kernels.synchronize())?;
        let start = Instant::now();
        std::hint::black_box(gpu(ops::fold_circle_into_line(
            kernels, &src, domain, alpha, &twiddles,
        ))?);
        gpu(kernels.synchronize())?;
        Ok(ms(start))
    })?;
    let cpu_twiddles = SimdBackend::precompute_twiddles(domain.half_coset);
    let secure = SecureEvaluation::<SimdBackend, BitReversedOrder>::new(
        domain,
        SecureColumnByCoords {
            columns: std::array::from_fn(|_| base_column(column)),
        },
    );
    let cpu = fastest(|| {
        let start = Instant::now();
        std::hint::black_box(SimdBackend::fold_circle_into_line(
            &secure,
            alpha,
            &cpu_twiddles,
        ));
        Ok(ms(start))
    })?;
    Ok((device, cpu))
}

fn base_column(values: &[u32]) -> BaseColumn {
    values
        .iter()
        .map(|&v| BaseField::from_u32_unchecked(v))
        .collect()
}
