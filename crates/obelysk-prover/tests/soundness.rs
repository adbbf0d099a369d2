//! Every cell of the trace is constrained: a valid witness passes stwo's constraint checker and
//! balances its lookups; changing any one cell of any column breaks one or the other.

mod common;

use obelysk_prover::air::cpu::col;
use obelysk_prover::air::witness::Witness;
use obelysk_prover::testing::{check_witness, check_witness_with};
use obelysk_prover::Claim;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stwo::core::fields::m31::BaseField;
use stwo::prover::backend::simd::column::BaseColumn;

/// The field modulus: adding `P - 1` subtracts one.
const P: u32 = (1 << 31) - 1;

fn bump(column: &mut BaseColumn, row: usize, delta: u32) {
    let cell = &mut column.as_mut_slice()[row];
    *cell += BaseField::from_u32_unchecked(delta);
}

#[test]
fn valid_witness_passes_every_constraint() {
    let trace = common::all_opcodes_trace();
    let witness = Witness::generate(&trace);
    let claim = Claim::from_trace(&trace, None);
    check_witness(trace.program(), &claim, &witness).unwrap();
}

#[test]
fn changing_any_cpu_cell_is_caught() {
    let trace = common::all_opcodes_trace();
    let claim = Claim::from_trace(&trace, None);
    let witness = Witness::generate(&trace);
    let steps = trace.steps().len();
    let rows = witness.cpu[0].as_slice().len();
    assert!(rows > steps, "the test needs a padding row");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    std::panic::set_hook(Box::new(|_| {}));
    let mut escaped = Vec::new();
    for column in 0..col::COUNT {
        // Every executed row and two padding rows.
        for row in 0..steps + 2 {
            let mut forged = witness.cpu.clone();
            bump(&mut forged[column], row, 1 + rng.gen_range(0..1000));
            let forged = Witness {
                cpu: forged,
                ..clone_witness(&witness)
            };
            if check_witness(trace.program(), &claim, &forged).is_ok() {
                escaped.push((column, row));
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(
        escaped.is_empty(),
        "unconstrained (column, row) cells: {escaped:?}"
    );
}

#[test]
fn changing_any_logup_cell_is_caught() {
    let trace = common::all_opcodes_trace();
    let claim = Claim::from_trace(&trace, None);
    let witness = Witness::generate(&trace);
    let steps = trace.steps().len();
    std::panic::set_hook(Box::new(|_| {}));
    let mut escaped = Vec::new();
    // Every interaction column of the cpu (one fraction each, then the running sum) and of the
    // program table, at the first, a middle and a padding row.
    for component in [0, 1] {
        let n_columns = {
            let mut n = 0;
            let _ = check_witness_with(trace.program(), &claim, &witness, |i| {
                n = i[component].len()
            });
            n
        };
        assert!(n_columns >= 4, "component {component} has LogUp columns");
        for column in 0..n_columns {
            for row in [0, steps / 2, steps + 1] {
                // A single changed cell, and (between two fraction columns) a value moved from
                // one column to the next, which keeps the row's total and so only the
                // per-fraction constraints can catch.
                let moves_into = (column + 4 < n_columns - 4).then_some(column + 4);
                for moved in [Some(None), moves_into.map(Some)].into_iter().flatten() {
                    let forged = check_witness_with(trace.program(), &claim, &witness, |i| {
                        let row = row % i[component][column].values.as_slice().len();
                        bump(&mut i[component][column].values, row, 1);
                        if let Some(next) = moved {
                            bump(&mut i[component][next].values, row, P - 1);
                        }
                    });
                    if forged.is_ok() {
                        escaped.push((component, column, row, moved));
                    }
                }
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(
        escaped.is_empty(),
        "unconstrained (component, interaction column, row, moved to) cells: {escaped:?}"
    );
}

#[test]
fn changing_any_table_or_boundary_cell_is_caught() {
    let trace = common::all_opcodes_trace();
    let claim = Claim::from_trace(&trace, None);
    let witness = Witness::generate(&trace);
    std::panic::set_hook(Box::new(|_| {}));
    let mut escaped = Vec::new();
    let mut forge = |name: &str, row: usize, edit: &dyn Fn(&mut Witness)| {
        let mut forged = clone_witness(&witness);
        edit(&mut forged);
        if check_witness(trace.program(), &claim, &forged).is_ok() {
            escaped.push(format!("{name}[{row}]"));
        }
    };
    for row in [0, 3, 9] {
        forge("program multiplicity", row, &|w| {
            bump(&mut w.program_multiplicity, row, 1)
        });
        forge("register final value", row, &|w| {
            bump(&mut w.registers[0], row, 1)
        });
        forge("register final timestamp", row, &|w| {
            bump(&mut w.registers[1], row, 1)
        });
        forge("data final value", row, &|w| bump(&mut w.data[0], row, 1));
        forge("data final timestamp", row, &|w| {
            bump(&mut w.data[1], row, 1)
        });
        for k in 0..witness.range_multiplicity.len() {
            forge("range multiplicity", row, &|w| {
                bump(&mut w.range_multiplicity[k], row, 1)
            });
        }
    }
    let _ = std::panic::take_hook();
    assert!(escaped.is_empty(), "unconstrained cells: {escaped:?}");
}

#[test]
fn a_different_claim_does_not_balance() {
    let trace = common::all_opcodes_trace();
    let witness = Witness::generate(&trace);
    let claim = Claim::from_trace(&trace, None);
    let mut wrong_output = claim.clone();
    wrong_output.outputs[0] = wrong_output.outputs[0] + obelysk_vm::M31::ONE;
    let mut wrong_input = claim.clone();
    wrong_input.inputs[1] = obelysk_vm::M31::new(42);
    let mut wrong_steps = claim.clone();
    wrong_steps.steps -= 1;
    let mut fewer_outputs = claim.clone();
    fewer_outputs.outputs.pop();
    for forged in [wrong_output, wrong_input, wrong_steps, fewer_outputs] {
        assert!(
            check_witness(trace.program(), &forged, &witness).is_err(),
            "{forged:?}"
        );
    }
}

fn clone_witness(w: &Witness) -> Witness {
    Witness {
        shape: w.shape,
        cpu: w.cpu.clone(),
        program_multiplicity: w.program_multiplicity.clone(),
        range_multiplicity: w.range_multiplicity.clone(),
        registers: w.registers.clone(),
        data: w.data.clone(),
    }
}
