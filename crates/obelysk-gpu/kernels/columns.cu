// Plain column work: copies between columns (a secure column's coordinates are ranges of one
// buffer) and element-wise sums (`AccumulationOps::accumulate` adds secure columns coordinate by
// coordinate).
#include "m31.cuh"

extern "C" __global__ void copy_range(const u32* src, u32 src_start, u32* dst, u32 dst_start,
                                      u32 n) {
    for (u32 i = grid_start(); i < n; i += grid_stride()) {
        dst[dst_start + i] = src[src_start + i];
    }
}

extern "C" __global__ void add_assign(u32* acc, const u32* other, u32 n) {
    for (u32 i = grid_start(); i < n; i += grid_stride()) {
        acc[i] = m31_add(acc[i], other[i]);
    }
}

// `out[out_start + k·words + w] = src[indices[k]·words + w]`: the values stwo reads one by one
// (`Column::at`, for decommitments), fetched in one launch per column, several columns' into one
// buffer.
extern "C" __global__ void gather(const u32* src, const u32* indices, u32 n, u32 words, u32* out,
                                  u32 out_start) {
    for (u32 k = grid_start(); k < n; k += grid_stride()) {
        for (u32 w = 0; w < words; ++w) {
            out[(u64)out_start + (u64)k * words + w] = src[(u64)indices[k] * words + w];
        }
    }
}

// `acc[i] += small[lift(i)]` for a column of n values and one of n >> log_ratio: stwo's lift of
// the smaller column (`AccumulationOps::lift_and_accumulate`), which repeats each pair of
// values 2^log_ratio times.
extern "C" __global__ void lift_add(u32* acc, const u32* small, u32 n, u32 log_ratio) {
    for (u32 i = grid_start(); i < n; i += grid_stride()) {
        acc[i] = m31_add(acc[i], small[((i >> (log_ratio + 1)) << 1) + (i & 1)]);
    }
}
