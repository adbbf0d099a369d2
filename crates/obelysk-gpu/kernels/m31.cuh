// Mersenne-31 field arithmetic on the device: p = 2^31 - 1, values canonical in [0, p), as stwo's
// CPU backend keeps them. Shared by every kernel; NVRTC compiles it without system headers, so
// the integer types are spelled out.
#pragma once

typedef unsigned int u32;
typedef unsigned long long u64;

#define M31_P 0x7fffffffu

__device__ __forceinline__ u32 m31_add(u32 a, u32 b) {
    u32 s = a + b;
    return s >= M31_P ? s - M31_P : s;
}

__device__ __forceinline__ u32 m31_sub(u32 a, u32 b) {
    return a >= b ? a - b : a + M31_P - b;
}

// a·b = hi·2^31 + lo ≡ hi + lo (mod p), with lo, hi < 2^31.
__device__ __forceinline__ u32 m31_mul(u32 a, u32 b) {
    u64 prod = (u64)a * (u64)b;
    return m31_add((u32)(prod & M31_P), (u32)(prod >> 31));
}

__device__ __forceinline__ u32 m31_neg(u32 a) { return a == 0 ? 0 : M31_P - a; }

// QM31 = CM31[u] / (u² − 2 − i), CM31 = M31[i] / (i² + 1): (a + bi) + (c + di)u, the coordinate
// order of stwo's `SecureField::from_m31_array` and of its secure columns.
struct qm31 {
    u32 a, b, c, d;
};

__device__ __forceinline__ qm31 qm31_from_m31(u32 v) { return {v, 0, 0, 0}; }

__device__ __forceinline__ qm31 qm31_add(qm31 x, qm31 y) {
    return {m31_add(x.a, y.a), m31_add(x.b, y.b), m31_add(x.c, y.c), m31_add(x.d, y.d)};
}

__device__ __forceinline__ qm31 qm31_sub(qm31 x, qm31 y) {
    return {m31_sub(x.a, y.a), m31_sub(x.b, y.b), m31_sub(x.c, y.c), m31_sub(x.d, y.d)};
}

__device__ __forceinline__ qm31 qm31_mul_m31(qm31 x, u32 s) {
    return {m31_mul(x.a, s), m31_mul(x.b, s), m31_mul(x.c, s), m31_mul(x.d, s)};
}

// (x0 + x1·i)(y0 + y1·i), returned through r0, r1.
__device__ __forceinline__ void cm31_mul(u32 x0, u32 x1, u32 y0, u32 y1, u32* r0, u32* r1) {
    *r0 = m31_sub(m31_mul(x0, y0), m31_mul(x1, y1));
    *r1 = m31_add(m31_mul(x0, y1), m31_mul(x1, y0));
}

// (p + q·u)(r + s·u) = p·r + (2 + i)·q·s + (p·s + q·r)·u.
__device__ __forceinline__ qm31 qm31_mul(qm31 x, qm31 y) {
    u32 pr0, pr1, qs0, qs1, ps0, ps1, qr0, qr1;
    cm31_mul(x.a, x.b, y.a, y.b, &pr0, &pr1);
    cm31_mul(x.c, x.d, y.c, y.d, &qs0, &qs1);
    cm31_mul(x.a, x.b, y.c, y.d, &ps0, &ps1);
    cm31_mul(x.c, x.d, y.a, y.b, &qr0, &qr1);
    // (2 + i)(qs0 + qs1·i) = (2·qs0 − qs1) + (qs0 + 2·qs1)·i
    u32 t0 = m31_sub(m31_add(qs0, qs0), qs1);
    u32 t1 = m31_add(qs0, m31_add(qs1, qs1));
    return {m31_add(pr0, t0), m31_add(pr1, t1), m31_add(ps0, qr0), m31_add(ps1, qr1)};
}

// M31 inverse: a^(p − 2) (and 0 for 0).
__device__ __forceinline__ u32 m31_inv(u32 a) {
    u32 result = 1;
    u32 base = a;
    u32 e = M31_P - 2;
    while (e) {
        if (e & 1) {
            result = m31_mul(result, base);
        }
        base = m31_mul(base, base);
        e >>= 1;
    }
    return result;
}

// 1 / (a + bi) = (a − bi) / (a² + b²).
__device__ __forceinline__ void cm31_inv(u32 a, u32 b, u32* r0, u32* r1) {
    u32 norm_inv = m31_inv(m31_add(m31_mul(a, a), m31_mul(b, b)));
    *r0 = m31_mul(a, norm_inv);
    *r1 = m31_neg(m31_mul(b, norm_inv));
}

// 1 / (p + q·u) = (p − q·u) / (p² − (2 + i)·q²). Inverses are unique, so this equals stwo's
// `QM31::inverse` wherever that is defined.
__device__ __forceinline__ qm31 qm31_inv(qm31 x) {
    u32 pp0, pp1, qq0, qq1, e0, e1, r0, r1, s0, s1;
    cm31_mul(x.a, x.b, x.a, x.b, &pp0, &pp1);
    cm31_mul(x.c, x.d, x.c, x.d, &qq0, &qq1);
    // (2 + i)(qq0 + qq1·i) = (2·qq0 − qq1) + (qq0 + 2·qq1)·i
    u32 t0 = m31_sub(m31_add(qq0, qq0), qq1);
    u32 t1 = m31_add(qq0, m31_add(qq1, qq1));
    cm31_inv(m31_sub(pp0, t0), m31_sub(pp1, t1), &e0, &e1);
    cm31_mul(x.a, x.b, e0, e1, &r0, &r1);
    cm31_mul(m31_neg(x.c), m31_neg(x.d), e0, e1, &s0, &s1);
    return {r0, r1, s0, s1};
}

// Value `i` of a secure column stored as four coordinate columns of `n` values, one after
// another.
// Indices in 64 bits: four coordinates of 2^30 values already pass 2^32.
__device__ __forceinline__ qm31 qm31_load(const u32* column, u32 n, u32 i) {
    u64 m = n;
    return {column[i], column[m + i], column[2 * m + i], column[3 * m + i]};
}

__device__ __forceinline__ void qm31_store(u32* column, u32 n, u32 i, qm31 v) {
    u64 m = n;
    column[i] = v.a;
    column[m + i] = v.b;
    column[2 * m + i] = v.c;
    column[3 * m + i] = v.d;
}

// Twiddle h of an FFT layer, from the twiddle layer `line` the host picked from stwo's tree:
// layer i ≥ 1 reads the line layer as it is (x coordinates); layer 0 derives the circle
// twiddles (y coordinates) from the first line layer, each pair [x, y] giving [y, −y, −x, x]
// (`circle_twiddles_from_line_twiddles`). The same holds for inverse twiddles.
__device__ __forceinline__ u32 layer_twiddle(const u32* line, u32 layer, u32 h) {
    if (layer > 0) {
        return line[h];
    }
    u32 x = line[(h >> 2) << 1];
    u32 y = line[((h >> 2) << 1) + 1];
    switch (h & 3) {
        case 0: return y;
        case 1: return m31_neg(y);
        case 2: return m31_neg(x);
        default: return x;
    }
}

// Row `r` of the secure column held by columns first .. first + 3 of `cols` (n values each).
__device__ __forceinline__ qm31 qm31_load4(const u32* cols, u32 n, u32 first, u32 r) {
    u64 m = n;
    return {cols[first * m + r], cols[(first + 1) * m + r], cols[(first + 2) * m + r],
            cols[(first + 3) * m + r]};
}

// Stores row `r` of the secure column held by columns first .. first + 3 of `cols`.
__device__ __forceinline__ void qm31_store4(u32* cols, u32 n, u32 first, u32 r, qm31 v) {
    u64 m = n;
    cols[first * m + r] = v.a;
    cols[(first + 1) * m + r] = v.b;
    cols[(first + 2) * m + r] = v.c;
    cols[(first + 3) * m + r] = v.d;
}

// The row one step back of `row` in a trace of 2^trace_log rows extended to 2^eval_log, both in
// bit-reversed order: stwo's `offset_bit_reversed_circle_domain_index(row, trace_log,
// eval_log, -1)`.
__device__ __forceinline__ u32 prev_row(u32 row, u32 trace_log, u32 eval_log) {
    u32 p = __brev(row) >> (32 - eval_log);
    u32 half = 1u << (eval_log - 1);
    u32 step = 1u << (eval_log - trace_log - 1);
    if (p < half) {
        p = (p + half - step) & (half - 1);
    } else {
        p = ((p - half + step) & (half - 1)) + half;
    }
    return __brev(p) >> (32 - eval_log);
}

// A phase of a kernel that shares memory within a block: what each thread does between two
// barriers. On the device every thread runs it as it is; the emulator loops over the block's
// threads (see emu/cuda_emu.h).
#ifndef EACH_THREAD
#define EACH_THREAD
#endif

// Index of the first element a grid-stride loop visits, and its stride.
__device__ __forceinline__ u32 grid_start() { return blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ u32 grid_stride() { return blockDim.x * gridDim.x; }
