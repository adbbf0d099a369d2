//! `bitsage-coordinator bench`: synthetic clients and workers against a real coordinator
//! process on loopback (SQLite), with small real proofs.
//!
//! Proofs are made before the clock starts (job ids are known in advance through idempotency
//! keys), so the timed phase measures the coordinator, not the prover. The coordinator runs as
//! a child process so that its CPU time (from `/proc/PID/stat`) is its own. Verification's
//! share is measured apart: the bench verifies the same proofs itself, one after another, before
//! the clock starts; the rest of the coordinator's CPU is everything but verification.
//! The coordinator also counts its verification gate's own CPU time
//! (`bitsage_verification_cpu_seconds_total`, from the gate thread's CPU clock); the split uses
//! that, and the bench prints the apart measurement beside it: on a loaded machine the same
//! verification costs more CPU than alone.
//!
//! Workers behave as `sage-worker` does: each result upload also asks for the next job
//! (`?next=true`), so a busy worker sends one request per job; `--separate-leases` measures the
//! older flow with a lease request per job.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bitsage_coordinator::service::job_id_for;
use bitsage_ledger::Amount;
use bitsage_protocol::*;
use bitsage_wallet::SigningKey;
use obelysk_prover::{ObelyskProver, ProverConfig};
use obelysk_vm::{asm::assemble, ObelyskVM, M31};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Jobs pushed through submit → lease → result → verified.
    #[arg(long, default_value_t = 200)]
    jobs: usize,
    /// Concurrent workers in the throughput phase.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Workers holding idle long-polls in the second phase (0 skips it).
    #[arg(long, default_value_t = 1000)]
    idle_workers: usize,
    /// Seconds over which the idle phase measures the coordinator's CPU.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
    /// Workers lease each job with a request of its own, instead of with the last result
    /// (`?next=true`, what `sage-worker` does).
    #[arg(long)]
    separate_leases: bool,
    /// What the coordinator's SQLite commits survive: `process` (its default) or `power-loss`
    /// (one fsync per commit).
    #[arg(long, default_value = "process")]
    durability: String,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(durability: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
            .args(["--durability", durability])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the coordinator process")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .context("reading the coordinator's address")?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected coordinator output {line:?}"))?
            .to_string();
        Ok(Self {
            child,
            url,
            _dir: dir,
        })
    }

    /// The coordinator's own count of CPU seconds spent in its verification gate.
    async fn verification_cpu_seconds(&self) -> anyhow::Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await?
            .error_for_status()?
            .text()
            .await?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("bitsage_verification_cpu_seconds_total "))
            .context("the coordinator's metrics lack bitsage_verification_cpu_seconds_total")?;
        Ok(value.trim().parse()?)
    }

    /// User + system CPU seconds the coordinator process has used.
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(&self.child.id().to_string())
    }
}

/// User + system CPU seconds of process `pid` (`self` for this one), from `/proc`.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading /proc (the bench needs Linux)")?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // USER_HZ is 100 on every Linux configuration that matters here.
    Ok(ticks / 100.0)
}

#[derive(Default)]
struct Latencies(Mutex<HashMap<&'static str, Vec<f64>>>);

impl Latencies {
    fn record(&self, call: &'static str, started: Instant) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.0.lock().unwrap().entry(call).or_default().push(ms);
    }

    fn percentiles(&self) -> Vec<(&'static str, usize, f64, f64)> {
        let mut out: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .iter_mut()
            .map(|(call, v)| {
                v.sort_by(|a, b| a.total_cmp(b));
                let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
                (*call, v.len(), at(0.5), at(0.99))
            })
            .collect();
        out.sort_by_key(|(call, ..)| *call);
        out
    }
}

async fn staked_worker(url: &str) -> anyhow::Result<CoordinatorClient> {
    let worker = CoordinatorClient::new(url, Some(SigningKey::generate()));
    worker.faucet().await?;
    worker.stake(Amount::sage(1_000)).await?;
    worker.register(&RegisterWorkerRequest::default()).await?;
    Ok(worker)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.jobs == 0 || args.workers == 0 {
        bail!("--jobs and --workers must be at least 1");
    }
    let server = Server::start(&args.durability)?;
    let url = server.url.clone();
    let client = CoordinatorClient::new(&url, Some(SigningKey::generate()));
    client.faucet().await?;
    let address = client.address()?;

    let program = assemble(
        "in r0\nin r1\nmul r2, r0, r1\naddi r2, r2, 5\nout r2\nhalt\n",
        "bench.oasm",
    )
    .expect("the bench program assembles");
    eprintln!("proving {} small jobs before the clock starts…", args.jobs);
    let proofs = {
        let program = program.clone();
        let jobs = args.jobs;
        tokio::task::spawn_blocking(move || -> anyhow::Result<HashMap<String, Vec<u8>>> {
            let prover = ObelyskProver::new(ProverConfig::default());
            let mut out = HashMap::new();
            for i in 0..jobs {
                let job_id = job_id_for(address, &format!("bench-{i}"));
                let mut vm = ObelyskVM::new();
                vm.load(&program);
                vm.set_inputs(vec![M31::new(i as u32), M31::new(3)]);
                let trace = vm.execute()?;
                let id = obelysk_prover::proof::parse_hex32(&job_id).map_err(anyhow::Error::msg)?;
                let proof = prover.prove_for_job(&trace, Some(id))?;
                out.insert(job_id, proof.to_bytes());
            }
            Ok(out)
        })
        .await??
    };
    // What verification alone costs: the same proofs, checked here one after another while the
    // coordinator is idle. The coordinator's other work per job is its CPU minus this.
    let verify_cpu = {
        let (program, proofs) = (program.clone(), proofs.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
            let before = cpu_seconds("self")?;
            for (i, job_id) in
                (0..proofs.len()).map(|i| (i, job_id_for(address, &format!("bench-{i}"))))
            {
                let proof = obelysk_prover::StarkProof::from_bytes(&proofs[&job_id])?;
                let expected = obelysk_prover::ExpectedClaim {
                    program: Some(program.clone()),
                    inputs: Some(vec![M31::new(i as u32), M31::new(3)]),
                    job_id: Some(Some(
                        obelysk_prover::proof::parse_hex32(&job_id).map_err(anyhow::Error::msg)?,
                    )),
                    ..Default::default()
                };
                ObelyskProver::new(ProverConfig::default()).verify_claim(&proof, &expected)?;
                let _ = proof.commitment();
            }
            Ok(cpu_seconds("self")? - before)
        })
        .await??
    };
    let proofs = Arc::new(proofs);
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        workers.push(staked_worker(&url).await?);
    }

    let latencies = Arc::new(Latencies::default());
    let verify_before = server.verification_cpu_seconds().await?;
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in workers {
        let (proofs, latencies, done, total) =
            (proofs.clone(), latencies.clone(), done.clone(), args.jobs);
        let separate_leases = args.separate_leases;
        tasks.push(tokio::spawn(async move {
            let mut next = None;
            while done.load(Ordering::SeqCst) < total {
                let lease = match next.take() {
                    Some(lease) => lease,
                    None => {
                        let t = Instant::now();
                        let Some(lease) = worker.lease(1).await? else {
                            continue;
                        };
                        latencies.record("lease", t);
                        lease
                    }
                };
                let proof = proofs
                    .get(&lease.job.job_id)
                    .context("unknown job leased")?
                    .clone();
                let (job_id, lease_id) = (&lease.job.job_id, &lease.lease_id);
                let t = Instant::now();
                if separate_leases {
                    worker.submit_proof(job_id, lease_id, proof).await?;
                    latencies.record("result", t);
                } else {
                    next = worker
                        .submit_proof_and_lease(job_id, lease_id, proof)
                        .await?
                        .next;
                    latencies.record("result (+ next lease)", t);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            anyhow::Ok(())
        }));
    }
    for i in 0..args.jobs {
        let request = SubmitJobRequest {
            workload: WorkloadKind::Custom,
            program: Some(program.clone()),
            params: WorkloadParams::default(),
            inputs: vec![i as u32, 3],
            fee: Amount::sage(1),
            deadline_secs: None,
            security_bits: None,
            max_steps: None,
            idempotency_key: Some(format!("bench-{i}")),
        };
        let t = Instant::now();
        client.submit_job(&request).await?;
        latencies.record("submit", t);
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_before;
    let verify = server.verification_cpu_seconds().await? - verify_before;
    let per_job_ms = |s: f64| s * 1000.0 / args.jobs as f64;

    let idle = if args.idle_workers > 0 {
        Some(idle_phase(&server, &url, args.idle_workers, args.idle_secs).await?)
    } else {
        None
    };

    let calls = latencies.percentiles();
    if args.json {
        let calls: Vec<_> = calls
            .iter()
            .map(|(c, n, p50, p99)| serde_json::json!({"call": c, "n": n, "p50_ms": p50, "p99_ms": p99}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "jobs": args.jobs, "workers": args.workers, "seconds": elapsed,
                "durability": args.durability,
                "separate_leases": args.separate_leases,
                "jobs_per_sec": args.jobs as f64 / elapsed,
                "coordinator_cpu_ms_per_job": per_job_ms(cpu),
                "verification_cpu_ms_per_job": per_job_ms(verify),
                "verification_apart_cpu_ms_per_job": per_job_ms(verify_cpu),
                "other_cpu_ms_per_job": per_job_ms((cpu - verify).max(0.0)),
                "calls": calls,
                "idle_workers": args.idle_workers,
                "idle_cpu_percent": idle,
            })
        );
    } else {
        println!(
            "coordinator bench: {} jobs, {} workers, SQLite ({} durability), 96-bit proofs, {}",
            args.jobs,
            args.workers,
            args.durability,
            if args.separate_leases {
                "a lease request per job"
            } else {
                "the next lease with each result"
            }
        );
        println!(
            "  throughput            {:>8.1} jobs/s (submit → lease → result → verified, {:.2} s)",
            args.jobs as f64 / elapsed,
            elapsed
        );
        println!("  coordinator CPU / job {:>8.2} ms", per_job_ms(cpu));
        println!(
            "    verification        {:>8.2} ms (the gate thread's CPU clock, in the coordinator)",
            per_job_ms(verify)
        );
        println!(
            "    everything else     {:>8.2} ms",
            per_job_ms((cpu - verify).max(0.0))
        );
        println!(
            "  verification apart    {:>8.2} ms (the same proofs, one after another, before the clock)",
            per_job_ms(verify_cpu)
        );
        println!("  call latency (client side)     n      p50 ms   p99 ms");
        for (call, n, p50, p99) in calls {
            println!("    {call:<20} {n:>8} {p50:>10.2} {p99:>8.2}");
        }
        if let Some(idle) = idle {
            println!(
                "  {} idle long-polling workers: coordinator at {idle:.1}% of one core",
                args.idle_workers
            );
        }
    }
    Ok(())
}

/// Holds `n` long-polls open on an empty queue and measures the coordinator's CPU meanwhile.
async fn idle_phase(server: &Server, url: &str, n: usize, secs: u64) -> anyhow::Result<f64> {
    eprintln!("registering {n} idle workers…");
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        workers.push(staked_worker(url).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in workers {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if worker.lease(30).await?.is_some() {
                    bail!("an idle worker got a job from an empty queue");
                }
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = server.cpu_seconds()?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let percent = (server.cpu_seconds()? - before) / secs as f64 * 100.0;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.abort();
    }
    Ok(percent)
}
