//! The CPU component: one row per executed step.
//!
//! A row consumes its state `(pc, clk, in, out)` and yields the next one, looks its instruction up
//! in the program table, and performs up to four memory accesses at timestamps `4·clk + slot`:
//! slot 0 reads register `b`, slot 1 reads register `c`, slot 2 touches data memory, slot 3 writes
//! register `a`. Each access consumes `(space, addr, old, t_old)` and yields
//! `(space, addr, new, t)` with `t - t_old - 1` split into two 12-bit limbs, so accesses
//! to one address are strictly ordered and every read returns the last value written.
//! Cells a step does not use are constrained to zero, so every cell of every row is determined.

use stwo_constraint_framework::{EvalAtRow, FrameworkComponent, FrameworkEval};

use stwo::core::fields::qm31::SecureField;

use super::{cumsum_shift, konst, one_minus, sum, AirField, Lookup, Rel, Relations};
use super::{LogupConstraints, LookupSink};
use super::{DATA_SPACE, HALT_PC, LIMB_BITS, REGISTER_SPACE};
use obelysk_vm::OpCode;

/// Column indices of the CPU trace.
pub mod col {
    pub const EN: usize = 0;
    pub const PC: usize = 1;
    pub const CLK: usize = 2;
    pub const IN_IDX: usize = 3;
    pub const OUT_IDX: usize = 4;
    pub const PC_NEXT: usize = 5;
    /// One boolean selector per opcode, `SEL + opcode`.
    pub const SEL: usize = 6;
    pub const A: usize = 22;
    pub const B: usize = 23;
    pub const C: usize = 24;
    pub const VB: usize = 25;
    pub const TB: usize = 26;
    pub const TB_LO: usize = 27;
    pub const TB_HI: usize = 28;
    pub const VC: usize = 29;
    pub const TC: usize = 30;
    pub const TC_LO: usize = 31;
    pub const TC_HI: usize = 32;
    pub const RES: usize = 33;
    pub const A_OLD: usize = 34;
    pub const TA: usize = 35;
    pub const TA_LO: usize = 36;
    pub const TA_HI: usize = 37;
    pub const M_ADDR: usize = 38;
    pub const M_OLD: usize = 39;
    pub const M_NEW: usize = 40;
    pub const TM: usize = 41;
    pub const TM_LO: usize = 42;
    pub const TM_HI: usize = 43;
    pub const ZINV: usize = 44;
    pub const IZ: usize = 45;
    pub const TAKEN: usize = 46;
    pub const LT_LO: usize = 47;
    pub const LT_MID: usize = 48;
    pub const LT_HI: usize = 49;
    pub const COUNT: usize = 50;
}

/// Slots of the four memory accesses within a step.
pub const SLOT_B: u32 = 0;
pub const SLOT_C: u32 = 1;
pub const SLOT_MEM: u32 = 2;
pub const SLOT_A: u32 = 3;

/// LogUp terms per row, and the interaction columns they need (pairs of terms, four base
/// columns per QM31 running sum).
pub const N_LOOKUPS: usize = 24;
pub const INTERACTION_COLUMNS: usize = 4 * N_LOOKUPS.div_ceil(2);

pub type CpuComponent = FrameworkComponent<CpuEval>;

#[derive(Clone, Debug)]
pub struct CpuEval {
    pub log_size: u32,
    pub relations: Relations,
    /// Zero until the interaction trace is built (see `Evals::with_claimed_sums`).
    pub claimed_sum: SecureField,
}

impl FrameworkEval for CpuEval {
    fn log_size(&self) -> u32 {
        self.log_size
    }

    fn max_constraint_log_degree_bound(&self) -> u32 {
        self.log_size + 1
    }

    fn evaluate<E: EvalAtRow>(&self, mut eval: E) -> E {
        // On the stack and straight into the evaluator: this runs for every 32 rows of the
        // evaluation domain, and heap vectors of packed values were a tenth of its time.
        let row: [E::F; col::COUNT] = std::array::from_fn(|_| eval.next_trace_mask());
        constraints_with(&row, |constraint| eval.add_constraint(constraint));
        let shift = cumsum_shift(self.claimed_sum, self.log_size);
        let mut logup = LogupConstraints::new(&mut eval, &self.relations, N_LOOKUPS, shift);
        lookups_into(&row, &mut logup);
        logup.finish();
        eval
    }
}

fn sel<F: Clone>(row: &[F], op: OpCode) -> F {
    row[col::SEL + op as usize].clone()
}

fn any_of<F: AirField>(row: &[F], pred: fn(OpCode) -> bool) -> F {
    sum(OpCode::ALL
        .into_iter()
        .filter(|op| pred(*op))
        .map(|op| sel(row, op)))
}

/// Flags for the four access slots: `(reads b, reads c, touches memory, writes a)`.
fn access_flags<F: AirField>(row: &[F]) -> [F; 4] {
    [
        any_of(row, OpCode::reads_b),
        any_of(row, OpCode::reads_c),
        any_of(row, OpCode::accesses_memory),
        any_of(row, OpCode::writes_a),
    ]
}

/// Timestamp of a slot: `4·clk + slot`.
fn timestamp<F: AirField>(row: &[F], slot: u32) -> F {
    row[col::CLK].clone() * super::m31(4) + konst::<F>(slot)
}

/// Every polynomial constraint of a row (each must vanish). Degrees are at most three.
pub fn constraints<F: AirField>(row: &[F]) -> Vec<F> {
    let mut out = Vec::with_capacity(96);
    constraints_with(row, |c| out.push(c));
    out
}

/// [`constraints`], handed one by one to `out` in the same order.
pub fn constraints_with<F: AirField>(row: &[F], mut out: impl FnMut(F)) {
    use col::*;
    let c = |i: usize| row[i].clone();
    let limbs = |lo: usize, hi: usize| c(lo) + c(hi) * super::m31(1 << LIMB_BITS);

    // Enabler and one-hot opcode selectors; padding rows are all zero.
    out(c(EN) * (c(EN) - konst(1)));
    for op in OpCode::ALL {
        let s = sel(row, op);
        out(s.clone() * (s - konst(1)));
    }
    out(sum(OpCode::ALL.map(|op| sel(row, op))) - c(EN));
    for i in [PC, CLK, IN_IDX, OUT_IDX, A, B, C] {
        out(one_minus(c(EN)) * c(i));
    }

    // Memory accesses: unused slots are zero, used ones prove `t_old < t`.
    let [ub, uc, um, ua] = access_flags(row);
    let slots = [
        (ub, SLOT_B, [VB, TB, TB_LO, TB_HI], TB),
        (uc, SLOT_C, [VC, TC, TC_LO, TC_HI], TC),
        (um, SLOT_MEM, [M_OLD, TM, TM_LO, TM_HI], TM),
        (ua.clone(), SLOT_A, [A_OLD, TA, TA_LO, TA_HI], TA),
    ];
    for (used, slot, cells, t_old) in slots {
        for cell in cells {
            out(one_minus(used.clone()) * c(cell));
        }
        let (lo, hi) = (cells[2], cells[3]);
        out(used * (timestamp(row, slot) - c(t_old) - konst(1) - limbs(lo, hi)));
    }
    out(one_minus(ua) * c(RES));

    // Data memory address and the value left behind.
    let (is_load, is_store) = (sel(row, OpCode::Load), sel(row, OpCode::Store));
    out(c(M_ADDR) - is_load.clone() * (c(VB) + c(C)) - is_store.clone() * (c(VB) + c(A)));
    out(c(M_NEW) - is_load.clone() * c(M_OLD) - is_store * c(VC));

    // What each opcode writes.
    let s = |op| sel(row, op);
    out(s(OpCode::LoadImm) * (c(RES) - c(B)));
    out(s(OpCode::Add) * (c(RES) - c(VB) - c(VC)));
    out(s(OpCode::Sub) * (c(RES) - c(VB) + c(VC)));
    out(s(OpCode::Mul) * (c(RES) - c(VB) * c(VC)));
    out(s(OpCode::AddImm) * (c(RES) - c(VB) - c(C)));
    out(s(OpCode::MulImm) * (c(RES) - c(VB) * c(C)));
    out(s(OpCode::Inv) * (c(RES) * c(VB) - konst(1)));
    out(is_load * (c(RES) - c(M_OLD)));

    // Lt: res is a bit and the signed gap it implies fits in 29 bits (12 + 12 + 5).
    let is_lt = s(OpCode::Lt);
    let gap = c(RES) * (c(VC) - c(VB) - konst(1)) + one_minus(c(RES)) * (c(VB) - c(VC));
    out(is_lt.clone() * (c(RES) * c(RES) - c(RES)));
    let lt_limbs = limbs(LT_LO, LT_MID) + c(LT_HI) * super::m31(1 << (2 * LIMB_BITS));
    out(is_lt.clone() * (gap - lt_limbs));
    for cell in [LT_LO, LT_MID, LT_HI] {
        out(one_minus(is_lt.clone()) * c(cell));
    }

    // Conditional jumps: iz = [vb == 0] through its inverse witness.
    let (jz, jnz) = (s(OpCode::Jz), s(OpCode::Jnz));
    let jc = jz.clone() + jnz.clone();
    out(jc.clone() * (c(IZ) - konst(1) + c(VB) * c(ZINV)));
    out(c(VB) * c(IZ));
    out(c(IZ) * c(ZINV));
    out(one_minus(jc.clone()) * c(IZ));
    out(one_minus(jc) * c(ZINV));
    out(c(TAKEN) - s(OpCode::Jmp) - jz * c(IZ) - jnz * one_minus(c(IZ)));

    // Next pc: fall through, jump to c, or the halt sentinel.
    let pc_plus_one = c(PC) + konst(1);
    out(c(PC_NEXT)
        - c(EN) * pc_plus_one.clone()
        - c(TAKEN) * (c(C) - pc_plus_one.clone())
        - s(OpCode::Halt) * (konst::<F>(HALT_PC) - pc_plus_one));
}

/// The row's LogUp terms, [`N_LOOKUPS`] of them.
pub fn lookups<F: AirField>(row: &[F]) -> Vec<Lookup<F>> {
    let mut out = Vec::with_capacity(N_LOOKUPS);
    lookups_into(row, &mut out);
    out
}

/// [`lookups`], handed one by one to `out` in the same order.
pub fn lookups_into<F: AirField>(row: &[F], out: &mut impl LookupSink<F>) {
    use col::*;
    let c = |i: usize| row[i].clone();
    let en = c(EN);
    let flags = access_flags(row);
    let [ub, uc, um, ua] = flags.clone();
    let opcode = sum(OpCode::ALL.map(|op| sel(row, op) * super::m31(op as u32)));
    let (is_in, is_out) = (sel(row, OpCode::In), sel(row, OpCode::Out));
    let reg = konst::<F>(REGISTER_SPACE);
    let data = konst::<F>(DATA_SPACE);

    out.lookup(
        Rel::State,
        en.clone(),
        &[c(PC), c(CLK), c(IN_IDX), c(OUT_IDX)],
    );
    out.lookup(
        Rel::State,
        -en.clone(),
        &[
            c(PC_NEXT),
            c(CLK) + konst(1),
            c(IN_IDX) + is_in.clone(),
            c(OUT_IDX) + is_out.clone(),
        ],
    );
    out.lookup(Rel::Program, en, &[c(PC), opcode, c(A), c(B), c(C)]);
    let accesses = [
        (ub, reg.clone(), c(B), c(VB), c(VB), TB, SLOT_B),
        (uc, reg.clone(), c(C), c(VC), c(VC), TC, SLOT_C),
        (um, data, c(M_ADDR), c(M_OLD), c(M_NEW), TM, SLOT_MEM),
        (ua, reg, c(A), c(A_OLD), c(RES), TA, SLOT_A),
    ];
    let limbs = [
        (TB_LO, TB_HI),
        (TC_LO, TC_HI),
        (TM_LO, TM_HI),
        (TA_LO, TA_HI),
    ];
    for (used, space, addr, old, new, t_old, slot) in accesses {
        out.lookup(
            Rel::Memory,
            used.clone(),
            &[space.clone(), addr.clone(), old, c(t_old)],
        );
        out.lookup(
            Rel::Memory,
            -used.clone(),
            &[space, addr, new, timestamp(row, slot)],
        );
    }
    // The range checks of the timestamp gaps come after all accesses.
    for (used, (lo, hi)) in flags.into_iter().zip(limbs) {
        out.lookup(Rel::Range12, used.clone(), &[c(lo)]);
        out.lookup(Rel::Range12, used, &[c(hi)]);
    }
    let is_lt = sel(row, OpCode::Lt);
    out.lookup(Rel::Range12, is_lt.clone(), &[c(LT_LO)]);
    out.lookup(Rel::Range12, is_lt.clone(), &[c(LT_MID)]);
    out.lookup(Rel::Range5, is_lt, &[c(LT_HI)]);
    out.lookup(Rel::Input, is_in, &[c(IN_IDX), c(RES)]);
    out.lookup(Rel::Output, -is_out, &[c(OUT_IDX), c(VB)]);
}

#[cfg(test)]
mod tests {
    use stwo::core::fields::m31::BaseField;

    use super::*;

    #[test]
    fn lookup_count_matches_the_constant() {
        let row = vec![BaseField::from_u32_unchecked(0); col::COUNT];
        assert_eq!(lookups(&row).len(), N_LOOKUPS);
    }
}
