// Sums over whole columns, in two steps: every thread of the launch writes its partial result
// (a QM31, four words at 4·thread) and the host adds the partials. No shared memory, no atomics.
// `eval_poly_partials` is wider: its partials are a secure column, which `secure_sum_partials`
// reduces on the device first.
#include "m31.cuh"

__device__ __forceinline__ u32 thread_index() { return blockIdx.x * blockDim.x + threadIdx.x; }

// `PolyOps::eval_at_point` (stwo's `fold`): Σ_i coeffs[i] · Π_{bit b of i set} factor(b), where
// factor(b) = factors[log_n − 1 − b] (four words each) and bit log_n − 1 is the first split.
// Each chunk of 2^chunk_log coefficients is folded bottom-up with a stack of partial folds,
// then weighted by the factors of its index's high bits.
#define MAX_CHUNK_LOG 12
__device__ __forceinline__ qm31 fold_chunk(const u32* coeffs, u32 log_n, const u32* factors,
                                           u32 chunk_log, u32 c) {
    u32 chunk = 1u << chunk_log;
    const u32* values = coeffs + (u64)c * chunk;
    qm31 v;
    if (chunk_log == 0) {
        v = qm31_from_m31(values[0]);
    } else {
        // The first fold of each pair multiplies a base-field value: a quarter of the cost of
        // an extension-field product, on half of the folds.
        const u32* f0 = factors + 4 * (log_n - 1);
        qm31 first = {f0[0], f0[1], f0[2], f0[3]};
        qm31 stack[MAX_CHUNK_LOG + 1];
        for (u32 j = 0; j < chunk; j += 2) {
            qm31 w = qm31_add(qm31_from_m31(values[j]), qm31_mul_m31(first, values[j + 1]));
            u32 level = 1;
            for (u32 idx = j >> 1; idx & 1; idx >>= 1, level++) {
                const u32* f = factors + 4 * (log_n - 1 - level);
                w = qm31_add(stack[level], qm31_mul(w, qm31{f[0], f[1], f[2], f[3]}));
            }
            stack[level] = w;
        }
        v = stack[chunk_log];
    }
    for (u32 b = chunk_log; b < log_n; b++) {
        if ((((u64)c * chunk) >> b) & 1) {
            const u32* f = factors + 4 * (log_n - 1 - b);
            v = qm31_mul(v, qm31{f[0], f[1], f[2], f[3]});
        }
    }
    return v;
}

extern "C" __global__ void eval_poly_partials(const u32* coeffs, u32 log_n, const u32* factors,
                                              u32 chunk_log, u32* partials) {
    u32 n_chunks = 1u << (log_n - chunk_log);
    qm31 sum = {0, 0, 0, 0};
    for (u32 c = grid_start(); c < n_chunks; c += grid_stride()) {
        sum = qm31_add(sum, fold_chunk(coeffs, log_n, factors, chunk_log, c));
    }
    // A secure column of one value per thread, for `secure_sum_partials` to add up on the device.
    qm31_store(partials, grid_stride(), thread_index(), sum);
}

// `eval_poly_partials` for n_columns polynomials of 2^log_n coefficients at one point, in one
// launch: `columns` holds their addresses. Item t (of n_columns · lanes) folds the chunks
// t mod lanes, + lanes, … of column t / lanes and writes their sum as value t of `partials`, a
// secure column of n_columns · lanes values; `run_sums` then adds each column's lanes.
extern "C" __global__ void eval_many_partials(const u32* const* columns, u32 n_columns, u32 log_n,
                                              const u32* factors, u32 chunk_log, u32 lanes,
                                              u32* partials) {
    u32 n_chunks = 1u << (log_n - chunk_log);
    u32 total = n_columns * lanes;
    for (u32 t = grid_start(); t < total; t += grid_stride()) {
        const u32* coeffs = columns[t / lanes];
        qm31 sum = {0, 0, 0, 0};
        for (u32 c = t % lanes; c < n_chunks; c += lanes) {
            sum = qm31_add(sum, fold_chunk(coeffs, log_n, factors, chunk_log, c));
        }
        qm31_store(partials, total, t, sum);
    }
}

// Σ of each run of `run` consecutive values of a secure column of n_runs · run values, into
// value r of `out` (a secure column of n_runs values).
extern "C" __global__ void run_sums(const u32* values, u32 run, u32 n_runs, u32* out) {
    u32 n = n_runs * run;
    for (u32 r = grid_start(); r < n_runs; r += grid_stride()) {
        qm31 sum = {0, 0, 0, 0};
        for (u32 i = 0; i < run; i++) {
            sum = qm31_add(sum, qm31_load(values, n, r * run + i));
        }
        qm31_store(out, n_runs, r, sum);
    }
}

// Σ of values [start, start + count) of a secure column of n values.
extern "C" __global__ void secure_sum_partials(const u32* column, u32 n, u32 start, u32 count,
                                               u32* partials) {
    qm31 sum = {0, 0, 0, 0};
    for (u32 i = grid_start(); i < count; i += grid_stride()) {
        sum = qm31_add(sum, qm31_load(column, n, start + i));
    }
    u32 t = thread_index();
    partials[4 * t] = sum.a;
    partials[4 * t + 1] = sum.b;
    partials[4 * t + 2] = sum.c;
    partials[4 * t + 3] = sum.d;
}

// FRI's decomposition, applied: the first half of a secure column minus λ, the second plus λ.
extern "C" __global__ void decompose_apply(u32* column, u32 n, u32 l0, u32 l1, u32 l2, u32 l3) {
    qm31 lambda = {l0, l1, l2, l3};
    for (u32 i = grid_start(); i < n; i += grid_stride()) {
        qm31 v = qm31_load(column, n, i);
        qm31_store(column, n, i, i < n / 2 ? qm31_sub(v, lambda) : qm31_add(v, lambda));
    }
}

// Where value `j` in coset order sits in a column of 2^log_n values in bit-reversed circle-domain
// order (stwo's `coset_order_to_circle_domain_order`, then the bit reversal); log_n ≥ 1.
__device__ __forceinline__ u32 coset_position(u32 j, u32 log_n) {
    u32 n = 1u << log_n;
    u32 d = (j & 1) ? n - ((j + 1) >> 1) : j >> 1;
    return __brev(d) >> (32 - log_n);
}

// A running sum in coset order over a secure column of 2^log_n values in bit-reversed
// circle-domain order, minus `shift` per value (stwo's `inclusive_prefix_sum` on each
// coordinate; the column is columns first .. first + 3 of `columns`), in two launches around a
// host step: `prefix_sum_partials` writes each chunk's
// Σ (v − shift) (chunk c: coset indices [c·2^chunk_log, (c + 1)·2^chunk_log)) at partials[4c..],
// the host turns those into each chunk's starting sum, and `prefix_sum_apply` rewrites every
// value as its running sum.
extern "C" __global__ void prefix_sum_partials(const u32* columns, u32 first, u32 log_n,
                                               u32 chunk_log, u32 s0, u32 s1, u32 s2, u32 s3,
                                               u32* partials) {
    u32 n = 1u << log_n;
    const u32* column = columns + (u64)first * n;
    u32 chunk = 1u << chunk_log;
    qm31 shift = {s0, s1, s2, s3};
    for (u32 c = grid_start(); c < (n >> chunk_log); c += grid_stride()) {
        qm31 sum = {0, 0, 0, 0};
        for (u32 j = c * chunk; j < (c + 1) * chunk; j++) {
            sum = qm31_add(sum, qm31_sub(qm31_load(column, n, coset_position(j, log_n)), shift));
        }
        partials[4 * c] = sum.a;
        partials[4 * c + 1] = sum.b;
        partials[4 * c + 2] = sum.c;
        partials[4 * c + 3] = sum.d;
    }
}

extern "C" __global__ void prefix_sum_apply(u32* columns, u32 first, u32 log_n, u32 chunk_log,
                                            u32 s0, u32 s1, u32 s2, u32 s3, const u32* starts) {
    u32 n = 1u << log_n;
    u32* column = columns + (u64)first * n;
    u32 chunk = 1u << chunk_log;
    qm31 shift = {s0, s1, s2, s3};
    for (u32 c = grid_start(); c < (n >> chunk_log); c += grid_stride()) {
        qm31 sum = {starts[4 * c], starts[4 * c + 1], starts[4 * c + 2], starts[4 * c + 3]};
        for (u32 j = c * chunk; j < (c + 1) * chunk; j++) {
            u32 i = coset_position(j, log_n);
            sum = qm31_add(sum, qm31_sub(qm31_load(column, n, i), shift));
            qm31_store(column, n, i, sum);
        }
    }
}
