//! Finding the CUDA driver and NVRTC libraries before `cudarc` loads them: `cudarc` panics when a
//! library is missing, so callers ask here first and turn a miss into `GpuUnavailable`.

use std::path::{Path, PathBuf};

/// Where the dynamic loader looks besides `LD_LIBRARY_PATH` and its cache, plus the usual CUDA
/// install locations.
const SYSTEM_DIRS: [&str; 8] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/x86_64-linux/lib",
    "/usr/lib/wsl/lib",
];

/// The first file `cudarc` would load for `name` ("cuda" for the driver, "nvrtc"), if any.
pub fn find(name: &str) -> Option<PathBuf> {
    let candidates = cudarc::get_lib_name_candidates(name);
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    dirs.extend(loader_cache_dirs());
    dirs.iter()
        .flat_map(|dir| candidates.iter().map(move |c| dir.join(c)))
        .find(|path| path.is_file())
}

/// Directories of the libraries in the dynamic loader's cache (`ldconfig -p`).
fn loader_cache_dirs() -> Vec<PathBuf> {
    let Ok(output) = std::process::Command::new("/sbin/ldconfig")
        .arg("-p")
        .output()
    else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.rsplit_once("=> "))
        .filter_map(|(_, path)| Path::new(path.trim()).parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}
