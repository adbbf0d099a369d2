//! The replay, in parallel chunks.
//!
//! Each access needs the timestamp of the previous access to its register or address, a write
//! needs the value it overwrites, and `in`/`out` need how many came before. Each chunk of steps
//! replays on its own from an unknown state: an access whose predecessor lies in the chunk gets
//! its answer at once; the chunk's first access to each register or address is noted as a
//! fix-up. A join then walks the chunks in order, answers their fix-ups from the state the
//! chunks before left, and folds in what each chunk leaves: one entry per register and per
//! address a chunk touches, not one per step. The registers join in one sequential pass; the
//! addresses, most of the entries, in parallel ranges of the address space (at 2^20 steps the
//! sequential join of every address had taken about 2 ms, a tenth of the replay on two cores).
//! The I/O counts before each chunk come first, from a cheaper pass over the steps alone.
//!
//! So each record is written whole once, and only the words of fix-ups again: the registers'
//! in the join, the memory's in a last pass that visits those rows alone. The tables' lookups
//! are counted elsewhere (`count_lookups`), where the records are: a device counts them from
//! its copy.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use super::{record, StepRecord};
use crate::air::cpu::{SLOT_A, SLOT_B, SLOT_C, SLOT_MEM};
use obelysk_vm::{Instruction, OpCode, Step, M31};

const REGISTERS: usize = 16;

/// The machine's memory state after the last step: values and last-access timestamps.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Final {
    pub reg_val: [M31; REGISTERS],
    pub reg_ts: [u32; REGISTERS],
    pub data_val: Vec<M31>,
    pub data_ts: Vec<u32>,
}

/// What one chunk learnt alone. Rows are indices into the chunk.
#[derive(Default)]
struct Chunk {
    /// The last access's timestamp per register, if the chunk touched it.
    reg_ts: [Option<u32>; REGISTERS],
    /// The last value written per register, if the chunk wrote it.
    reg_val: [Option<M31>; REGISTERS],
    /// `(row, record word, register)`: a previous timestamp from before the chunk.
    reg_ts_fixups: Vec<(u32, u8, u32)>,
    /// `(row, register)`: an overwritten value from before the chunk.
    reg_val_fixups: Vec<(u32, u32)>,
    /// The last access per address: timestamp and the value it left, grouped by
    /// [`AddressBuckets`].
    data: Grouped<(u32, u32, M31)>,
    /// `(row, address)`: a previous timestamp from before the chunk, grouped the same way.
    data_fixups: Grouped<(u32, u32)>,
}

/// Items in groups (by address bucket, or by chunk): group `k`'s are
/// `items[start[k]..start[k + 1]]`.
struct Grouped<T> {
    items: Vec<T>,
    start: Vec<u32>,
}

impl<T> Default for Grouped<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            start: Vec::new(),
        }
    }
}

impl<T: Copy> Grouped<T> {
    /// `items` grouped by `bucket` (below `n`), in one counting pass.
    fn by_bucket(items: &[T], n: usize, bucket: impl Fn(&T) -> usize) -> Self {
        let mut start = vec![0u32; n + 1];
        for item in items {
            start[bucket(item) + 1] += 1;
        }
        for b in 0..n {
            start[b + 1] += start[b];
        }
        let mut next = start.clone();
        let mut grouped = items.to_vec();
        for &item in items {
            let at = &mut next[bucket(&item)];
            grouped[*at as usize] = item;
            *at += 1;
        }
        Self {
            items: grouped,
            start,
        }
    }

    fn group(&self, k: usize) -> &[T] {
        &self.items[self.start[k] as usize..self.start[k + 1] as usize]
    }
}

/// The memory's addresses cut into ranges of equal length that join in parallel: each range
/// walks the chunks in order on its own, since no access to one address depends on another's.
#[derive(Clone, Copy)]
struct AddressBuckets {
    count: usize,
    /// An address's bucket is `address >> shift`.
    shift: u32,
}

impl AddressBuckets {
    /// About `count` buckets over `data_len` addresses (a power of two): `count` rounded up to a
    /// power of two, at most one address each.
    fn new(data_len: usize, count: usize) -> Self {
        assert!(data_len.is_power_of_two(), "{data_len} addresses");
        let count = count.max(1).next_power_of_two().min(data_len);
        Self {
            count,
            shift: data_len.ilog2() - count.ilog2(),
        }
    }

    fn of(self, address: u32) -> usize {
        (address >> self.shift) as usize
    }

    fn len(self) -> usize {
        1 << self.shift
    }
}

/// The last access per address while a chunk replays: its timestamp and the value it left.
type AddressMap = HashMap<u32, (u32, M31), BuildHasherDefault<AddressHasher>>;

/// A hash for memory addresses: one multiplication (Fibonacci hashing). The default SipHash,
/// built to resist chosen keys, took a tenth of the replay's samples in `perf`; the addresses
/// come from the trace being proven, and a bad spread costs time, never correctness.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(b.into());
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // hashbrown takes its bucket from the low bits and a tag from the top seven.
        self.0.rotate_left(32)
    }
}

/// What the join leaves to the last pass, which visits only the rows it names: the previous
/// timestamps of each chunk's first access to an address.
struct Completion {
    /// Per chunk, its memory fix-ups, grouped by bucket.
    data_fixups: Vec<Grouped<(u32, u32)>>,
    /// Per bucket, the answers to its part of each chunk's fix-ups, grouped by chunk.
    answers: Vec<Grouped<u32>>,
}

impl Completion {
    /// Completes chunk `index`'s memory `T_OLD` words.
    fn apply(&self, index: usize, records: &mut [StepRecord]) {
        let fixups = &self.data_fixups[index];
        for (b, answers) in self.answers.iter().enumerate() {
            for (&(row, _), &ts) in fixups.group(b).iter().zip(answers.group(index)) {
                records[row as usize][record::T_OLD + SLOT_MEM as usize] = ts;
            }
        }
    }
}

/// Fills every record, `chunk` steps per parallel task, and returns the final state. Every chunk
/// size gives the same result.
pub(super) fn replay(
    code: &[Instruction],
    steps: &[Step],
    records: &mut [StepRecord],
    data_len: usize,
    chunk: usize,
) -> Final {
    // A few buckets per thread, so that one busy range does not hold up the rest.
    let buckets = 4 * rayon::current_num_threads();
    replay_in_buckets(code, steps, records, data_len, chunk, buckets)
}

/// [`replay`] with the addresses cut into about `buckets` ranges: every count gives the same
/// result.
fn replay_in_buckets(
    code: &[Instruction],
    steps: &[Step],
    records: &mut [StepRecord],
    data_len: usize,
    chunk: usize,
    buckets: usize,
) -> Final {
    let chunk = chunk.max(1);
    let buckets = AddressBuckets::new(data_len, buckets);
    let io_before = io_before(code, steps, chunk);
    let learnt: Vec<Chunk> = records
        .par_chunks_mut(chunk)
        .zip(steps.par_chunks(chunk))
        .enumerate()
        // One map of addresses per task, cleared for each chunk: grown anew for every chunk, its
        // rehashing took 3% of the replay.
        .map_init(AddressMap::default, |data, (i, (records, steps))| {
            let first = (i * chunk) as u32;
            replay_chunk(code, steps, records, first, io_before[i], buckets, data)
        })
        .collect();

    // Registers: a few entries per chunk, in order.
    let mut reg_val = [M31::ZERO; REGISTERS];
    let mut reg_ts = [0; REGISTERS];
    for (i, c) in learnt.iter().enumerate() {
        let records = &mut records[i * chunk..];
        for &(row, word, reg) in &c.reg_ts_fixups {
            records[row as usize][word as usize] = reg_ts[reg as usize];
        }
        for &(row, reg) in &c.reg_val_fixups {
            records[row as usize][record::A_OLD] = reg_val[reg as usize].value();
        }
        for r in 0..REGISTERS {
            if let Some(ts) = c.reg_ts[r] {
                reg_ts[r] = ts;
            }
            if let Some(v) = c.reg_val[r] {
                reg_val[r] = v;
            }
        }
    }

    // Memory: each bucket of addresses walks the chunks in order, in parallel with the others;
    // then each chunk's first accesses to an address get their answers.
    let mut data_val = vec![M31::ZERO; data_len];
    let mut data_ts = vec![0; data_len];
    let answers = data_ts
        .par_chunks_mut(buckets.len())
        .zip(data_val.par_chunks_mut(buckets.len()))
        .enumerate()
        .map(|(b, (ts, val))| join_bucket(&learnt, b, (b * buckets.len()) as u32, ts, val))
        .collect();
    let completion = Completion {
        data_fixups: learnt.into_iter().map(|c| c.data_fixups).collect(),
        answers,
    };
    records
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, records)| completion.apply(i, records));
    Final {
        reg_val,
        reg_ts,
        data_val,
        data_ts,
    }
}

/// How many inputs were read and outputs written before each chunk of `chunk` steps.
fn io_before(code: &[Instruction], steps: &[Step], chunk: usize) -> Vec<(u32, u32)> {
    let opcodes = || code.iter().map(|ins| ins.opcode);
    if !opcodes().any(|op| matches!(op, OpCode::In | OpCode::Out)) {
        return vec![(0, 0); steps.len().div_ceil(chunk)];
    }
    let per_chunk: Vec<(u32, u32)> = steps
        .par_chunks(chunk)
        .map(|steps| {
            steps.iter().fold((0, 0), |(i, o), step| {
                let op = code[step.pc as usize].opcode;
                (
                    i + (op == OpCode::In) as u32,
                    o + (op == OpCode::Out) as u32,
                )
            })
        })
        .collect();
    per_chunk
        .iter()
        .scan((0, 0), |(i, o), &(di, d_o)| {
            let before = (*i, *o);
            (*i, *o) = (*i + di, *o + d_o);
            Some(before)
        })
        .collect()
}

/// Walks the chunks in order over bucket `b`, whose addresses start at `first` (`ts` and `val`
/// its part of the memory state): answers each chunk's fix-ups from the state the chunks before
/// left, then folds in what the chunk leaves. The answers come grouped by chunk.
fn join_bucket(
    learnt: &[Chunk],
    b: usize,
    first: u32,
    ts: &mut [u32],
    val: &mut [M31],
) -> Grouped<u32> {
    let mut answers = Grouped {
        items: Vec::new(),
        start: Vec::with_capacity(learnt.len() + 1),
    };
    answers.start.push(0);
    for c in learnt {
        answers.items.extend(
            c.data_fixups
                .group(b)
                .iter()
                .map(|&(_, addr)| ts[(addr - first) as usize]),
        );
        answers.start.push(answers.items.len() as u32);
        for &(addr, last_ts, last_val) in c.data.group(b) {
            ts[(addr - first) as usize] = last_ts;
            val[(addr - first) as usize] = last_val;
        }
    }
    answers
}

/// Replays `steps` (the first is step `first`, zero-based, after `io.0` inputs and `io.1`
/// outputs) as if nothing came before, noting what must come from earlier chunks. Every word of
/// every record is written (a reused buffer holds an earlier proof's), each record once.
fn replay_chunk(
    code: &[Instruction],
    steps: &[Step],
    records: &mut [StepRecord],
    first: u32,
    io: (u32, u32),
    buckets: AddressBuckets,
    data: &mut AddressMap,
) -> Chunk {
    let mut c = Chunk::default();
    let (mut inputs, mut outputs) = io;
    // The last access per address while the chunk replays, and its first accesses.
    data.clear();
    let mut data_fixups = Vec::new();
    for (row, (step, out)) in steps.iter().zip(records.iter_mut()).enumerate() {
        let clk = first + row as u32 + 1;
        let ins = code[step.pc as usize];
        let op = ins.opcode;
        let row = row as u32;
        let r = &mut own_values(step);
        r[record::IN_IDX] = inputs;
        r[record::OUT_IDX] = outputs;
        if op.reads_b() {
            touch_reg(&mut c, r, row, ins.b, SLOT_B, clk);
        }
        if op.reads_c() {
            touch_reg(&mut c, r, row, ins.c, SLOT_C, clk);
        }
        if op.accesses_memory() {
            let value = if op == OpCode::Store {
                step.c_value
            } else {
                step.mem_before
            };
            let now = 4 * clk + SLOT_MEM;
            match data.entry(step.mem_addr) {
                Entry::Occupied(mut e) => {
                    r[record::T_OLD + SLOT_MEM as usize] = e.get().0;
                    e.insert((now, value));
                }
                Entry::Vacant(e) => {
                    data_fixups.push((row, step.mem_addr));
                    e.insert((now, value));
                }
            }
        }
        if op.writes_a() {
            touch_reg(&mut c, r, row, ins.a, SLOT_A, clk);
            let a = ins.a as usize;
            match c.reg_val[a] {
                Some(v) => r[record::A_OLD] = v.value(),
                None => c.reg_val_fixups.push((row, ins.a)),
            }
            c.reg_val[a] = Some(step.result);
        }
        // A branch, not two adds of a comparison: the compiler packs those two counters into
        // one vector register, and on the AMD development machine the lane insert
        // (SSE4a's `insertq`) made the whole chunk pass eight times slower.
        match op {
            OpCode::In => inputs += 1,
            OpCode::Out => outputs += 1,
            _ => {}
        }
        *out = *r;
    }
    let last: Vec<(u32, u32, M31)> = data.iter().map(|(&a, &(t, v))| (a, t, v)).collect();
    c.data = Grouped::by_bucket(&last, buckets.count, |&(a, _, _)| buckets.of(a));
    c.data_fixups = Grouped::by_bucket(&data_fixups, buckets.count, |&(_, a)| buckets.of(a));
    c
}

/// A step's record with its own values filled and every other word zero.
fn own_values(step: &Step) -> StepRecord {
    let mut r = [0; record::WORDS];
    r[record::PC] = step.pc;
    r[record::B_VALUE] = step.b_value.value();
    r[record::C_VALUE] = step.c_value.value();
    r[record::RESULT] = step.result.value();
    r[record::MEM_ADDR] = step.mem_addr;
    r[record::MEM_BEFORE] = step.mem_before.value();
    r
}

/// Notes an access to `reg` in `slot` at step `clk`: its previous timestamp, or a fix-up.
fn touch_reg(c: &mut Chunk, r: &mut StepRecord, row: u32, reg: u32, slot: u32, clk: u32) {
    let word = record::T_OLD + slot as usize;
    match c.reg_ts[reg as usize] {
        Some(ts) => r[word] = ts,
        None => c.reg_ts_fixups.push((row, word as u8, reg)),
    }
    c.reg_ts[reg as usize] = Some(4 * clk + slot);
}

#[cfg(test)]
mod tests {
    use super::*;
    use obelysk_vm::asm::assemble;
    use obelysk_vm::ObelyskVM;

    /// The replay as one sequential loop: the reference the chunks must equal.
    fn sequential(
        code: &[Instruction],
        steps: &[Step],
        data_len: usize,
    ) -> (Vec<StepRecord>, Final) {
        let mut records = vec![[0u32; record::WORDS]; steps.len()];
        let mut reg_val = [M31::ZERO; REGISTERS];
        let mut reg_ts = [0u32; REGISTERS];
        let mut data_val = vec![M31::ZERO; data_len];
        let mut data_ts = vec![0u32; data_len];
        let (mut n_in, mut n_out) = (0u32, 0u32);
        for (k, (step, r)) in steps.iter().zip(records.iter_mut()).enumerate() {
            let clk = k as u32 + 1;
            let ins = code[step.pc as usize];
            let op = ins.opcode;
            *r = own_values(step);
            r[record::IN_IDX] = n_in;
            r[record::OUT_IDX] = n_out;
            let mut touch = |ts: &mut u32, slot: u32| {
                r[record::T_OLD + slot as usize] = *ts;
                *ts = 4 * clk + slot;
            };
            if op.reads_b() {
                touch(&mut reg_ts[ins.b as usize], SLOT_B);
            }
            if op.reads_c() {
                touch(&mut reg_ts[ins.c as usize], SLOT_C);
            }
            if op.accesses_memory() {
                let addr = step.mem_addr as usize;
                touch(&mut data_ts[addr], SLOT_MEM);
                data_val[addr] = if op == OpCode::Store {
                    step.c_value
                } else {
                    step.mem_before
                };
            }
            if op.writes_a() {
                let a = ins.a as usize;
                touch(&mut reg_ts[a], SLOT_A);
                r[record::A_OLD] = reg_val[a].value();
                reg_val[a] = step.result;
            }
            n_in += (op == OpCode::In) as u32;
            n_out += (op == OpCode::Out) as u32;
        }
        let state = Final {
            reg_val,
            reg_ts,
            data_val,
            data_ts,
        };
        (records, state)
    }

    #[test]
    fn every_chunk_size_gives_the_sequential_replay() {
        // Every opcode, and a loop that stores, reloads and overwrites a few addresses again and
        // again, so that accesses straddle chunk borders in every slot.
        let churn = "
            in r1
            loadi r2, 0
        loop:
            load r3, [r2 + 1]
            add r4, r3, r2
            store r4, [r2 + 1]
            out r4
            in r5
            store r5, [r5 + 0]
            addi r2, r2, 1
            lt r6, r2, r1
            jnz r6, loop
            halt
        ";
        // No `in` or `out`: the I/O indices stay zero without a pass over the steps.
        let quiet = "
            loadi r1, 9
        loop:
            store r1, [r1 + 0]
            load r2, [r1 + 1]
            addi r1, r1, -1
            jnz r1, loop
            halt
        ";
        let cases: [(&str, Vec<u32>); 3] = [
            (crate::testing::ALL_OPCODES, vec![3, 4, 2_147_483_642, 6]),
            (
                churn,
                (0..41).map(|i| [40, 3][i.min(1)] + i as u32 % 3).collect(),
            ),
            (quiet, Vec::new()),
        ];
        for (source, inputs) in cases {
            let program = assemble(source, "replay.oasm").unwrap();
            let mut vm = ObelyskVM::new();
            vm.load(&program);
            vm.set_inputs(inputs.into_iter().map(M31::from).collect());
            let trace = vm.execute().unwrap();
            let (code, steps) = (program.instructions(), trace.steps());
            let data_len = (trace.data_words() as usize).next_power_of_two();
            let (want, want_state) = sequential(code, steps, data_len);
            let chunks = [1, 2, 3, 5, 16, steps.len(), usize::MAX];
            // One bucket of addresses, several, and one per address.
            for (chunk, buckets) in chunks
                .into_iter()
                .flat_map(|c| [(c, 1), (c, 3), (c, 1 << 20)])
            {
                // Junk in the words the replay fills: each must be written.
                let mut records = vec![[u32::MAX - 1; record::WORDS]; steps.len()];
                let state = replay_in_buckets(code, steps, &mut records, data_len, chunk, buckets);
                // Every word, the slots a step does not use included (zero).
                for (k, (got, want)) in records.iter().zip(&want).enumerate() {
                    assert_eq!(got, want, "chunk {chunk}, {buckets} buckets, step {k}");
                }
                assert_eq!(state, want_state, "chunk {chunk}, {buckets} buckets");
            }
        }
    }
}
