// Just enough of CUDA to compile the kernels as host C++ for tests: the qualifiers are empty, the
// built-in indices are globals, and a launch runs every thread of every block in turn. Kernels
// are grid-stride loops without shared memory or barriers, so running their threads one after
// another computes what the device computes in parallel.
#pragma once

struct dim3 {
    unsigned int x, y, z;
};

// Per host thread: tests launch from several threads at once.
static thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __constant__

static inline unsigned int __brev(unsigned int v) {
    unsigned int r = 0;
    for (int i = 0; i < 32; i++) {
        r = (r << 1) | ((v >> i) & 1u);
    }
    return r;
}

// One-based index of the lowest set bit, 0 for none.
static inline int __ffs(int v) { return v == 0 ? 0 : __builtin_ctz((unsigned int)v) + 1; }

// The threads of a launch run one after another, so an atomic is a plain update.
static inline unsigned int atomicMin(unsigned int* at, unsigned int v) {
    unsigned int old = *at;
    if (v < old) {
        *at = v;
    }
    return old;
}

template <typename Kernel>
static void emu_launch(unsigned int grid, unsigned int block, Kernel kernel) {
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    for (unsigned int b = 0; b < grid; b++) {
        for (unsigned int t = 0; t < block; t++) {
            blockIdx = dim3{b, 0, 0};
            threadIdx = dim3{t, 0, 0};
            kernel();
        }
    }
}
