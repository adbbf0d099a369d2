//! How many bits of security a proof delivers, and what limits them.
//!
//! A proof is as strong as the weakest of three things:
//!
//! - its queries and proof of work: `pow_bits + log_blowup·n_queries` (FRI, conjectured), what
//!   [`ProofConfig::security_bits`](crate::ProofConfig) states;
//! - its Merkle commitments: Blake2s-256, 128 bits of collision resistance ([`HASH_BITS`]);
//! - its random challenges, drawn from QM31, a field of `p⁴ < 2^124` elements
//!   ([`field_bits`]). A cheating prover wins when a challenge lands on a root of one of the
//!   nonzero polynomials the protocol builds from its commitments, so the error is the sum of
//!   their degrees over `p⁴`, and the more rows a proof has, the higher those degrees.
//!
//! The last bound is what keeps any proof of ours below 124 bits, whatever its query count.

use stwo::core::channel::Blake2sChannel;
use stwo::core::fields::m31::BaseField;

use crate::air::witness::log_size_for;
use crate::air::{cpu, Lookup, Rel, Relations};
use crate::claim::Shape;
use crate::components::Evals;
use crate::error::{Error, Result};

/// Collision resistance of Blake2s-256, which binds every commitment.
pub const HASH_BITS: u32 = 128;

/// `p⁴`, the number of QM31 elements, from which every challenge is drawn.
const QM31_ORDER: u128 = {
    let p = obelysk_vm::P as u128;
    p * p * p * p
};
const _: () = assert!(QM31_ORDER < 1 << 124 && QM31_ORDER > 1 << 123);

/// Bits of security the challenges deliver for a proof of `shape`: the largest `b` with
/// `D·2^b ≤ p⁴`, where `D` bounds the total degree of the polynomials a cheater needs a
/// challenge to be a root of:
///
/// - the out-of-domain sample and FRI's folding, as ethSTARK's conjectured accounting counts
///   them (`log2|F| − log2(trace length)`): the tallest component's height;
/// - LogUp, by Schwartz–Zippel, relation by relation. A relation with `N` fractions of tuples of
///   `w` values, each combined as `v₀ + α·v₁ + … + α^(w−1)·v_(w−1) − z`, balances by accident
///   when `(α, z)` is a root of the cleared sum (total degree below `N·max(w−1, 1)`) or of a
///   denominator (the same again): `2·N·max(w−1, 1)`. `N` counts every row of every component,
///   padding included, and public terms as if every step read an input and wrote an output.
pub fn field_bits(shape: &Shape) -> u32 {
    // No accepted shape comes near; a hostile one must not overflow the count.
    if shape.max_log_size() > 64 {
        return 0;
    }
    let degree = logup_degree(shape) + (1u128 << shape.max_log_size());
    (0..124)
        .rev()
        // `D·2^b ≤ p⁴` exactly when `D ≤ ⌊p⁴ / 2^b⌋`, which cannot overflow.
        .find(|&b| degree <= QM31_ORDER >> b)
        .unwrap_or(0)
}

/// Refuses a request for more bits than a proof of `trace` delivers, before any work.
pub fn check_request(bits: u32, trace: &obelysk_vm::ExecutionTrace) -> Result<()> {
    let most = field_bits(&Shape::of(trace)).min(HASH_BITS);
    if bits > most {
        return Err(Error::Config(format!(
            "a proof of {} steps delivers at most {most} bits, not {bits}: its challenges come \
             from QM31 (fewer than 2^124 elements), and the taller the trace the fewer bits they \
             give; ask for {most} bits or fewer",
            trace.steps().len()
        )));
    }
    Ok(())
}

/// What a proof of `shape` made with `query_bits` from its queries and proof of work delivers.
pub fn delivered_bits(query_bits: u32, shape: &Shape) -> u32 {
    query_bits.min(field_bits(shape)).min(HASH_BITS)
}

/// The most bits a proof of a run of at most `max_steps` steps of a `program_len`-instruction
/// program can deliver, whatever memory it uses: what a job may ask for.
pub fn max_bits_for(max_steps: u64, program_len: usize) -> u32 {
    let shape = Shape {
        cpu_log: log_size_for(max_steps.clamp(1, obelysk_vm::MAX_STEPS) as usize),
        program_log: log_size_for(program_len),
        data_log: log_size_for(obelysk_vm::MAX_DATA_WORDS as usize),
    };
    field_bits(&shape).min(HASH_BITS)
}

/// The most steps a job of a `program_len`-instruction program may run for its proof to
/// deliver `bits`, whatever memory it uses: 0 where no run can.
pub fn max_steps_for(bits: u32, program_len: usize) -> u64 {
    (0..=obelysk_vm::MAX_STEPS.ilog2() + 1)
        .rev()
        .map(|log| (1u64 << log).min(obelysk_vm::MAX_STEPS))
        .find(|&steps| max_bits_for(steps, program_len) >= bits)
        .unwrap_or(0)
}

/// `Σ 2·N·max(w−1, 1)` over the relations (see [`field_bits`]).
fn logup_degree(shape: &Shape) -> u128 {
    // Tuple widths and fraction counts do not depend on the challenges; any will do.
    let evals = Evals::new(shape, &Relations::draw(&mut Blake2sChannel::default()));
    let zero = BaseField::from_u32_unchecked(0);
    let mut per_relation = [(0u128, 0usize); Rel::ALL.len()];
    let mut add = |lookups: Vec<Lookup<BaseField>>, log_rows: u32| {
        for lookup in lookups {
            let (fractions, width) = &mut per_relation[lookup.rel as usize];
            *fractions += 1u128 << log_rows;
            *width = (*width).max(lookup.values().len());
        }
    };
    add(cpu::lookups(&[zero; cpu::col::COUNT]), shape.cpu_log);
    add(evals.program.lookups(&[zero; 6]), shape.program_log);
    for range in &evals.ranges {
        add(range.lookups(&[zero; 2]), range.bits);
    }
    add(
        evals.registers.lookups(&[zero; 3]),
        evals.registers.log_size,
    );
    add(evals.data.lookups(&[zero; 3]), evals.data.log_size);
    // The public terms: the initial and final states, one per input, one per output.
    let steps = 1u128 << shape.cpu_log;
    for (rel, fractions) in [(Rel::State, 2), (Rel::Input, steps), (Rel::Output, steps)] {
        per_relation[rel as usize].0 += fractions;
    }
    per_relation
        .iter()
        .map(|&(fractions, width)| 2 * fractions * width.saturating_sub(1).max(1) as u128)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(cpu_log: u32, data_log: u32) -> Shape {
        Shape {
            cpu_log,
            program_log: 4,
            data_log,
        }
    }

    #[test]
    fn the_logup_degree_counts_every_fraction_by_its_tuple_width() {
        // Per CPU row, by relation (fractions × 2·max(w−1, 1)): 2 states of 4 values (12),
        // 8 memory accesses of 4 (48), 1 program lookup of 5 (8), 10 + 1 range checks of 1
        // (22), an input and an output of 2 (2 + 2), and the public input and output terms
        // counted once per row (2 + 2): 98 per row.
        let small = shape(4, 4);
        let tall = shape(20, 4);
        let per_row = (logup_degree(&tall) - logup_degree(&small)) / ((1 << 20) - (1 << 4));
        assert_eq!(per_row, 98);
    }

    #[test]
    fn taller_traces_deliver_fewer_bits() {
        // 98·2^20 + 2^20 + the tables is just under 2^26.7: 97 bits at the default step limit.
        assert_eq!(field_bits(&shape(20, 20)), 97);
        assert_eq!(field_bits(&shape(21, 20)), 96);
        assert_eq!(field_bits(&shape(22, 20)), 95);
        assert!(field_bits(&shape(4, 4)) < HASH_BITS);
        for log in 5..=22 {
            assert!(field_bits(&shape(log, 4)) <= field_bits(&shape(log - 1, 4)));
        }
        assert!(field_bits(&shape(16, 4)) < field_bits(&shape(14, 4)));
    }

    /// The table in docs/air.md.
    #[test]
    fn the_documented_table_holds() {
        let table = [
            (10, 107, 100),
            (14, 103, 100),
            (16, 101, 99),
            (18, 99, 98),
            (20, 97, 97),
            (21, 96, 96),
            (22, 95, 95),
        ];
        for (log, small_memory, most_memory) in table {
            assert_eq!(field_bits(&shape(log, 4)), small_memory, "2^{log} rows");
            assert_eq!(field_bits(&shape(log, 20)), most_memory, "2^{log} rows");
        }
    }

    #[test]
    fn a_job_may_ask_for_what_its_tallest_trace_delivers() {
        assert_eq!(max_bits_for(1 << 20, 100), 97);
        assert_eq!(max_bits_for(obelysk_vm::MAX_STEPS, 100), 95);
        assert_eq!(delivered_bits(128, &shape(20, 20)), 97);
        assert_eq!(delivered_bits(96, &shape(20, 20)), 96);
        assert_eq!(max_steps_for(97, 100), 1 << 20);
        assert_eq!(max_steps_for(96, 100), 1 << 21);
        assert_eq!(max_steps_for(95, 100), obelysk_vm::MAX_STEPS);
        assert_eq!(max_steps_for(128, 100), 0);
    }
}
