// DEEP quotients (stwo's `QuotientOps` for its CPU backend).
//
// `quotient_numerators`: for one batch of columns sampled at one point, row r of the evaluation
// subdomain gets Σ_j (c_j · column_{k_j}[r] − b_j), c_j and b_j the batch's line coefficients
// (`accumulate_row_partial_numerators`).
//
// `quotient_combine`: row r of the subdomain, at domain point (x, y), gets
// Σ_s (partial_s[lift(r)] − a_s · y) · 1/d_s, with d_s = (Re pₓ − x)·Im p_y − (Re p_y − y)·Im pₓ
// in CM31 for sample point p of batch s (`denominator_inverses`), a_s the batch's summed first
// line coefficient, and lift(r) the lifted index of a partial column shorter than the subdomain.
#include "m31.cuh"

// `values`: the batch's source columns of `n` values each, column k from k·n. `terms`: five words
// per term, the column index and then c_j. `sum_b` is Σ_j b_j. Writes a secure column of
// `n_rows` values (the subdomain's rows, the first of each column) at `partials + out_offset`.
extern "C" __global__ void quotient_numerators(const u32* values, u32 n, const u32* terms,
                                               u32 n_terms, u32 b0, u32 b1, u32 b2, u32 b3,
                                               u32 n_rows, u32* partials, u32 out_offset) {
    u32* out = partials + out_offset;
    qm31 sum_b = {b0, b1, b2, b3};
    for (u32 row = grid_start(); row < n_rows; row += grid_stride()) {
        qm31 acc = {0, 0, 0, 0};
        for (u32 j = 0; j < n_terms; j++) {
            const u32* t = terms + 5 * j;
            qm31 c = {t[1], t[2], t[3], t[4]};
            acc = qm31_add(acc, qm31_mul_m31(c, values[(u64)t[0] * n + row]));
        }
        qm31_store(out, n_rows, row, qm31_sub(acc, sum_b));
    }
}

// `partials`: the batches' numerator columns one after another, batch s from offsets[s] with
// 2^log_sizes[s] rows (coordinate-major within it). `samples`: twelve words per batch: a_s, then
// pₓ and p_y (four words each, as `SecureField` coordinates: the first two are the real part).
// `points`: x and y of each subdomain row, in bit-reversed order, 2·n_rows words.
extern "C" __global__ void quotient_combine(const u32* partials, const u32* offsets,
                                            const u32* log_sizes, const u32* samples,
                                            u32 n_samples, const u32* points, u32 log_rows,
                                            u32* out) {
    u32 n_rows = 1u << log_rows;
    for (u32 row = grid_start(); row < n_rows; row += grid_stride()) {
        u32 x = points[2 * row];
        u32 y = points[2 * row + 1];
        qm31 q = {0, 0, 0, 0};
        for (u32 s = 0; s < n_samples; s++) {
            const u32* p = samples + 12 * s;
            qm31 first = {p[0], p[1], p[2], p[3]};
            // Re pₓ = (p[4], p[5]), Im pₓ = (p[6], p[7]); Re p_y = (p[8], p[9]), Im p_y = (p[10], p[11]).
            u32 t0, t1, w0, w1;
            cm31_mul(m31_sub(p[4], x), p[5], p[10], p[11], &t0, &t1);
            cm31_mul(m31_sub(p[8], y), p[9], p[6], p[7], &w0, &w1);
            u32 i0, i1;
            cm31_inv(m31_sub(t0, w0), m31_sub(t1, w1), &i0, &i1);

            u32 ratio = log_rows - log_sizes[s];
            u32 lifted = ((row >> (ratio + 1)) << 1) + (row & 1);
            qm31 numerator = qm31_sub(qm31_load(partials + offsets[s], 1u << log_sizes[s], lifted),
                                      qm31_mul_m31(first, y));
            // (a + b·u)·c for c in CM31 is (a·c) + (b·c)·u.
            u32 r0, r1, r2, r3;
            cm31_mul(numerator.a, numerator.b, i0, i1, &r0, &r1);
            cm31_mul(numerator.c, numerator.d, i0, i1, &r2, &r3);
            q = qm31_add(q, qm31{r0, r1, r2, r3});
        }
        qm31_store(out, n_rows, row, q);
    }
}
