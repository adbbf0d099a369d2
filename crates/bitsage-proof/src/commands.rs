//! The subcommands other than `bench`.

use crate::cli::ProveBackend;
use obelysk_gpu::prove::ProvingBackend;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context};
use obelysk_prover::proof::{parse_hex32, to_hex};
use obelysk_prover::{ExpectedClaim, ObelyskProver, StarkProof};
use obelysk_vm::asm::{assemble, parse_inputs};
use obelysk_vm::{ExecutionTrace, ObelyskVM, Program, M31};
use obelysk_workloads::ml_inference;

use crate::cli::{Cli, Command, GenerateArgs, InputArgs, Workload};
use crate::progress::{finish, spinner};
use crate::Failure;

pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Demo {
            batch_size,
            security,
            backend,
        } => demo(batch_size, security.prover_config(), backend),
        Command::Run {
            program,
            inputs,
            max_steps,
            json,
        } => run_program(&program, &inputs, max_steps, json),
        Command::Generate(args) => generate(args),
        Command::Verify {
            proof,
            program,
            job_id,
            min_security_bits,
            json,
        } => verify(
            &proof,
            program.as_deref(),
            job_id.as_deref(),
            min_security_bits,
            json,
        ),
        Command::Submit(args) => crate::network::submit(args),
        Command::Status {
            job_id,
            tx_hash,
            rpc,
            coordinator_url,
            json,
        } => match (job_id, tx_hash, rpc) {
            (_, Some(tx), Some(rpc)) => crate::network::transaction_status(&tx, &rpc),
            (Some(job_id), _, _) => crate::network::status(&job_id, &coordinator_url, json),
            _ => Err(bad_input(anyhow::anyhow!(
                "give a job id, or --tx-hash with --rpc"
            ))),
        },
        Command::Bench {
            log_steps,
            json,
            no_baseline,
            repeat,
            backend,
            security,
        } => crate::bench::run(
            &log_steps,
            json,
            !no_baseline,
            repeat.max(1),
            backend,
            security.prover_config(),
        ),
        Command::BenchKernels {
            log_sizes,
            columns,
            backend,
            json,
        } => crate::bench_kernels::run(&log_sizes, columns, backend, json),
    }
}

fn bad_input(e: anyhow::Error) -> Failure {
    Failure::BadInput(e)
}

pub fn load_program(path: &Path) -> Result<Program, Failure> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read program {}", path.display()))
        .map_err(bad_input)?;
    assemble(&source, &path.display().to_string()).map_err(|e| bad_input(anyhow!(e)))
}

pub fn load_inputs(args: &InputArgs) -> Result<Vec<M31>, Failure> {
    let text = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read inputs {}", path.display()))
            .map_err(bad_input)?,
        (None, None) => String::new(),
    };
    parse_inputs(&text).map_err(|e| bad_input(anyhow!("bad --input: {e}")))
}

fn execute(program: &Program, inputs: Vec<M31>, max_steps: u64) -> anyhow::Result<ExecutionTrace> {
    let mut vm = ObelyskVM::new();
    vm.load(program);
    vm.set_inputs(inputs);
    vm.set_step_limit(max_steps);
    vm.execute().context("execution failed")
}

fn show(values: &[M31]) -> String {
    let items: Vec<String> = values.iter().map(|v| v.signed().to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// The backend `choice` names, said on stderr; bad configuration is the caller's input error.
fn proving_backend(choice: ProveBackend) -> Result<ProvingBackend, Failure> {
    let backend = ProvingBackend::select(choice.choice()).map_err(|e| bad_input(anyhow!(e)))?;
    eprintln!("proving on {backend}");
    Ok(backend)
}

fn demo(
    batch_size: u32,
    config: obelysk_prover::ProverConfig,
    backend: ProveBackend,
) -> Result<(), Failure> {
    let workload = ml_inference(batch_size, 42);
    let trace = execute(&workload.program, workload.inputs, obelysk_vm::MAX_STEPS)?;
    let proof_config = config.proof_config().map_err(|e| bad_input(anyhow!(e)))?;
    obelysk_prover::soundness::check_request(config.security_bits, &trace)
        .map_err(|e| bad_input(anyhow!(e)))?;
    let prover = ObelyskProver::new(config);
    let backend = proving_backend(backend)?;
    let bar = spinner(&format!("proving {} steps", trace.steps().len()), false);
    let start = Instant::now();
    let proof = backend
        .prove(&trace, &proof_config, None)
        .map_err(|e| anyhow!(e));
    let prove_time = start.elapsed();
    finish(bar);
    let proof = proof?;
    let start = Instant::now();
    prover
        .check(&proof)
        .map_err(|e| anyhow!("the fresh proof did not verify: {e}"))?;
    let verify_time = start.elapsed();
    println!(
        "✓ Generated proof for {batch_size} ML inferences ({} VM steps, {} outputs)",
        trace.steps().len(),
        trace.outputs().len()
    );
    println!("✓ Proof size: {:.1} KB", proof.size() as f64 / 1024.0);
    let on = match backend {
        _ if backend.gpu_for(proof.claim.steps) => "GPU",
        ProvingBackend::Emulator => "GPU kernels, emulated",
        _ => "CPU",
    };
    println!("✓ Proving time: {}ms ({on})", prove_time.as_millis());
    println!(
        "✓ Verified in {}ms at {} bits of security",
        verify_time.as_millis(),
        proof.security_bits()
    );
    println!("✓ Proof hash: {}", to_hex(&proof.commitment()));
    Ok(())
}

fn run_program(path: &Path, inputs: &InputArgs, max_steps: u64, json: bool) -> Result<(), Failure> {
    let program = load_program(path)?;
    let inputs = load_inputs(inputs)?;
    let trace = execute(&program, inputs, max_steps)?;
    let outputs = trace.outputs();
    if json {
        let value = serde_json::json!({
            "program_hash": to_hex(&program.hash()),
            "steps": trace.steps().len(),
            "outputs": outputs.iter().map(|v| v.value()).collect::<Vec<_>>(),
        });
        println!("{value}");
    } else {
        println!("outputs: {}", show(outputs));
        println!("steps:   {}", trace.steps().len());
        println!("program: {}", to_hex(&program.hash()));
    }
    Ok(())
}

fn generate(args: GenerateArgs) -> Result<(), Failure> {
    let job_id = args
        .job_id
        .as_deref()
        .map(parse_hex32)
        .transpose()
        .map_err(|e| bad_input(anyhow!("bad --job-id: {e}")))?;
    // `generate --batch-size N` (the original README's form) means the ML batch.
    let workload =
        args.workload
            .unwrap_or(if args.program.is_none() && args.batch_size.is_some() {
                Workload::MlInference
            } else {
                Workload::Custom
            });
    let (program, inputs) = match workload {
        Workload::Custom => {
            if args.batch_size.is_some() {
                return Err(bad_input(anyhow!(
                    "--batch-size is for the ml-inference workload, not a --program"
                )));
            }
            let path = args.program.as_deref().ok_or_else(|| {
                bad_input(anyhow!(
                    "the custom workload needs --program PROGRAM.oasm \
                     (or --workload ml-inference [--batch-size N] for the built-in ML batch)"
                ))
            })?;
            (load_program(path)?, load_inputs(&args.inputs)?)
        }
        Workload::MlInference => {
            if args.program.is_some()
                || args.inputs.input.is_some()
                || args.inputs.input_file.is_some()
            {
                return Err(bad_input(anyhow!(
                    "--program and --input are for the custom workload; \
                     ml-inference runs its own program on its own inputs"
                )));
            }
            let w = ml_inference(args.batch_size.unwrap_or(100), 42);
            (w.program, w.inputs)
        }
    };
    let trace = execute(&program, inputs, args.max_steps)?;
    let config = args.security.prover_config();
    let proof_config = config.proof_config().map_err(|e| bad_input(anyhow!(e)))?;
    obelysk_prover::soundness::check_request(config.security_bits, &trace)
        .map_err(|e| bad_input(anyhow!(e)))?;
    let backend = proving_backend(args.backend)?;
    let bar = spinner(&format!("proving {} steps", trace.steps().len()), false);
    let start = Instant::now();
    let proof = backend
        .prove(&trace, &proof_config, job_id)
        .map_err(|e| anyhow!(e));
    finish(bar);
    let proof = proof?;
    let elapsed = start.elapsed();
    let written = if args.binary {
        proof.to_bytes()
    } else {
        proof.to_json().into_bytes()
    };
    std::fs::write(&args.output, &written)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "proved {} steps in {}ms: {} ({} bytes, {} bits), outputs {}",
        proof.claim.steps,
        elapsed.as_millis(),
        args.output.display(),
        written.len(),
        proof.security_bits(),
        show(&proof.claim.outputs)
    );
    println!("commitment {}", to_hex(&proof.commitment()));
    Ok(())
}

pub fn read_proof(path: &Path) -> Result<StarkProof, Failure> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read proof {}", path.display()))
        .map_err(bad_input)?;
    let parsed = if bytes.starts_with(b"OBLPROOF") {
        StarkProof::from_bytes(&bytes)
    } else {
        let text = String::from_utf8(bytes).map_err(|_| {
            bad_input(anyhow!(
                "{} is neither JSON nor a binary proof",
                path.display()
            ))
        })?;
        StarkProof::from_json(&text)
    };
    parsed.map_err(|e| bad_input(anyhow!("{}: {e}", path.display())))
}

fn verify(
    path: &Path,
    program: Option<&Path>,
    job_id: Option<&str>,
    min_security_bits: u32,
    json: bool,
) -> Result<(), Failure> {
    let proof = read_proof(path)?;
    let mut expected = ExpectedClaim::default();
    if let Some(p) = program {
        expected.program = Some(load_program(p)?);
    }
    if let Some(id) = job_id {
        let id = parse_hex32(id).map_err(|e| bad_input(anyhow!("bad --job-id: {e}")))?;
        expected.job_id = Some(Some(id));
    }
    let prover = ObelyskProver::new(Default::default()).with_min_security_bits(min_security_bits);
    let start = Instant::now();
    let verdict = prover.verify_claim(&proof, &expected);
    let elapsed = start.elapsed();
    if json {
        let value = serde_json::json!({
            "valid": verdict.is_ok(),
            "reason": verdict.as_ref().err().map(|e| e.to_string()),
            "program_hash": to_hex(&proof.claim.program_hash),
            "steps": proof.claim.steps,
            "outputs": proof.claim.outputs.iter().map(|v| v.value()).collect::<Vec<_>>(),
            // Counted only for a proof that passed: a rejected one's shape may be anything.
            "security_bits": verdict.is_ok().then(|| proof.security_bits()),
            "commitment": to_hex(&proof.commitment()),
            "verify_ms": elapsed.as_secs_f64() * 1e3,
        });
        println!("{value}");
    }
    match verdict {
        Ok(()) => {
            if !json {
                println!(
                    "valid: program {} ran {} steps, outputs {}, {} bits, verified in {}ms",
                    to_hex(&proof.claim.program_hash),
                    proof.claim.steps,
                    show(&proof.claim.outputs),
                    proof.security_bits(),
                    elapsed.as_millis()
                );
            }
            Ok(())
        }
        Err(e) => Err(Failure::Rejected(anyhow!("invalid proof: {e}"))),
    }
}
