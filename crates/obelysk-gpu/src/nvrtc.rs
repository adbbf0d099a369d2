//! Compiling the kernels with NVRTC.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions, Ptx};

use crate::kernels::KernelSource;
use crate::{library, GpuError, Result};

/// The NVRTC library `cudarc` will load, or why there is none.
pub fn library() -> Result<PathBuf> {
    library::find("nvrtc").ok_or_else(|| {
        GpuError::GpuUnavailable(
            "NVRTC 13 (libnvrtc.so.13) is not on LD_LIBRARY_PATH or in the loader's cache; the \
             CUDA toolkit or `pip install nvidia-cuda-nvrtc==13.0.*` provides it"
                .into(),
        )
    })
}

/// Compiles one kernel file to PTX for `arch` (`"sm_90"`; NVRTC's default when `None`).
pub fn compile(kernel: &KernelSource, arch: Option<&'static str>) -> Result<Ptx> {
    library()?;
    let options = CompileOptions {
        arch,
        options: vec!["--std=c++17".into()],
        name: Some(kernel.file.into()),
        ..Default::default()
    };
    let program = kernel.program();
    // cudarc panics if the library cannot be loaded after all (a broken install).
    match catch_unwind(AssertUnwindSafe(|| {
        compile_ptx_with_opts(&program, options)
    })) {
        Ok(Ok(ptx)) => Ok(ptx),
        Ok(Err(CompileError::CompileError { log, .. })) => Err(GpuError::Compile {
            file: kernel.file,
            log: log.to_string_lossy().into_owned(),
        }),
        Ok(Err(e)) => Err(GpuError::Compile {
            file: kernel.file,
            log: format!("{e:?}"),
        }),
        Err(_) => Err(GpuError::GpuUnavailable(
            "NVRTC was found but could not be loaded".into(),
        )),
    }
}

/// Environment variable naming a directory of precompiled PTX (see [`write_ptx`]): a machine
/// with a GPU but without NVRTC loads the kernels from there instead of compiling them.
pub const PTX_DIR_VAR: &str = "OBELYSK_GPU_PTX_DIR";

/// Where the PTX of `kernel` for `arch` lives in a PTX directory: `circle_fft.sm_90.ptx`.
pub fn ptx_path(dir: &Path, kernel: &KernelSource, arch: &str) -> PathBuf {
    let stem = kernel.file.strip_suffix(".cu").unwrap_or(kernel.file);
    dir.join(format!("{stem}.{arch}.ptx"))
}

/// Compiles every kernel file for `arch` and writes the PTX into `dir`, for machines that have
/// a GPU but no NVRTC; returns the files written.
pub fn write_ptx(dir: &Path, arch: &'static str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| GpuError::Unsupported(format!("creating {}: {e}", dir.display())))?;
    crate::kernels::SOURCES
        .iter()
        .map(|kernel| {
            let ptx = compile(kernel, Some(arch))?;
            let path = ptx_path(dir, kernel, arch);
            std::fs::write(&path, ptx.to_src())
                .map_err(|e| GpuError::Unsupported(format!("writing {}: {e}", path.display())))?;
            Ok(path)
        })
        .collect()
}

/// The PTX of `kernel` for `arch`: read from the directory named by [`PTX_DIR_VAR`] when it is
/// set, compiled by NVRTC otherwise.
pub fn ptx_for(kernel: &KernelSource, arch: &'static str) -> Result<Ptx> {
    match std::env::var_os(PTX_DIR_VAR) {
        Some(dir) => {
            let path = ptx_path(Path::new(&dir), kernel, arch);
            let source = std::fs::read_to_string(&path).map_err(|e| {
                GpuError::GpuUnavailable(format!(
                    "{PTX_DIR_VAR} is set but {} cannot be read ({e}); write it with \
                     `obelysk-gpu-ptx --arch {arch} --out DIR` on a machine with NVRTC",
                    path.display()
                ))
            })?;
            Ok(Ptx::from_src(source))
        }
        None => compile(kernel, Some(arch)),
    }
}
