//! Checks a witness with the verifier's algebra but without FRI: every component's constraints
//! on every row (stwo's constraint checker), and the global LogUp sum. The soundness tests use it
//! to show that tampering with any cell is caught; it is also handy when changing the AIR.

use std::panic::{catch_unwind, AssertUnwindSafe};

use num_traits::Zero;
use stwo::core::channel::{Blake2sChannel, Channel};
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::TreeVec;
use stwo::core::poly::circle::CanonicCoset;
use stwo::prover::backend::simd::column::BaseColumn;
use stwo_constraint_framework::{assert_constraints_on_polys, FrameworkEval};

use crate::air::preprocessed::{self, Evaluation};
use crate::air::witness::Witness;
use crate::air::{public_logup_sum, PublicIo, Relations};
use crate::claim::Claim;
use crate::components::{Evals, N_COMPONENTS};
use crate::prove::interaction_traces;
use obelysk_vm::Program;

/// One component's constraint check, run under `catch_unwind`.
type Check<'a> = Box<dyn Fn() + 'a>;

/// `Ok` when the witness satisfies every constraint and all lookups balance against `claim`.
pub fn check_witness(program: &Program, claim: &Claim, witness: &Witness) -> Result<(), String> {
    check_witness_with(program, claim, witness, |_| {})
}

/// [`check_witness`], with `tamper` applied to the interaction columns (one `Vec` per component,
/// in component order) after they are generated and their claimed sums taken: a cheating
/// prover's view of the LogUp columns.
pub fn check_witness_with(
    program: &Program,
    claim: &Claim,
    witness: &Witness,
    tamper: impl FnOnce(&mut [Vec<Evaluation>]),
) -> Result<(), String> {
    let channel = &mut Blake2sChannel::default();
    channel.mix_u32s(&[0x0b31, witness.cpu.len() as u32]);
    let relations = Relations::draw(channel);
    let shape = witness.shape;
    let pre: Vec<(String, BaseColumn)> = preprocessed::columns(program, &shape)
        .into_iter()
        .map(|(id, e)| (id.id, e.values))
        .collect();
    let evals = Evals::new(&shape, &relations);
    let (mut interaction, sums) = interaction_traces(witness, &pre, &evals);
    tamper(&mut interaction);
    let evals = evals.with_claimed_sums(&sums);

    let io = PublicIo {
        inputs: &claim.inputs_field(),
        outputs: &claim.outputs_field(),
        steps: claim.steps as u32,
    };
    let total = sums.iter().copied().sum::<SecureField>() + public_logup_sum(&relations, &io);
    if !total.is_zero() {
        return Err("LogUp sum is not zero".into());
    }

    let pre_col = |id: String| {
        pre.iter()
            .find(|(p, _)| *p == id)
            .expect("exists")
            .1
            .clone()
    };
    let seq = |log: u32| pre_col(preprocessed::seq_id(log).id);
    let shape_pre_program = {
        let mut v = vec![seq(shape.program_log)];
        v.extend((0..4).map(|k| pre_col(preprocessed::program_field_id(k).id)));
        v
    };
    let mut checks: Vec<(&str, Check<'_>)> = Vec::new();
    let [cpu_i, prog_i, ranges @ .., reg_i, data_i] = &interaction[..] else {
        unreachable!("one interaction trace per component")
    };
    checks.push((
        "cpu",
        Box::new(|| assert_component(&evals.cpu, vec![], witness.cpu.clone(), cpu_i, sums[0])),
    ));
    checks.push((
        "program",
        Box::new(|| {
            let main = vec![witness.program_multiplicity.clone()];
            assert_component(
                &evals.program,
                shape_pre_program.clone(),
                main,
                prog_i,
                sums[1],
            )
        }),
    ));
    for (k, inter) in ranges.iter().enumerate() {
        let eval = &evals.ranges[k];
        let (seq_col, mult) = (seq(eval.bits), witness.range_multiplicity[k].clone());
        checks.push((
            "range",
            Box::new(move || {
                assert_component(
                    eval,
                    vec![seq_col.clone()],
                    vec![mult.clone()],
                    inter,
                    sums[2 + k],
                )
            }),
        ));
    }
    for (name, eval, main, inter, sum) in [
        (
            "registers",
            &evals.registers,
            &witness.registers,
            reg_i,
            sums[N_COMPONENTS - 2],
        ),
        (
            "data",
            &evals.data,
            &witness.data,
            data_i,
            sums[N_COMPONENTS - 1],
        ),
    ] {
        let seq_col = seq(eval.log_size);
        checks.push((
            name,
            Box::new(move || {
                assert_component(eval, vec![seq_col.clone()], main.clone(), inter, sum)
            }),
        ));
    }
    for (name, check) in checks {
        catch_unwind(AssertUnwindSafe(check)).map_err(|_| format!("{name} constraints fail"))?;
    }
    Ok(())
}

fn assert_component<E: FrameworkEval + Sync>(
    eval: &E,
    preprocessed: Vec<BaseColumn>,
    main: Vec<BaseColumn>,
    interaction: &[Evaluation],
    claimed_sum: SecureField,
) {
    let log_size = eval.log_size();
    let domain = CanonicCoset::new(log_size).circle_domain();
    let to_eval = |c: BaseColumn| Evaluation::new(domain, c);
    let trees = TreeVec::new(vec![
        preprocessed.into_iter().map(to_eval).collect::<Vec<_>>(),
        main.into_iter().map(to_eval).collect(),
        interaction.to_vec(),
    ]);
    let polys = trees.map(|tree| tree.into_iter().map(|c| c.interpolate()).collect());
    assert_constraints_on_polys(
        &polys,
        CanonicCoset::new(log_size),
        |assert_eval| {
            eval.evaluate(assert_eval);
        },
        claimed_sum,
    );
}

/// A program that uses every opcode, both outcomes of each conditional jump and of `lt`, memory
/// and I/O: the tests' (and the GPU kernels' tests') all-round trace, with inputs
/// `[3, 4, -5, 6]`.
pub const ALL_OPCODES: &str = "
    in r1                 ; n
    loadi r2, 0
loop:
    in r3
    store r3, [r2 + 5]
    load r4, [r2 + 5]
    mul r5, r4, r4
    add r6, r6, r5
    sub r7, r6, r4
    addi r2, r2, 1
    muli r8, r2, 3
    lt r9, r2, r1
    jnz r9, loop
    inv r10, r6
    jz r0, skip
    loadi r11, 99
skip:
    jz r6, never
    lt r12, r7, r0
    jmp end
never:
    loadi r13, 7
end:
    out r6
    out r10
    halt
";
