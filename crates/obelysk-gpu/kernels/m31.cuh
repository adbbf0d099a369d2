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

// Index of the first element a grid-stride loop visits, and its stride.
__device__ __forceinline__ u32 grid_start() { return blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ u32 grid_stride() { return blockDim.x * gridDim.x; }
