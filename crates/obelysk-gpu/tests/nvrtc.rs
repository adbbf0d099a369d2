//! Every kernel file compiles with NVRTC, for a current data-centre architecture and for NVRTC's
//! default, and defines every entry point the host launches. Runs wherever NVRTC 13 is found
//! (`.ci/run` installs it from PyPI), GPU or not; elsewhere it prints why it skipped, and with
//! `REQUIRE_NVRTC=1` or `REQUIRE_GPU=1` a skip is a failure.

use obelysk_gpu::kernels::SOURCES;
use obelysk_gpu::nvrtc;

fn required() -> bool {
    ["REQUIRE_NVRTC", "REQUIRE_GPU"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| v == "1"))
}

#[test]
fn every_kernel_compiles_with_nvrtc() {
    match nvrtc::library() {
        Ok(path) => eprintln!("NVRTC: {}", path.display()),
        Err(e) if required() => panic!("NVRTC is required here: {e}"),
        Err(e) => {
            eprintln!("skipped every_kernel_compiles_with_nvrtc: {e}");
            return;
        }
    }
    for arch in [Some("sm_90"), None] {
        for source in &SOURCES {
            let ptx = nvrtc::compile(source, arch)
                .unwrap_or_else(|e| panic!("{arch:?}: {e}"))
                .to_src();
            for function in source.functions {
                assert!(
                    ptx.contains(&format!(".entry {function}(")),
                    "{}: no entry point {function} for {arch:?}",
                    source.file
                );
            }
        }
    }
}

#[test]
fn a_kernel_that_does_not_compile_is_reported_with_the_log() {
    if nvrtc::library().is_err() {
        eprintln!("skipped a_kernel_that_does_not_compile_is_reported_with_the_log: no NVRTC");
        return;
    }
    let broken = obelysk_gpu::kernels::KernelSource {
        file: "broken.cu",
        source: "#include \"m31.cuh\"\nextern \"C\" __global__ void f(u32* v) { v[0] = undefined_name; }",
        functions: &["f"],
    };
    match nvrtc::compile(&broken, None) {
        Err(obelysk_gpu::GpuError::Compile { file, log }) => {
            assert_eq!(file, "broken.cu");
            assert!(log.contains("undefined_name"), "{log}");
        }
        other => panic!("compiled a broken kernel: {other:?}"),
    }
}

#[test]
fn ptx_written_for_a_machine_without_nvrtc_is_where_the_loader_looks() {
    if nvrtc::library().is_err() {
        eprintln!(
            "skipped ptx_written_for_a_machine_without_nvrtc_is_where_the_loader_looks: no NVRTC"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("obelysk-ptx-{}", std::process::id()));
    let files = nvrtc::write_ptx(&dir, "sm_90").unwrap();
    assert_eq!(files.len(), SOURCES.len());
    for (source, file) in SOURCES.iter().zip(&files) {
        assert_eq!(*file, nvrtc::ptx_path(&dir, source, "sm_90"));
        let ptx = std::fs::read_to_string(file).unwrap();
        for function in source.functions {
            assert!(
                ptx.contains(&format!(".entry {function}(")),
                "{}",
                file.display()
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
