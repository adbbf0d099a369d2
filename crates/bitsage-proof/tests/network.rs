//! `submit --wait` and `status` against a real coordinator on loopback, with a staked worker
//! proving in the test.

mod common;

use std::path::PathBuf;

use bitsage_coordinator::{Coordinator, CoordinatorConfig};
use bitsage_ledger::Amount;
use bitsage_protocol::*;
use bitsage_wallet::SigningKey;

/// A staked worker that leases and proves jobs until the task is dropped.
async fn worker(url: String) {
    let w = CoordinatorClient::new(&url, Some(SigningKey::generate()));
    w.faucet().await.unwrap();
    w.stake(Amount::sage(1_000)).await.unwrap();
    w.register(&RegisterWorkerRequest::default()).await.unwrap();
    common::prove_leases(w).await
}

/// Runs a command off the async threads, which keep serving the coordinator meanwhile.
async fn output(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("the CLI runs"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_waits_for_the_proof_and_verifies_it_locally() {
    let dir = tempfile::tempdir().unwrap();
    let config = CoordinatorConfig {
        database: format!("sqlite://{}", dir.path().join("c.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::open(config.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(bitsage_coordinator::serve(
        coordinator,
        listener,
        std::future::pending(),
    ));
    let proving = tokio::spawn(worker(url.clone()));

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = dir.path().join("proof.json");
    let bin = env!("CARGO_BIN_EXE_bitsage-proof");
    let mut submit = std::process::Command::new(bin);
    submit
        .current_dir(&root)
        .args(["submit", "--coordinator-url", &url, "--workload", "custom"])
        .args([
            "--program",
            "examples/quickstart.oasm",
            "--wait",
            "--output",
        ])
        .arg(&out)
        .env_remove("STARKNET_PRIVATE_KEY");
    let submit = output(submit).await;
    let text = String::from_utf8_lossy(&submit.stdout).to_string();
    assert!(
        submit.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    assert!(text.contains("outputs [11]"), "{text}");
    assert!(text.contains("verified locally"), "{text}");
    let job_id = text.split_whitespace().nth(1).unwrap().to_string();

    // The fetched proof file verifies with the CLI too, bound to the job.
    let mut verify = std::process::Command::new(bin);
    verify
        .current_dir(&root)
        .args(["verify", "--proof"])
        .arg(&out)
        .args(["--program", "examples/quickstart.oasm", "--job-id", &job_id]);
    let verify = output(verify).await;
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let mut status = std::process::Command::new(bin);
    status.args(["status", &job_id, "--coordinator-url", &url, "--json"]);
    let status = output(status).await;
    let view: JobView = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(view.state, JobState::Proved);
    assert_eq!(view.outputs, Some(vec![11]));
    proving.abort();
}
