// The kernels compiled for the host (see cuda_emu.h), each behind a C entry point that takes the
// launch shape first. Tests call these to check the kernels' logic without a GPU.
#include "cuda_emu.h"

#include "../bit_reverse.cu"
#include "../blake2s.cu"
#include "../circle_fft.cu"
#include "../columns.cu"
#include "../cpu_constraints.cu"
#include "../table_constraints.cu"
#include "../fri.cu"
#include "../interaction.cu"
#include "../witness.cu"
#include "../quotients.cu"
#include "../reduce.cu"

extern "C" {

unsigned long long emu_launches() {
    return emu_launch_count.load(std::memory_order_relaxed);
}

void emu_bit_reverse(u32 grid, u32 block, u32* values, u32 log_n) {
    emu_launch(grid, block, [&] { bit_reverse(values, log_n); });
}

void emu_fft_layers(u32 grid, u32 block, u32* values, const u32* twiddles, u32 offset0,
                    u32 offset1, u32 offset2, u32 low, u32 n_layers, u32 n, u32 n_columns) {
    emu_launch(grid, block, [&] {
        fft_layers(values, twiddles, offset0, offset1, offset2, low, n_layers, n, n_columns);
    });
}

void emu_ifft_layers(u32 grid, u32 block, u32* values, const u32* itwiddles, u32 offset0,
                     u32 offset1, u32 offset2, u32 low, u32 n_layers, u32 n, u32 n_columns) {
    emu_launch(grid, block, [&] {
        ifft_layers(values, itwiddles, offset0, offset1, offset2, low, n_layers, n, n_columns);
    });
}

void emu_fft_pass(u32 grid, u32 block, u32* const* columns, const u32* const* sources,
                  const u32* twiddles, const FftPass* pass) {
    emu_launch_blocks(grid, block, [&] { fft_pass(columns, sources, twiddles, *pass); });
}

void emu_ifft_pass(u32 grid, u32 block, u32* const* columns, const u32* const* sources,
                   const u32* itwiddles, const FftPass* pass) {
    emu_launch_blocks(grid, block, [&] { ifft_pass(columns, sources, itwiddles, *pass); });
}

void emu_scale(u32 grid, u32 block, u32* values, u32 factor, u32 n) {
    emu_launch(grid, block, [&] { scale(values, factor, n); });
}

void emu_fri_fold(u32 grid, u32 block, const u32* src, u32 n_in, u32* dst, const u32* itwiddles,
                  u32 offset, u32 circle, const u32* alpha) {
    emu_launch(grid, block, [&] {
        fri_fold(src, n_in, dst, itwiddles, offset, circle, alpha[0], alpha[1], alpha[2], alpha[3]);
    });
}

void emu_merkle_leaves(u32 grid, u32 block, const u32* columns, u32 n_columns, u32 lifting_log,
                       u32* out) {
    emu_launch(grid, block, [&] { merkle_leaves(columns, n_columns, lifting_log, out); });
}

void emu_merkle_layers(u32 grid, u32 block, const u32* children, u32 n_parents, u32 n_layers,
                       u32* const* layers) {
    emu_launch_blocks(grid, block, [&] { merkle_layers(children, n_parents, n_layers, layers); });
}

void emu_merkle_parents(u32 grid, u32 block, const u32* children, u32 n_parents, u32* out) {
    emu_launch(grid, block, [&] { merkle_parents(children, n_parents, out); });
}

void emu_eval_many_partials(u32 grid, u32 block, const u32* const* columns, u32 n_columns,
                            u32 log_n, const u32* factors, u32 chunk_log, u32 lanes,
                            u32* partials) {
    emu_launch(grid, block, [&] {
        eval_many_partials(columns, n_columns, log_n, factors, chunk_log, lanes, partials);
    });
}

void emu_run_sums(u32 grid, u32 block, const u32* values, u32 run, u32 n_runs, u32* out) {
    emu_launch(grid, block, [&] { run_sums(values, run, n_runs, out); });
}

void emu_copy_many(u32 grid, u32 block, const u32* plan, u32 n_copies, u32 n) {
    emu_launch(grid, block, [&] { copy_many(plan, n_copies, n); });
}

void emu_gather_many(u32 grid, u32 block, const u32* plan, u32 n_sources, u32 max_rows,
                     u32* out) {
    emu_launch(grid, block, [&] { gather_many(plan, n_sources, max_rows, out); });
}

void emu_pow_grind(u32 grid, u32 block, const u32* prefixed, u32 first_hi, u32 n_chunks,
                   u32 low_bits, u32 pow_bits, u32* found) {
    const u32* p = prefixed;
    emu_launch(grid, block, [&] {
        pow_grind(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], first_hi, n_chunks, low_bits,
                  pow_bits, found);
    });
}

void emu_pack_leaves(u32 grid, u32 block, const u32* const* coords, u32 n_packed,
                     u32* const* out) {
    const u32* const* c = coords;
    u32* const* o = out;
    emu_launch(grid, block, [&] {
        pack_leaves(c[0], c[1], c[2], c[3], n_packed, o[0], o[1], o[2], o[3], o[4], o[5], o[6],
                    o[7], o[8], o[9], o[10], o[11], o[12], o[13], o[14], o[15]);
    });
}

void emu_quotient_numerators(u32 grid, u32 block, const u32* values, u32 n, const u32* terms,
                             u32 n_terms, const u32* sum_b, u32 n_rows, u32* partials,
                             u32 out_offset) {
    emu_launch(grid, block, [&] {
        quotient_numerators(values, n, terms, n_terms, sum_b[0], sum_b[1], sum_b[2], sum_b[3],
                            n_rows, partials, out_offset);
    });
}

void emu_quotient_combine(u32 grid, u32 block, const u32* partials, const u32* offsets,
                          const u32* log_sizes, const u32* samples, u32 n_samples,
                          const u32* points, u32 log_rows, u32* out) {
    emu_launch(grid, block, [&] {
        quotient_combine(partials, offsets, log_sizes, samples, n_samples, points, log_rows, out);
    });
}

void emu_copy_range(u32 grid, u32 block, const u32* src, u32 src_start, u32* dst, u32 dst_start,
                    u32 n) {
    emu_launch(grid, block, [&] { copy_range(src, src_start, dst, dst_start, n); });
}

void emu_add_assign(u32 grid, u32 block, u32* acc, const u32* other, u32 n) {
    emu_launch(grid, block, [&] { add_assign(acc, other, n); });
}

void emu_gather(u32 grid, u32 block, const u32* src, const u32* indices, u32 n, u32 words,
                u32* out, u32 out_start) {
    emu_launch(grid, block, [&] { gather(src, indices, n, words, out, out_start); });
}

void emu_lift_add(u32 grid, u32 block, u32* acc, const u32* small, u32 n, u32 log_ratio) {
    emu_launch(grid, block, [&] { lift_add(acc, small, n, log_ratio); });
}

void emu_eval_poly_partials(u32 grid, u32 block, const u32* coeffs, u32 log_n,
                            const u32* factors, u32 chunk_log, u32* partials) {
    emu_launch(grid, block, [&] { eval_poly_partials(coeffs, log_n, factors, chunk_log, partials); });
}

void emu_secure_sum_partials(u32 grid, u32 block, const u32* column, u32 n, u32 start, u32 count,
                             u32* partials) {
    emu_launch(grid, block, [&] { secure_sum_partials(column, n, start, count, partials); });
}

void emu_decompose_apply(u32 grid, u32 block, u32* column, u32 n, const u32* lambda) {
    emu_launch(grid, block,
               [&] { decompose_apply(column, n, lambda[0], lambda[1], lambda[2], lambda[3]); });
}

#define EMU_CONSTRAINTS(name)                                                                 \
    void emu_##name(u32 grid, u32 block, const u32* trace, const u32* interaction, u32 trace_log,  \
                    u32 eval_log, const u32* coeffs, const u32* challenges, const u32* denom_inv,  \
                    u32* accum) {                                                                  \
        emu_launch(grid, block, [&] {                                                              \
            name(trace, interaction, trace_log, eval_log, coeffs, challenges, denom_inv, accum);   \
        });                                                                                        \
    }
EMU_CONSTRAINTS(cpu_constraint_quotients)
EMU_CONSTRAINTS(program_table_quotients)
EMU_CONSTRAINTS(range12_table_quotients)
EMU_CONSTRAINTS(range5_table_quotients)
EMU_CONSTRAINTS(register_memory_quotients)
EMU_CONSTRAINTS(data_memory_quotients)

void emu_cpu_interaction_columns(u32 grid, u32 block, const u32* trace, u32 log_n,
                                 const u32* challenges, u32* out) {
    emu_launch(grid, block, [&] { cpu_interaction_columns(trace, log_n, challenges, out); });
}

void emu_fill_cpu_columns(u32 grid, u32 block, const u32* records, u32 n_steps, const u32* code,
                          u32 n_code, u32 log_n, u32* out) {
    emu_launch(grid, block, [&] { fill_cpu_columns(records, n_steps, code, n_code, log_n, out); });
}

void emu_count_lookups(u32 grid, u32 block, const u32* records, u32 n_steps, const u32* code,
                       u32 n_code, u32 program_log, u32* counts) {
    emu_launch_blocks(grid, block,
                      [&] { count_lookups(records, n_steps, code, n_code, program_log, counts); });
}

void emu_prefix_sum_partials(u32 grid, u32 block, const u32* columns, u32 first, u32 log_n,
                             u32 chunk_log, const u32* shift, u32* partials) {
    emu_launch(grid, block, [&] {
        prefix_sum_partials(columns, first, log_n, chunk_log, shift[0], shift[1], shift[2],
                            shift[3], partials);
    });
}

void emu_prefix_sum_apply(u32 grid, u32 block, u32* columns, u32 first, u32 log_n, u32 chunk_log,
                          const u32* shift, const u32* starts) {
    emu_launch(grid, block, [&] {
        prefix_sum_apply(columns, first, log_n, chunk_log, shift[0], shift[1], shift[2], shift[3],
                         starts);
    });
}

void emu_zero_from(u32 grid, u32 block, u32* values, u32 from, u32 n, u32 n_columns) {
    emu_launch(grid, block, [&] { zero_from(values, from, n, n_columns); });
}

}
