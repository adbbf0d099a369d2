//! `bitsage-proof bench`: Obelysk proofs of exactly `2^k` VM steps, each next to a plain stwo AIR
//! with the same rows and the same number of committed base columns (the CPU component's main
//! plus interaction columns), proven under the same configuration in the same process.

use std::time::Instant;

use anyhow::{anyhow, Context};
use obelysk_prover::air::cpu;
use obelysk_prover::baseline::run_baseline;
use obelysk_prover::{ObelyskProver, ProverConfig};
use obelysk_vm::ObelyskVM;
use obelysk_workloads::bench_loop;
use serde::Serialize;

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
    baseline_prove_ms: Option<f64>,
    ratio: Option<f64>,
}

pub fn run(
    log_steps: &[u32],
    json: bool,
    baseline: bool,
    repeat: u32,
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
    if !json {
        println!(
            "{:>9} {:>7} {:>10} {:>10} {:>11} {:>12} {:>10} {:>12} {:>7}",
            "steps",
            "columns",
            "prove ms",
            "verify ms",
            "proof bytes",
            "steps/s",
            "peak MiB",
            "baseline ms",
            "ratio"
        );
    }
    for &log in log_steps {
        let steps = 1u64 << log;
        let workload = bench_loop(steps);
        let mut best: Option<Row> = None;
        for _ in 0..repeat {
            let mut row = measure(&prover, &workload, steps, log, json)?;
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
        print_row(&row, json);
    }
    Ok(())
}

fn measure(
    prover: &ObelyskProver,
    workload: &obelysk_workloads::Workload,
    steps: u64,
    log: u32,
    json: bool,
) -> Result<Row, Failure> {
    reset_peak_memory();
    let start = Instant::now();
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_step_limit(steps);
    let trace = vm.execute().context("benchmark program failed")?;
    let execute_ms = ms(start);

    let bar = spinner(&format!("proving 2^{log} steps"), json);
    let start = Instant::now();
    let proof = prover.prove_execution(&trace).map_err(|e| anyhow!(e));
    let prove_ms = ms(start);
    finish(bar);
    let proof = proof?;
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
        security_bits: proof.config.security_bits,
        baseline_prove_ms: None,
        ratio: None,
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
            baseline_prove_ms: match (self.baseline_prove_ms, other.baseline_prove_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            ..self
        }
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
        "{:>9} {:>7} {:>10.1} {:>10.1} {:>11} {:>12.0} {:>10} {:>12} {:>7}",
        row.steps,
        row.trace_columns,
        row.prove_ms,
        row.verify_ms,
        row.proof_bytes,
        row.steps_per_s,
        opt(row.peak_memory_mib, 0),
        opt(row.baseline_prove_ms, 1),
        opt(row.ratio, 2),
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
