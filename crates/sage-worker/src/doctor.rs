//! `sage-worker doctor` (one line per check, with what to do) and `sage-worker bench`.

use std::time::Instant;

use anyhow::Context;
use bitsage_protocol::CoordinatorClient;
use obelysk_prover::{ObelyskProver, ProverConfig};
use obelysk_vm::ObelyskVM;
use serde::{Deserialize, Serialize};

use crate::config::WorkerConfig;
use crate::daemon::now_ms;
use crate::home::{write_atomic, Home};

struct Report {
    failed: usize,
}

impl Report {
    fn line(&mut self, ok: bool, check: &str, detail: impl std::fmt::Display) {
        if !ok {
            self.failed += 1;
        }
        println!("{} {check:<14} {detail}", if ok { "PASS" } else { "FAIL" });
    }

    fn note(&self, check: &str, detail: impl std::fmt::Display) {
        println!("INFO {check:<14} {detail}");
    }
}

/// Returns whether every check passed.
pub async fn doctor(home: &Home) -> anyhow::Result<bool> {
    let mut r = Report { failed: 0 };
    let config = match WorkerConfig::load(home) {
        Ok(c) => {
            r.line(true, "config", home.config().display());
            Some(c)
        }
        Err(e) => {
            r.line(false, "config", format!("{e:#}: run `sage-worker setup`"));
            None
        }
    };
    if let Some(config) = &config {
        match crate::keys::signing_key(home, config.network) {
            Ok(key) if std::env::var("STARKNET_PRIVATE_KEY").is_ok() => r.line(
                true,
                "keystore",
                format!(
                    "STARKNET_PRIVATE_KEY overrides the keystore: acting as {}",
                    key.public_key()
                ),
            ),
            Ok(key) if key.public_key().to_string() == config.wallet.address => r.line(
                true,
                "keystore",
                "decrypts, and matches the configured address",
            ),
            Ok(key) => r.line(
                false,
                "keystore",
                format!(
                    "decrypts to {}, but worker.toml names {}: re-run setup",
                    key.public_key(),
                    config.wallet.address
                ),
            ),
            Err(e) => r.line(
                false,
                "keystore",
                format!("{e:#}: check BITSAGE_KEYSTORE_PASSWORD"),
            ),
        }
        let client = CoordinatorClient::new(&config.coordinator_url, None);
        let asked = Instant::now();
        match client.health().await {
            Ok(health) => {
                let rtt = asked.elapsed().as_millis();
                r.line(
                    true,
                    "coordinator",
                    format!(
                        "{} answers in {rtt} ms ({} network)",
                        config.coordinator_url, health.network
                    ),
                );
                let skew = (health.now - now_ms()).abs();
                r.line(
                    skew < 30_000,
                    "clock",
                    if skew < 30_000 { format!("{skew} ms from the coordinator") } else { format!("{skew} ms from the coordinator: signed requests will be refused; sync the clock (NTP)") },
                );
            }
            Err(e) => r.line(
                false,
                "coordinator",
                format!(
                    "{e}: start it, or fix coordinator_url in {} / BITSAGE_COORDINATOR_URL",
                    home.config().display()
                ),
            ),
        }
    }
    let detection = crate::gpu::detect();
    match &detection.none_because {
        None => r.line(
            true,
            "gpu driver",
            format!(
                "{} GPU(s): {}",
                detection.gpus.len(),
                detection.gpus[0].name
            ),
        ),
        Some(reason) => r.note(
            "gpu driver",
            format!("{reason}; proving runs on the CPU backend unless CUDA answers below"),
        ),
    }
    r.note("cuda", cuda_note());
    let started = Instant::now();
    match tiny_proof() {
        Ok(()) => r.line(
            true,
            "prove+verify",
            format!(
                "a small program proved and verified in {} ms",
                started.elapsed().as_millis()
            ),
        ),
        Err(e) => r.line(false, "prove+verify", format!("{e:#}")),
    }
    Ok(r.failed == 0)
}

/// What the machine offers the CUDA kernels: NVRTC compiling every kernel file, and a device
/// loading them. A machine without them proves on the CPU, so this is a note, never a failure.
fn cuda_note() -> String {
    let nvrtc = match obelysk_gpu::nvrtc::library() {
        Err(e) => return format!("{e}; proving runs on the CPU"),
        Ok(path) => path,
    };
    let compiled = obelysk_gpu::kernels::SOURCES
        .iter()
        .map(|source| obelysk_gpu::nvrtc::compile(source, None))
        .collect::<Result<Vec<_>, _>>();
    if let Err(e) = compiled {
        return format!("{}: {e}", nvrtc.display());
    }
    let kernels = format!(
        "{}: all {} kernel files compile",
        nvrtc.display(),
        obelysk_gpu::kernels::SOURCES.len()
    );
    match obelysk_gpu::prewarm_gpu(&obelysk_gpu::GpuConfig::default()) {
        Ok(devices) => format!(
            "{kernels}; loaded on {}; `start` proves traces of 2^{} steps and more on the GPU \
             (BITSAGE_PROVER_BACKEND=cpu|gpu to choose)",
            devices
                .iter()
                .map(|d| d.name().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            obelysk_gpu::prove::AUTO_GPU_MIN_LOG_STEPS
        ),
        Err(e) => format!("{kernels}; {e}"),
    }
}

fn tiny_proof() -> anyhow::Result<()> {
    let program = obelysk_vm::asm::assemble(
        "loadi r0, 2\nloadi r1, 3\nmul r2, r0, r1\nout r2\nhalt\n",
        "doctor.oasm",
    )?;
    let mut vm = ObelyskVM::new();
    vm.load(&program);
    let trace = vm.execute()?;
    let prover = ObelyskProver::new(ProverConfig::default());
    let proof = prover.prove_execution(&trace)?;
    prover.check(&proof).context("the proof did not verify")?;
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BenchResult {
    pub steps: u64,
    pub prove_ms: f64,
    pub steps_per_sec: f64,
    pub backend: String,
    pub measured_at: i64,
}

/// Proves the benchmark loop and stores the throughput for registration and heartbeats.
pub fn bench(home: &Home, log_steps: u32) -> anyhow::Result<BenchResult> {
    let steps = 1u64 << log_steps.clamp(10, 22);
    let workload = obelysk_workloads::bench_loop(steps);
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs.clone());
    vm.set_step_limit(steps + 16);
    let trace = vm.execute()?;
    let prover = ObelyskProver::new(ProverConfig::default());
    let backend = crate::prove::select_backend()?;
    let config = prover.config().proof_config()?;
    // Warm up once (allocations, twiddles), then measure.
    backend.prove(&trace, &config, None)?;
    let started = Instant::now();
    let proof = backend.prove(&trace, &config, None)?;
    let elapsed = started.elapsed().as_secs_f64();
    prover
        .check(&proof)
        .context("the benchmark proof did not verify")?;
    let result = BenchResult {
        steps: trace.steps().len() as u64,
        prove_ms: elapsed * 1000.0,
        steps_per_sec: trace.steps().len() as f64 / elapsed,
        backend: backend.describe(),
        measured_at: now_ms(),
    };
    home.create_dirs()?;
    write_atomic(
        &home.bench(),
        serde_json::to_string_pretty(&result)?.as_bytes(),
    )?;
    Ok(result)
}
