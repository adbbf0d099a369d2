// FRI folds (stwo's `fold_line` and `fold_circle_into_line`, one step): pair i of a secure
// column, f(x) at 2i and f(−x) at 2i + 1, becomes f0 + α·f1 with (f0, f1) = (a + b, (a − b)·t⁻¹),
// where t is the pair's x (a line fold) or y (a circle fold into a line). The inverse twiddles
// come from stwo's tree: the first line layer of the source domain, read as layer 1 for a line
// fold and as layer 0 (circle twiddles) for a circle fold.
#include "m31.cuh"

extern "C" __global__ void fri_fold(const u32* src, u32 n_in, u32* dst, const u32* itwiddles,
                                    u32 offset, u32 circle, u32 a0, u32 a1, u32 a2, u32 a3) {
    u32 n_out = n_in >> 1;
    const u32* line = itwiddles + offset;
    qm31 alpha = {a0, a1, a2, a3};
    for (u32 i = grid_start(); i < n_out; i += grid_stride()) {
        qm31 x = qm31_load(src, n_in, 2 * i);
        qm31 y = qm31_load(src, n_in, 2 * i + 1);
        u32 t = layer_twiddle(line, circle ? 0 : 1, i);
        qm31 f0 = qm31_add(x, y);
        qm31 f1 = qm31_mul_m31(qm31_sub(x, y), t);
        qm31_store(dst, n_out, i, qm31_add(f0, qm31_mul(alpha, f1)));
    }
}
