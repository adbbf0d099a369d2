// Bit-reversal permutation of a column of 2^log_n values, in place: each thread swaps the pairs
// whose lower index it owns.
#include "m31.cuh"

extern "C" __global__ void bit_reverse(u32* values, u32 log_n) {
    if (log_n == 0) {
        return;  // one value; and a shift by 32 below would be undefined
    }
    u32 n = 1u << log_n;
    for (u32 i = grid_start(); i < n; i += grid_stride()) {
        u32 j = __brev(i) >> (32 - log_n);
        if (i < j) {
            u32 t = values[i];
            values[i] = values[j];
            values[j] = t;
        }
    }
}
