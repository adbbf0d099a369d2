//! Every cell of the trace is constrained: a valid witness passes stwo's constraint checker and
//! balances its lookups; changing any one cell of any column breaks one or the other.

mod common;

use obelysk_prover::air::cpu::col;
use obelysk_prover::air::witness::Witness;
use obelysk_prover::testing::check_witness;
use obelysk_prover::Claim;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stwo::core::fields::m31::BaseField;
use stwo::prover::backend::simd::column::BaseColumn;

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
        for k in 0..3 {
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
