//! `obelysk-gpu-ptx --arch sm_90 --out DIR`: compiles every kernel with NVRTC and writes the PTX,
//! for a GPU machine without NVRTC (it loads them when `OBELYSK_GPU_PTX_DIR=DIR`).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: obelysk-gpu-ptx --arch sm_XY --out DIR\n\n\
Compiles every CUDA kernel of obelysk-gpu with NVRTC for the given architecture (sm_90 for\n\
H100 and H200) and writes one .ptx file per kernel file into DIR. A machine with a GPU but no\n\
NVRTC loads them when OBELYSK_GPU_PTX_DIR=DIR.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut arch, mut out) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--arch" => arch = args.next(),
            "--out" => out = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unexpected argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(arch), Some(out)) = (arch, out) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if !arch.starts_with("sm_") {
        eprintln!("--arch {arch}: expected sm_XY, for example sm_90");
        return ExitCode::from(2);
    }
    // NVRTC takes the architecture as a static string; this process compiles for one.
    let arch: &'static str = Box::leak(arch.into_boxed_str());
    match obelysk_gpu::nvrtc::write_ptx(&out, arch) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
