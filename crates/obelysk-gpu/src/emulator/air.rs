//! [`AirKernels`] on the host: each entry point checks its vectors' lengths (the C side trusts
//! them), then runs the kernel's C entry point.

use super::{check, ffi, Emulator};
use crate::ops::AirKernels;
use crate::Result;

impl AirKernels for Emulator {
    fn constraint_quotients(
        &self,
        function: &'static str,
        trace: &Vec<u32>,
        interaction: &Vec<u32>,
        trace_log: u32,
        eval_log: u32,
        coeffs: &Vec<u32>,
        challenges: &Vec<u32>,
        denom_inv: &Vec<u32>,
        accum: &mut Vec<u32>,
    ) -> Result<()> {
        let kernel = crate::codegen::constraint_kernel(function)
            .unwrap_or_else(|| panic!("no generated kernel {function}"));
        assert!(
            trace_log >= 1 && eval_log > trace_log && eval_log <= 30,
            "2^{trace_log} rows on 2^{eval_log}"
        );
        let n = 1usize << eval_log;
        check(trace, kernel.n_cells * n);
        check(interaction, kernel.n_interaction_columns * n);
        check(coeffs, 4 * kernel.n_constraints);
        check(challenges, crate::codegen::CHALLENGE_WORDS);
        check(denom_inv, 1 << (eval_log - trace_log));
        check(accum, 4 * n);
        let launch = match function {
            "cpu_constraint_quotients" => ffi::emu_cpu_constraint_quotients,
            "program_table_quotients" => ffi::emu_program_table_quotients,
            "range12_table_quotients" => ffi::emu_range12_table_quotients,
            "range5_table_quotients" => ffi::emu_range5_table_quotients,
            "register_memory_quotients" => ffi::emu_register_memory_quotients,
            "data_memory_quotients" => ffi::emu_data_memory_quotients,
            other => panic!("the emulator has no {other}"),
        };
        // SAFETY: every column and table the generated kernel reads was checked against the
        // sizes its generator reports (`ConstraintKernel`).
        unsafe {
            launch(
                self.grid,
                self.block,
                trace.as_ptr(),
                interaction.as_ptr(),
                trace_log,
                eval_log,
                coeffs.as_ptr(),
                challenges.as_ptr(),
                denom_inv.as_ptr(),
                accum.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn fill_cpu_columns(
        &self,
        records: &Vec<u32>,
        n_steps: u32,
        code: &Vec<u32>,
        n_code: u32,
        log_n: u32,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        crate::ops::check_cpu_fill(records.len(), n_steps, code.len(), n_code, log_n, out.len())?;
        // SAFETY: the records, the code and the output were checked; the kernel reads no pc
        // past `n_code`.
        unsafe {
            ffi::emu_fill_cpu_columns(
                self.grid,
                self.block,
                records.as_ptr(),
                n_steps,
                code.as_ptr(),
                n_code,
                log_n,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn count_lookups(
        &self,
        records: &Vec<u32>,
        n_steps: u32,
        code: &Vec<u32>,
        n_code: u32,
        program_log: u32,
        counts: &mut Vec<u32>,
    ) -> Result<()> {
        crate::ops::check_count_lookups(
            records.len(),
            n_steps,
            code.len(),
            n_code,
            program_log,
            counts.len(),
        )?;
        // SAFETY: the records, the code and the counts were checked; the kernel reads no pc past
        // `n_code`, which is at most 2^program_log.
        unsafe {
            ffi::emu_count_lookups(
                self.grid,
                self.block,
                records.as_ptr(),
                n_steps,
                code.as_ptr(),
                n_code,
                program_log,
                counts.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn interaction_columns(
        &self,
        trace: &Vec<u32>,
        log_n: u32,
        challenges: &Vec<u32>,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let (n_columns, n_cells) = crate::codegen::interaction_shape();
        assert!((1..=30).contains(&log_n), "2^{log_n} rows");
        let n = 1usize << log_n;
        check(trace, n_cells * n);
        check(challenges, crate::codegen::CHALLENGE_WORDS);
        check(out, n_columns * n);
        // SAFETY: the cells, the challenges and the output were checked against the
        // generator's shape.
        unsafe {
            ffi::emu_cpu_interaction_columns(
                self.grid,
                self.block,
                trace.as_ptr(),
                log_n,
                challenges.as_ptr(),
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn prefix_sum_partials(
        &self,
        columns: &Vec<u32>,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: [u32; 4],
        partials: &mut Vec<u32>,
    ) -> Result<()> {
        crate::ops::check_prefix_sum(columns.len(), first, log_n, chunk_log, partials.len())?;
        // SAFETY: the secure column and one partial per chunk were checked; the shift is four.
        unsafe {
            ffi::emu_prefix_sum_partials(
                self.grid,
                self.block,
                columns.as_ptr(),
                first,
                log_n,
                chunk_log,
                shift.as_ptr(),
                partials.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn prefix_sum_apply(
        &self,
        columns: &mut Vec<u32>,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: [u32; 4],
        starts: &Vec<u32>,
    ) -> Result<()> {
        crate::ops::check_prefix_sum(columns.len(), first, log_n, chunk_log, starts.len())?;
        // SAFETY: the secure column and one start per chunk were checked; the shift is four.
        unsafe {
            ffi::emu_prefix_sum_apply(
                self.grid,
                self.block,
                columns.as_mut_ptr(),
                first,
                log_n,
                chunk_log,
                shift.as_ptr(),
                starts.as_ptr(),
            )
        };
        Ok(())
    }
}
