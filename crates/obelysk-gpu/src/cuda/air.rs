//! [`AirKernels`] on a CUDA device: each entry point checks its buffers' lengths, then launches.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::{CudaKernels, BLOCK, COUNT_GRID};
use crate::ops::AirKernels;
use crate::{GpuError, Result};

impl AirKernels for CudaKernels {
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

    fn count_lookups(
        &self,
        records: &CudaSlice<u32>,
        n_steps: u32,
        code: &CudaSlice<u32>,
        n_code: u32,
        program_log: u32,
        counts: &mut CudaSlice<u32>,
    ) -> Result<()> {
        crate::ops::check_count_lookups(
            records.len(),
            n_steps,
            code.len(),
            n_code,
            program_log,
            counts.len(),
        )?;
        let mut launch = self.stream.launch_builder(self.function("count_lookups"));
        launch
            .arg(records)
            .arg(&n_steps)
            .arg(code)
            .arg(&n_code)
            .arg(&program_log)
            .arg(counts);
        // Each block adds the non-zero counts of its shared tables (about 8,000 values) to
        // `counts` at the end: so a few blocks per multiprocessor, not one per 256 rows.
        let config = LaunchConfig {
            grid_dim: (n_steps.div_ceil(BLOCK).clamp(1, COUNT_GRID), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `count_lookups(const u32*, u32, const u32*, u32, u32, u32*)` with 256 threads a
        // block; the records, the code and the counts were checked, and the kernel reads no pc
        // past `n_code`, which is at most 2^program_log.
        self.launched(unsafe { launch.launch(config) }.map(|_| ()))
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
}
