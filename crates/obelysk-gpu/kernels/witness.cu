// The CPU component's main columns, filled from the steps' records: what
// `obelysk_prover::air::witness::cpu_columns` (its `fill_row`) does on the host, value for value.
//
// `records`: 13 words per step (`witness::record`). `code`: four words per instruction, the
// opcode with its flags above bit 8 (`witness::instruction_words`), then a, b and c. `out`: the
// 50 columns of 2^log_n rows one after another; rows past the last step are zero.
#include "m31.cuh"

// The layout the prover defines; `tests/codegen.rs` checks every value against its constant.
#define COL_EN 0
#define COL_PC 1
#define COL_CLK 2
#define COL_IN_IDX 3
#define COL_OUT_IDX 4
#define COL_PC_NEXT 5
#define COL_SEL 6
#define COL_A 22
#define COL_B 23
#define COL_C 24
#define COL_VB 25
#define COL_TB 26
#define COL_TB_LO 27
#define COL_TB_HI 28
#define COL_VC 29
#define COL_TC 30
#define COL_TC_LO 31
#define COL_TC_HI 32
#define COL_RES 33
#define COL_A_OLD 34
#define COL_TA 35
#define COL_TA_LO 36
#define COL_TA_HI 37
#define COL_M_ADDR 38
#define COL_M_OLD 39
#define COL_M_NEW 40
#define COL_TM 41
#define COL_TM_LO 42
#define COL_TM_HI 43
#define COL_ZINV 44
#define COL_IZ 45
#define COL_TAKEN 46
#define COL_LT_LO 47
#define COL_LT_MID 48
#define COL_LT_HI 49
#define COL_COUNT 50
#define N_OPCODES 16

#define REC_PC 0
#define REC_B_VALUE 1
#define REC_C_VALUE 2
#define REC_RESULT 3
#define REC_MEM_ADDR 4
#define REC_MEM_BEFORE 5
#define REC_T_OLD 6
#define REC_A_OLD 10
#define REC_IN_IDX 11
#define REC_OUT_IDX 12
#define REC_WORDS 13

#define FLAG_READS_B 1
#define FLAG_READS_C 2
#define FLAG_MEMORY 4
#define FLAG_WRITES_A 8
#define FLAG_STORE 16
#define FLAG_JMP 32
#define FLAG_JZ 64
#define FLAG_JNZ 128
#define FLAG_HALT 256
#define FLAG_LT 512

#define SLOT_B 0
#define SLOT_C 1
#define SLOT_MEM 2
#define SLOT_A 3
#define LIMB_BITS 12
#define HALT_PC 1073741824

// One access slot's cells: the previous timestamp and the gap to this access as two limbs.
#define ACCESS(slot, t_col, lo_col, hi_col)                  \
    {                                                        \
        u32 old = r[REC_T_OLD + (slot)];                     \
        u32 gap = 4 * clk + (slot) - old - 1;                \
        v[t_col] = old;                                      \
        v[lo_col] = gap & ((1u << LIMB_BITS) - 1);           \
        v[hi_col] = gap >> LIMB_BITS;                        \
    }

extern "C" __global__ void fill_cpu_columns(const u32* records, u32 n_steps, const u32* code,
                                            u32 n_code, u32 log_n, u32* out) {
    u32 n = 1u << log_n;
    for (u32 row = grid_start(); row < n; row += grid_stride()) {
        u32 v[COL_COUNT];
#pragma unroll
        for (u32 c = 0; c < COL_COUNT; c++) {
            v[c] = 0;
        }
        const u32* r = records + (u64)row * REC_WORDS;
        // A pc past the program cannot come from an execution; its row stays zero rather than
        // read past `code`.
        if (row < n_steps && r[REC_PC] < n_code) {
            u32 clk = row + 1;
            u32 pc = r[REC_PC];
            const u32* ins = code + 4 * (u64)pc;
            u32 op = ins[0] & 0xff;
            u32 flags = ins[0] >> 8;
            u32 c_field = ins[3];
            v[COL_EN] = 1;
            v[COL_PC] = pc;
            v[COL_CLK] = clk;
            v[COL_IN_IDX] = r[REC_IN_IDX];
            v[COL_OUT_IDX] = r[REC_OUT_IDX];
#pragma unroll
            for (u32 k = 0; k < N_OPCODES; k++) {
                v[COL_SEL + k] = op == k;
            }
            v[COL_A] = ins[1];
            v[COL_B] = ins[2];
            v[COL_C] = c_field;
            if (flags & FLAG_READS_B) ACCESS(SLOT_B, COL_TB, COL_TB_LO, COL_TB_HI)
            if (flags & FLAG_READS_C) ACCESS(SLOT_C, COL_TC, COL_TC_LO, COL_TC_HI)
            if (flags & FLAG_MEMORY) ACCESS(SLOT_MEM, COL_TM, COL_TM_LO, COL_TM_HI)
            if (flags & FLAG_WRITES_A) ACCESS(SLOT_A, COL_TA, COL_TA_LO, COL_TA_HI)
            u32 vb = r[REC_B_VALUE];
            u32 vc = r[REC_C_VALUE];
            if (flags & FLAG_READS_B) {
                v[COL_VB] = vb;
            }
            if (flags & FLAG_READS_C) {
                v[COL_VC] = vc;
            }
            if (flags & FLAG_MEMORY) {
                v[COL_M_ADDR] = r[REC_MEM_ADDR];
                v[COL_M_OLD] = r[REC_MEM_BEFORE];
                v[COL_M_NEW] = (flags & FLAG_STORE) ? vc : r[REC_MEM_BEFORE];
            }
            if (flags & FLAG_WRITES_A) {
                v[COL_RES] = r[REC_RESULT];
                v[COL_A_OLD] = r[REC_A_OLD];
            }
            bool taken = (flags & FLAG_JMP) != 0;
            if (flags & (FLAG_JZ | FLAG_JNZ)) {
                bool is_zero = vb == 0;
                v[COL_IZ] = is_zero;
                v[COL_ZINV] = m31_inv(vb);
                taken = is_zero == ((flags & FLAG_JZ) != 0);
            }
            v[COL_TAKEN] = taken;
            v[COL_PC_NEXT] = (flags & FLAG_HALT) ? HALT_PC : taken ? c_field : pc + 1;
            if (flags & FLAG_LT) {
                // `lt`'s gap: vc − vb − 1 when the result is 1, vb − vc when it is 0.
                u32 gap = r[REC_RESULT] == 1 ? m31_sub(m31_sub(vc, vb), 1) : m31_sub(vb, vc);
                v[COL_LT_LO] = gap & ((1u << LIMB_BITS) - 1);
                v[COL_LT_MID] = (gap >> LIMB_BITS) & ((1u << LIMB_BITS) - 1);
                v[COL_LT_HI] = gap >> (2 * LIMB_BITS);
            }
        }
#pragma unroll
        for (u32 c = 0; c < COL_COUNT; c++) {
            out[(u64)c * n + row] = v[c];
        }
    }
}

#undef ACCESS

// How often the steps look up each table row: `obelysk_prover::air::witness::count_lookups`,
// count for count. `counts` (zeroed by the caller) holds the program's 2^program_log counts,
// then the 12-bit range table's 4096 and the 5-bit one's 32 (`LookupCounts::from_words`).
//
// Most lookups hit a few values (a timestamp gap's high limb is nearly always 0): atomics on one
// word of global memory would serialise those across the whole device. So each block counts its
// rows in shared memory, in three phases: clear, count, add its non-zero counts to `counts`. The
// shared table of instructions is as long as the 12-bit range table: a longer program counts
// its instructions past the first 4,096 in global memory.
#define RANGE5_BITS 5
#define RANGE12 (1u << LIMB_BITS)
#define RANGE5 (1u << RANGE5_BITS)

// One access's gap to its previous one, as two 12-bit limbs. The masks keep a gap that no
// execution makes (the AIR bounds each below 2^24) inside the table.
#define COUNT_GAP(slot)                                                \
    {                                                                  \
        u32 gap = 4 * clk + (slot) - r[REC_T_OLD + (slot)] - 1;        \
        atomicAdd(&range12[gap & (RANGE12 - 1)], 1u);                  \
        atomicAdd(&range12[(gap >> LIMB_BITS) & (RANGE12 - 1)], 1u);   \
    }

extern "C" __global__ void __launch_bounds__(256)
    count_lookups(const u32* records, u32 n_steps, const u32* code, u32 n_code, u32 program_log,
                  u32* counts) {
    __shared__ u32 program[RANGE12];
    __shared__ u32 range12[RANGE12];
    __shared__ u32 range5[RANGE5];
    const u32 n_program = 1u << program_log;
    const u32 n_shared_program = n_program < RANGE12 ? n_program : RANGE12;
    u32* program_out = counts;
    u32* range12_out = counts + n_program;
    u32* range5_out = range12_out + RANGE12;
    EACH_THREAD {
        for (u32 i = threadIdx.x; i < RANGE12; i += blockDim.x) {
            program[i] = 0;
            range12[i] = 0;
        }
        for (u32 i = threadIdx.x; i < RANGE5; i += blockDim.x) {
            range5[i] = 0;
        }
    }
    __syncthreads();
    EACH_THREAD {
        for (u32 row = grid_start(); row < n_steps; row += grid_stride()) {
            const u32* r = records + (u64)row * REC_WORDS;
            u32 pc = r[REC_PC];
            // A pc past the program cannot come from an execution (the host's count panics).
            if (pc >= n_code) {
                continue;
            }
            u32 clk = row + 1;
            u32 flags = code[4 * (u64)pc] >> 8;
            atomicAdd(pc < RANGE12 ? &program[pc] : &program_out[pc], 1u);
            if (flags & FLAG_READS_B) COUNT_GAP(SLOT_B)
            if (flags & FLAG_READS_C) COUNT_GAP(SLOT_C)
            if (flags & FLAG_MEMORY) COUNT_GAP(SLOT_MEM)
            if (flags & FLAG_WRITES_A) COUNT_GAP(SLOT_A)
            if (flags & FLAG_LT) {
                u32 vb = r[REC_B_VALUE];
                u32 vc = r[REC_C_VALUE];
                u32 gap = r[REC_RESULT] == 1 ? m31_sub(m31_sub(vc, vb), 1) : m31_sub(vb, vc);
                atomicAdd(&range12[gap & (RANGE12 - 1)], 1u);
                atomicAdd(&range12[(gap >> LIMB_BITS) & (RANGE12 - 1)], 1u);
                atomicAdd(&range5[(gap >> (2 * LIMB_BITS)) & (RANGE5 - 1)], 1u);
            }
        }
    }
    __syncthreads();
    EACH_THREAD {
        for (u32 i = threadIdx.x; i < n_shared_program; i += blockDim.x) {
            if (program[i] != 0) atomicAdd(&program_out[i], program[i]);
        }
        for (u32 i = threadIdx.x; i < RANGE12; i += blockDim.x) {
            if (range12[i] != 0) atomicAdd(&range12_out[i], range12[i]);
        }
        for (u32 i = threadIdx.x; i < RANGE5; i += blockDim.x) {
            if (range5[i] != 0) atomicAdd(&range5_out[i], range5[i]);
        }
    }
}

#undef COUNT_GAP
