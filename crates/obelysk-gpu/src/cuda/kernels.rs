//! [`Kernels`] on a CUDA device: each entry point checks its buffers' lengths, then launches.

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};

use super::{CudaKernels, BLOCK, PINNED_UPLOAD_WORDS};
use crate::ops::{
    check_eval_many, check_grind, check_merkle_layers, check_rows, concat_plan, gather_plan,
    leaves_table, lifted_len, split_plan, twiddles_read, FftPass, Gather, Kernels, Layers,
};
use crate::{GpuError, Result};

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
        let table = self.address_table(columns.iter().map(|c| self.address(c)))?;
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

    fn fft_tile_log(&self) -> u32 {
        self.fft_tile_log
    }

    fn fft_pass(
        &self,
        columns: &mut [&mut CudaSlice<u32>],
        sources: &[&CudaSlice<u32>],
        twiddles: &CudaSlice<u32>,
        pass: &FftPass,
    ) -> Result<()> {
        self.pass("fft_pass", columns, sources, twiddles, pass)
    }

    fn ifft_pass(
        &self,
        columns: &mut [&mut CudaSlice<u32>],
        sources: &[&CudaSlice<u32>],
        itwiddles: &CudaSlice<u32>,
        pass: &FftPass,
    ) -> Result<()> {
        self.pass("ifft_pass", columns, sources, itwiddles, pass)
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

    fn merkle_layers(
        &self,
        children: &CudaSlice<u32>,
        n_parents: u32,
        layers: &mut [&mut CudaSlice<u32>],
    ) -> Result<()> {
        let lens: Vec<usize> = layers.iter().map(|l| l.len()).collect();
        check_merkle_layers(n_parents, children.len(), &lens)?;
        let n_layers = lens.len() as u32;
        let table = self.address_table(layers.iter().map(|l| self.address(l)))?;
        let mut launch = self.stream.launch_builder(self.function("merkle_layers"));
        launch
            .arg(children)
            .arg(&n_parents)
            .arg(&n_layers)
            .arg(&table);
        // One block per subtree: the kernel loops over any more.
        let config = LaunchConfig {
            grid_dim: ((n_parents >> (n_layers - 1)).min(1 << 16), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `merkle_layers(const u32*, u32, u32, u32* const*)`; the table holds the
        // address of each layer, which the caller keeps alive until the launch is done, and the
        // children and layers hold what the kernel reads and writes (checked).
        self.launched(unsafe { launch.launch(config) }.map(|_| ()))
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
        out_start: usize,
    ) -> Result<()> {
        let parts: Vec<_> = parts
            .iter()
            .map(|(src, start)| ((src.device_ptr(&self.stream).0, src.len()), *start))
            .collect();
        let out_len = out.len();
        let out = (out.device_ptr_mut(&self.stream).0, out_len);
        self.copy_many(
            &concat_plan(&parts, out, n, stride, out_start)?,
            parts.len(),
            n,
        )
    }

    fn split_into(
        &self,
        src: &CudaSlice<u32>,
        start: usize,
        stride: usize,
        n: usize,
        outs: &mut [&mut CudaSlice<u32>],
    ) -> Result<()> {
        let src = (src.device_ptr(&self.stream).0, src.len());
        let outs: Vec<_> = outs
            .iter_mut()
            .map(|out| {
                let len = out.len();
                (out.device_ptr_mut(&self.stream).0, len)
            })
            .collect();
        self.copy_many(&split_plan(src, start, stride, &outs, n)?, outs.len(), n)
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
