//! `sage-worker` end to end: the real binary, real HTTP, real proofs, temporary BITSAGE_HOMEs.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bitsage_coordinator::{Coordinator, CoordinatorConfig};
use bitsage_ledger::Amount;
use bitsage_protocol::*;
use bitsage_testkit::free_port;
use bitsage_wallet::SigningKey;

const BIN: &str = env!("CARGO_BIN_EXE_sage-worker");

fn worker(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("BITSAGE_HOME", home)
        .env_remove("BITSAGE_NETWORK")
        .env_remove("BITSAGE_COORDINATOR_URL")
        .env_remove("STARKNET_PRIVATE_KEY")
        .env_remove("BITSAGE_KEYSTORE_PASSWORD")
        .stdin(Stdio::null());
    c
}

/// `sage-worker setup` on the local network against `url`, with `password` for the keystore.
fn set_up(home: &Path, url: &str, password: &str) -> Output {
    run(worker(home)
        .args([
            "setup",
            "--network",
            "local",
            "--coordinator-url",
            url,
            "--yes",
        ])
        .env("BITSAGE_KEYSTORE_PASSWORD", password))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("sage-worker runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn sigterm_and_wait(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the worker did not drain"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

async fn metric(addr: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

async fn wait_until(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_network_in_one_command_proves_pays_reports_and_drains() {
    let home = tempfile::tempdir().unwrap();
    let coordinator = format!("http://127.0.0.1:{}", free_port().unwrap());
    let metrics = format!("127.0.0.1:{}", free_port().unwrap());
    let mut daemon = Daemon(
        worker(home.path())
            .args([
                "start",
                "--network",
                "local",
                "--demo",
                "--demo-interval",
                "1",
            ])
            .args([
                "--coordinator-url",
                &coordinator,
                "--metrics-addr",
                &metrics,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("two proofs accepted and paid", 180, async || {
        metric(&metrics, "sage_proofs_generated_total")
            .await
            .unwrap_or(0.0)
            >= 2.0
    })
    .await;
    assert!(
        metric(&metrics, "sage_earnings_sage").await.unwrap() >= 16.0,
        "80% of two 10 SAGE fees"
    );

    let text_metrics = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    bitsage_metrics::check_exposition(&text_metrics).unwrap();
    for name in [
        "sage_proof_seconds_count",
        "sage_jobs_in_flight",
        "sage_leases_total",
    ] {
        assert!(text_metrics.contains(name), "{name} missing");
    }
    let health: serde_json::Value = reqwest::get(format!("http://{metrics}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let gpu: serde_json::Value = reqwest::get(format!("http://{metrics}/gpu/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(gpu["backend"].as_str().unwrap().contains("CPU"), "{gpu}");

    let status = text(&run(worker(home.path()).arg("status")));
    assert!(status.contains("worker: running"), "{status}");
    assert!(status.contains("tier: Consumer"), "{status}");
    assert!(status.contains("coordinator: reachable"), "{status}");
    let info = text(&run(worker(home.path()).args(["info", "--verbose"])));
    assert!(info.contains("stake:     1000 SAGE (Consumer)"), "{info}");
    assert!(info.contains(" proved "), "{info}");

    // Keys are encrypted at rest: the keystore decrypts with the generated password only.
    let keystore = std::fs::read_to_string(home.path().join("keys/starknet.json")).unwrap();
    assert!(keystore.contains("\"kdf\": \"scrypt\""));
    let wrong = run(worker(home.path())
        .arg("doctor")
        .env("BITSAGE_KEYSTORE_PASSWORD", "not-it"));
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    assert!(text(&wrong).contains("FAIL keystore"), "{}", text(&wrong));
    let backup = run(worker(home.path()).arg("export"));
    let backup: serde_json::Value = serde_json::from_slice(&backup.stdout).unwrap();
    assert_eq!(backup["starknet_keystore"]["crypto"]["kdf"], "scrypt");

    // The operator's money commands, signed with the worker's key, against the live network.
    let staked = text(&run(worker(home.path()).args(["stake", "--amount", "1500"])));
    assert!(staked.contains("stake 2500 SAGE (Workstation)"), "{staked}");
    let unstaked = text(&run(
        worker(home.path()).args(["unstake", "--amount", "100"])
    ));
    assert!(unstaked.contains("unstaking 100 SAGE"), "{unstaked}");
    let claimed = run(worker(home.path()).arg("claim"));
    assert!(claimed.status.success(), "{}", text(&claimed));
    let early = run(worker(home.path()).arg("withdraw"));
    assert!(
        !early.status.success(),
        "the cooldown has not passed: {}",
        text(&early)
    );
    assert!(text(&early).contains("unstaking"), "{}", text(&early));

    let exit = daemon.sigterm_and_wait();
    assert!(exit.success(), "SIGTERM drains and exits 0, got {exit}");
    // The pid file stays; its lock went with the daemon.
    let status = text(&run(worker(home.path()).arg("status")));
    assert!(status.contains("worker: not running"), "{status}");
    let outbox = std::fs::read_dir(home.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(outbox, 0, "every proof was acknowledged");
    let logs = text(&run(worker(home.path()).args(["logs", "-n", "1000"])));
    assert!(logs.contains("proof accepted and paid"), "{logs}");
}

fn ml_job(seed: u64, batch_size: u32) -> SubmitJobRequest {
    SubmitJobRequest {
        workload: WorkloadKind::MlInference,
        program: None,
        params: WorkloadParams {
            batch_size: Some(batch_size),
            seed: Some(seed),
        },
        inputs: vec![],
        fee: Amount::sage(10),
        deadline_secs: None,
        security_bits: None,
        max_steps: None,
        idempotency_key: None,
    }
}

type Stopper = std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>;

/// Stops a coordinator started by [`serve`] and gives its listener time to close.
async fn stop_again(coordinator: &Stopper) {
    if let Some(tx) = coordinator.lock().unwrap().take() {
        let _ = tx.send(());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn serve(config: CoordinatorConfig) -> Stopper {
    let coordinator = Coordinator::open(config.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bitsage_coordinator::serve(
        coordinator,
        listener,
        async move {
            let _ = rx.await;
        },
    ));
    std::sync::Mutex::new(Some(tx))
}

/// Submits jobs until one is leased, and stopping the coordinator while it is proven leaves its
/// proof to the worker's outbox; returns that job's id, with `coordinator` stopped.
///
/// How long a proof takes is the machine's business: a job proven and accepted before the
/// coordinator stopped is not an error, only a try that did not test anything, so the
/// coordinator is started again and another job (seed `seed + 1`, …) is submitted.
async fn a_proof_outlives_its_coordinator(
    client: &CoordinatorClient,
    coordinator: &mut Stopper,
    config: &CoordinatorConfig,
    metrics: &str,
    seed: u64,
) -> String {
    let count = async |name: &str| metric(metrics, name).await.unwrap_or(0.0);
    wait_until("the worker's metrics", 60, async || {
        metric(metrics, "sage_proofs_generated_total")
            .await
            .is_some()
    })
    .await;
    for attempt in 0..8 {
        let accepted = count("sage_proofs_generated_total").await;
        let retries = count("sage_submit_retries_total").await;
        // About 2^18 steps, so that proving takes a while (about half a second here).
        let job = client
            .submit_job(&ml_job(seed + attempt, 3_600))
            .await
            .unwrap()
            .job_id;
        let started = Instant::now();
        let state = loop {
            let state = client.job(&job).await.map(|j| j.state).ok();
            if let Some(s @ (JobState::Leased | JobState::Proved)) = state {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out waiting for job {job} to be leased"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if state == JobState::Proved {
            eprintln!("job {job} was proven before the test saw its lease; another job");
            continue;
        }
        stop_again(coordinator).await;
        // A failed upload counts a retry, and the proof stays in the outbox; an accepted one
        // counts a proof.
        let started = Instant::now();
        loop {
            if count("sage_submit_retries_total").await > retries {
                return job;
            }
            if count("sage_proofs_generated_total").await > accepted {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "timed out waiting for job {job}'s proof to be sent"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("job {job}'s proof was accepted before the coordinator stopped; another job");
        *coordinator = serve(config.clone()).await;
    }
    panic!("every proof was accepted before the coordinator could be stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_made_while_the_coordinator_is_down_is_kept_and_submitted_later() {
    let home = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let config = CoordinatorConfig {
        database: format!("sqlite://{}", db.path().join("c.db").display()),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        maintenance_interval_ms: 100,
        ..CoordinatorConfig::default()
    };
    let mut coordinator = serve(config.clone()).await;
    let setup = set_up(home.path(), &url, "correct horse");
    assert!(setup.status.success(), "{}", text(&setup));

    let client = CoordinatorClient::new(&url, Some(SigningKey::generate()));
    client.faucet().await.unwrap();
    let metrics = format!("127.0.0.1:{}", free_port().unwrap());
    let mut daemon = Daemon(
        worker(home.path())
            .args(["start", "--metrics-addr", &metrics])
            .env("BITSAGE_KEYSTORE_PASSWORD", "correct horse")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let outbox = home.path().join("outbox");
    let job =
        a_proof_outlives_its_coordinator(&client, &mut coordinator, &config, &metrics, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    coordinator = serve(config.clone()).await;
    wait_until("the kept proof to be accepted", 120, async || {
        client
            .job(&job)
            .await
            .map(|j| j.state == JobState::Proved)
            .unwrap_or(false)
    })
    .await;
    wait_until("the outbox to empty", 30, async || {
        std::fs::read_dir(&outbox)
            .map(|d| d.count() == 0)
            .unwrap_or(false)
    })
    .await;

    // Stopped while the coordinator is away: the worker still exits promptly and cleanly, the
    // proof stays on disk, and the next start delivers it.
    let second =
        a_proof_outlives_its_coordinator(&client, &mut coordinator, &config, &metrics, 100).await;
    let stopping = Instant::now();
    assert!(daemon.sigterm_and_wait().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "drained in {:?}",
        stopping.elapsed()
    );
    assert_eq!(
        std::fs::read_dir(&outbox).unwrap().count(),
        1,
        "the proof was kept"
    );
    let _coordinator = serve(config).await;
    let mut daemon = Daemon(
        worker(home.path())
            .args(["start", "--metrics-addr", &metrics])
            .env("BITSAGE_KEYSTORE_PASSWORD", "correct horse")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the kept proof to be delivered at start", 120, async || {
        client
            .job(&second)
            .await
            .map(|j| j.state == JobState::Proved)
            .unwrap_or(false)
    })
    .await;
    assert!(daemon.sigterm_and_wait().success());
}

#[test]
fn doctor_fails_usefully_when_the_coordinator_is_down() {
    let home = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let setup = set_up(home.path(), &dead, "pw");
    assert!(setup.status.success(), "{}", text(&setup));
    assert!(
        text(&setup).contains("Not registered yet"),
        "{}",
        text(&setup)
    );
    let doctor = run(worker(home.path())
        .arg("doctor")
        .env("BITSAGE_KEYSTORE_PASSWORD", "pw"));
    let out = text(&doctor);
    assert_eq!(doctor.status.code(), Some(2), "{out}");
    assert!(out.contains("PASS config"), "{out}");
    assert!(out.contains("PASS keystore"), "{out}");
    assert!(out.contains("FAIL coordinator"), "{out}");
    assert!(out.contains("fix coordinator_url"), "{out}");
    assert!(out.contains("PASS prove+verify"), "{out}");

    // Setup again does not replace the key.
    let before = std::fs::read_to_string(home.path().join("keys/starknet.json")).unwrap();
    let again = set_up(home.path(), &dead, "pw");
    assert!(
        text(&again).contains("Keeping the existing Starknet key"),
        "{}",
        text(&again)
    );
    assert_eq!(
        before,
        std::fs::read_to_string(home.path().join("keys/starknet.json")).unwrap()
    );
}

#[test]
fn detach_runs_in_the_background_and_stop_drains_it() {
    let home = tempfile::tempdir().unwrap();
    let coordinator = format!("http://127.0.0.1:{}", free_port().unwrap());
    let metrics = format!("127.0.0.1:{}", free_port().unwrap());
    let started = run(worker(home.path())
        .args(["start", "--detach", "--network", "local"])
        .args([
            "--coordinator-url",
            &coordinator,
            "--metrics-addr",
            &metrics,
        ]));
    assert!(started.status.success(), "{}", text(&started));
    assert!(
        text(&started).contains("in the background"),
        "{}",
        text(&started)
    );
    let pid: u32 = std::fs::read_to_string(home.path().join("worker.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // If an assertion below fails, do not leave the daemon behind.
    struct Reap(u32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _reap = Reap(pid);
    let status = text(&run(worker(home.path()).arg("status")));
    assert!(status.contains(&format!("running (pid {pid})")), "{status}");
    let second = run(worker(home.path())
        .args(["start", "--network", "local"])
        .args(["--coordinator-url", &coordinator]));
    assert!(!second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains(&format!(
            "a worker already runs from {}",
            home.path().display()
        )) && text(&second).contains(&format!("(pid {pid})")),
        "{}",
        text(&second)
    );
    let stopped = run(worker(home.path()).arg("stop"));
    assert!(stopped.status.success(), "{}", text(&stopped));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon exited"
    );
    let status = text(&run(worker(home.path()).arg("status")));
    assert!(status.contains("worker: not running"), "{status}");
    let logs = text(&run(worker(home.path()).arg("logs")));
    assert!(logs.contains("worker drained and stopped"), "{logs}");
}

#[test]
fn a_stale_pid_file_names_no_worker() {
    // A daemon that died without cleaning up (a crash, a power cut) leaves its pid behind,
    // and after a reboot that pid may be any process: here, this test's own.
    let home = tempfile::tempdir().unwrap();
    let me = std::process::id();
    std::fs::write(home.path().join("worker.pid"), me.to_string()).unwrap();
    let stopped = run(worker(home.path()).arg("stop"));
    assert!(stopped.status.success(), "{}", text(&stopped));
    assert!(
        text(&stopped).contains("no worker is running"),
        "{}",
        text(&stopped)
    );
}

/// A coordinator from before `?next=true`, which verified signatures over the path alone:
/// simulated by taking the query off each request before the coordinator's router reads it.
async fn serve_as_an_older_coordinator(config: CoordinatorConfig) {
    let coordinator = Coordinator::open(config.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let app = bitsage_coordinator::router(coordinator).layer(axum::middleware::map_request(
        |mut request: axum::extract::Request| async move {
            let path = request.uri().path().to_string();
            *request.uri_mut() = path.parse().unwrap();
            request
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_an_older_coordinator_the_worker_uploads_plainly_and_leases_apart() {
    let home = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    serve_as_an_older_coordinator(CoordinatorConfig {
        database: format!("sqlite://{}", db.path().join("c.db").display()),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        ..CoordinatorConfig::default()
    })
    .await;
    let setup = set_up(home.path(), &url, "correct horse");
    assert!(setup.status.success(), "{}", text(&setup));
    let client = CoordinatorClient::new(&url, Some(SigningKey::generate()));
    client.faucet().await.unwrap();
    let mut jobs = Vec::new();
    for seed in 0..3 {
        jobs.push(client.submit_job(&ml_job(seed, 200)).await.unwrap().job_id);
    }

    let mut daemon = Daemon(
        worker(home.path())
            .arg("start")
            .env("BITSAGE_KEYSTORE_PASSWORD", "correct horse")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("every job to be proved", 180, async || {
        for job_id in &jobs {
            match client.job(job_id).await {
                Ok(job) if job.state == JobState::Proved => {}
                _ => return false,
            }
        }
        true
    })
    .await;
    assert!(daemon.sigterm_and_wait().success());
    let logs = text(&run(worker(home.path()).args(["logs", "-n", "1000"])));
    assert!(logs.contains("leasing separately"), "{logs}");
    assert_eq!(
        logs.matches("proof accepted and paid").count(),
        3,
        "each proof was delivered once, after the refused first try: {logs}"
    );
}
