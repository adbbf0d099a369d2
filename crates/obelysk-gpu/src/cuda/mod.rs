//! The kernels on a CUDA device, through `cudarc`: opening a device (this file), the
//! [`Kernels`] entry points (`kernels.rs`), uploads through page-locked memory (`staging.rs`),
//! and counting and timing device calls (`profile.rs`).

mod air;
mod kernels;
mod profile;
mod staging;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DriverError, LaunchConfig,
    PinnedHostSlice, PushKernelArg,
};

use crate::kernels::SOURCES;
use crate::ops::{FftPass, Kernels, Layers, SHARED_FFT_MAX_LOG};
use crate::{library, nvrtc, GpuError, Result};

/// Threads per block of every launch.
const BLOCK: u32 = 256;
/// Uploads of at least this many words go through page-locked memory (`upload_pinned`).
const PINNED_UPLOAD_WORDS: usize = 1 << 18;
/// Blocks per launch at most; the kernels' grid-stride loops cover the rest.
const MAX_GRID: u32 = 1 << 16;
/// Blocks of a reduction: 16 · 256 threads, 64 KiB of partial sums to bring back and add.
const REDUCTION_GRID: u32 = 16;
/// Blocks of an evaluation at a point: 2^16 threads of 16 coefficients each at 2^20, whose
/// partial sums a reduction adds on the device (with 16 blocks, each thread folded 256 one
/// after another, and an evaluation took tens of microseconds).
const EVAL_GRID: u32 = 256;
/// Blocks of a count of lookups (`count_lookups`): each adds its shared table of about 8,000
/// counts to global memory at the end, so not one per 256 rows; two per multiprocessor of an
/// H100 (132).
const COUNT_GRID: u32 = 264;

/// Threads per block of a shared-memory FFT pass: a tile of 2^12 values is eight per thread,
/// and at the kernel's 58 registers two blocks fit a multiprocessor.
const FFT_PASS_BLOCK: u32 = 512;
/// Picks the FFT kernels: `shared` (the default, [`crate::ops::FftPass`]) or `registers`
/// (three layers per launch), to compare the two on a device.
pub const FFT_KERNELS_VAR: &str = "OBELYSK_GPU_FFT";

/// Which devices to prove on. The driver applies `CUDA_VISIBLE_DEVICES` before any of this:
/// ordinals are among the visible devices.
#[derive(Clone, Debug, Default)]
pub struct GpuConfig {
    /// `None`: every visible device.
    pub devices: Option<Vec<usize>>,
}

/// Calls into `cudarc` that panic when the driver library cannot be loaded, as errors.
fn guarded<T>(what: &str, f: impl FnOnce() -> std::result::Result<T, DriverError>) -> Result<T> {
    driver_library()?;
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(GpuError::Driver(format!("{what}: {e}"))),
        Err(_) => Err(GpuError::GpuUnavailable(format!(
            "{what}: the CUDA driver library could not be loaded"
        ))),
    }
}

fn driver_library() -> Result<()> {
    library::find("cuda").map(|_| ()).ok_or_else(|| {
        GpuError::GpuUnavailable(
            "no CUDA driver (libcuda.so.1) on LD_LIBRARY_PATH or in the loader's cache".into(),
        )
    })
}

/// Visible devices (zero when there is a driver but no device).
pub fn device_count() -> Result<usize> {
    let count = guarded("counting devices", || {
        cudarc::driver::result::init()?;
        CudaContext::device_count()
    })?;
    Ok(usize::try_from(count).unwrap_or(0))
}

impl GpuConfig {
    /// The configured ordinals, or every visible device; an error when there is none.
    pub fn ordinals(&self) -> Result<Vec<usize>> {
        let ordinals = match &self.devices {
            Some(list) => list.clone(),
            None => (0..device_count()?).collect(),
        };
        if ordinals.is_empty() {
            return Err(GpuError::GpuUnavailable(
                "the CUDA driver sees no device".into(),
            ));
        }
        Ok(ordinals)
    }
}

/// Compiles and loads every kernel on every configured device, so that the first proof does not
/// pay for NVRTC; returns the devices ready to use. Kernels are kept for the process.
pub fn prewarm_gpu(config: &GpuConfig) -> Result<Vec<Arc<CudaKernels>>> {
    config
        .ordinals()?
        .into_iter()
        .map(CudaKernels::shared)
        .collect()
}

/// One device with every kernel loaded.
pub struct CudaKernels {
    ordinal: usize,
    name: String,
    stream: Arc<CudaStream>,
    functions: HashMap<&'static str, CudaFunction>,
    /// Page-locked memory that large uploads go through, kept for the process.
    staging: Mutex<Option<PinnedHostSlice<u32>>>,
    /// [`crate::ops::Kernels::fft_tile_log`], from [`FFT_KERNELS_VAR`].
    fft_tile_log: u32,
}

impl std::fmt::Debug for CudaKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaKernels")
            .field("ordinal", &self.ordinal)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CudaKernels {
    /// The process's kernels for device `ordinal`, compiled on first use.
    pub fn shared(ordinal: usize) -> Result<Arc<Self>> {
        static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<CudaKernels>>>> = OnceLock::new();
        let devices = DEVICES.get_or_init(Default::default);
        if let Some(kernels) = devices.lock().expect("device lock").get(&ordinal) {
            return Ok(kernels.clone());
        }
        let kernels = Arc::new(Self::new(ordinal)?);
        devices
            .lock()
            .expect("device lock")
            .insert(ordinal, kernels.clone());
        Ok(kernels)
    }

    /// Compiles every kernel for the device's architecture and loads it.
    pub fn new(ordinal: usize) -> Result<Self> {
        let fft_tile_log = fft_tile_log()?;
        let context = guarded("opening the device", || CudaContext::new(ordinal))?;
        let (major, minor) = guarded("reading the compute capability", || {
            context.compute_capability()
        })?;
        let name = guarded("reading the device name", || context.name())?;
        // NVRTC takes the architecture as a static string; one per device and process.
        let arch: &'static str = Box::leak(format!("sm_{major}{minor}").into_boxed_str());
        let mut functions = HashMap::new();
        for source in &SOURCES {
            let ptx = nvrtc::ptx_for(source, arch)?;
            let module = guarded(source.file, || context.load_module(ptx))?;
            for &function in source.functions {
                functions.insert(
                    function,
                    guarded(function, || module.load_function(function))?,
                );
            }
        }
        // One stream per device, so cudarc's events between streams (two created per
        // allocation) order nothing here.
        // SAFETY: every launch and copy of this context goes through `stream` below.
        unsafe { context.disable_event_tracking() };
        keep_freed_memory(&context)?;
        tracing::info!(ordinal, %name, arch, "GPU kernels loaded");
        Ok(Self {
            ordinal,
            name,
            stream: context.default_stream(),
            functions,
            staging: Mutex::new(None),
            fft_tile_log,
        })
    }

    /// The device's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's ordinal among the visible devices.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    fn function(&self, name: &str) -> &CudaFunction {
        let (name, function) = self
            .functions
            .get_key_value(name)
            .unwrap_or_else(|| panic!("no kernel {name}"));
        if crate::traffic::profiling() {
            self.profile_start(name);
        }
        function
    }

    /// A reduction's launch: few enough threads that their partial sums are cheap to bring
    /// back (each thread strides over many items), enough to keep the device busy.
    fn reduction_config(work: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (work.div_ceil(BLOCK).clamp(1, REDUCTION_GRID), 1, 1),
            ..Self::config(work)
        }
    }

    /// `eval_poly_partials`: a thread per chunk up to [`EVAL_GRID`] blocks.
    fn eval_config(work: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (work.div_ceil(BLOCK).clamp(1, EVAL_GRID), 1, 1),
            ..Self::config(work)
        }
    }

    fn config(work: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (work.div_ceil(BLOCK).clamp(1, MAX_GRID), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    fn check(&self, column: &CudaSlice<u32>, n: usize) -> Result<()> {
        if column.len() < n {
            return Err(GpuError::Driver(format!(
                "a column of {} values for a launch over {n}",
                column.len()
            )));
        }
        Ok(())
    }
}

impl CudaKernels {
    /// FFT layers in either direction (`fft_layers` or `ifft_layers`, which take the same
    /// arguments) over `n_columns` columns of `n` values.
    fn layers(
        &self,
        function: &str,
        columns: &mut CudaSlice<u32>,
        twiddles: &CudaSlice<u32>,
        layers: Layers,
        (n, n_columns): (u32, u32),
    ) -> Result<()> {
        self.check(columns, n as usize * n_columns as usize)?;
        layers.check(n, twiddles.len())?;
        let work = u32::try_from((n >> layers.count) as u64 * n_columns as u64).unwrap_or(u32::MAX);
        let [offset0, offset1, offset2] = layers.offsets;
        let mut launch = self.stream.launch_builder(self.function(function));
        launch
            .arg(columns)
            .arg(twiddles)
            .arg(&offset0)
            .arg(&offset1)
            .arg(&offset2)
            .arg(&layers.low)
            .arg(&layers.count)
            .arg(&n)
            .arg(&n_columns);
        // SAFETY: `{i,}fft_layers(u32*, const u32*, u32, u32, u32, u32, u32, u32, u32)`; the
        // columns hold n_columns·n values and the twiddle tree every layer's range (checked).
        self.launched(unsafe { launch.launch(Self::config(work)) }.map(|_| ()))
    }

    /// Runs a checked [`crate::ops::copy_plan`] of `n_copies` copies of `n` words.
    fn copy_many(&self, plan: &[u32], n_copies: usize, n: usize) -> Result<()> {
        let items = u32::try_from(n_copies as u64 * n as u64)
            .map_err(|_| GpuError::Unsupported("2^32 words in one batch of copies".into()))?;
        if items == 0 {
            return Ok(());
        }
        let plan = self.upload(plan)?;
        let (n_copies, n) = (n_copies as u32, n as u32);
        let mut launch = self.stream.launch_builder(self.function("copy_many"));
        launch.arg(&plan).arg(&n_copies).arg(&n);
        // SAFETY: `copy_many(const u32*, u32, u32)`; every copy's ranges lie in its columns
        // (`copy_plan`), which the callers keep alive past the launch.
        self.launched(unsafe { launch.launch(Self::config(items)) }.map(|_| ()))
    }

    /// Where `column` starts on the device, for a table of addresses.
    fn address(&self, column: &CudaSlice<u32>) -> u64 {
        column.device_ptr(&self.stream).0
    }

    /// `addresses` uploaded as a table of 64-bit device pointers, which a kernel reads as
    /// `u32* const*`. The caller keeps the columns alive until its launch is done (every later
    /// use of the stream is ordered after it); the table itself is freed in stream order.
    fn address_table(&self, addresses: impl Iterator<Item = u64>) -> Result<CudaSlice<u32>> {
        let words: Vec<u32> = addresses
            .flat_map(|a| [a as u32, (a >> 32) as u32])
            .collect();
        self.upload(&words)
    }

    /// One shared-memory FFT pass, `fft_pass` or `ifft_pass`: a block per tile.
    fn pass(
        &self,
        function: &str,
        columns: &mut [&mut CudaSlice<u32>],
        sources: &[&CudaSlice<u32>],
        twiddles: &CudaSlice<u32>,
        pass: &FftPass,
    ) -> Result<()> {
        pass.check(twiddles.len())?;
        let column_lens: Vec<usize> = columns.iter().map(|c| c.len()).collect();
        let source_lens: Vec<usize> = sources.iter().map(|c| c.len()).collect();
        pass.check_columns(&column_lens, &source_lens)?;
        // One table: the columns' addresses, then the sources' (the columns again in place).
        let targets = columns.iter().map(|c| self.address(c));
        let table = if sources.is_empty() {
            self.address_table(targets.clone().chain(targets))?
        } else {
            self.address_table(targets.chain(sources.iter().map(|c| self.address(c))))?
        };
        let columns_at = self.address(&table);
        let sources_at = columns_at + 8 * columns.len() as u64;
        let blocks = pass.tiles().clamp(1, u64::from(MAX_GRID)) as u32;
        let mut launch = self.stream.launch_builder(self.function(function));
        launch
            .arg(&columns_at)
            .arg(&sources_at)
            .arg(twiddles)
            .arg(pass);
        let config = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (FFT_PASS_BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `{i,}fft_pass(u32* const*, const u32* const*, const u32*, FftPass)`, `FftPass`
        // laid out as `ops::FftPass` (`repr(C)`, u32 fields only). The table holds the address
        // of each column and source, which the callers keep alive until the launch is done
        // (every later use of the stream is ordered after it), and the table's own memory is
        // freed in stream order after the launch; the columns, sources and twiddles hold what
        // the pass touches (checked).
        self.launched(unsafe { launch.launch(config) }.map(|_| ()))
    }
}

// SAFETY: `FftPass` is `repr(C)` of u32s, the layout of the kernels' `FftPass`, and passed by
// value.
unsafe impl cudarc::driver::DeviceRepr for FftPass {}

/// The FFT kernels [`FFT_KERNELS_VAR`] asks for.
fn fft_tile_log() -> Result<u32> {
    match std::env::var(FFT_KERNELS_VAR).as_deref() {
        Err(_) | Ok("shared") => Ok(SHARED_FFT_MAX_LOG),
        Ok("registers") => Ok(0),
        Ok(other) => Err(GpuError::Unsupported(format!(
            "{FFT_KERNELS_VAR}={other}: the FFT kernels are `shared` or `registers`"
        ))),
    }
}

/// Makes the device's default memory pool (which `cuMemAllocAsync` draws from) keep what is
/// freed. By default it hands freed memory back to the driver at every synchronization, and a
/// proof synchronizes at every download, so each stage's columns were mapped afresh. The pool
/// then holds the largest proof's peak for the life of the process.
fn keep_freed_memory(context: &CudaContext) -> Result<()> {
    use cudarc::driver::{result, sys};
    if !context.has_async_alloc() {
        return Ok(());
    }
    let mut keep = u64::MAX;
    // SAFETY: the device is the context's; the release threshold's value is a u64.
    guarded("keeping the memory pool", || unsafe {
        let pool = result::device::get_default_mem_pool(context.cu_device())?;
        result::mem_pool::set_attribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut keep as *mut u64).cast(),
        )
    })
}

#[cfg(test)]
mod tests {
    /// The FFT passes are compiled for at most this many threads per block.
    #[test]
    fn fft_passes_launch_the_threads_their_kernels_are_bounded_for() {
        let source = include_str!("../../kernels/circle_fft.cu");
        let threads = source
            .lines()
            .find_map(|line| line.strip_prefix("#define FFT_PASS_THREADS "))
            .expect("FFT_PASS_THREADS is defined");
        assert_eq!(threads.trim().parse::<u32>(), Ok(super::FFT_PASS_BLOCK));
    }
}
