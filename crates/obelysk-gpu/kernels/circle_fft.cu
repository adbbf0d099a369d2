// Up to three consecutive layers of stwo's circle FFT over columns in bit-reversed order
// (`fft_layer_loop` of its CPU backend), in one launch. Pair k of layer i is (i0, i0 + 2^i) with
// i0 = (h << (i + 1)) + (k mod 2^i), h = k >> i, and uses twiddle h of the layer: so the element
// x (bit i clear) pairs with x + 2^i under twiddle x >> (i + 1).
//
// Layers low .. low + n_layers − 1 pair up the 2^n_layers values x0 + j·2^low (j < 2^n_layers,
// bits low .. low + n_layers − 1 of x0 clear) only among themselves, so one thread loads such a
// group, runs every layer on it in registers and writes it back: the FFT reads and writes each
// value once per launch instead of once per layer, and the result is the same, value for value.
//
// `twiddles + offset_d` is the table of layer low + d, as the host picked it from stwo's tree:
// for layer i ≥ 1 the domain's line layer i − 1, for layer 0 the first line layer (see
// `layer_twiddle`).
#include "m31.cuh"

#define MAX_FUSED_LAYERS 3

// Group t of the launch is group t mod (n / 2^n_layers) of column t / (n / 2^n_layers); each
// column holds n values, one after another.
__device__ __forceinline__ u32* fft_group(u32* values, u64 t, u32 low, u32 n_layers, u32 n,
                                          u32* x0) {
    u32 groups = n >> n_layers;
    u32 g = (u32)(t % groups);
    u32 below = g & ((1u << low) - 1);
    *x0 = ((g >> low) << (low + n_layers)) + below;
    return values + (t / groups) * (u64)n;
}

// One group through layers low .. low + N − 1: the evaluation direction (`butterfly`, highest
// layer first: v0 + v1·t, v0 − v1·t) or the interpolation direction (`ibutterfly`, lowest layer
// first: v0 + v1, (v0 − v1)·t⁻¹). N is a template argument so that the group stays in registers.
template <u32 N, bool INVERSE>
__device__ __forceinline__ void fft_group_layers(u32* column, u32 x0, const u32* twiddles,
                                                 const u32* offsets, u32 low) {
    u32 v[1 << N];
#pragma unroll
    for (u32 j = 0; j < (1u << N); j++) v[j] = column[x0 + (j << low)];
#pragma unroll
    for (u32 step = 0; step < N; step++) {
        u32 d = INVERSE ? step : N - 1 - step;
        u32 layer = low + d;
        const u32* line = twiddles + offsets[d];
#pragma unroll
        for (u32 j = 0; j < (1u << N); j++) {
            if (j & (1u << d)) continue;
            u32 t = layer_twiddle(line, layer, (x0 + (j << low)) >> (layer + 1));
            u32 v0 = v[j];
            u32 v1 = v[j | (1u << d)];
            if (INVERSE) {
                v[j] = m31_add(v0, v1);
                v[j | (1u << d)] = m31_mul(m31_sub(v0, v1), t);
            } else {
                v1 = m31_mul(v1, t);
                v[j] = m31_add(v0, v1);
                v[j | (1u << d)] = m31_sub(v0, v1);
            }
        }
    }
#pragma unroll
    for (u32 j = 0; j < (1u << N); j++) column[x0 + (j << low)] = v[j];
}

template <bool INVERSE>
__device__ __forceinline__ void fft_layers_launch(u32* values, const u32* twiddles,
                                                  const u32* offsets, u32 low, u32 n_layers,
                                                  u32 n, u32 n_columns) {
    u64 total = (u64)(n >> n_layers) * n_columns;
    for (u64 t = grid_start(); t < total; t += grid_stride()) {
        u32 x0;
        u32* column = fft_group(values, t, low, n_layers, n, &x0);
        switch (n_layers) {
            case 1: fft_group_layers<1, INVERSE>(column, x0, twiddles, offsets, low); break;
            case 2: fft_group_layers<2, INVERSE>(column, x0, twiddles, offsets, low); break;
            default: fft_group_layers<3, INVERSE>(column, x0, twiddles, offsets, low); break;
        }
    }
}

// `n_layers` (1 to MAX_FUSED_LAYERS) layers from `low` up, evaluation direction.
extern "C" __global__ void fft_layers(u32* values, const u32* twiddles, u32 offset0, u32 offset1,
                                      u32 offset2, u32 low, u32 n_layers, u32 n,
                                      u32 n_columns) {
    const u32 offsets[MAX_FUSED_LAYERS] = {offset0, offset1, offset2};
    fft_layers_launch<false>(values, twiddles, offsets, low, n_layers, n, n_columns);
}

// The same layers, interpolation direction.
extern "C" __global__ void ifft_layers(u32* values, const u32* itwiddles, u32 offset0,
                                       u32 offset1, u32 offset2, u32 low, u32 n_layers, u32 n,
                                       u32 n_columns) {
    const u32 offsets[MAX_FUSED_LAYERS] = {offset0, offset1, offset2};
    fft_layers_launch<true>(values, itwiddles, offsets, low, n_layers, n, n_columns);
}

// Up to SHARED_FFT_MAX_LOG layers in one pass through memory: a block loads a tile of values
// into shared memory, runs the pass's layers on it in phases of up to three layers (a barrier
// after each), and writes it back. The three-layer kernels above read and write every value
// once per three layers; at 2^21 that is seven passes, where two of these do.
//
// A pass reads each column from its own buffer and writes it to its own buffer (tables of
// addresses, the same table for a pass in place), so that a batch of columns needs no copy into
// one buffer and back, and an evaluation's first pass reads the coefficients where they are and
// writes the new buffer.
//
// A pass runs layers low .. low + n_layers − 1 on tiles of 2^n_layers rows by 2^c_log columns:
// tile position i = (j << c_log) + c holds value x_base + c + (j << low). Layer low + d pairs row
// j with row j + 2^d, which is in the same tile, so the tile's values only pair among
// themselves. Consecutive threads load consecutive values c: c_log ≥ 3 fills a 32-byte sector
// (the host plans for it), and the first pass (low = 0, c_log = 0) loads whole runs.
#define SHARED_FFT_MAX_LOG 12
#define SHARED_FFT_MAX_LAYERS 12
// Threads per block of a pass, as the host launches it (`FFT_PASS_BLOCK`, checked by a test):
// the bound makes the compiler keep a thread within 128 registers, so that a block always fits
// a multiprocessor.
#define FFT_PASS_THREADS 512

// One pass, as the host planned it (`ops::FftPass`, the same layout).
struct FftPass {
    // `twiddles + offsets[d]` is the table of layer low + d (see `layer_twiddle`).
    u32 offsets[SHARED_FFT_MAX_LAYERS];
    u32 low;
    u32 n_layers;
    u32 c_log;
    // Each of the n_columns columns holds n values.
    u32 n;
    u32 n_columns;
    // Values at x ≥ zeros_from read as 0 (the zero padding of an evaluation's first pass).
    u32 zeros_from;
    // Every value is multiplied by it on the way out (the 1/n of an interpolation's last pass).
    u32 factor;
};

// Layers a thread runs on its values between two barriers: 2^3 values in registers, so that a
// tile of twelve layers takes four barriers and each value goes through shared memory four
// times, not twelve.
#define PHASE_LAYERS 3

// Where tile position i is kept: one word of padding after every 32, so that a thread group
// whose positions are 2^k apart (k < 5, the lowest layers) spreads over the banks.
__device__ __forceinline__ u32 tile_at(u32 i) { return i + (i >> 5); }

// Twiddle table d of the pass. d is the same for every thread, and an unrolled select keeps
// the pass in parameter space, where indexing it by d would copy it to local memory.
__device__ __forceinline__ u32 pass_offset(const FftPass& pass, u32 d) {
    u32 offset = 0;
#pragma unroll
    for (u32 k = 0; k < SHARED_FFT_MAX_LAYERS; k++) {
        if (k == d) offset = pass.offsets[k];
    }
    return offset;
}

// Group g of a phase over the tile's local layers d_lo .. d_lo + R − 1: the 2^R positions
// base + (j << s), s = d_lo + c_log, base = g with R zero bits inserted at bit s. Local layer
// d_lo + e pairs j with j + 2^e, so the group's values pair only among themselves; they go
// through the R layers in registers (evaluation: highest first; interpolation: lowest first).
template <u32 R, bool INVERSE>
__device__ __forceinline__ void tile_group_layers(u32* tile, u32 g, u32 d_lo, u32 x_base,
                                                  const u32* twiddles, const FftPass& pass) {
    const u32 c_log = pass.c_log;
    const u32 s = d_lo + c_log;
    const u32 base = ((g >> s) << (s + R)) + (g & ((1u << s) - 1));
    u32 v[1 << R];
#pragma unroll
    for (u32 j = 0; j < (1u << R); j++) v[j] = tile[tile_at(base + (j << s))];
#pragma unroll
    for (u32 step = 0; step < R; step++) {
        const u32 e = INVERSE ? step : R - 1 - step;
        const u32 layer = pass.low + d_lo + e;
        const u32* line = twiddles + pass_offset(pass, d_lo + e);
#pragma unroll
        for (u32 j = 0; j < (1u << R); j++) {
            if (j & (1u << e)) continue;
            u32 i = base + (j << s);
            u32 x = x_base + (i & ((1u << c_log) - 1)) + ((i >> c_log) << pass.low);
            u32 t = layer_twiddle(line, layer, x >> (layer + 1));
            u32 v0 = v[j];
            u32 v1 = v[j | (1u << e)];
            if (INVERSE) {
                v[j] = m31_add(v0, v1);
                v[j | (1u << e)] = m31_mul(m31_sub(v0, v1), t);
            } else {
                v1 = m31_mul(v1, t);
                v[j] = m31_add(v0, v1);
                v[j | (1u << e)] = m31_sub(v0, v1);
            }
        }
    }
#pragma unroll
    for (u32 j = 0; j < (1u << R); j++) tile[tile_at(base + (j << s))] = v[j];
}

template <bool INVERSE>
__device__ __forceinline__ void fft_pass_launch(u32* const* columns, const u32* const* sources,
                                                const u32* twiddles, const FftPass& pass) {
    __shared__ u32 tile[(1 << SHARED_FFT_MAX_LOG) + (1 << (SHARED_FFT_MAX_LOG - 5))];
    const u32 low = pass.low;
    const u32 c_log = pass.c_log;
    const u32 c_mask = (1u << c_log) - 1;
    const u32 tile_log = pass.n_layers + c_log;
    const u32 size = 1u << tile_log;
    const u32 tiles_per_column = pass.n >> tile_log;
    const u64 n_tiles = (u64)tiles_per_column * pass.n_columns;
    for (u64 t = blockIdx.x; t < n_tiles; t += gridDim.x) {
        u32* column = columns[t / tiles_per_column];
        const u32* source = sources[t / tiles_per_column];
        // The tile's index within its column gives x_base's bits c_log .. low − 1 and
        // low + n_layers and up; its bits below c_log and the rows' bits are clear.
        const u32 rest = (u32)(t % tiles_per_column) << c_log;
        const u32 x_base =
            ((rest >> low) << (low + pass.n_layers)) + (rest & ((1u << low) - 1));
        EACH_THREAD {
            for (u32 i = threadIdx.x; i < size; i += blockDim.x) {
                u32 x = x_base + (i & c_mask) + ((i >> c_log) << low);
                tile[tile_at(i)] = x < pass.zeros_from ? source[x] : 0;
            }
        }
        __syncthreads();
        for (u32 done = 0; done < pass.n_layers;) {
            const u32 r = pass.n_layers - done < PHASE_LAYERS ? pass.n_layers - done
                                                               : PHASE_LAYERS;
            const u32 d_lo = INVERSE ? done : pass.n_layers - done - r;
            EACH_THREAD {
                for (u32 g = threadIdx.x; g < (size >> r); g += blockDim.x) {
                    switch (r) {
                        case 1:
                            tile_group_layers<1, INVERSE>(tile, g, d_lo, x_base, twiddles, pass);
                            break;
                        case 2:
                            tile_group_layers<2, INVERSE>(tile, g, d_lo, x_base, twiddles, pass);
                            break;
                        default:
                            tile_group_layers<3, INVERSE>(tile, g, d_lo, x_base, twiddles, pass);
                            break;
                    }
                }
            }
            __syncthreads();
            done += r;
        }
        EACH_THREAD {
            for (u32 i = threadIdx.x; i < size; i += blockDim.x) {
                u32 x = x_base + (i & c_mask) + ((i >> c_log) << low);
                u32 v = tile[tile_at(i)];
                column[x] = pass.factor == 1 ? v : m31_mul(v, pass.factor);
            }
        }
        // The next tile's loads overwrite what this one's stores read.
        __syncthreads();
    }
}

// One pass of the evaluation direction (the host runs them highest layers first): column k read
// from sources[k], written to columns[k].
extern "C" __global__ void __launch_bounds__(FFT_PASS_THREADS)
    fft_pass(u32* const* columns, const u32* const* sources, const u32* twiddles, FftPass pass) {
    fft_pass_launch<false>(columns, sources, twiddles, pass);
}

// One pass of the interpolation direction (lowest layers first).
extern "C" __global__ void __launch_bounds__(FFT_PASS_THREADS)
    ifft_pass(u32* const* columns, const u32* const* sources, const u32* itwiddles,
              FftPass pass) {
    fft_pass_launch<true>(columns, sources, itwiddles, pass);
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
