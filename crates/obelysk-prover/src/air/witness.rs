//! Trace generation: replays an [`ExecutionTrace`] into the columns of every component, and
//! builds LogUp interaction columns from the same lookup descriptions the constraints use.

use rayon::prelude::*;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::prover::backend::simd::column::BaseColumn;
use stwo::prover::backend::simd::m31::{PackedM31, LOG_N_LANES};
use stwo::prover::backend::simd::prefix_sum::inclusive_prefix_sum;
use stwo::prover::backend::Column;
use stwo::prover::poly::circle::CircleEvaluation;

use super::cpu::{col, SLOT_A, SLOT_B, SLOT_C, SLOT_MEM};
use super::memory::REGISTER_LOG;
use super::packed::{Base, Ext};
use super::preprocessed::Evaluation;
use super::{
    cumsum_shift, m31, Lookup, PackedRelations, Relations, HALT_PC, LIMB_BITS, RANGE_BITS,
};
use crate::claim::Shape;
use obelysk_vm::{ExecutionTrace, Instruction, OpCode, Program, M31};

/// `ceil(log2(n))`, at least the SIMD width.
pub fn log_size_for(n: usize) -> u32 {
    (n.max(1).next_power_of_two().trailing_zeros()).max(LOG_N_LANES)
}

/// Main-trace columns of every component, in component order.
#[derive(Debug)]
pub struct Witness {
    pub shape: Shape,
    pub cpu: Vec<BaseColumn>,
    pub program_multiplicity: BaseColumn,
    /// One multiplicity column per entry of [`RANGE_BITS`].
    pub range_multiplicity: Vec<BaseColumn>,
    pub registers: Vec<BaseColumn>,
    pub data: Vec<BaseColumn>,
}

/// A histogram in [`LANES`] interleaved copies, added up when read. Most of a step's lookups
/// hit the same few values (a timestamp gap's high limb is nearly always 0), and one counter
/// bumped several times per step makes each increment wait for the last one's store; a lane
/// per lookup of a step breaks that chain. Lanes of one value share a cache line.
struct Counts(Vec<u32>);

const LANES: usize = 8;

impl Counts {
    fn new(log: u32) -> Self {
        Self(vec![0; LANES << log])
    }
    fn add(&mut self, lane: usize, i: u32) {
        self.0[i as usize * LANES + lane % LANES] += 1;
    }
    fn column(&self) -> BaseColumn {
        self.0
            .chunks_exact(LANES)
            .map(|lanes| m31(lanes.iter().sum()))
            .collect()
    }
    fn merge(mut self, other: Self) -> Self {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a += b);
        self
    }
}

/// How often each table row is looked up: the program's instructions, and each range table's
/// values ([`RANGE_BITS`]).
struct Tables {
    program: Counts,
    range: Vec<Counts>,
}

impl Tables {
    fn new(program_log: u32) -> Self {
        Self {
            program: Counts::new(program_log),
            range: RANGE_BITS.iter().map(|&b| Counts::new(b)).collect(),
        }
    }

    /// The lookups of the step at `clk`: its instruction, the limbs of each access's timestamp
    /// gap and of `lt`'s gap.
    fn count(&mut self, code: &[Instruction], clk: u32, r: &StepRecord) {
        let (r12, r5) = (0, 1);
        let pc = r[record::PC];
        self.program.add(0, pc);
        let op = code[pc as usize].opcode;
        let touched = [
            (op.reads_b(), SLOT_B),
            (op.reads_c(), SLOT_C),
            (op.accesses_memory(), SLOT_MEM),
            (op.writes_a(), SLOT_A),
        ];
        for (_, slot) in touched.into_iter().filter(|(t, _)| *t) {
            let (lo, hi) = split_limbs(4 * clk + slot - r[record::T_OLD + slot as usize] - 1);
            let lane = 2 * slot as usize;
            self.range[r12].add(lane, lo);
            self.range[r12].add(lane + 1, hi);
        }
        if op == OpCode::Lt {
            // `lt` writes `a` and reads `b` and `c`: its gap takes the memory slot's lanes.
            let lane = 2 * SLOT_MEM as usize;
            let (lo, mid, hi) = split_lt_limbs(lt_gap(r).value());
            self.range[r12].add(lane, lo);
            self.range[r12].add(lane + 1, mid);
            self.range[r5].add(0, hi);
        }
    }

    fn merge(self, other: Self) -> Self {
        Self {
            program: self.program.merge(other.program),
            range: self
                .range
                .into_iter()
                .zip(other.range)
                .map(|(a, b)| a.merge(b))
                .collect(),
        }
    }
}

/// A timestamp gap (below 2^24) as two 12-bit limbs.
fn split_limbs(diff: u32) -> (u32, u32) {
    debug_assert!(diff < 1 << (2 * LIMB_BITS));
    (diff & LIMB_MASK, diff >> LIMB_BITS)
}

/// `lt`'s gap (below 2^29) as 12-, 12- and 5-bit limbs.
fn split_lt_limbs(gap: u32) -> (u32, u32, u32) {
    (
        gap & LIMB_MASK,
        (gap >> LIMB_BITS) & LIMB_MASK,
        gap >> (2 * LIMB_BITS),
    )
}

const LIMB_MASK: u32 = (1 << LIMB_BITS) - 1;

/// Where each word of a [`StepRecord`] sits.
pub mod record {
    pub const PC: usize = 0;
    pub const B_VALUE: usize = 1;
    pub const C_VALUE: usize = 2;
    pub const RESULT: usize = 3;
    pub const MEM_ADDR: usize = 4;
    pub const MEM_BEFORE: usize = 5;
    /// The previous timestamp of each access slot (`SLOT_*`), four words.
    pub const T_OLD: usize = 6;
    /// The value register `a` held before the step overwrote it.
    pub const A_OLD: usize = 10;
    /// Inputs read and outputs written before the step.
    pub const IN_IDX: usize = 11;
    pub const OUT_IDX: usize = 12;
    pub const WORDS: usize = 13;
}

/// What the CPU component's row of one step is filled from: the step as executed, and what the
/// replay learnt about it, as plain words (a device fills the rows from these too).
pub type StepRecord = [u32; record::WORDS];

mod chunks;

/// The steps' records, in a buffer that goes back to [`SPARE_RECORDS`] when dropped: a fresh
/// buffer (54 MB at 2^20 steps) cost more than the replay itself in page faults, the kernel
/// zeroing every page on its first touch, on the 2-core machine this was measured on.
#[derive(Debug)]
pub struct Records(Vec<StepRecord>);

/// Record buffers of finished proofs, for the next ones; proofs running at once take one each.
static SPARE_RECORDS: std::sync::Mutex<Vec<Vec<StepRecord>>> = std::sync::Mutex::new(Vec::new());
/// Buffers kept, and the most words they may hold together.
const MAX_SPARE_RECORDS: usize = 4;
const MAX_SPARE_WORDS: usize = 1 << 28;

impl Records {
    /// `len` records of unspecified contents: the shortest spare buffer that holds them, cut
    /// to length, or else a fresh zeroed one. A fresh one's pages are mapped on their first
    /// touch, which the replay's first pass makes on every thread; growing a spare would touch
    /// them one after another here (140 ms for 2^20 steps on the 2-core machine).
    fn with_len(len: usize) -> Self {
        let mut spares = SPARE_RECORDS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fit = (0..spares.len())
            .filter(|&i| spares[i].len() >= len)
            .min_by_key(|&i| spares[i].len());
        let records = match fit {
            Some(i) => {
                let mut records = spares.swap_remove(i);
                records.truncate(len);
                records
            }
            None => vec![[0; record::WORDS]; len],
        };
        Self(records)
    }
}

impl std::ops::Deref for Records {
    type Target = [StepRecord];
    fn deref(&self) -> &[StepRecord] {
        &self.0
    }
}

impl Drop for Records {
    fn drop(&mut self) {
        let records = std::mem::take(&mut self.0);
        let mut spare = SPARE_RECORDS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let words = |v: &Vec<StepRecord>| v.capacity() * record::WORDS;
        // The longest are kept: a short proof's buffer serves few later ones.
        spare.push(records);
        spare.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut kept = 0;
        let fits = spare
            .iter()
            .take_while(|v| {
                kept += words(v);
                kept <= MAX_SPARE_WORDS
            })
            .count()
            .min(MAX_SPARE_RECORDS);
        spare.truncate(fits);
    }
}

/// Rows filled, and steps replayed, per parallel task.
const ROW_CHUNK: usize = 1 << 12;

/// How often each table row is looked up: the program's instructions, and each range table's
/// values ([`RANGE_BITS`]).
#[derive(Clone, Debug)]
pub struct LookupCounts {
    pub program: BaseColumn,
    pub range: Vec<BaseColumn>,
}

impl LookupCounts {
    /// Words in a histogram of a program of 2^program_log instructions ([`Self::from_words`]).
    pub fn words(program_log: u32) -> usize {
        (1 << program_log) + RANGE_BITS.iter().map(|b| 1 << b).sum::<usize>()
    }

    /// The counts from one histogram: the program's 2^program_log, then each range table's.
    pub fn from_words(program_log: u32, words: &[u32]) -> Self {
        assert_eq!(words.len(), Self::words(program_log), "histogram words");
        let (program, mut rest) = words.split_at(1 << program_log);
        let column = |counts: &[u32]| counts.iter().map(|&n| m31(n)).collect();
        let range = RANGE_BITS
            .iter()
            .map(|&bits| {
                let (table, after) = rest.split_at(1 << bits);
                rest = after;
                column(table)
            })
            .collect();
        Self {
            program: column(program),
            range,
        }
    }
}

/// Everything the replay of a trace gives but the lookups' counts, which a backend makes from
/// the records ([`count_lookups`] on the host): the tables' memory columns.
#[derive(Debug)]
pub struct Replay {
    pub shape: Shape,
    pub registers: Vec<BaseColumn>,
    pub data: Vec<BaseColumn>,
}

impl Replay {
    /// The replay of the trace: the registers' and memory's final columns, and one
    /// [`StepRecord`] per step for the CPU component's rows.
    pub fn of(trace: &ExecutionTrace) -> (Self, Records) {
        let code = trace.program().instructions();
        let steps = trace.steps();
        let shape = Shape::of(trace);

        // Each chunk of steps replays in parallel from an unknown state: the step's own values
        // and what depends on earlier steps (every access's previous timestamp, the value a
        // write overwrites); then a join gives the final memory and what the records still
        // lack (see `chunks`).
        let mut records = Records::with_len(steps.len());
        let data_len = 1usize << shape.data_log;
        let state = chunks::replay(code, steps, &mut records.0, data_len, ROW_CHUNK);
        let registers = vec![
            state.reg_val.iter().map(|v| m31(v.value())).collect(),
            state.reg_ts.iter().map(|&t| m31(t)).collect(),
        ];
        let data = vec![
            state.data_val.iter().map(|v| m31(v.value())).collect(),
            state.data_ts.iter().map(|&t| m31(t)).collect(),
        ];
        debug_assert_eq!(REGISTER_LOG, 4);
        let replay = Self {
            shape,
            registers,
            data,
        };
        (replay, records)
    }

    /// The witness, with the lookups' counts; its `cpu` is empty.
    pub fn counted(self, counts: LookupCounts) -> Witness {
        Witness {
            shape: self.shape,
            cpu: Vec::new(),
            program_multiplicity: counts.program,
            range_multiplicity: counts.range,
            registers: self.registers,
            data: self.data,
        }
    }
}

/// How often the steps of `records` look up each table row, counted on the host in parallel
/// row chunks: each thread counts its rows, then the counts are added.
pub fn count_lookups(program: &Program, program_log: u32, records: &[StepRecord]) -> LookupCounts {
    let code = program.instructions();
    let tables = || Tables::new(program_log);
    let counted = records
        .par_chunks(ROW_CHUNK)
        .enumerate()
        .fold(tables, |mut t, (chunk, records)| {
            for (i, r) in records.iter().enumerate() {
                t.count(code, (chunk * ROW_CHUNK + i) as u32 + 1, r);
            }
            t
        })
        .reduce(tables, Tables::merge);
    LookupCounts {
        program: counted.program.column(),
        range: counted.range.iter().map(Counts::column).collect(),
    }
}

impl Witness {
    pub fn generate(trace: &ExecutionTrace) -> Self {
        let (mut witness, records) = Self::replay(trace);
        witness.cpu = cpu_columns(trace.program(), witness.shape.cpu_log, &records);
        witness
    }

    /// The replay of the trace ([`Replay::of`]) with the lookups counted on the host. The
    /// returned witness's `cpu` is empty: a backend fills it from the records ([`cpu_columns`]
    /// on the host).
    pub fn replay(trace: &ExecutionTrace) -> (Self, Records) {
        let (replay, records) = Replay::of(trace);
        let counts = count_lookups(trace.program(), replay.shape.program_log, &records);
        (replay.counted(counts), records)
    }

    /// The tables' main columns with their domains, in component order: program, ranges,
    /// registers, data.
    pub fn table_columns(&self) -> Vec<(CircleDomain, &BaseColumn)> {
        let domain = |log: u32| CanonicCoset::new(log).circle_domain();
        let mut out = vec![(domain(self.shape.program_log), &self.program_multiplicity)];
        for (bits, c) in RANGE_BITS.iter().zip(&self.range_multiplicity) {
            out.push((domain(*bits), c));
        }
        out.extend(self.registers.iter().map(|c| (domain(REGISTER_LOG), c)));
        out.extend(self.data.iter().map(|c| (domain(self.shape.data_log), c)));
        out
    }

    /// The main trace's columns with their domains, in component order: cpu, program, ranges,
    /// registers, data.
    pub fn main_columns(&self) -> Vec<(CircleDomain, &BaseColumn)> {
        let domain = CanonicCoset::new(self.shape.cpu_log).circle_domain();
        let mut out: Vec<_> = self.cpu.iter().map(|c| (domain, c)).collect();
        out.extend(self.table_columns());
        out
    }
}

/// The CPU component's main columns (2^log_size rows) from the steps' records, filled on the
/// host in parallel row chunks straight into SIMD columns; rows past the last step stay zero.
pub fn cpu_columns(program: &Program, log_size: u32, records: &[StepRecord]) -> Vec<BaseColumn> {
    let code = program.instructions();
    let n_rows = 1usize << log_size;
    let mut cpu: Vec<BaseColumn> = (0..col::COUNT).map(|_| BaseColumn::zeros(n_rows)).collect();
    let mut chunks: Vec<Vec<&mut [BaseField]>> = (0..n_rows.div_ceil(ROW_CHUNK))
        .map(|_| Vec::with_capacity(col::COUNT))
        .collect();
    for column in cpu.iter_mut() {
        for (chunk, cells) in column.as_mut_slice().chunks_mut(ROW_CHUNK).enumerate() {
            chunks[chunk].push(cells);
        }
    }
    chunks
        .into_par_iter()
        .enumerate()
        .for_each(|(chunk, mut cells)| {
            let first = chunk * ROW_CHUNK;
            let last = (first + ROW_CHUNK).min(records.len());
            for k in first..last.max(first) {
                let r = &records[k];
                let mut set = |c: usize, v: u32| cells[c][k - first] = m31(v);
                fill_row(&mut set, k as u32 + 1, code[r[record::PC] as usize], r);
            }
        });
    cpu
}

/// Per instruction of `program`, the words a device fills CPU rows from: the opcode with its
/// [`op_flags`] above bit 8, then `a`, `b` and `c`.
pub fn instruction_words(program: &Program) -> Vec<u32> {
    program
        .instructions()
        .iter()
        .flat_map(|ins| {
            let op = ins.opcode;
            [op as u32 | op_flags(op) << 8, ins.a, ins.b, ins.c]
        })
        .collect()
}

/// What an opcode does, as bits a device reads ([`flag`]).
pub fn op_flags(op: OpCode) -> u32 {
    [
        (op.reads_b(), flag::READS_B),
        (op.reads_c(), flag::READS_C),
        (op.accesses_memory(), flag::MEMORY),
        (op.writes_a(), flag::WRITES_A),
        (op == OpCode::Store, flag::STORE),
        (op == OpCode::Jmp, flag::JMP),
        (op == OpCode::Jz, flag::JZ),
        (op == OpCode::Jnz, flag::JNZ),
        (op == OpCode::Halt, flag::HALT),
        (op == OpCode::Lt, flag::LT),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .fold(0, |bits, (_, bit)| bits | bit)
}

/// The bits of [`op_flags`].
pub mod flag {
    pub const READS_B: u32 = 1 << 0;
    pub const READS_C: u32 = 1 << 1;
    pub const MEMORY: u32 = 1 << 2;
    pub const WRITES_A: u32 = 1 << 3;
    pub const STORE: u32 = 1 << 4;
    pub const JMP: u32 = 1 << 5;
    pub const JZ: u32 = 1 << 6;
    pub const JNZ: u32 = 1 << 7;
    pub const HALT: u32 = 1 << 8;
    pub const LT: u32 = 1 << 9;
}

/// Vector rows per parallel task in [`interaction_trace`]: big enough to amortise one field
/// inversion per column, small enough that a task's fractions stay in cache.
const CHUNK_VEC_ROWS: usize = 64;

/// Builds a component's interaction columns, laid out as [`super::add_lookups`] constrains them,
/// and returns them with the component's claimed sum. `columns` are the row's cells in the order
/// the component's `lookups` function reads them (preprocessed first, then main).
///
/// Each task takes [`CHUNK_VEC_ROWS`] rows: it computes their paired fractions, inverts the
/// denominators with one batch inversion and writes the values straight into the output
/// columns; the last column gets the whole row's sum, which a prefix sum then turns into the
/// running sum.
pub fn interaction_trace(
    log_size: u32,
    columns: &[&BaseColumn],
    relations: &Relations,
    lookups: impl Fn(&[Base]) -> Vec<Lookup<Base>> + Sync,
) -> (Vec<Evaluation>, SecureField) {
    let t0 = std::time::Instant::now();
    let n_rows = 1usize << log_size;
    let n_fractions = {
        let zero = vec![Base::splat(m31(0)); columns.len()];
        lookups(&zero).len().div_ceil(2)
    };
    assert!(
        n_fractions > 0,
        "a component with LogUp columns has lookups"
    );
    let relations = PackedRelations::new(relations);
    let mut out: Vec<BaseColumn> = (0..4 * n_fractions)
        .map(|_| BaseColumn::zeros(n_rows))
        .collect();
    let mut tasks: Vec<Vec<&mut [PackedM31]>> = (0..(n_rows >> LOG_N_LANES)
        .div_ceil(CHUNK_VEC_ROWS))
        .map(|_| Vec::with_capacity(out.len()))
        .collect();
    for column in out.iter_mut() {
        for (task, part) in tasks.iter_mut().zip(column.data.chunks_mut(CHUNK_VEC_ROWS)) {
            task.push(part);
        }
    }
    tasks
        .into_par_iter()
        .enumerate()
        .for_each(|(task, mut dst)| {
            let first = task * CHUNK_VEC_ROWS;
            let len = dst[0].len();
            // Fraction `k` of row `r` at `k * len + r`.
            let mut numerators = vec![Ext::zero(); n_fractions * len];
            let mut denominators = vec![Ext::zero(); n_fractions * len];
            let mut row = Vec::with_capacity(columns.len());
            for r in 0..len {
                row.clear();
                row.extend(columns.iter().map(|c| Base::from_packed(c.data[first + r])));
                let mut terms = lookups(&row)
                    .into_iter()
                    .map(|l| (l.multiplicity, relations.combine(l.rel, l.values())));
                // As `paired_fractions`: n0/d0 + n1/d1 = (n0·d1 + n1·d0) / (d0·d1).
                let mut k = 0;
                while let Some((n0, d0)) = terms.next() {
                    let (n, d) = match terms.next() {
                        Some((n1, d1)) => (d1.mul_base(n0) + d0.mul_base(n1), d0 * d1),
                        None => (Ext::from_base(n0), d0),
                    };
                    numerators[k * len + r] = n;
                    denominators[k * len + r] = d;
                    k += 1;
                }
            }
            let inverses = Ext::batch_inverse(&denominators);
            for r in 0..len {
                let mut row_sum = Ext::zero();
                for k in 0..n_fractions {
                    let value = numerators[k * len + r] * inverses[k * len + r];
                    row_sum += value;
                    let value = if k + 1 == n_fractions { row_sum } else { value };
                    for (coord, v) in value.into_packed().into_iter().enumerate() {
                        dst[4 * k + coord][r] = v;
                    }
                }
            }
        });
    tracing::info!(log_size, n_fractions, elapsed = ?t0.elapsed(), "logup fractions");

    let last: Vec<BaseColumn> = out.split_off(4 * (n_fractions - 1));
    let coordinate_sums: Vec<BaseField> = last
        .iter()
        .map(|c| c.data.iter().copied().sum::<PackedM31>().pointwise_sum())
        .collect();
    let claimed_sum =
        SecureField::from_m31_array(coordinate_sums.try_into().expect("four coordinates"));
    let shift = cumsum_shift(claimed_sum, log_size).to_m31_array();
    out.extend(last.into_iter().zip(shift).map(|(mut column, shift)| {
        let shift = PackedM31::broadcast(shift);
        column.data.iter_mut().for_each(|x| *x -= shift);
        inclusive_prefix_sum(column)
    }));
    let domain = CanonicCoset::new(log_size).circle_domain();
    let evaluations = out
        .into_iter()
        .map(|c| CircleEvaluation::new(domain, c))
        .collect();
    tracing::info!(log_size, elapsed = ?t0.elapsed(), "logup columns");
    (evaluations, claimed_sum)
}

/// The column length of a [`BaseColumn`], for sanity checks.
pub fn rows(column: &BaseColumn) -> usize {
    column.len()
}

/// The gap `lt` range-checks: `vc - vb - 1` when the result is 1, `vb - vc` when it is 0.
fn lt_gap(r: &StepRecord) -> M31 {
    let (vb, vc) = (M31::new(r[record::B_VALUE]), M31::new(r[record::C_VALUE]));
    if r[record::RESULT] == 1 {
        vc - vb - M31::ONE
    } else {
        vb - vc
    }
}

/// Writes one executed step's cells. Cells the step does not use stay zero.
fn fill_row(set: &mut impl FnMut(usize, u32), clk: u32, ins: Instruction, r: &StepRecord) {
    let op = ins.opcode;
    let pc = r[record::PC];
    set(col::EN, 1);
    set(col::PC, pc);
    set(col::CLK, clk);
    set(col::IN_IDX, r[record::IN_IDX]);
    set(col::OUT_IDX, r[record::OUT_IDX]);
    set(col::SEL + op as usize, 1);
    set(col::A, ins.a);
    set(col::B, ins.b);
    set(col::C, ins.c);
    let mut access = |slot: u32, [t_old, lo_col, hi_col]: [usize; 3]| {
        let old = r[record::T_OLD + slot as usize];
        let (lo, hi) = split_limbs(4 * clk + slot - old - 1);
        set(t_old, old);
        set(lo_col, lo);
        set(hi_col, hi);
    };
    if op.reads_b() {
        access(SLOT_B, [col::TB, col::TB_LO, col::TB_HI]);
    }
    if op.reads_c() {
        access(SLOT_C, [col::TC, col::TC_LO, col::TC_HI]);
    }
    if op.accesses_memory() {
        access(SLOT_MEM, [col::TM, col::TM_LO, col::TM_HI]);
    }
    if op.writes_a() {
        access(SLOT_A, [col::TA, col::TA_LO, col::TA_HI]);
    }
    if op.reads_b() {
        set(col::VB, r[record::B_VALUE]);
    }
    if op.reads_c() {
        set(col::VC, r[record::C_VALUE]);
    }
    if op.accesses_memory() {
        let new = if op == OpCode::Store {
            r[record::C_VALUE]
        } else {
            r[record::MEM_BEFORE]
        };
        set(col::M_ADDR, r[record::MEM_ADDR]);
        set(col::M_OLD, r[record::MEM_BEFORE]);
        set(col::M_NEW, new);
    }
    if op.writes_a() {
        set(col::RES, r[record::RESULT]);
        set(col::A_OLD, r[record::A_OLD]);
    }
    let vb = M31::new(r[record::B_VALUE]);
    let mut taken = op == OpCode::Jmp;
    if matches!(op, OpCode::Jz | OpCode::Jnz) {
        let is_zero = vb == M31::ZERO;
        set(col::IZ, is_zero as u32);
        set(col::ZINV, vb.inverse().unwrap_or(M31::ZERO).value());
        taken = is_zero == (op == OpCode::Jz);
    }
    set(col::TAKEN, taken as u32);
    let pc_next = match op {
        OpCode::Halt => HALT_PC,
        _ if taken => ins.c,
        _ => pc + 1,
    };
    set(col::PC_NEXT, pc_next);
    if op == OpCode::Lt {
        let (lo, mid, hi) = split_lt_limbs(lt_gap(r).value());
        set(col::LT_LO, lo);
        set(col::LT_MID, mid);
        set(col::LT_HI, hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obelysk_vm::asm::assemble;
    use obelysk_vm::ObelyskVM;

    /// A spare buffer holds an earlier proof's records (here junk, and more of them): the
    /// replay must give the records a zeroed buffer gets.
    #[test]
    fn a_reused_record_buffer_gives_a_fresh_buffers_records() {
        let program = assemble(crate::testing::ALL_OPCODES, "reuse.oasm").unwrap();
        let mut vm = ObelyskVM::new();
        vm.load(&program);
        vm.set_inputs([3, 4, 2_147_483_642, 6].map(M31::from).to_vec());
        let trace = vm.execute().unwrap();
        let spares = || {
            SPARE_RECORDS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        spares().clear();
        let fresh = Witness::replay(&trace).1.to_vec();
        for extra in [0, 7] {
            spares().push(vec![[u32::MAX - 3; record::WORDS]; fresh.len() + extra]);
            let (_, reused) = Witness::replay(&trace);
            assert_eq!(&reused[..], &fresh[..], "{extra} records more in the spare");
        }
        // A spare too short is left for later, not grown.
        spares().clear();
        spares().push(vec![[u32::MAX - 3; record::WORDS]; fresh.len() - 1]);
        let (_, records) = Witness::replay(&trace);
        assert_eq!(&records[..], &fresh[..]);
        assert!(spares().iter().any(|v| v.len() == fresh.len() - 1));
    }
}
