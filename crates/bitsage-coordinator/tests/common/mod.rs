//! Shared setup: an in-process coordinator on loopback, funded and staked worker keys, and a
//! prover that turns a lease into a result the way `sage-worker` does.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use bitsage_coordinator::{Coordinator, CoordinatorConfig};
use bitsage_ledger::Amount;
use bitsage_protocol::*;
use bitsage_wallet::SigningKey;
use obelysk_prover::{ObelyskProver, ProverConfig};
use obelysk_vm::{asm::assemble, ObelyskVM, Program, M31};

pub struct Running {
    pub url: String,
    pub coordinator: Coordinator,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// [`Running::stop`], keeping the database's directory for a restart.
    pub async fn stop_keeping_files(self) -> tempfile::TempDir {
        let Running {
            shutdown,
            task,
            dir,
            ..
        } = self;
        if let Some(tx) = shutdown {
            let _ = tx.send(());
        }
        if let Some(task) = task {
            let _ = task.await;
        }
        dir
    }

    pub fn client(&self, key: Option<SigningKey>) -> CoordinatorClient {
        CoordinatorClient::new(&self.url, key)
    }
}

/// A test configuration: fast maintenance, a file database in a temporary directory.
pub fn test_config(dir: &std::path::Path) -> CoordinatorConfig {
    CoordinatorConfig {
        database: format!("sqlite://{}", dir.join("coordinator.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        maintenance_interval_ms: 100,
        ..CoordinatorConfig::default()
    }
}

pub async fn start(adjust: impl FnOnce(&mut CoordinatorConfig)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let coordinator = Coordinator::open(config.clone())
        .await
        .expect("coordinator opens");
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(bitsage_coordinator::serve(
        coordinator.clone(),
        listener,
        async move {
            let _ = rx.await;
        },
    ));
    Running {
        url,
        coordinator,
        shutdown: Some(tx),
        task: Some(task),
        dir,
    }
}

/// A client with faucet money.
pub async fn funded_client(url: &str) -> CoordinatorClient {
    let client = CoordinatorClient::new(url, Some(SigningKey::generate()));
    client.faucet().await.expect("faucet");
    client
}

/// A registered worker staking `stake` SAGE.
pub async fn staked_worker(url: &str, stake: u128) -> CoordinatorClient {
    let worker = funded_client(url).await;
    if stake > 0 {
        worker.stake(Amount::sage(stake)).await.expect("stake");
    }
    register(&worker).await;
    worker
}

/// Registers `worker` without GPUs and with the capacity its tier allows.
pub async fn register(worker: &CoordinatorClient) -> WorkerView {
    worker
        .register(&RegisterWorkerRequest {
            gpus: vec![],
            capacity: Capacity {
                max_concurrent_jobs: 0,
                steps_per_sec: None,
            },
        })
        .await
        .expect("register")
}

/// `r2 = in0 * in1 + 5`, output r2.
pub fn small_program() -> Program {
    assemble(
        "in r0\nin r1\nmul r2, r0, r1\naddi r2, r2, 5\nout r2\nhalt\n",
        "small.oasm",
    )
    .expect("assembles")
}

pub fn custom_job(inputs: Vec<u32>, fee: u128) -> SubmitJobRequest {
    SubmitJobRequest {
        workload: WorkloadKind::Custom,
        program: Some(small_program()),
        params: WorkloadParams::default(),
        inputs,
        fee: Amount::sage(fee),
        deadline_secs: None,
        security_bits: None,
        max_steps: None,
        idempotency_key: None,
    }
}

/// Executes and proves a leased job, bound to `job_id` (what `sage-worker` does).
pub fn prove_spec(spec: &JobSpec, job_id: &str) -> String {
    let mut vm = ObelyskVM::new();
    vm.load(&spec.program);
    vm.set_inputs(spec.inputs.iter().map(|v| M31::new(*v)).collect());
    vm.set_step_limit(spec.max_steps);
    let trace = vm.execute().expect("job executes");
    let id = obelysk_prover::proof::parse_hex32(job_id).expect("job id is 32 bytes");
    let proof = ObelyskProver::new(ProverConfig::with_security_bits(spec.security_bits))
        .prove_for_job(&trace, Some(id))
        .expect("proves");
    base64::engine::general_purpose::STANDARD.encode(proof.to_bytes())
}

pub async fn prove_lease(lease: &Lease) -> ResultRequest {
    let spec = lease.job.clone();
    let proof = tokio::task::spawn_blocking(move || prove_spec(&spec, &spec.job_id))
        .await
        .unwrap();
    ResultRequest {
        lease_id: lease.lease_id.clone(),
        proof,
    }
}

/// Leases, proves and submits until `proved` (shared by all workers) reaches `total`; returns
/// how many jobs this worker completed.
pub async fn work_until(
    worker: &CoordinatorClient,
    proved: &std::sync::atomic::AtomicUsize,
    total: usize,
) -> usize {
    use std::sync::atomic::Ordering;
    let mut done = 0;
    while proved.load(Ordering::SeqCst) < total {
        let Some(lease) = worker.lease(1).await.expect("lease") else {
            continue;
        };
        let result = prove_lease(&lease).await;
        // As sage-worker sends it: the binary proof as the body.
        let proof = base64::engine::general_purpose::STANDARD
            .decode(&result.proof)
            .unwrap();
        worker
            .submit_proof(&lease.job.job_id, &lease.lease_id, proof)
            .await
            .expect("result accepted");
        proved.fetch_add(1, Ordering::SeqCst);
        done += 1;
    }
    done
}

pub async fn wait_for(mut check: impl AsyncFnMut() -> bool, what: &str) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A coordinator process (the real binary), killed on drop.
pub struct Process {
    pub child: std::process::Child,
    pub url: String,
}

impl Process {
    /// Starts `bitsage-coordinator serve` on `database` and a free port; waits until it listens.
    pub fn spawn(database: &str, extra: &[&str]) -> Process {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bitsage-coordinator"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .args(["--maintenance-interval-ms", "100"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the coordinator binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Process { child, url }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
