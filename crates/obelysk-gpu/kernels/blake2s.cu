// The Merkle tree of stwo's lifted Blake2s commitment (`MerkleOpsLifted` for
// `Blake2sMerkleHasher`): BLAKE2s-256, unkeyed.
//
// Leaf i of a tree of 2^L leaves hashes the little-endian bytes of one value of every column, in
// column order. A column of 2^l values is lifted to 2^L: leaf i reads its value
// ((i >> (L − l + 1)) << 1) | (i & 1) (the identity when l = L), which is what stwo's step-by-step
// lifting composes to. A parent hashes its two children's 32-byte hashes.
#include "m31.cuh"

__device__ __forceinline__ u32 rotr32(u32 x, u32 n) { return (x >> n) | (x << (32 - n)); }

__device__ __constant__ static const u32 BLAKE2S_IV[8] = {
    0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
    0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

__device__ __constant__ static const unsigned char BLAKE2S_SIGMA[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

#define BLAKE2S_G(a, b, c, d, x, y)     \
    v[a] = v[a] + v[b] + (x);           \
    v[d] = rotr32(v[d] ^ v[a], 16);     \
    v[c] = v[c] + v[d];                 \
    v[b] = rotr32(v[b] ^ v[c], 12);     \
    v[a] = v[a] + v[b] + (y);           \
    v[d] = rotr32(v[d] ^ v[a], 8);      \
    v[c] = v[c] + v[d];                 \
    v[b] = rotr32(v[b] ^ v[c], 7);

// Compresses one 64-byte block `m` into `h`; `bytes` is the message length so far, this block
// included.
__device__ __forceinline__ void blake2s_compress(u32 h[8], const u32 m[16], u32 bytes, bool last) {
    u32 v[16];
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = BLAKE2S_IV[i];
    }
    v[12] ^= bytes;
    if (last) {
        v[14] = ~v[14];
    }
    for (int r = 0; r < 10; r++) {
        const unsigned char* s = BLAKE2S_SIGMA[r];
        BLAKE2S_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        BLAKE2S_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        BLAKE2S_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        BLAKE2S_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        BLAKE2S_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        BLAKE2S_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        BLAKE2S_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        BLAKE2S_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

// The parameter block of an unkeyed 32-byte digest: fanout 1, depth 1.
__device__ __forceinline__ void blake2s_init(u32 h[8]) {
    for (int i = 0; i < 8; i++) {
        h[i] = BLAKE2S_IV[i];
    }
    h[0] ^= 0x01010020u;
}

// Leaves: `columns` holds three words per column: its address (low, high) and l_k, its log size
// (2^l_k values); `out` gets 8 words (32 bytes) per leaf. Reading the columns where they are
// saves copying a tree's columns into one buffer first.
extern "C" __global__ void merkle_leaves(const u32* columns, u32 n_columns, u32 lifting_log,
                                         u32* out) {
    u32 n_leaves = 1u << lifting_log;
    u32 n_blocks = n_columns == 0 ? 1 : (n_columns + 15) / 16;
    for (u32 leaf = grid_start(); leaf < n_leaves; leaf += grid_stride()) {
        u32 h[8];
        blake2s_init(h);
        for (u32 b = 0; b < n_blocks; b++) {
            u32 m[16];
            for (u32 j = 0; j < 16; j++) {
                u32 k = b * 16 + j;
                if (k < n_columns) {
                    const u32* column = columns + 3 * k;
                    const u32* values = (const u32*)(((u64)column[1] << 32) | column[0]);
                    u32 ratio = lifting_log - column[2];
                    u32 at = ratio == 0 ? leaf : ((leaf >> (ratio + 1)) << 1) | (leaf & 1);
                    m[j] = values[at];
                } else {
                    m[j] = 0;
                }
            }
            u32 words = (b + 1) * 16 < n_columns ? (b + 1) * 16 : n_columns;
            blake2s_compress(h, m, words * 4, b + 1 == n_blocks);
        }
        for (int i = 0; i < 8; i++) {
            out[(u64)8 * leaf + i] = h[i];
        }
    }
}

// Parent i of a layer: the hash of children 2i and 2i + 1 (8 words each).
__device__ __forceinline__ void merkle_parent(const u32* children, u32 i, u32* out) {
    u32 h[8];
    blake2s_init(h);
    u32 m[16];
    for (int j = 0; j < 16; j++) {
        m[j] = children[(u64)16 * i + j];
    }
    blake2s_compress(h, m, 64, true);
    for (int j = 0; j < 8; j++) {
        out[(u64)8 * i + j] = h[j];
    }
}

// One layer up.
extern "C" __global__ void merkle_parents(const u32* children, u32 n_parents, u32* out) {
    for (u32 i = grid_start(); i < n_parents; i += grid_stride()) {
        merkle_parent(children, i, out);
    }
}

// n_layers layers above `children` in one launch: layer l, of n_parents >> l hashes, into
// layers[l]. stwo asks for one layer at a time, a launch each; here each block builds whole
// subtrees: block b's hashes of layer l are those whose subtree tops out at hash b of the last
// layer, so that the layer below holds all their children and nothing else, and a barrier
// between layers (which makes the block's global stores visible to the whole block) is all the
// synchronisation there is. n_parents >> (n_layers - 1) subtrees, over however many blocks run.
extern "C" __global__ void merkle_layers(const u32* children, u32 n_parents, u32 n_layers,
                                         u32* const* layers) {
    u32 n_subtrees = n_parents >> (n_layers - 1);
    for (u32 b = blockIdx.x; b < n_subtrees; b += gridDim.x) {
        const u32* below = children;
        for (u32 l = 0; l < n_layers; l++) {
            u32 per_subtree = 1u << (n_layers - 1 - l);
            u32* out = layers[l];
            EACH_THREAD {
                for (u32 i = threadIdx.x; i < per_subtree; i += blockDim.x) {
                    merkle_parent(below, b * per_subtree + i, out);
                }
            }
            __syncthreads();
            below = out;
        }
    }
}

// Proof of work (stwo's `GrindOps` for `Blake2sChannel`): nonce (hi << 32) | low, for chunks
// hi = first_hi + c (c < n_chunks) of 2^low_bits nonces each. A nonce passes when word 0 of
// BLAKE2s(prefixed || low || hi) (one 40-byte block; prefixed is the 8-word digest the host
// derives from the channel) has at least pow_bits trailing zeros. found[c] gets the smallest
// passing low of chunk first_hi + c (the host fills it with 0xFFFFFFFF first).
extern "C" __global__ void pow_grind(u32 p0, u32 p1, u32 p2, u32 p3, u32 p4, u32 p5, u32 p6,
                                     u32 p7, u32 first_hi, u32 n_chunks, u32 low_bits,
                                     u32 pow_bits, u32* found) {
    u64 total = (u64)n_chunks << low_bits;
    for (u64 i = grid_start(); i < total; i += grid_stride()) {
        u32 c = (u32)(i >> low_bits);
        u32 low = (u32)(i & ((1ull << low_bits) - 1));
        u32 m[16] = {p0, p1, p2, p3, p4, p5, p6, p7, low, first_hi + c, 0, 0, 0, 0, 0, 0};
        u32 h[8];
        blake2s_init(h);
        blake2s_compress(h, m, 40, true);
        u32 zeros = h[0] == 0 ? 32 : (u32)(__ffs((int)h[0]) - 1);
        if (zeros >= pow_bits) {
            atomicMin(&found[c], low);
        }
    }
}
