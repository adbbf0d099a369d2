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

// stwo's `PackLeavesOps::pack_leaves_input` for a FRI tree: a secure column (coordinates c0..c3,
// 4·n_packed values each) becomes 16 columns of n_packed, column coord + 4·j holding
// coordinate coord at rows 4r + j.
#define PACK_COORD(src, o0, o1, o2, o3)      \
    {                                        \
        const u32* s = src + (u64)4 * r;     \
        o0[r] = s[0];                        \
        o1[r] = s[1];                        \
        o2[r] = s[2];                        \
        o3[r] = s[3];                        \
    }

extern "C" __global__ void pack_leaves(const u32* c0, const u32* c1, const u32* c2, const u32* c3,
                                       u32 n_packed, u32* o0, u32* o1, u32* o2, u32* o3, u32* o4,
                                       u32* o5, u32* o6, u32* o7, u32* o8, u32* o9, u32* o10,
                                       u32* o11, u32* o12, u32* o13, u32* o14, u32* o15) {
    for (u32 r = grid_start(); r < n_packed; r += grid_stride()) {
        PACK_COORD(c0, o0, o4, o8, o12);
        PACK_COORD(c1, o1, o5, o9, o13);
        PACK_COORD(c2, o2, o6, o10, o14);
        PACK_COORD(c3, o3, o7, o11, o15);
    }
}

// Several gathers in one launch (a read group's fetch: every column of a tree at the same rows).
// `plan` holds six words per source: its address (low, high), its value width in words, its
// number of rows, where its rows start in `plan`, and where its values start in `out`; item t
// copies row t mod max_rows of source t / max_rows.
extern "C" __global__ void gather_many(const u32* plan, u32 n_sources, u32 max_rows, u32* out) {
    u64 total = (u64)n_sources * max_rows;
    for (u64 t = grid_start(); t < total; t += grid_stride()) {
        const u32* source = plan + 6 * (t / max_rows);
        u32 k = (u32)(t % max_rows);
        if (k >= source[3]) {
            continue;
        }
        const u32* src = (const u32*)(((u64)source[1] << 32) | source[0]);
        u32 words = source[2];
        u64 row = plan[source[4] + k];
        u64 at = (u64)source[5] + (u64)k * words;
        for (u32 w = 0; w < words; ++w) {
            out[at + w] = src[row * words + w];
        }
    }
}

// Several copies of n words in one launch (a batch of columns into one buffer for an FFT, and
// back out): `plan` holds six words per copy, the source's address (low, high) and start, then
// the destination's address (low, high) and start.
extern "C" __global__ void copy_many(const u32* plan, u32 n_copies, u32 n) {
    u64 total = (u64)n_copies * n;
    for (u64 t = grid_start(); t < total; t += grid_stride()) {
        const u32* copy = plan + 6 * (t / n);
        u64 i = t % n;
        const u32* src = (const u32*)(((u64)copy[1] << 32) | copy[0]);
        u32* dst = (u32*)(((u64)copy[4] << 32) | copy[3]);
        dst[copy[5] + i] = src[copy[2] + i];
    }
}
