//! The kernels on a CUDA device, through `cudarc`.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DriverError,
    LaunchConfig, PinnedHostSlice, PushKernelArg,
};

use crate::kernels::SOURCES;
use crate::ops::{
    check_eval_many, check_grind, check_rows, copy_plan, gather_plan, leaves_table, lifted_len,
    twiddles_read, Gather, Kernels, Layers,
};
use crate::{library, nvrtc, GpuError, Result};

/// Threads per block of every launch.
const BLOCK: u32 = 256;
/// Uploads of at least this many words go through page-locked memory (`upload_pinned`).
const PINNED_UPLOAD_WORDS: usize = 1 << 18;
/// Words one thread copies into page-locked memory at least.
const PINNED_COPY_CHUNK: usize = 1 << 16;
/// Blocks per launch at most; the kernels' grid-stride loops cover the rest.
const MAX_GRID: u32 = 1 << 16;
/// Blocks of a reduction: 16 · 256 threads, 64 KiB of partial sums to bring back and add.
const REDUCTION_GRID: u32 = 16;
/// Blocks of an evaluation at a point: 2^16 threads of 16 coefficients each at 2^20, whose
/// partial sums a reduction adds on the device (with 16 blocks, each thread folded 256 one
/// after another, and an evaluation took tens of microseconds).
const EVAL_GRID: u32 = 256;

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

    /// An upload through [`Self::staging`]: the driver copies pageable memory through small
    /// buffers of its own at a fraction of the bus's speed (a 2^20-step proof's 54 MB of step
    /// records took several milliseconds on an H100's host), and one thread copies into
    /// page-locked memory at a fraction of what several do. `None` when the driver has no
    /// page-locked memory to give (said once): the caller uploads from pageable memory.
    fn upload_pinned(&self, values: &[u32]) -> Result<Option<CudaSlice<u32>>> {
        fn driver(what: &'static str) -> impl Fn(DriverError) -> GpuError {
            move |e| GpuError::Driver(format!("{what}: {e}"))
        }
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        if staging.as_ref().is_none_or(|s| s.len() < values.len()) {
            // The old buffer goes first: the new one may be most of the host's locked memory.
            *staging = None;
            let len = values.len().next_power_of_two();
            let context = self.stream.context();
            // SAFETY: the contents are unset until the copy below writes the part uploaded.
            match guarded("allocating page-locked memory", || unsafe {
                context.alloc_pinned::<u32>(len)
            }) {
                Ok(pinned) => *staging = Some(pinned),
                Err(e) => {
                    static SAID: std::sync::Once = std::sync::Once::new();
                    SAID.call_once(|| tracing::warn!("uploads from pageable memory: {e}"));
                    return Ok(None);
                }
            }
        }
        let pinned = staging.as_mut().expect("allocated above");
        let host = &mut pinned
            .as_mut_slice()
            .map_err(driver("page-locked memory"))?[..values.len()];
        // Threads of its own, not rayon's: a rayon worker waiting here for its chunks could
        // pick up another upload and block on the staging lock it holds.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let chunk = values.len().div_ceil(threads).max(PINNED_COPY_CHUNK);
        std::thread::scope(|scope| {
            for (to, from) in host.chunks_mut(chunk).zip(values.chunks(chunk)) {
                scope.spawn(move || to.copy_from_slice(from));
            }
        });
        // SAFETY: every word is written by the copy below before anything reads it.
        let mut out = unsafe { self.stream.alloc::<u32>(values.len()) }
            .map_err(driver("allocating an upload"))?;
        {
            let (dst, _sync) = out.device_ptr_mut(&self.stream);
            // SAFETY: `out` holds as many words as `host`, which is page-locked and stays
            // untouched until the stream has finished the copy (the synchronization below).
            unsafe {
                cudarc::driver::result::memcpy_htod_async(dst, host, self.stream.cu_stream())
            }
            .map_err(driver("upload"))?;
        }
        // The next upload reuses the staging memory.
        self.stream.synchronize().map_err(driver("upload"))?;
        Ok(Some(out))
    }

    /// Runs a checked [`copy_plan`] of `n_copies` copies of `n` words.
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

    /// Under profiling, times the rest of the caller's scope as `name`.
    fn timed(&self, name: &'static str) -> Option<Timed<'_>> {
        crate::traffic::profiling().then(|| {
            self.profile_start(name);
            Timed(self)
        })
    }

    /// Under [`crate::traffic::profiling`]: waits for the device, then starts timing `name`.
    fn profile_start(&self, name: &'static str) {
        let _ = self.stream.synchronize();
        PROFILED.set(Some((name, Instant::now())));
    }

    /// Under profiling: waits for the device and adds the time since [`Self::profile_start`].
    fn profile_end(&self) {
        if let Some((name, start)) = PROFILED.take() {
            let _ = self.stream.synchronize();
            crate::traffic::record(name, start.elapsed());
        }
    }

    /// A launch's result, counted (and timed, under profiling).
    fn launched(&self, result: std::result::Result<(), DriverError>) -> Result<()> {
        crate::traffic::launch();
        self.profile_end();
        result.map_err(|e| GpuError::Driver(format!("launch: {e}")))
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

/// Ends a [`CudaKernels::timed`] scope.
struct Timed<'a>(&'a CudaKernels);

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        self.0.profile_end();
    }
}

thread_local! {
    /// The device call being timed under profiling, and when it started.
    static PROFILED: Cell<Option<(&'static str, Instant)>> = const { Cell::new(None) };
}

impl Kernels for CudaKernels {
    type Column = CudaSlice<u32>;

    fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| GpuError::Driver(format!("synchronize: {e}")))
    }

    fn len(&self, column: &CudaSlice<u32>) -> usize {
        column.len()
    }

    fn threads(&self, work: u32) -> u32 {
        Self::reduction_config(work).grid_dim.0 * BLOCK
    }

    fn eval_threads(&self, work: u32) -> u32 {
        Self::eval_config(work).grid_dim.0 * BLOCK
    }

    fn eval_poly_partials(
        &self,
        coeffs: &CudaSlice<u32>,
        log_n: u32,
        factors: &CudaSlice<u32>,
        chunk_log: u32,
        partials: &mut CudaSlice<u32>,
    ) -> Result<()> {
        if chunk_log > log_n || chunk_log > 12 {
            return Err(GpuError::Driver(format!("chunks of 2^{chunk_log}")));
        }
        let work = 1u32 << (log_n - chunk_log);
        self.check(coeffs, 1 << log_n)?;
        self.check(factors, 4 * log_n as usize)?;
        self.check(partials, 4 * self.eval_threads(work) as usize)?;
        let mut launch = self
            .stream
            .launch_builder(self.function("eval_poly_partials"));
        launch
            .arg(coeffs)
            .arg(&log_n)
            .arg(factors)
            .arg(&chunk_log)
            .arg(partials);
        // SAFETY: `eval_poly_partials(const u32*, u32, const u32*, u32, u32*)`; coefficients,
        // factors and one partial per thread of this launch were checked.
        self.launched(unsafe { launch.launch(Self::eval_config(work)) }.map(|_| ()))
    }

    fn eval_many_partials(
        &self,
        columns: &[&CudaSlice<u32>],
        log_n: u32,
        factors: &CudaSlice<u32>,
        chunk_log: u32,
        lanes: u32,
        partials: &mut CudaSlice<u32>,
    ) -> Result<()> {
        check_eval_many(columns.len(), log_n, chunk_log, lanes)?;
        for column in columns {
            self.check(column, 1 << log_n)?;
        }
        self.check(factors, 4 * log_n as usize)?;
        let total = columns.len() as u32 * lanes;
        self.check(partials, 4 * total as usize)?;
        // The kernel reads the columns through a table of their addresses.
        let addresses: Vec<u32> = columns
            .iter()
            .flat_map(|c| {
                let (address, _sync) = c.device_ptr(&self.stream);
                [address as u32, (address >> 32) as u32]
            })
            .collect();
        let table = self.upload(&addresses)?;
        let n_columns = columns.len() as u32;
        let mut launch = self
            .stream
            .launch_builder(self.function("eval_many_partials"));
        launch
            .arg(&table)
            .arg(&n_columns)
            .arg(&log_n)
            .arg(factors)
            .arg(&chunk_log)
            .arg(&lanes)
            .arg(partials);
        // SAFETY: `eval_many_partials(const u32* const*, u32, u32, const u32*, u32, u32, u32*)`;
        // the table holds the address of each column, which the caller keeps alive until the
        // launch is done (every later use of the stream is ordered after it); every column's
        // coefficients, the factors and the partials were checked.
        self.launched(unsafe { launch.launch(Self::config(total)) }.map(|_| ()))
    }

    fn run_sums(
        &self,
        values: &CudaSlice<u32>,
        run: u32,
        n_runs: u32,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        let n = run as usize * n_runs as usize;
        self.check(values, 4 * n)?;
        self.check(out, 4 * n_runs as usize)?;
        let mut launch = self.stream.launch_builder(self.function("run_sums"));
        launch.arg(values).arg(&run).arg(&n_runs).arg(out);
        // SAFETY: `run_sums(const u32*, u32, u32, u32*)`; both secure columns were checked.
        self.launched(unsafe { launch.launch(Self::config(n_runs)) }.map(|_| ()))
    }

    fn secure_sum_partials(
        &self,
        column: &CudaSlice<u32>,
        n: u32,
        start: u32,
        count: u32,
        partials: &mut CudaSlice<u32>,
    ) -> Result<()> {
        if start as usize + count as usize > n as usize {
            return Err(GpuError::Driver("a range past the column".into()));
        }
        self.check(column, 4 * n as usize)?;
        self.check(partials, 4 * self.threads(count) as usize)?;
        let mut launch = self
            .stream
            .launch_builder(self.function("secure_sum_partials"));
        launch
            .arg(column)
            .arg(&n)
            .arg(&start)
            .arg(&count)
            .arg(partials);
        // SAFETY: `secure_sum_partials(const u32*, u32, u32, u32, u32*)`; the range lies in the
        // column and there is one partial per thread of this launch.
        self.launched(unsafe { launch.launch(Self::reduction_config(count)) }.map(|_| ()))
    }

    fn constraint_quotients(
        &self,
        function: &'static str,
        trace: &CudaSlice<u32>,
        interaction: &CudaSlice<u32>,
        trace_log: u32,
        eval_log: u32,
        coeffs: &CudaSlice<u32>,
        challenges: &CudaSlice<u32>,
        denom_inv: &CudaSlice<u32>,
        accum: &mut CudaSlice<u32>,
    ) -> Result<()> {
        let kernel = crate::codegen::constraint_kernel(function)
            .ok_or_else(|| GpuError::Driver(format!("no generated kernel {function}")))?;
        if trace_log < 1 || eval_log <= trace_log || eval_log > 30 {
            return Err(GpuError::Driver(format!(
                "2^{trace_log} rows on 2^{eval_log}"
            )));
        }
        let n = 1usize << eval_log;
        self.check(trace, kernel.n_cells * n)?;
        self.check(interaction, kernel.n_interaction_columns * n)?;
        self.check(coeffs, 4 * kernel.n_constraints)?;
        self.check(challenges, crate::codegen::CHALLENGE_WORDS)?;
        self.check(denom_inv, 1 << (eval_log - trace_log))?;
        self.check(accum, 4 * n)?;
        let mut launch = self.stream.launch_builder(self.function(function));
        launch
            .arg(trace)
            .arg(interaction)
            .arg(&trace_log)
            .arg(&eval_log)
            .arg(coeffs)
            .arg(challenges)
            .arg(denom_inv)
            .arg(accum);
        // SAFETY: every generated kernel is `(const u32*, const u32*, u32, u32, const u32* ×3,
        // u32*)`; every column and table was checked against the sizes its generator reports.
        self.launched(unsafe { launch.launch(Self::config(n as u32)) }.map(|_| ()))
    }

    fn fill_cpu_columns(
        &self,
        records: &CudaSlice<u32>,
        n_steps: u32,
        code: &CudaSlice<u32>,
        n_code: u32,
        log_n: u32,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        crate::ops::check_cpu_fill(records.len(), n_steps, code.len(), n_code, log_n, out.len())?;
        let mut launch = self
            .stream
            .launch_builder(self.function("fill_cpu_columns"));
        launch
            .arg(records)
            .arg(&n_steps)
            .arg(code)
            .arg(&n_code)
            .arg(&log_n)
            .arg(out);
        // SAFETY: `fill_cpu_columns(const u32*, u32, const u32*, u32, u32, u32*)`; the records,
        // the code and the 50 output columns were checked, and the kernel reads no pc past
        // `n_code`.
        self.launched(unsafe { launch.launch(Self::config(1 << log_n)) }.map(|_| ()))
    }

    fn interaction_columns(
        &self,
        trace: &CudaSlice<u32>,
        log_n: u32,
        challenges: &CudaSlice<u32>,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        let (n_columns, n_cells) = crate::codegen::interaction_shape();
        if !(1..=30).contains(&log_n) {
            return Err(GpuError::Driver(format!("2^{log_n} rows")));
        }
        let n = 1usize << log_n;
        self.check(trace, n_cells * n)?;
        self.check(challenges, crate::codegen::CHALLENGE_WORDS)?;
        self.check(out, n_columns * n)?;
        let mut launch = self
            .stream
            .launch_builder(self.function(crate::codegen::INTERACTION_FUNCTION));
        launch.arg(trace).arg(&log_n).arg(challenges).arg(out);
        // SAFETY: `cpu_interaction_columns(const u32*, u32, const u32*, u32*)`; the cells, the
        // challenges and the output were checked against the generator's shape.
        self.launched(unsafe { launch.launch(Self::config(n as u32)) }.map(|_| ()))
    }

    fn prefix_sum_partials(
        &self,
        columns: &CudaSlice<u32>,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: [u32; 4],
        partials: &mut CudaSlice<u32>,
    ) -> Result<()> {
        crate::ops::check_prefix_sum(columns.len(), first, log_n, chunk_log, partials.len())?;
        let [s0, s1, s2, s3] = shift;
        let mut launch = self
            .stream
            .launch_builder(self.function("prefix_sum_partials"));
        launch
            .arg(columns)
            .arg(&first)
            .arg(&log_n)
            .arg(&chunk_log)
            .arg(&s0)
            .arg(&s1)
            .arg(&s2)
            .arg(&s3)
            .arg(partials);
        // SAFETY: `prefix_sum_partials(const u32*, u32 ×3, u32 ×4, u32*)`; the secure column
        // and one partial per chunk were checked.
        self.launched(unsafe { launch.launch(Self::config(1 << (log_n - chunk_log))) }.map(|_| ()))
    }

    fn prefix_sum_apply(
        &self,
        columns: &mut CudaSlice<u32>,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: [u32; 4],
        starts: &CudaSlice<u32>,
    ) -> Result<()> {
        crate::ops::check_prefix_sum(columns.len(), first, log_n, chunk_log, starts.len())?;
        let [s0, s1, s2, s3] = shift;
        let mut launch = self
            .stream
            .launch_builder(self.function("prefix_sum_apply"));
        launch
            .arg(columns)
            .arg(&first)
            .arg(&log_n)
            .arg(&chunk_log)
            .arg(&s0)
            .arg(&s1)
            .arg(&s2)
            .arg(&s3)
            .arg(starts);
        // SAFETY: `prefix_sum_apply(u32*, u32 ×3, u32 ×4, const u32*)`; the secure column and
        // one start per chunk were checked.
        self.launched(unsafe { launch.launch(Self::config(1 << (log_n - chunk_log))) }.map(|_| ()))
    }

    fn decompose_apply(&self, column: &mut CudaSlice<u32>, n: u32, lambda: [u32; 4]) -> Result<()> {
        self.check(column, 4 * n as usize)?;
        let [l0, l1, l2, l3] = lambda;
        let mut launch = self.stream.launch_builder(self.function("decompose_apply"));
        launch
            .arg(column)
            .arg(&n)
            .arg(&l0)
            .arg(&l1)
            .arg(&l2)
            .arg(&l3);
        // SAFETY: `decompose_apply(u32*, u32, u32 ×4)`; the column holds 4·n values.
        self.launched(unsafe { launch.launch(Self::config(n)) }.map(|_| ()))
    }

    fn upload(&self, values: &[u32]) -> Result<CudaSlice<u32>> {
        crate::traffic::upload(values.len());
        let _timed = self.timed("upload");
        if values.len() >= PINNED_UPLOAD_WORDS {
            if let Some(uploaded) = self.upload_pinned(values)? {
                return Ok(uploaded);
            }
        }
        self.stream
            .clone_htod(values)
            .map_err(|e| GpuError::Driver(format!("upload: {e}")))
    }

    fn alloc(&self, n: usize) -> Result<CudaSlice<u32>> {
        crate::traffic::allocation();
        let _timed = self.timed("alloc");
        // SAFETY: the trait leaves the contents unspecified until a kernel writes them (the
        // emulator fills them with junk so that the tests catch a read before a write); u32 is
        // valid for any bits. Zeroing would cost a pass over memory per column.
        unsafe { self.stream.alloc::<u32>(n) }
            .map_err(|e| GpuError::Driver(format!("allocating {n} values: {e}")))
    }

    fn download(&self, column: &CudaSlice<u32>) -> Result<Vec<u32>> {
        crate::traffic::download(column.len());
        let _timed = self.timed("download");
        self.stream
            .clone_dtoh(column)
            .map_err(|e| GpuError::Driver(format!("download: {e}")))
    }

    fn bit_reverse(&self, column: &mut CudaSlice<u32>, log_n: u32) -> Result<()> {
        self.check(column, 1 << log_n)?;
        let mut launch = self.stream.launch_builder(self.function("bit_reverse"));
        launch.arg(column).arg(&log_n);
        // SAFETY: `bit_reverse(u32* values, u32 log_n)`; the column holds 2^log_n values.
        self.launched(unsafe { launch.launch(Self::config(1 << log_n)) }.map(|_| ()))
    }

    fn fft_layers(
        &self,
        columns: &mut CudaSlice<u32>,
        twiddles: &CudaSlice<u32>,
        layers: Layers,
        n: u32,
        n_columns: u32,
    ) -> Result<()> {
        self.layers("fft_layers", columns, twiddles, layers, (n, n_columns))
    }

    fn ifft_layers(
        &self,
        columns: &mut CudaSlice<u32>,
        itwiddles: &CudaSlice<u32>,
        layers: Layers,
        n: u32,
        n_columns: u32,
    ) -> Result<()> {
        self.layers("ifft_layers", columns, itwiddles, layers, (n, n_columns))
    }

    fn scale(&self, column: &mut CudaSlice<u32>, factor: u32, n: u32) -> Result<()> {
        self.check(column, n as usize)?;
        let mut launch = self.stream.launch_builder(self.function("scale"));
        launch.arg(column).arg(&factor).arg(&n);
        // SAFETY: `scale(u32*, u32, u32)`; the column holds n values.
        self.launched(unsafe { launch.launch(Self::config(n)) }.map(|_| ()))
    }

    fn zero_from(
        &self,
        columns: &mut CudaSlice<u32>,
        from: u32,
        n: u32,
        n_columns: u32,
    ) -> Result<()> {
        if from > n {
            return Err(GpuError::Driver(format!(
                "zeros from {from} in columns of {n}"
            )));
        }
        self.check(columns, n as usize * n_columns as usize)?;
        let work = u32::try_from((n - from) as u64 * n_columns as u64).unwrap_or(u32::MAX);
        let mut launch = self.stream.launch_builder(self.function("zero_from"));
        launch.arg(columns).arg(&from).arg(&n).arg(&n_columns);
        // SAFETY: `zero_from(u32*, u32, u32, u32)`; the columns hold n_columns·n values.
        self.launched(unsafe { launch.launch(Self::config(work)) }.map(|_| ()))
    }

    fn fri_fold(
        &self,
        src: &CudaSlice<u32>,
        n_in: u32,
        dst: &mut CudaSlice<u32>,
        itwiddles: &CudaSlice<u32>,
        offset: u32,
        circle: bool,
        alpha: [u32; 4],
    ) -> Result<()> {
        let n_out = n_in / 2;
        self.check(src, 4 * n_in as usize)?;
        self.check(dst, 4 * n_out as usize)?;
        self.check(
            itwiddles,
            offset as usize + twiddles_read(u32::from(!circle), n_out),
        )?;
        let circle = u32::from(circle);
        let [a0, a1, a2, a3] = alpha;
        let mut launch = self.stream.launch_builder(self.function("fri_fold"));
        launch
            .arg(src)
            .arg(&n_in)
            .arg(dst)
            .arg(itwiddles)
            .arg(&offset)
            .arg(&circle)
            .arg(&a0)
            .arg(&a1)
            .arg(&a2)
            .arg(&a3);
        // SAFETY: `fri_fold(const u32*, u32, u32*, const u32*, u32, u32, u32, u32, u32, u32)`;
        // the columns hold 4·n_in and 4·(n_in / 2) values, the twiddles come from the same tree
        // as the offset.
        self.launched(unsafe { launch.launch(Self::config(n_out)) }.map(|_| ()))
    }

    fn merkle_leaves(
        &self,
        columns: &[&CudaSlice<u32>],
        log_sizes: &[u32],
        lifting_log: u32,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        let mut table = leaves_table(
            columns,
            log_sizes,
            lifting_log,
            |c| c.len(),
            |c| c.device_ptr(&self.stream).0,
        )?;
        self.check(out, 8 << lifting_log)?;
        // The driver takes no empty copies; an empty table is never read.
        table.resize(table.len().max(3), 0);
        let table = self.upload(&table)?;
        let n_columns = columns.len() as u32;
        let mut launch = self.stream.launch_builder(self.function("merkle_leaves"));
        launch
            .arg(&table)
            .arg(&n_columns)
            .arg(&lifting_log)
            .arg(out);
        // SAFETY: `merkle_leaves(const u32*, u32, u32, u32*)`; the table holds each column's
        // address and a log size it holds the values of (`leaves_table`), the caller keeps the
        // columns alive past the launch, and `out` holds 8 words per leaf (checked).
        self.launched(unsafe { launch.launch(Self::config(1 << lifting_log)) }.map(|_| ()))
    }

    fn merkle_parents(
        &self,
        children: &CudaSlice<u32>,
        n_parents: u32,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        self.check(children, 16 * n_parents as usize)?;
        self.check(out, 8 * n_parents as usize)?;
        let mut launch = self.stream.launch_builder(self.function("merkle_parents"));
        launch.arg(children).arg(&n_parents).arg(out);
        // SAFETY: `merkle_parents(const u32*, u32, u32*)`; 16 words read and 8 written per
        // parent, both checked.
        self.launched(unsafe { launch.launch(Self::config(n_parents)) }.map(|_| ()))
    }

    fn pow_grind(
        &self,
        prefixed: [u32; 8],
        first_hi: u32,
        n_chunks: u32,
        low_bits: u32,
        pow_bits: u32,
        found: &mut CudaSlice<u32>,
    ) -> Result<()> {
        check_grind(n_chunks, low_bits, found.len())?;
        let mut launch = self.stream.launch_builder(self.function("pow_grind"));
        for word in &prefixed {
            launch.arg(word);
        }
        launch
            .arg(&first_hi)
            .arg(&n_chunks)
            .arg(&low_bits)
            .arg(&pow_bits)
            .arg(found);
        // SAFETY: `pow_grind(u32 ×8, u32, u32, u32, u32, u32*)`; one word written per chunk,
        // checked.
        self.launched(unsafe { launch.launch(Self::config(n_chunks << low_bits)) }.map(|_| ()))
    }

    fn pack_leaves(
        &self,
        coordinates: [&CudaSlice<u32>; 4],
        n_packed: u32,
        out: &mut [CudaSlice<u32>; 16],
    ) -> Result<()> {
        for c in coordinates {
            self.check(c, 4 * n_packed as usize)?;
        }
        for o in out.iter() {
            self.check(o, n_packed as usize)?;
        }
        let mut launch = self.stream.launch_builder(self.function("pack_leaves"));
        for c in coordinates {
            launch.arg(c);
        }
        launch.arg(&n_packed);
        for o in out.iter_mut() {
            launch.arg(o);
        }
        // SAFETY: `pack_leaves(const u32* ×4, u32, u32* ×16)`; 4·n_packed words read from each
        // coordinate and n_packed written to each output, all checked.
        self.launched(unsafe { launch.launch(Self::config(n_packed)) }.map(|_| ()))
    }

    fn quotient_numerators(
        &self,
        columns: &CudaSlice<u32>,
        n: u32,
        terms: &CudaSlice<u32>,
        n_terms: u32,
        sum_b: [u32; 4],
        n_rows: u32,
        partials: &mut CudaSlice<u32>,
        out_offset: u32,
    ) -> Result<()> {
        self.check(terms, 5 * n_terms as usize)?;
        self.check(partials, out_offset as usize + 4 * n_rows as usize)?;
        if n_rows > n {
            return Err(GpuError::Driver(format!("{n_rows} rows of columns of {n}")));
        }
        let [b0, b1, b2, b3] = sum_b;
        let mut launch = self
            .stream
            .launch_builder(self.function("quotient_numerators"));
        launch
            .arg(columns)
            .arg(&n)
            .arg(terms)
            .arg(&n_terms)
            .arg(&b0)
            .arg(&b1)
            .arg(&b2)
            .arg(&b3)
            .arg(&n_rows)
            .arg(partials)
            .arg(&out_offset);
        // SAFETY: `quotient_numerators(const u32*, u32, const u32*, u32, u32 ×4, u32, u32*,
        // u32)`; the output block fits `partials` (checked). The terms live on the device:
        // `ops::accumulate_numerators`, the only caller, checked their column indices against
        // the group's width.
        self.launched(unsafe { launch.launch(Self::config(n_rows)) }.map(|_| ()))
    }

    fn quotient_combine(
        &self,
        partials: &CudaSlice<u32>,
        offsets: &CudaSlice<u32>,
        log_sizes: &CudaSlice<u32>,
        samples: &CudaSlice<u32>,
        n_samples: u32,
        points: &CudaSlice<u32>,
        log_rows: u32,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        self.check(samples, 12 * n_samples as usize)?;
        self.check(offsets, n_samples as usize)?;
        self.check(log_sizes, n_samples as usize)?;
        self.check(points, 2 << log_rows)?;
        self.check(out, 4 << log_rows)?;
        let mut launch = self
            .stream
            .launch_builder(self.function("quotient_combine"));
        launch
            .arg(partials)
            .arg(offsets)
            .arg(log_sizes)
            .arg(samples)
            .arg(&n_samples)
            .arg(points)
            .arg(&log_rows)
            .arg(out);
        // SAFETY: `quotient_combine(const u32* ×4, u32, const u32*, u32, u32*)`; the point and
        // output columns hold 2^log_rows rows (checked). Offsets and sizes live on the device:
        // they come from `ops::accumulate_numerators` for this buffer, and
        // `ops::combine_quotients` checked every size against the subdomain.
        self.launched(unsafe { launch.launch(Self::config(1 << log_rows)) }.map(|_| ()))
    }

    fn copy_range(
        &self,
        src: &CudaSlice<u32>,
        src_start: u32,
        dst: &mut CudaSlice<u32>,
        dst_start: u32,
        n: u32,
    ) -> Result<()> {
        self.check(src, src_start as usize + n as usize)?;
        self.check(dst, dst_start as usize + n as usize)?;
        let mut launch = self.stream.launch_builder(self.function("copy_range"));
        launch
            .arg(src)
            .arg(&src_start)
            .arg(dst)
            .arg(&dst_start)
            .arg(&n);
        // SAFETY: `copy_range(const u32*, u32, u32*, u32, u32)`; both ranges were checked.
        self.launched(unsafe { launch.launch(Self::config(n)) }.map(|_| ()))
    }

    fn add_assign(&self, acc: &mut CudaSlice<u32>, other: &CudaSlice<u32>, n: u32) -> Result<()> {
        self.check(acc, n as usize)?;
        self.check(other, n as usize)?;
        let mut launch = self.stream.launch_builder(self.function("add_assign"));
        launch.arg(acc).arg(other).arg(&n);
        // SAFETY: `add_assign(u32*, const u32*, u32)`; both columns hold n values.
        self.launched(unsafe { launch.launch(Self::config(n)) }.map(|_| ()))
    }

    fn gather(
        &self,
        src: &CudaSlice<u32>,
        rows: &[u32],
        words: u32,
        out: &mut CudaSlice<u32>,
        out_start: u32,
    ) -> Result<()> {
        check_rows(rows, src.len(), words)?;
        let n = u32::try_from(rows.len())
            .map_err(|_| GpuError::Unsupported("2^32 rows in one gather".into()))?;
        self.check(out, out_start as usize + rows.len() * words as usize)?;
        let rows = self.upload(rows)?;
        let mut launch = self.stream.launch_builder(self.function("gather"));
        launch
            .arg(src)
            .arg(&rows)
            .arg(&n)
            .arg(&words)
            .arg(out)
            .arg(&out_start);
        // SAFETY: `gather(const u32*, const u32*, u32, u32, u32*, u32)`; every row's words lie
        // in `src` and `out` holds out_start + n·words values (checked).
        self.launched(unsafe { launch.launch(Self::config(n)) }.map(|_| ()))
    }

    fn concat(
        &self,
        parts: &[(&CudaSlice<u32>, usize)],
        n: usize,
        stride: usize,
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        let dst_len = out.len();
        let dst = out.device_ptr_mut(&self.stream).0;
        let copies: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(k, (src, start))| {
                let address = src.device_ptr(&self.stream).0;
                (address, src.len(), *start, dst, dst_len, k * stride)
            })
            .collect();
        self.copy_many(&copy_plan(&copies, n)?, parts.len(), n)
    }

    fn split_into(
        &self,
        src: &CudaSlice<u32>,
        start: usize,
        stride: usize,
        n: usize,
        outs: &mut [&mut CudaSlice<u32>],
    ) -> Result<()> {
        let (address, len) = (src.device_ptr(&self.stream).0, src.len());
        let copies: Vec<_> = outs
            .iter_mut()
            .enumerate()
            .map(|(k, out)| {
                let dst_len = out.len();
                let dst = out.device_ptr_mut(&self.stream).0;
                (address, len, start + k * stride, dst, dst_len, 0)
            })
            .collect();
        self.copy_many(&copy_plan(&copies, n)?, outs.len(), n)
    }

    fn gather_many(
        &self,
        gathers: &[Gather<'_, CudaSlice<u32>>],
        out: &mut CudaSlice<u32>,
    ) -> Result<()> {
        let (plan, max_rows) = gather_plan(
            gathers,
            |c| c.len(),
            |c| c.device_ptr(&self.stream).0,
            out.len(),
        )?;
        if max_rows == 0 {
            return Ok(());
        }
        let n_sources = gathers.len() as u32;
        let items = n_sources
            .checked_mul(max_rows)
            .ok_or_else(|| GpuError::Unsupported("2^32 values in one gather".into()))?;
        let plan = self.upload(&plan)?;
        let mut launch = self.stream.launch_builder(self.function("gather_many"));
        launch.arg(&plan).arg(&n_sources).arg(&max_rows).arg(out);
        // SAFETY: `gather_many(const u32*, u32, u32, u32*)`; the plan holds each source's
        // address, and every row and output range was checked against its column
        // (`gather_plan`); the caller keeps the sources alive past the launch.
        self.launched(unsafe { launch.launch(Self::config(items)) }.map(|_| ()))
    }

    fn lift_add(
        &self,
        acc: &mut CudaSlice<u32>,
        small: &CudaSlice<u32>,
        n: u32,
        log_ratio: u32,
    ) -> Result<()> {
        self.check(acc, n as usize)?;
        self.check(small, lifted_len(n, log_ratio)?)?;
        let mut launch = self.stream.launch_builder(self.function("lift_add"));
        launch.arg(acc).arg(small).arg(&n).arg(&log_ratio);
        // SAFETY: `lift_add(u32*, const u32*, u32, u32)`; `acc` holds n values and `small`
        // every index the lift reads (checked).
        self.launched(unsafe { launch.launch(Self::config(n)) }.map(|_| ()))
    }
}
