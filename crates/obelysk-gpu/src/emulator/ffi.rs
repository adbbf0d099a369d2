//! The C entry points of `kernels/emu/host.cpp`, one per kernel: the launch shape first, then
//! the kernel's own arguments.

use crate::ops::FftPass;

extern "C" {
    /// Kernel launches so far, from every thread.
    pub fn emu_launches() -> u64;
    pub fn emu_bit_reverse(grid: u32, block: u32, values: *mut u32, log_n: u32);
    pub fn emu_fft_layers(
        grid: u32,
        block: u32,
        values: *mut u32,
        twiddles: *const u32,
        offset0: u32,
        offset1: u32,
        offset2: u32,
        low: u32,
        n_layers: u32,
        n: u32,
        n_columns: u32,
    );
    pub fn emu_ifft_layers(
        grid: u32,
        block: u32,
        values: *mut u32,
        itwiddles: *const u32,
        offset0: u32,
        offset1: u32,
        offset2: u32,
        low: u32,
        n_layers: u32,
        n: u32,
        n_columns: u32,
    );
    pub fn emu_fft_pass(
        grid: u32,
        block: u32,
        columns: *const *mut u32,
        sources: *const *const u32,
        twiddles: *const u32,
        pass: *const FftPass,
    );
    pub fn emu_ifft_pass(
        grid: u32,
        block: u32,
        columns: *const *mut u32,
        sources: *const *const u32,
        itwiddles: *const u32,
        pass: *const FftPass,
    );
    pub fn emu_scale(grid: u32, block: u32, values: *mut u32, factor: u32, n: u32);
    pub fn emu_zero_from(
        grid: u32,
        block: u32,
        values: *mut u32,
        from: u32,
        n: u32,
        n_columns: u32,
    );
    pub fn emu_merkle_leaves(
        grid: u32,
        block: u32,
        columns: *const u32,
        n_columns: u32,
        lifting_log: u32,
        out: *mut u32,
    );
    pub fn emu_merkle_layers(
        grid: u32,
        block: u32,
        children: *const u32,
        n_parents: u32,
        n_layers: u32,
        layers: *const *mut u32,
    );
    pub fn emu_merkle_parents(
        grid: u32,
        block: u32,
        children: *const u32,
        n_parents: u32,
        out: *mut u32,
    );
    pub fn emu_eval_many_partials(
        grid: u32,
        block: u32,
        columns: *const *const u32,
        n_columns: u32,
        log_n: u32,
        factors: *const u32,
        chunk_log: u32,
        lanes: u32,
        partials: *mut u32,
    );
    pub fn emu_run_sums(
        grid: u32,
        block: u32,
        values: *const u32,
        run: u32,
        n_runs: u32,
        out: *mut u32,
    );
    pub fn emu_copy_many(grid: u32, block: u32, plan: *const u32, n_copies: u32, n: u32);
    pub fn emu_gather_many(
        grid: u32,
        block: u32,
        plan: *const u32,
        n_sources: u32,
        max_rows: u32,
        out: *mut u32,
    );
    pub fn emu_pow_grind(
        grid: u32,
        block: u32,
        prefixed: *const u32,
        first_hi: u32,
        n_chunks: u32,
        low_bits: u32,
        pow_bits: u32,
        found: *mut u32,
    );
    pub fn emu_pack_leaves(
        grid: u32,
        block: u32,
        coords: *const *const u32,
        n_packed: u32,
        out: *const *mut u32,
    );
    pub fn emu_quotient_numerators(
        grid: u32,
        block: u32,
        values: *const u32,
        n: u32,
        terms: *const u32,
        n_terms: u32,
        sum_b: *const u32,
        n_rows: u32,
        partials: *mut u32,
        out_offset: u32,
    );
    pub fn emu_quotient_combine(
        grid: u32,
        block: u32,
        partials: *const u32,
        offsets: *const u32,
        log_sizes: *const u32,
        samples: *const u32,
        n_samples: u32,
        points: *const u32,
        log_rows: u32,
        out: *mut u32,
    );
    pub fn emu_copy_range(
        grid: u32,
        block: u32,
        src: *const u32,
        src_start: u32,
        dst: *mut u32,
        dst_start: u32,
        n: u32,
    );
    pub fn emu_add_assign(grid: u32, block: u32, acc: *mut u32, other: *const u32, n: u32);
    pub fn emu_gather(
        grid: u32,
        block: u32,
        src: *const u32,
        indices: *const u32,
        n: u32,
        words: u32,
        out: *mut u32,
        out_start: u32,
    );
    pub fn emu_lift_add(
        grid: u32,
        block: u32,
        acc: *mut u32,
        small: *const u32,
        n: u32,
        log_ratio: u32,
    );
    pub fn emu_eval_poly_partials(
        grid: u32,
        block: u32,
        coeffs: *const u32,
        log_n: u32,
        factors: *const u32,
        chunk_log: u32,
        partials: *mut u32,
    );
    pub fn emu_secure_sum_partials(
        grid: u32,
        block: u32,
        column: *const u32,
        n: u32,
        start: u32,
        count: u32,
        partials: *mut u32,
    );
    pub fn emu_decompose_apply(grid: u32, block: u32, column: *mut u32, n: u32, lambda: *const u32);
    pub fn emu_fill_cpu_columns(
        grid: u32,
        block: u32,
        records: *const u32,
        n_steps: u32,
        code: *const u32,
        n_code: u32,
        log_n: u32,
        out: *mut u32,
    );
    pub fn emu_count_lookups(
        grid: u32,
        block: u32,
        records: *const u32,
        n_steps: u32,
        code: *const u32,
        n_code: u32,
        program_log: u32,
        counts: *mut u32,
    );
    pub fn emu_cpu_interaction_columns(
        grid: u32,
        block: u32,
        trace: *const u32,
        log_n: u32,
        challenges: *const u32,
        out: *mut u32,
    );
    pub fn emu_prefix_sum_partials(
        grid: u32,
        block: u32,
        columns: *const u32,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: *const u32,
        partials: *mut u32,
    );
    pub fn emu_prefix_sum_apply(
        grid: u32,
        block: u32,
        columns: *mut u32,
        first: u32,
        log_n: u32,
        chunk_log: u32,
        shift: *const u32,
        starts: *const u32,
    );
    pub fn emu_cpu_constraint_quotients(
        grid: u32,
        block: u32,
        trace: *const u32,
        interaction: *const u32,
        trace_log: u32,
        eval_log: u32,
        coeffs: *const u32,
        challenges: *const u32,
        denom_inv: *const u32,
        accum: *mut u32,
    );
    pub fn emu_program_table_quotients(
        grid: u32,
        block: u32,
        trace: *const u32,
        interaction: *const u32,
        trace_log: u32,
        eval_log: u32,
        coeffs: *const u32,
        challenges: *const u32,
        denom_inv: *const u32,
        accum: *mut u32,
    );
    pub fn emu_range12_table_quotients(
        grid: u32,
        block: u32,
        trace: *const u32,
        interaction: *const u32,
        trace_log: u32,
        eval_log: u32,
        coeffs: *const u32,
        challenges: *const u32,
        denom_inv: *const u32,
        accum: *mut u32,
    );
    pub fn emu_range5_table_quotients(
        grid: u32,
        block: u32,
        trace: *const u32,
        interaction: *const u32,
        trace_log: u32,
        eval_log: u32,
        coeffs: *const u32,
        challenges: *const u32,
        denom_inv: *const u32,
        accum: *mut u32,
    );
    pub fn emu_register_memory_quotients(
        grid: u32,
        block: u32,
        trace: *const u32,
        interaction: *const u32,
        trace_log: u32,
        eval_log: u32,
        coeffs: *const u32,
        challenges: *const u32,
        denom_inv: *const u32,
        accum: *mut u32,
    );
    pub fn emu_data_memory_quotients(
        grid: u32,
        block: u32,
        trace: *const u32,
        interaction: *const u32,
        trace_log: u32,
        eval_log: u32,
        coeffs: *const u32,
        challenges: *const u32,
        denom_inv: *const u32,
        accum: *mut u32,
    );
    pub fn emu_fri_fold(
        grid: u32,
        block: u32,
        src: *const u32,
        n_in: u32,
        dst: *mut u32,
        itwiddles: *const u32,
        offset: u32,
        circle: u32,
        alpha: *const u32,
    );
}
