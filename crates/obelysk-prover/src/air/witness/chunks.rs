//! The replay's order-dependent part, in parallel chunks.
//!
//! Each access needs the timestamp of the previous access to its register or address, a write
//! needs the value it overwrites, and `in`/`out` need how many came before. Each chunk of steps
//! replays on its own from an unknown state: an access whose predecessor lies in the chunk gets
//! its answer at once; the chunk's first access to each register or address is noted as a
//! fix-up. A sequential pass then walks the chunks in order, answers their fix-ups from the
//! state the chunks before left, and folds in what each chunk leaves. That pass costs one entry
//! per register and per address a chunk touches, not one per step.

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
    /// The last access per address: timestamp and the value it left.
    data: HashMap<u32, (u32, M31), BuildHasherDefault<AddressHasher>>,
    /// `(row, address)`: a previous timestamp from before the chunk.
    data_fixups: Vec<(u32, u32)>,
    inputs: u32,
    outputs: u32,
}

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

/// How many inputs and outputs came before each chunk: what [`replay`] leaves to the caller's
/// next pass over the records (which counts the tables' lookups), so that the records are
/// walked twice in all.
pub(super) struct IoBefore(Vec<(u32, u32)>);

impl IoBefore {
    /// Completes chunk `index`'s `IN_IDX` and `OUT_IDX` words.
    pub(super) fn apply(&self, index: usize, records: &mut [StepRecord]) {
        let (inputs, outputs) = self.0[index];
        if (inputs, outputs) != (0, 0) {
            for r in records {
                r[record::IN_IDX] += inputs;
                r[record::OUT_IDX] += outputs;
            }
        }
    }
}

/// Fills every record, `chunk` steps per parallel task, except what [`IoBefore`] still adds
/// to `IN_IDX` and `OUT_IDX`, and returns the final state. Every chunk size gives the same
/// result.
pub(super) fn replay(
    code: &[Instruction],
    steps: &[Step],
    records: &mut [StepRecord],
    data_len: usize,
    chunk: usize,
) -> (Final, IoBefore) {
    let chunk = chunk.max(1);
    let learnt: Vec<Chunk> = records
        .par_chunks_mut(chunk)
        .zip(steps.par_chunks(chunk))
        .enumerate()
        .map(|(i, (records, steps))| replay_chunk(code, steps, records, (i * chunk) as u32))
        .collect();

    let mut state = Final {
        reg_val: [M31::ZERO; REGISTERS],
        reg_ts: [0; REGISTERS],
        data_val: vec![M31::ZERO; data_len],
        data_ts: vec![0; data_len],
    };
    let mut io_before = Vec::with_capacity(learnt.len());
    let (mut inputs, mut outputs) = (0u32, 0u32);
    for (i, c) in learnt.iter().enumerate() {
        let records = &mut records[i * chunk..];
        for &(row, word, reg) in &c.reg_ts_fixups {
            records[row as usize][word as usize] = state.reg_ts[reg as usize];
        }
        for &(row, reg) in &c.reg_val_fixups {
            records[row as usize][record::A_OLD] = state.reg_val[reg as usize].value();
        }
        for &(row, addr) in &c.data_fixups {
            records[row as usize][record::T_OLD + SLOT_MEM as usize] = state.data_ts[addr as usize];
        }
        for r in 0..REGISTERS {
            if let Some(ts) = c.reg_ts[r] {
                state.reg_ts[r] = ts;
            }
            if let Some(v) = c.reg_val[r] {
                state.reg_val[r] = v;
            }
        }
        for (&addr, &(ts, v)) in &c.data {
            state.data_ts[addr as usize] = ts;
            state.data_val[addr as usize] = v;
        }
        io_before.push((inputs, outputs));
        inputs += c.inputs;
        outputs += c.outputs;
    }
    (state, IoBefore(io_before))
}

/// Replays `steps` (the first is step `first`, zero-based) as if nothing came before, noting
/// what must come from earlier chunks. Every word of every record is written (a reused buffer
/// holds an earlier proof's), each record once.
fn replay_chunk(
    code: &[Instruction],
    steps: &[Step],
    records: &mut [StepRecord],
    first: u32,
) -> Chunk {
    let mut c = Chunk::default();
    for (row, (step, out)) in steps.iter().zip(records.iter_mut()).enumerate() {
        let clk = first + row as u32 + 1;
        let ins = code[step.pc as usize];
        let op = ins.opcode;
        let row = row as u32;
        let r = &mut own_values(step);
        r[record::IN_IDX] = c.inputs;
        r[record::OUT_IDX] = c.outputs;
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
            match c.data.entry(step.mem_addr) {
                Entry::Occupied(mut e) => {
                    r[record::T_OLD + SLOT_MEM as usize] = e.get().0;
                    e.insert((now, value));
                }
                Entry::Vacant(e) => {
                    c.data_fixups.push((row, step.mem_addr));
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
        c.inputs += (op == OpCode::In) as u32;
        c.outputs += (op == OpCode::Out) as u32;
        *out = *r;
    }
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
        let cases: [(&str, Vec<u32>); 2] = [
            (crate::testing::ALL_OPCODES, vec![3, 4, 2_147_483_642, 6]),
            (
                churn,
                (0..41).map(|i| [40, 3][i.min(1)] + i as u32 % 3).collect(),
            ),
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
            for chunk in [1, 2, 3, 5, 16, steps.len(), usize::MAX] {
                // Junk in the words the replay fills: each must be written.
                let mut records = vec![[u32::MAX - 1; record::WORDS]; steps.len()];
                let (state, io) = replay(code, steps, &mut records, data_len, chunk);
                for (i, records) in records.chunks_mut(chunk.max(1)).enumerate() {
                    io.apply(i, records);
                }
                // Every word, the slots a step does not use included (zero).
                for (k, (got, want)) in records.iter().zip(&want).enumerate() {
                    assert_eq!(got, want, "chunk {chunk}, step {k}");
                }
                assert_eq!(state, want_state, "chunk {chunk}");
            }
        }
    }
}
