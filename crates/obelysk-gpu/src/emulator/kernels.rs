//! [`Kernels`] on the host: each entry point checks its vectors' lengths (the C side trusts
//! them), then runs the kernel's C entry point.

use super::{check, ffi, Emulator};
use crate::ops::{
    check_eval_many, check_grind, check_merkle_layers, check_rows, concat_plan, gather_plan,
    leaves_table, lifted_len, split_plan, twiddles_read, FftPass, Gather, Kernels, Layers,
};
use crate::{GpuError, Result};

impl Kernels for Emulator {
    type Column = Vec<u32>;

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn len(&self, column: &Vec<u32>) -> usize {
        column.len()
    }

    fn threads(&self, _work: u32) -> u32 {
        self.grid * self.block
    }

    fn eval_threads(&self, _work: u32) -> u32 {
        self.grid * self.block
    }

    fn eval_poly_partials(
        &self,
        coeffs: &Vec<u32>,
        log_n: u32,
        factors: &Vec<u32>,
        chunk_log: u32,
        partials: &mut Vec<u32>,
    ) -> Result<()> {
        assert!(
            chunk_log <= log_n && chunk_log <= 12,
            "chunks of 2^{chunk_log}"
        );
        check(coeffs, 1 << log_n);
        check(factors, 4 * log_n as usize);
        check(partials, 4 * (self.grid * self.block) as usize);
        // SAFETY: coefficients, factors and one partial per thread were checked; chunks stay
        // within the stack array of reduce.cu (2^12).
        unsafe {
            ffi::emu_eval_poly_partials(
                self.grid,
                self.block,
                coeffs.as_ptr(),
                log_n,
                factors.as_ptr(),
                chunk_log,
                partials.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn eval_many_partials(
        &self,
        columns: &[&Vec<u32>],
        log_n: u32,
        factors: &Vec<u32>,
        chunk_log: u32,
        lanes: u32,
        partials: &mut Vec<u32>,
    ) -> Result<()> {
        check_eval_many(columns.len(), log_n, chunk_log, lanes)?;
        columns.iter().for_each(|c| check(c, 1 << log_n));
        check(factors, 4 * log_n as usize);
        check(partials, 4 * columns.len() * lanes as usize);
        let table: Vec<*const u32> = columns.iter().map(|c| c.as_ptr()).collect();
        // SAFETY: every column's coefficients, the factors and the partials were checked; chunks
        // stay within reduce.cu's stack array (2^12).
        unsafe {
            ffi::emu_eval_many_partials(
                self.grid,
                self.block,
                table.as_ptr(),
                u32::try_from(columns.len()).expect("checked"),
                log_n,
                factors.as_ptr(),
                chunk_log,
                lanes,
                partials.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn run_sums(&self, values: &Vec<u32>, run: u32, n_runs: u32, out: &mut Vec<u32>) -> Result<()> {
        check(values, 4 * run as usize * n_runs as usize);
        check(out, 4 * n_runs as usize);
        // SAFETY: both secure columns were checked.
        unsafe {
            ffi::emu_run_sums(
                self.grid,
                self.block,
                values.as_ptr(),
                run,
                n_runs,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn secure_sum_partials(
        &self,
        column: &Vec<u32>,
        n: u32,
        start: u32,
        count: u32,
        partials: &mut Vec<u32>,
    ) -> Result<()> {
        assert!(
            start as usize + count as usize <= n as usize,
            "a range past the column"
        );
        check(column, 4 * n as usize);
        check(partials, 4 * (self.grid * self.block) as usize);
        // SAFETY: the range lies in the column and there is one partial per thread.
        unsafe {
            ffi::emu_secure_sum_partials(
                self.grid,
                self.block,
                column.as_ptr(),
                n,
                start,
                count,
                partials.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn decompose_apply(&self, column: &mut Vec<u32>, n: u32, lambda: [u32; 4]) -> Result<()> {
        check(column, 4 * n as usize);
        // SAFETY: the column holds 4·n values; λ is four.
        unsafe {
            ffi::emu_decompose_apply(
                self.grid,
                self.block,
                column.as_mut_ptr(),
                n,
                lambda.as_ptr(),
            )
        };
        Ok(())
    }

    fn upload(&self, values: &[u32]) -> Result<Vec<u32>> {
        crate::traffic::upload(values.len());
        Ok(values.to_vec())
    }

    /// Filled with values above p, so that a value a kernel failed to write cannot pass.
    fn alloc(&self, n: usize) -> Result<Vec<u32>> {
        crate::traffic::allocation();
        Ok(vec![u32::MAX - 7; n])
    }

    fn download(&self, column: &Vec<u32>) -> Result<Vec<u32>> {
        crate::traffic::download(column.len());
        Ok(column.clone())
    }

    fn bit_reverse(&self, column: &mut Vec<u32>, log_n: u32) -> Result<()> {
        check(column, 1 << log_n);
        // SAFETY: the kernel touches indices below 2^log_n, which `check` guarantees exist.
        unsafe { ffi::emu_bit_reverse(self.grid, self.block, column.as_mut_ptr(), log_n) };
        Ok(())
    }

    fn fft_layers(
        &self,
        columns: &mut Vec<u32>,
        twiddles: &Vec<u32>,
        layers: Layers,
        n: u32,
        n_columns: u32,
    ) -> Result<()> {
        self.layers(
            ffi::emu_fft_layers,
            columns,
            twiddles,
            layers,
            (n, n_columns),
        )
    }

    fn ifft_layers(
        &self,
        columns: &mut Vec<u32>,
        itwiddles: &Vec<u32>,
        layers: Layers,
        n: u32,
        n_columns: u32,
    ) -> Result<()> {
        self.layers(
            ffi::emu_ifft_layers,
            columns,
            itwiddles,
            layers,
            (n, n_columns),
        )
    }

    fn fft_tile_log(&self) -> u32 {
        self.fft_tile_log
    }

    fn fft_pass(
        &self,
        columns: &mut [&mut Vec<u32>],
        sources: &[&Vec<u32>],
        twiddles: &Vec<u32>,
        pass: &FftPass,
    ) -> Result<()> {
        self.pass(ffi::emu_fft_pass, columns, sources, twiddles, pass)
    }

    fn ifft_pass(
        &self,
        columns: &mut [&mut Vec<u32>],
        sources: &[&Vec<u32>],
        itwiddles: &Vec<u32>,
        pass: &FftPass,
    ) -> Result<()> {
        self.pass(ffi::emu_ifft_pass, columns, sources, itwiddles, pass)
    }

    fn scale(&self, column: &mut Vec<u32>, factor: u32, n: u32) -> Result<()> {
        check(column, n as usize);
        // SAFETY: indices below n exist.
        unsafe { ffi::emu_scale(self.grid, self.block, column.as_mut_ptr(), factor, n) };
        Ok(())
    }

    fn zero_from(&self, columns: &mut Vec<u32>, from: u32, n: u32, n_columns: u32) -> Result<()> {
        assert!(from <= n, "zeros from {from} in columns of {n}");
        check(columns, n as usize * n_columns as usize);
        // SAFETY: n_columns columns of n values exist.
        unsafe {
            ffi::emu_zero_from(
                self.grid,
                self.block,
                columns.as_mut_ptr(),
                from,
                n,
                n_columns,
            )
        };
        Ok(())
    }

    fn fri_fold(
        &self,
        src: &Vec<u32>,
        n_in: u32,
        dst: &mut Vec<u32>,
        itwiddles: &Vec<u32>,
        offset: u32,
        circle: bool,
        alpha: [u32; 4],
    ) -> Result<()> {
        let n_out = (n_in / 2) as usize;
        check(src, 4 * n_in as usize);
        check(dst, 4 * n_out);
        check(
            itwiddles,
            offset as usize + twiddles_read(u32::from(!circle), n_out as u32),
        );
        // SAFETY: the kernel reads 4·n_in values of `src`, writes 4·(n_in / 2) of `dst` and
        // reads the twiddles checked above; `alpha` is four values.
        unsafe {
            ffi::emu_fri_fold(
                self.grid,
                self.block,
                src.as_ptr(),
                n_in,
                dst.as_mut_ptr(),
                itwiddles.as_ptr(),
                offset,
                u32::from(circle),
                alpha.as_ptr(),
            )
        };
        Ok(())
    }

    fn merkle_leaves(
        &self,
        columns: &[&Vec<u32>],
        log_sizes: &[u32],
        lifting_log: u32,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let table = leaves_table(
            columns,
            log_sizes,
            lifting_log,
            |c| c.len(),
            |c| c.as_ptr() as u64,
        )?;
        check(out, 8 << lifting_log);
        // SAFETY: the table holds each column's address and a log size it holds the values of
        // (`leaves_table`); `out` holds 8 words per leaf.
        unsafe {
            ffi::emu_merkle_leaves(
                self.grid,
                self.block,
                table.as_ptr(),
                u32::try_from(columns.len()).expect("a tree's columns fit"),
                lifting_log,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn merkle_parents(
        &self,
        children: &Vec<u32>,
        n_parents: u32,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        check(children, 16 * n_parents as usize);
        check(out, 8 * n_parents as usize);
        // SAFETY: 16 words read and 8 written per parent, both checked.
        unsafe {
            ffi::emu_merkle_parents(
                self.grid,
                self.block,
                children.as_ptr(),
                n_parents,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn merkle_layers(
        &self,
        children: &Vec<u32>,
        n_parents: u32,
        layers: &mut [&mut Vec<u32>],
    ) -> Result<()> {
        let lens: Vec<usize> = layers.iter().map(|l| l.len()).collect();
        check_merkle_layers(n_parents, children.len(), &lens)?;
        let table: Vec<*mut u32> = layers.iter_mut().map(|l| l.as_mut_ptr()).collect();
        // SAFETY: the children and every layer hold what the kernel reads and writes (checked).
        unsafe {
            ffi::emu_merkle_layers(
                self.grid,
                self.block,
                children.as_ptr(),
                n_parents,
                lens.len() as u32,
                table.as_ptr(),
            )
        };
        Ok(())
    }

    fn pow_grind(
        &self,
        prefixed: [u32; 8],
        first_hi: u32,
        n_chunks: u32,
        low_bits: u32,
        pow_bits: u32,
        found: &mut Vec<u32>,
    ) -> Result<()> {
        check_grind(n_chunks, low_bits, found.len())?;
        // SAFETY: one word written per chunk, checked.
        unsafe {
            ffi::emu_pow_grind(
                self.grid,
                self.block,
                prefixed.as_ptr(),
                first_hi,
                n_chunks,
                low_bits,
                pow_bits,
                found.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn pack_leaves(
        &self,
        coordinates: [&Vec<u32>; 4],
        n_packed: u32,
        out: &mut [Vec<u32>; 16],
    ) -> Result<()> {
        let n = n_packed as usize;
        coordinates.iter().for_each(|c| check(c, 4 * n));
        out.iter().for_each(|o| check(o, n));
        let coords = coordinates.map(|c| c.as_ptr());
        let outs = out.each_mut().map(|o| o.as_mut_ptr());
        // SAFETY: 4·n_packed words read from each coordinate and n_packed written to each
        // output, all checked; the 16 outputs are distinct vectors.
        unsafe {
            ffi::emu_pack_leaves(
                self.grid,
                self.block,
                coords.as_ptr(),
                n_packed,
                outs.as_ptr(),
            )
        };
        Ok(())
    }

    fn quotient_numerators(
        &self,
        columns: &Vec<u32>,
        n: u32,
        terms: &Vec<u32>,
        n_terms: u32,
        sum_b: [u32; 4],
        n_rows: u32,
        partials: &mut Vec<u32>,
        out_offset: u32,
    ) -> Result<()> {
        check(terms, 5 * n_terms as usize);
        for t in terms.chunks(5).take(n_terms as usize) {
            check(columns, (t[0] as usize + 1) * n as usize);
        }
        assert!(n_rows <= n, "{n_rows} rows of columns of {n}");
        check(partials, out_offset as usize + 4 * n_rows as usize);
        // SAFETY: every column a term names lies in `columns`, rows stay below n, and the
        // output block fits `partials` (all checked above).
        unsafe {
            ffi::emu_quotient_numerators(
                self.grid,
                self.block,
                columns.as_ptr(),
                n,
                terms.as_ptr(),
                n_terms,
                sum_b.as_ptr(),
                n_rows,
                partials.as_mut_ptr(),
                out_offset,
            )
        };
        Ok(())
    }

    fn quotient_combine(
        &self,
        partials: &Vec<u32>,
        offsets: &Vec<u32>,
        log_sizes: &Vec<u32>,
        samples: &Vec<u32>,
        n_samples: u32,
        points: &Vec<u32>,
        log_rows: u32,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let n = n_samples as usize;
        check(offsets, n);
        check(log_sizes, n);
        check(samples, 12 * n);
        for s in 0..n {
            assert!(
                (1..=log_rows).contains(&log_sizes[s]),
                "batch {s}: 2^{} rows on a subdomain of 2^{log_rows}",
                log_sizes[s]
            );
            check(partials, offsets[s] as usize + (4 << log_sizes[s]));
        }
        check(points, 2 << log_rows);
        check(out, 4 << log_rows);
        // SAFETY: every batch's block lies in `partials`, and the point and output columns
        // hold 2^log_rows rows (all checked above).
        unsafe {
            ffi::emu_quotient_combine(
                self.grid,
                self.block,
                partials.as_ptr(),
                offsets.as_ptr(),
                log_sizes.as_ptr(),
                samples.as_ptr(),
                n_samples,
                points.as_ptr(),
                log_rows,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn copy_range(
        &self,
        src: &Vec<u32>,
        src_start: u32,
        dst: &mut Vec<u32>,
        dst_start: u32,
        n: u32,
    ) -> Result<()> {
        check(src, src_start as usize + n as usize);
        check(dst, dst_start as usize + n as usize);
        // SAFETY: both ranges were checked.
        unsafe {
            ffi::emu_copy_range(
                self.grid,
                self.block,
                src.as_ptr(),
                src_start,
                dst.as_mut_ptr(),
                dst_start,
                n,
            )
        };
        Ok(())
    }

    fn add_assign(&self, acc: &mut Vec<u32>, other: &Vec<u32>, n: u32) -> Result<()> {
        check(acc, n as usize);
        check(other, n as usize);
        // SAFETY: both columns hold n values.
        unsafe { ffi::emu_add_assign(self.grid, self.block, acc.as_mut_ptr(), other.as_ptr(), n) };
        Ok(())
    }

    fn gather(
        &self,
        src: &Vec<u32>,
        rows: &[u32],
        words: u32,
        out: &mut Vec<u32>,
        out_start: u32,
    ) -> Result<()> {
        check_rows(rows, src.len(), words)?;
        let n = u32::try_from(rows.len())
            .map_err(|_| GpuError::Unsupported("2^32 rows in one gather".into()))?;
        if out.len() < out_start as usize + rows.len() * words as usize {
            return Err(GpuError::Unsupported(format!(
                "a gather of {n} rows from word {out_start} of {} words",
                out.len()
            )));
        }
        // SAFETY: every row's words lie in `src` and `out` holds n·words values (checked).
        unsafe {
            ffi::emu_gather(
                self.grid,
                self.block,
                src.as_ptr(),
                rows.as_ptr(),
                n,
                words,
                out.as_mut_ptr(),
                out_start,
            )
        };
        Ok(())
    }

    fn concat(
        &self,
        parts: &[(&Vec<u32>, usize)],
        n: usize,
        stride: usize,
        out: &mut Vec<u32>,
        out_start: usize,
    ) -> Result<()> {
        let parts: Vec<_> = parts
            .iter()
            .map(|(src, start)| ((src.as_ptr() as u64, src.len()), *start))
            .collect();
        let out = (out.as_mut_ptr() as u64, out.len());
        self.copy_many(
            &concat_plan(&parts, out, n, stride, out_start)?,
            parts.len(),
            n,
        );
        Ok(())
    }

    fn split_into(
        &self,
        src: &Vec<u32>,
        start: usize,
        stride: usize,
        n: usize,
        outs: &mut [&mut Vec<u32>],
    ) -> Result<()> {
        let src = (src.as_ptr() as u64, src.len());
        let outs: Vec<_> = outs
            .iter_mut()
            .map(|out| (out.as_mut_ptr() as u64, out.len()))
            .collect();
        self.copy_many(&split_plan(src, start, stride, &outs, n)?, outs.len(), n);
        Ok(())
    }

    fn gather_many(&self, gathers: &[Gather<'_, Vec<u32>>], out: &mut Vec<u32>) -> Result<()> {
        let (plan, max_rows) = gather_plan(gathers, |c| c.len(), |c| c.as_ptr() as u64, out.len())?;
        let n_sources = u32::try_from(gathers.len()).expect("a plan's length fits");
        // SAFETY: the plan holds each source's address, and every row and output range was
        // checked against its vector (`gather_plan`).
        unsafe {
            ffi::emu_gather_many(
                self.grid,
                self.block,
                plan.as_ptr(),
                n_sources,
                max_rows,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn lift_add(&self, acc: &mut Vec<u32>, small: &Vec<u32>, n: u32, log_ratio: u32) -> Result<()> {
        check(acc, n as usize);
        check(small, lifted_len(n, log_ratio)?);
        // SAFETY: `acc` holds n values and `small` every index the lift reads.
        unsafe {
            ffi::emu_lift_add(
                self.grid,
                self.block,
                acc.as_mut_ptr(),
                small.as_ptr(),
                n,
                log_ratio,
            )
        };
        Ok(())
    }
}
