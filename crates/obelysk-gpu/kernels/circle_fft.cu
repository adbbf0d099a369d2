// One layer of stwo's circle FFT over a column in bit-reversed order (`fft_layer_loop` of its CPU
// backend): pair k of layer i is (i0, i0 + 2^i) with i0 = (h << (i + 1)) + (k mod 2^i), h = k >> i,
// and uses twiddle h of the layer. The host launches one kernel per layer.
//
// `twiddles + offset` is the layer the host picked from stwo's tree: for layer i ≥ 1 the
// domain's line layer i − 1, for layer 0 the first line layer (see `layer_twiddle`).
#include "m31.cuh"

// Both directions work on `n_columns` columns of 2·n_pairs values stored one after another, in
// one launch per layer: pair t of the launch is pair t mod n_pairs of column t / n_pairs.

// Evaluation direction (`butterfly`): v0 + v1·t, v0 − v1·t.
extern "C" __global__ void fft_layer(u32* values, const u32* twiddles, u32 offset, u32 layer,
                                     u32 n_pairs, u32 n_columns) {
    const u32* line = twiddles + offset;
    u64 total = (u64)n_pairs * n_columns;
    for (u64 t = grid_start(); t < total; t += grid_stride()) {
        u32 k = (u32)(t % n_pairs);
        u32* column = values + (t / n_pairs) * 2 * (u64)n_pairs;
        u32 h = k >> layer;
        u32 i0 = (h << (layer + 1)) + (k & ((1u << layer) - 1));
        u32 i1 = i0 + (1u << layer);
        u32 v0 = column[i0];
        u32 v1 = m31_mul(column[i1], layer_twiddle(line, layer, h));
        column[i0] = m31_add(v0, v1);
        column[i1] = m31_sub(v0, v1);
    }
}

// Interpolation direction (`ibutterfly`): v0 + v1, (v0 − v1)·t⁻¹.
extern "C" __global__ void ifft_layer(u32* values, const u32* itwiddles, u32 offset, u32 layer,
                                      u32 n_pairs, u32 n_columns) {
    const u32* line = itwiddles + offset;
    u64 total = (u64)n_pairs * n_columns;
    for (u64 t = grid_start(); t < total; t += grid_stride()) {
        u32 k = (u32)(t % n_pairs);
        u32* column = values + (t / n_pairs) * 2 * (u64)n_pairs;
        u32 h = k >> layer;
        u32 i0 = (h << (layer + 1)) + (k & ((1u << layer) - 1));
        u32 i1 = i0 + (1u << layer);
        u32 v0 = column[i0];
        u32 v1 = column[i1];
        column[i0] = m31_add(v0, v1);
        column[i1] = m31_mul(m31_sub(v0, v1), layer_twiddle(line, layer, h));
    }
}

// values[i] ·= factor for i < n (the 1/n of an interpolation).
extern "C" __global__ void scale(u32* values, u32 factor, u32 n) {
    for (u32 i = grid_start(); i < n; i += grid_stride()) {
        values[i] = m31_mul(values[i], factor);
    }
}

// In each of `n_columns` columns of n values, values [from, n) = 0: the zero padding of a
// low-degree extension.
extern "C" __global__ void zero_from(u32* values, u32 from, u32 n, u32 n_columns) {
    u64 per_column = n - from;
    u64 total = per_column * n_columns;
    for (u64 t = grid_start(); t < total; t += grid_stride()) {
        values[(t / per_column) * n + from + t % per_column] = 0;
    }
}
