//! The CLI as a user runs it: outputs, files and exit codes (0 valid, 1 rejected, 2 unreadable).

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitsage-proof"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("binary runs")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_prints_outputs_and_steps() {
    let o = bin(&["run", "examples/dot_relu.oasm", "--input", "2, 3,4, -1,2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("outputs: [10]"), "{out}");
    assert!(out.contains("steps:"), "{out}");
}

#[test]
fn generate_then_verify_round_trip_with_job_id() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.json");
    let job = format!("0x{}", "12".repeat(32));
    let o = bin(&[
        "generate",
        "--program",
        "examples/loop_sum.oasm",
        "--input",
        "3, 10, 20, -5",
        "--job-id",
        &job,
        "--output",
        proof.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = proof.to_str().unwrap();
    let ok = bin(&[
        "verify",
        "--proof",
        p,
        "--program",
        "examples/loop_sum.oasm",
        "--job-id",
        &job,
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("valid:"), "{}", stdout(&ok));

    let wrong_job = format!("0x{}", "13".repeat(32));
    let rejected = bin(&["verify", "--proof", p, "--job-id", &wrong_job]);
    assert_eq!(rejected.status.code(), Some(1));
    assert!(
        stderr(&rejected).contains("job id"),
        "{}",
        stderr(&rejected)
    );

    let wrong_program = bin(&[
        "verify",
        "--proof",
        p,
        "--program",
        "examples/quickstart.oasm",
    ]);
    assert_eq!(wrong_program.status.code(), Some(1));

    let json = bin(&["verify", "--proof", p, "--json"]);
    let value: serde_json::Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(value["valid"], serde_json::json!(true));
    assert_eq!(value["outputs"], serde_json::json!([25]));
    assert_eq!(value["security_bits"], serde_json::json!(96));
    // A rejected proof's security is not counted: its shape may be anything.
    let json = bin(&["verify", "--proof", p, "--json", "--job-id", &wrong_job]);
    let value: serde_json::Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(value["valid"], serde_json::json!(false));
    assert_eq!(value["security_bits"], serde_json::Value::Null);
}

#[test]
fn tampered_and_unreadable_proofs_get_distinct_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo_root().join("crates/obelysk-prover/tests/fixtures/quickstart.proof.json");
    let text = std::fs::read_to_string(fixture).unwrap();

    // Valid JSON, consistent commitment, but a claim the proof does not support.
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["config"]["security_bits"] = serde_json::json!(80);
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, value.to_string()).unwrap();
    let o = bin(&["verify", "--proof", tampered.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0));

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not a proof").unwrap();
    assert_eq!(
        bin(&["verify", "--proof", garbage.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        bin(&["verify", "--proof", "/nonexistent/proof.json"])
            .status
            .code(),
        Some(2)
    );

    let weak = bin(&[
        "verify",
        "--proof",
        repo_root()
            .join("crates/obelysk-prover/tests/fixtures/quickstart.proof.json")
            .to_str()
            .unwrap(),
        "--min-security-bits",
        "128",
    ]);
    assert_eq!(weak.status.code(), Some(1));
    assert!(stderr(&weak).contains("at least 128"), "{}", stderr(&weak));
}

#[test]
fn assembler_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("bad.oasm");
    std::fs::write(&program, "loadi r1, 5\nadd r1, r2, r99\nhalt\n").unwrap();
    let o = bin(&["run", program.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("bad.oasm:2:"), "{err}");
}

#[test]
fn bench_json_is_one_clean_object_per_size() {
    let o = bin(&["bench", "--log-steps", "8,9", "--json", "--repeat", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, steps) in lines.iter().zip([256, 512]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["steps"], serde_json::json!(steps));
        for key in [
            "prove_ms",
            "verify_ms",
            "proof_bytes",
            "baseline_prove_ms",
            "ratio",
        ] {
            assert!(
                v.get(key).is_some_and(|x| !x.is_null()),
                "missing {key} in {line}"
            );
        }
    }
}

#[test]
fn bench_kernels_runs_on_the_emulator_and_reports_every_operation() {
    let o = bin(&[
        "bench-kernels",
        "--backend",
        "emulator",
        "--log-sizes",
        "6",
        "--columns",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let operations: Vec<&str> = rows
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations, ["lde", "merkle", "fri_fold"]);
    for row in &rows {
        for key in ["device_ms", "cpu_simd_ms", "speedup"] {
            assert!(row[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {row}");
        }
    }
}

#[test]
fn bench_kernels_without_a_gpu_says_why() {
    if obelysk_gpu::library::find("cuda").is_some() {
        eprintln!("skipped bench_kernels_without_a_gpu_says_why: this machine has a CUDA driver");
        return;
    }
    let o = bin(&["bench-kernels", "--log-sizes", "6"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no GPU"), "{}", stderr(&o));
}

#[test]
fn demo_reports_what_it_proved() {
    let o = bin(&["demo", "--batch-size", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "Generated proof for 3 ML inferences",
        "Proof size:",
        "Proving time:",
        "Proof hash: 0x",
    ] {
        assert!(out.contains(needle), "{needle} missing from {out}");
    }
}

#[test]
fn bench_on_the_emulated_gpu_backend_compares_with_the_cpu() {
    let o = bin(&[
        "bench",
        "--backend",
        "emulator",
        "--log-steps",
        "8",
        "--repeat",
        "1",
        "--no-baseline",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["backend"], "GPU kernels in the host emulator");
    for key in ["prove_ms", "cpu_prove_ms", "speedup"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {v}");
    }
}

/// The original README's `generate --batch-size N` proves the ML batch; a workload that cannot
/// run says what it needs, exit 2.
#[test]
fn generate_picks_the_ml_batch_from_batch_size_and_refuses_mixed_workloads() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.json");
    let o = bin(&[
        "generate",
        "--batch-size",
        "3",
        "--output",
        proof.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ok = bin(&["verify", "--proof", proof.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    for (args, says) in [
        (&["generate", "--output", "x.json"][..], "needs --program"),
        (
            &[
                "generate",
                "--workload",
                "custom",
                "--batch-size",
                "3",
                "--output",
                "x.json",
            ],
            "--batch-size is for the ml-inference workload",
        ),
        (
            &[
                "generate",
                "--workload",
                "ml-inference",
                "--program",
                "examples/quickstart.oasm",
                "--output",
                "x.json",
            ],
            "ml-inference runs its own program",
        ),
    ] {
        let o = bin(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn generate_says_which_backend_proved_and_why_not_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.json");
    let o = bin(&[
        "generate",
        "--program",
        "examples/quickstart.oasm",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    if obelysk_gpu::library::find("cuda").is_none() {
        assert!(
            err.contains("proving on CPU") && err.contains("no GPU"),
            "{err}"
        );
    } else {
        assert!(err.contains("proving on"), "{err}");
    }
    let o = bin(&[
        "generate",
        "--program",
        "examples/quickstart.oasm",
        "--backend",
        "emulator",
        "--output",
        dir.path().join("e.json").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(dir.path().join("e.json")).unwrap(),
        "the emulated GPU backend wrote other bytes"
    );
}
