//! Compiling the kernels with NVRTC.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

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
