//! `bitsage-proof bench`: Obelysk proofs of exactly `2^k` VM steps, each next to a plain stwo AIR
//! with the same rows and the same number of committed base columns (the CPU component's main
//! plus interaction columns), proven under the same configuration in the same process. With
//! `--backend gpu` each size is proven on the GPU and on the CPU, and the two proofs must be
//! the same bytes. With `--repeat`, each proof of a size is of another trace of that size
//! (`bench_loop_variant`), the fastest reported.

use std::time::Instant;

use anyhow::{anyhow, Context};
use obelysk_gpu::prove::ProvingBackend;
use obelysk_prover::air::cpu;
use obelysk_prover::baseline::run_baseline;
use obelysk_prover::{ObelyskProver, ProofConfig, ProverConfig};
use obelysk_vm::ObelyskVM;
use obelysk_workloads::bench_loop_variant;
use serde::Serialize;

use crate::cli::ProveBackend;
use crate::progress::{finish, spinner};
use crate::Failure;

#[derive(Debug, Serialize)]
struct Row {
    steps: u64,
    trace_columns: usize,
    execute_ms: f64,
    prove_ms: f64,
    verify_ms: f64,
    proof_bytes: usize,
    steps_per_s: f64,
    peak_memory_mib: Option<f64>,
    security_bits: u32,
    backend: String,
    baseline_prove_ms: Option<f64>,
    ratio: Option<f64>,
    /// With a GPU backend: the same proof on this machine's CPU, and how many times faster.
    cpu_prove_ms: Option<f64>,
    speedup: Option<f64>,
}

pub fn run(
    log_steps: &[u32],
    json: bool,
    baseline: bool,
    repeat: u32,
    backend: ProveBackend,
    config: ProverConfig,
) -> Result<(), Failure> {
    if let Some(bad) = log_steps.iter().find(|&&l| !(4..=22).contains(&l)) {
        return Err(Failure::BadInput(anyhow!(
            "--log-steps {bad} is outside 4..=22"
        )));
    }
    let proof_config = config
        .proof_config()
        .map_err(|e| Failure::BadInput(anyhow!(e)))?;
    let trace_columns = cpu::col::COUNT + cpu::INTERACTION_COLUMNS;
    let prover = ObelyskProver::new(config);
    let selected = ProvingBackend::select(backend.choice()).map_err(|e| anyhow!(e))?;
    if !json {
        println!("proving on {}", selected.describe());
        println!(
            "{:>9} {:>7} {:>10} {:>10} {:>11} {:>12} {:>10} {:>12} {:>7} {:>9} {:>8}",
            "steps",
            "columns",
            "prove ms",
            "verify ms",
            "proof bytes",
            "steps/s",
            "peak MiB",
            "baseline ms",
            "ratio",
            "cpu ms",
            "speedup"
        );
    }
    for &log in log_steps {
        let steps = 1u64 << log;
        // `auto` proves small traces on the CPU: compare only what ran elsewhere.
        let compare_cpu = selected.gpu_for(steps) || matches!(selected, ProvingBackend::Emulator);
        let mut best: Option<Row> = None;
        for variant in 0..repeat {
            // Each proof of a size is of another trace, as a worker's next job is.
            let workload = bench_loop_variant(steps, variant);
            let mut row = measure(
                &prover,
                &selected,
                &proof_config,
                &workload,
                (steps, log),
                json,
                compare_cpu,
            )?;
            row.trace_columns = trace_columns;
            if baseline {
                let bar = spinner(
                    &format!("baseline 2^{log} rows × {trace_columns} columns"),
                    json,
                );
                let timing =
                    run_baseline(log, trace_columns, &proof_config).map_err(|e| anyhow!(e));
                finish(bar);
                row.baseline_prove_ms = Some(timing?.prove.as_secs_f64() * 1e3);
            }
            best = Some(match best {
                None => row,
                Some(b) => b.fastest(row),
            });
        }
        let mut row = best.expect("repeat >= 1");
        row.steps_per_s = steps as f64 / (row.prove_ms / 1e3);
        row.ratio = row.baseline_prove_ms.map(|b| row.prove_ms / b);
        row.speedup = row.cpu_prove_ms.map(|c| c / row.prove_ms);
        print_row(&row, json);
    }
    Ok(())
}

fn measure(
    prover: &ObelyskProver,
    backend: &ProvingBackend,
    config: &ProofConfig,
    workload: &obelysk_workloads::Workload,
    (steps, log): (u64, u32),
    json: bool,
    compare_cpu: bool,
) -> Result<Row, Failure> {
    reset_peak_memory();
    let start = Instant::now();
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs.clone());
    vm.set_step_limit(steps);
    let trace = vm.execute().context("benchmark program failed")?;
    let execute_ms = ms(start);
    obelysk_prover::soundness::check_request(prover.config().security_bits, &trace)
        .map_err(|e| Failure::BadInput(anyhow!(e)))?;

    let bar = spinner(&format!("proving 2^{log} steps"), json);
    let start = Instant::now();
    let proof = backend.prove(&trace, config, None).map_err(|e| anyhow!(e));
    let prove_ms = ms(start);
    finish(bar);
    let proof = proof?;
    let cpu_prove_ms = if compare_cpu {
        let bar = spinner(&format!("proving 2^{log} steps on the CPU"), json);
        let start = Instant::now();
        let cpu = prover.prove_execution(&trace).map_err(|e| anyhow!(e));
        let cpu_ms = ms(start);
        finish(bar);
        if cpu?.to_bytes() != proof.to_bytes() {
            return Err(anyhow!(
                "the {} proof differs from the CPU proof",
                backend.describe()
            )
            .into());
        }
        Some(cpu_ms)
    } else {
        None
    };
    let start = Instant::now();
    prover
        .check(&proof)
        .map_err(|e| anyhow!("benchmark proof rejected: {e}"))?;
    let verify_ms = ms(start);
    Ok(Row {
        steps,
        trace_columns: 0,
        execute_ms,
        prove_ms,
        verify_ms,
        proof_bytes: proof.size(),
        steps_per_s: 0.0,
        peak_memory_mib: peak_memory_mib(),
        security_bits: proof.security_bits(),
        backend: if compare_cpu {
            backend.describe()
        } else {
            ProvingBackend::Cpu { fallback: None }.describe()
        },
        baseline_prove_ms: None,
        ratio: None,
        cpu_prove_ms,
        speedup: None,
    })
}

impl Row {
    /// Keeps the fastest figure of each kind; peak memory keeps the largest.
    fn fastest(self, other: Row) -> Row {
        let min = |a: f64, b: f64| a.min(b);
        Row {
            execute_ms: min(self.execute_ms, other.execute_ms),
            prove_ms: min(self.prove_ms, other.prove_ms),
            verify_ms: min(self.verify_ms, other.verify_ms),
            peak_memory_mib: match (self.peak_memory_mib, other.peak_memory_mib) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            baseline_prove_ms: min_of(self.baseline_prove_ms, other.baseline_prove_ms),
            cpu_prove_ms: min_of(self.cpu_prove_ms, other.cpu_prove_ms),
            ..self
        }
    }
}

fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn print_row(row: &Row, json: bool) {
    if json {
        println!("{}", serde_json::to_string(row).expect("row serializes"));
        return;
    }
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    println!(
        "{:>9} {:>7} {:>10.1} {:>10.1} {:>11} {:>12.0} {:>10} {:>12} {:>7} {:>9} {:>8}",
        row.steps,
        row.trace_columns,
        row.prove_ms,
        row.verify_ms,
        row.proof_bytes,
        row.steps_per_s,
        opt(row.peak_memory_mib, 0),
        opt(row.baseline_prove_ms, 1),
        opt(row.ratio, 2),
        opt(row.cpu_prove_ms, 1),
        opt(row.speedup, 1),
    );
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Linux lets a process reset its peak RSS by writing 5 to `clear_refs`.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size (VmHWM) in MiB, where the OS reports it.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
