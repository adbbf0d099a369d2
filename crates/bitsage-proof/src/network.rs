//! `submit` and `status`: the developer's side of the network.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bitsage_ledger::Amount;
use bitsage_protocol::*;
use bitsage_wallet::SigningKey;
use obelysk_prover::{ExpectedClaim, ObelyskProver, ProverConfig, StarkProof};
use obelysk_vm::M31;

use crate::cli::{InputArgs, Workload};
use crate::commands::{load_inputs, load_program};
use crate::Failure;

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    #[arg(
        long,
        env = "BITSAGE_COORDINATOR_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub coordinator_url: String,
    #[arg(long, value_enum, default_value_t = Workload::MlInference)]
    pub workload: Workload,
    /// Program in Obelysk assembly (.oasm) for the custom workload.
    #[arg(long, required_if_eq("workload", "custom"))]
    pub program: Option<PathBuf>,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Inferences per ml-inference job.
    #[arg(long, default_value_t = 20)]
    pub batch_size: u32,
    /// Fee per job in SAGE (escrowed from the client's balance).
    #[arg(long, default_value = "10")]
    pub fee: Amount,
    #[arg(long)]
    pub security_bits: Option<u32>,
    /// How many jobs to submit.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Wait for each proof, fetch it and verify it here.
    #[arg(long)]
    pub wait: bool,
    /// With --wait and one job: write the fetched proof file here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Deployment file of a coordinator that settles on Starknet: the client's own account
    /// (fixed by its key) takes the faucet there and lets the JobManager escrow the fees.
    #[arg(long, env = "BITSAGE_STARKNET_CONTRACTS")]
    pub contracts: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The client's key: `STARKNET_PRIVATE_KEY`, else a fresh one funded by the faucet (test
/// networks only).
fn client_key() -> anyhow::Result<(SigningKey, bool)> {
    match std::env::var("STARKNET_PRIVATE_KEY") {
        Ok(hex) => Ok((
            SigningKey::from_hex(&hex).context("STARKNET_PRIVATE_KEY")?,
            false,
        )),
        Err(_) => Ok((SigningKey::generate(), true)),
    }
}

pub fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let (program, inputs) = match args.workload {
        Workload::Custom => {
            let path = args.program.as_deref().expect("clap requires --program");
            let inputs = load_inputs(&args.inputs)?;
            (
                Some(load_program(path)?),
                inputs.iter().map(|v| v.value()).collect(),
            )
        }
        Workload::MlInference => (None, Vec::new()),
    };
    runtime()?.block_on(async move {
        let (key, fresh) = client_key()?;
        let client = CoordinatorClient::new(&args.coordinator_url, Some(key.clone()));
        let settlement = client.health().await?.settlement;
        match (&args.contracts, settlement.as_str()) {
            (Some(contracts), _) => {
                let total = args
                    .fee
                    .0
                    .checked_mul(u128::from(args.count))
                    .map(Amount)
                    .context("the fees overflow")?;
                allow_on_chain(contracts, &key, fresh, total).await?;
            }
            (None, "starknet") => bail!(
                "the coordinator at {} settles on Starknet: pass --contracts FILE (its \
                 deployment file) so that this client's account can pay the fees",
                args.coordinator_url
            ),
            (None, _) if fresh => {
                client.faucet().await.with_context(|| {
                    format!("funding a new client key from the faucet at {} (set STARKNET_PRIVATE_KEY to use your own)", args.coordinator_url)
                })?;
            }
            (None, _) => {}
        }
        let mut jobs = Vec::new();
        for i in 0..args.count {
            let request = SubmitJobRequest {
                workload: match args.workload {
                    Workload::Custom => WorkloadKind::Custom,
                    Workload::MlInference => WorkloadKind::MlInference,
                },
                program: program.clone(),
                params: WorkloadParams {
                    batch_size: (args.workload == Workload::MlInference).then_some(args.batch_size),
                    seed: (args.workload == Workload::MlInference).then_some(u64::from(i)),
                },
                inputs: inputs.clone(),
                fee: args.fee,
                deadline_secs: None,
                security_bits: args.security_bits,
                max_steps: None,
                idempotency_key: None,
            };
            let job = client.submit_job(&request).await.context("submitting")?;
            println!("submitted {} ({}, fee {} SAGE)", job.job_id, job.workload.as_str(), job.fee);
            jobs.push(job);
        }
        if args.wait {
            let floor = args
                .security_bits
                .unwrap_or(obelysk_prover::DEFAULT_MIN_SECURITY_BITS)
                .max(obelysk_prover::DEFAULT_MIN_SECURITY_BITS);
            for (i, job) in jobs.iter().enumerate() {
                // What we asked for, rebuilt here: the coordinator's word is not evidence.
                let (program, inputs) = match &program {
                    Some(p) => (p.clone(), inputs.iter().map(|v| M31::new(*v)).collect()),
                    None => {
                        let w = obelysk_workloads::ml_inference(args.batch_size, i as u64);
                        (w.program, w.inputs)
                    }
                };
                let id = obelysk_prover::proof::parse_hex32(&job.job_id).map_err(anyhow::Error::msg)?;
                let expected = ExpectedClaim {
                    program: Some(program),
                    inputs: Some(inputs),
                    job_id: Some(Some(id)),
                    ..Default::default()
                };
                let output = args.output.as_deref().filter(|_| jobs.len() == 1);
                wait_and_verify(&client, job, &expected, floor, output).await?;
            }
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

/// Makes sure the client's Starknet account can pay `total` in fees: opens it (devnet), takes
/// the faucet's grant for a fresh key, and raises the JobManager's allowance when it is short.
async fn allow_on_chain(
    contracts: &std::path::Path,
    key: &SigningKey,
    fresh: bool,
    total: Amount,
) -> anyhow::Result<()> {
    use bitsage_starknet::{deploy::Deployment, sage::Sage, Felt};
    let deployment = Deployment::load(contracts)?;
    let secret = Felt::from_bytes_be(&key.secret().to_bytes_be());
    let chain = bitsage_starknet::account::open(&deployment, secret).await?;
    let sage = Sage::new(&chain, &deployment);
    if fresh {
        sage.faucet()
            .await
            .context("taking the faucet's grant on chain")?;
    }
    let me = chain.address();
    let allowed = sage.allowance(me, deployment.jobs).await?;
    if allowed < total.0 {
        sage.approve_jobs(total.0)
            .await
            .context("letting the JobManager escrow the fees")?;
        println!(
            "account {me:#x} lets the JobManager escrow up to {total} SAGE (balance {} SAGE)",
            Amount(sage.balance(me).await?)
        );
    }
    Ok(())
}

/// Waits for the job, fetches its proof and checks it against what the client submitted.
async fn wait_and_verify(
    client: &CoordinatorClient,
    job: &JobView,
    expected: &ExpectedClaim,
    min_security_bits: u32,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let view = client.job(&job.job_id).await?;
        match view.state {
            JobState::Proved => break,
            JobState::Failed => bail!(
                "job {} failed: {}",
                job.job_id,
                view.last_error.unwrap_or_default()
            ),
            _ if started.elapsed() > Duration::from_secs(600) => {
                bail!(
                    "job {} is still {} after 10 minutes: is a worker running?",
                    job.job_id,
                    view.state.as_str()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let fetched = client.job_proof(&job.job_id).await?;
    let text = fetched.proof_file.to_string();
    let proof = StarkProof::from_json(&text)?;
    ObelyskProver::new(ProverConfig::default())
        .with_min_security_bits(min_security_bits)
        .verify_claim(&proof, expected)
        .context("the proof the coordinator returned is not a proof of this job")?;
    let outputs: Vec<u32> = proof.claim.outputs.iter().map(|v| v.value()).collect();
    println!(
        "✓ {} proved in {:.1}s: {} steps, outputs {:?}, verified locally (commitment {})",
        job.job_id,
        started.elapsed().as_secs_f64(),
        proof.claim.steps,
        outputs,
        fetched.commitment
    );
    if let Some(path) = output {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("  proof written to {}", path.display());
    }
    Ok(())
}

/// Waits up to 10 s for a Starknet transaction and prints whether it succeeded; a revert is
/// exit 1 with the contract's reason.
pub fn transaction_status(tx: &str, rpc: &str) -> Result<(), Failure> {
    use bitsage_starknet::chain::receipt_outcome;
    use starknet_rust::providers::jsonrpc::{HttpTransport, JsonRpcClient};

    let hash = bitsage_starknet::Felt::from_hex(tx)
        .map_err(|e| Failure::BadInput(anyhow::anyhow!("--tx-hash {tx}: {e}")))?;
    let url: starknet_rust::providers::Url = rpc
        .parse()
        .map_err(|e| Failure::BadInput(anyhow::anyhow!("--rpc {rpc}: {e}")))?;
    let node = JsonRpcClient::new(HttpTransport::new(url));
    runtime()?.block_on(async {
        match receipt_outcome(&node, hash, Duration::from_secs(10)).await {
            Ok(()) => {
                println!("transaction {hash:#x}: succeeded");
                Ok(())
            }
            Err(e) => Err(Failure::Rejected(anyhow::anyhow!(
                "transaction {hash:#x}: {e}"
            ))),
        }
    })
}

pub fn status(job_id: &str, url: &str, json: bool) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let view = CoordinatorClient::new(url, None).job(job_id).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&view)?);
        } else {
            println!(
                "job {}: {} (attempts {}/{})",
                view.job_id,
                view.state.as_str(),
                view.attempts,
                view.max_attempts
            );
            println!(
                "  workload {}, fee {} SAGE, {} bits",
                view.workload.as_str(),
                view.fee,
                view.security_bits
            );
            if let Some(w) = view.worker {
                println!("  worker {w}");
            }
            if let Some(o) = &view.outputs {
                println!("  outputs {o:?} after {} steps", view.steps.unwrap_or(0));
            }
            if let Some(c) = &view.commitment {
                println!("  proof commitment {c}");
            }
            if let Some(e) = &view.last_error {
                println!("  last error: {e}");
            }
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
