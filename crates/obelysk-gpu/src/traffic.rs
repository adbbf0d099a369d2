//! What crossed between the host and the devices (or the emulator) since the process started:
//! transfers, allocations and launches. A proof's fixed cost on a GPU is mostly round trips, so
//! these counts say more about a change than a timing on a shared host; `bitsage-proof -v`
//! logs them per proof, and a test bounds the downloads of a whole proof.

use std::collections::BTreeMap;
use std::ops::Sub;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Counts over every device of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Device-to-host copies: each waits for the device to finish what was queued before it.
    pub downloads: u64,
    pub download_bytes: u64,
    pub uploads: u64,
    pub upload_bytes: u64,
    pub allocations: u64,
    /// Kernel launches: on CUDA devices, and the emulator's (one per `Kernels` call that runs
    /// a kernel, as on a device).
    pub launches: u64,
}

static DOWNLOADS: AtomicU64 = AtomicU64::new(0);
static DOWNLOAD_BYTES: AtomicU64 = AtomicU64::new(0);
static UPLOADS: AtomicU64 = AtomicU64::new(0);
static UPLOAD_BYTES: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LAUNCHES: AtomicU64 = AtomicU64::new(0);

/// The counts so far; subtract two to get what happened between them.
pub fn traffic() -> Traffic {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Traffic {
        downloads: get(&DOWNLOADS),
        download_bytes: get(&DOWNLOAD_BYTES),
        uploads: get(&UPLOADS),
        upload_bytes: get(&UPLOAD_BYTES),
        allocations: get(&ALLOCATIONS),
        // SAFETY: reads an atomic counter.
        launches: get(&LAUNCHES) + unsafe { crate::emulator::ffi::emu_launches() },
    }
}

pub(crate) fn download(words: usize) {
    DOWNLOADS.fetch_add(1, Ordering::Relaxed);
    DOWNLOAD_BYTES.fetch_add(4 * words as u64, Ordering::Relaxed);
}

pub(crate) fn upload(words: usize) {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
    UPLOAD_BYTES.fetch_add(4 * words as u64, Ordering::Relaxed);
}

pub(crate) fn allocation() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn launch() {
    LAUNCHES.fetch_add(1, Ordering::Relaxed);
}

impl Sub for Traffic {
    type Output = Traffic;

    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            downloads: self.downloads - earlier.downloads,
            download_bytes: self.download_bytes - earlier.download_bytes,
            uploads: self.uploads - earlier.uploads,
            upload_bytes: self.upload_bytes - earlier.upload_bytes,
            allocations: self.allocations - earlier.allocations,
            launches: self.launches - earlier.launches,
        }
    }
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        write!(
            f,
            "{} downloads ({:.1} MiB), {} uploads ({:.1} MiB), {} allocations, {} launches",
            self.downloads,
            mib(self.download_bytes),
            self.uploads,
            mib(self.upload_bytes),
            self.allocations,
            self.launches
        )
    }
}

/// Whether `OBELYSK_GPU_PROFILE=1`: then every device call on a CUDA device waits for the device
/// before and after it, and its time is added up under its name ([`take_profile`]). A profile by
/// kernel for machines without NVIDIA's tools; it serializes host and device, so the proof's
/// total under it is not the real one.
pub fn profiling() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("OBELYSK_GPU_PROFILE").is_ok_and(|v| v == "1"))
}

static PROFILE: Mutex<BTreeMap<&'static str, (u64, Duration)>> = Mutex::new(BTreeMap::new());

pub(crate) fn record(name: &'static str, took: Duration) {
    let mut profile = PROFILE.lock().unwrap_or_else(PoisonError::into_inner);
    let entry = profile.entry(name).or_default();
    entry.0 += 1;
    entry.1 += took;
}

/// Calls and time by name since the last call, longest first.
pub fn take_profile() -> Vec<(&'static str, u64, Duration)> {
    let profile = std::mem::take(&mut *PROFILE.lock().unwrap_or_else(PoisonError::into_inner));
    let mut rows: Vec<_> = profile.into_iter().map(|(k, (n, t))| (k, n, t)).collect();
    rows.sort_by_key(|&(_, _, t)| std::cmp::Reverse(t));
    rows
}
