// Just enough of CUDA to compile the kernels as host C++ for tests: the qualifiers are empty and
// the built-in indices are globals.
//
// Most kernels are grid-stride loops without shared memory or barriers: `emu_launch` runs every
// thread of every block in turn, which computes what the device computes in parallel.
//
// Kernels that share memory within a block are written as phases: each `EACH_THREAD { ... }`
// is what every thread of the block does between two `__syncthreads()`, and the code around the
// phases is the same for every thread of the block (as a barrier in a loop requires on the
// device). On the device `EACH_THREAD` is nothing; here `emu_launch_blocks` runs the kernel once
// per block and each phase loops over the block's threads. So that a missing barrier cannot pass
// unnoticed, two phases without a `__syncthreads()` between them abort, and the threads of odd
// blocks run in reverse order: a phase that reads what another thread writes in the same phase
// (a race on the device) then gives different results in different blocks.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>

struct dim3 {
    unsigned int x, y, z;
};

// Per host thread: tests launch from several threads at once.
static thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __constant__
#define __launch_bounds__(threads)
// One array per host thread, reused by every block the thread runs: tests launch from several
// threads at once.
#define __shared__ static thread_local

static thread_local bool emu_per_thread_launch, emu_in_phase, emu_unsynced, emu_reverse;

// Launches so far, from every host thread (`emu_launches`).
static std::atomic<unsigned long long> emu_launch_count{0};

[[noreturn]] static void emu_fail(const char* what) {
    std::fprintf(stderr, "kernel emulation: %s\n", what);
    std::abort();
}

static inline void __syncthreads() {
    if (emu_per_thread_launch) emu_fail("__syncthreads() in a kernel launched with emu_launch");
    if (emu_in_phase) emu_fail("__syncthreads() inside EACH_THREAD: only some threads reach it");
    emu_unsynced = false;
}

static inline unsigned int emu_phase_begin() {
    if (emu_per_thread_launch) emu_fail("EACH_THREAD in a kernel launched with emu_launch");
    if (emu_in_phase) emu_fail("EACH_THREAD inside EACH_THREAD");
    if (emu_unsynced) emu_fail("two EACH_THREAD phases without a __syncthreads() between them");
    emu_in_phase = true;
    emu_unsynced = true;
    return 0;
}

// Sets threadIdx to the k-th thread of the phase's order, or ends the phase.
static inline bool emu_phase_thread(unsigned int k) {
    if (k < blockDim.x) {
        threadIdx = dim3{emu_reverse ? blockDim.x - 1 - k : k, 0, 0};
        return true;
    }
    emu_in_phase = false;
    return false;
}

// `break` and `return` must not leave a phase; `continue` ends the thread's part of it.
#define EACH_THREAD \
    for (unsigned int emu_k = emu_phase_begin(); emu_phase_thread(emu_k); emu_k++)

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
static inline unsigned int atomicAdd(unsigned int* at, unsigned int v) {
    unsigned int old = *at;
    *at = old + v;
    return old;
}

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
    emu_launch_count.fetch_add(1, std::memory_order_relaxed);
    emu_per_thread_launch = true;
    for (unsigned int b = 0; b < grid; b++) {
        for (unsigned int t = 0; t < block; t++) {
            blockIdx = dim3{b, 0, 0};
            threadIdx = dim3{t, 0, 0};
            kernel();
        }
    }
    emu_per_thread_launch = false;
}

// A kernel written in phases (`EACH_THREAD`), run once per block.
template <typename Kernel>
static void emu_launch_blocks(unsigned int grid, unsigned int block, Kernel kernel) {
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    emu_launch_count.fetch_add(1, std::memory_order_relaxed);
    for (unsigned int b = 0; b < grid; b++) {
        blockIdx = dim3{b, 0, 0};
        emu_reverse = (b & 1) != 0;
        emu_in_phase = false;
        emu_unsynced = false;
        kernel();
    }
}
