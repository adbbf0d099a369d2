//! The generated constraint kernel: committed as generated, and equal, row by row, to stwo's own
//! evaluation of the CPU component (`CpuDomainEvaluator`) when run on the emulator or a device.

mod common;

use obelysk_gpu::codegen::{
    constraint_kernel, cpu_constraints_kernel, interaction_kernel, table_constraints_kernel,
};
use obelysk_gpu::emulator::Emulator;
use obelysk_gpu::ops::{self, AirKernels};
use obelysk_prover::air::cpu::CpuEval;
use obelysk_prover::air::memory::MemoryBoundaryEval;
use obelysk_prover::air::tables::{ProgramTableEval, RangeTableEval};
use obelysk_prover::air::{Relations, DATA_SPACE, REGISTER_SPACE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stwo::core::channel::{Blake2sChannel, Channel};
use stwo::core::constraints::coset_vanishing;
use stwo::core::fields::m31::{BaseField, P};
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::TreeVec;
use stwo::core::poly::circle::CanonicCoset;
use stwo::core::utils::bit_reverse;
use stwo::prover::backend::CpuBackend;
use stwo::prover::poly::circle::CircleEvaluation;
use stwo::prover::poly::BitReversedOrder;
use stwo_constraint_framework::{CpuDomainEvaluator, FrameworkEval};

/// A generator of kernel source.
type Generator = fn() -> String;

/// The generated files, and the generator of each.
const GENERATED: [(&str, Generator); 3] = [
    ("kernels/cpu_constraints.cu", cpu_constraints_kernel),
    ("kernels/interaction.cu", interaction_kernel),
    ("kernels/table_constraints.cu", table_constraints_kernel),
];

#[test]
fn the_committed_kernels_are_what_the_air_generates() {
    let update = std::env::var("UPDATE_KERNELS").is_ok_and(|v| v == "1");
    for (file, generate) in GENERATED {
        let generated = generate();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        if update {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == generated,
            "{file} is stale: the AIR changed; run `UPDATE_KERNELS=1 cargo test -p obelysk-gpu \
             --test codegen` and commit the file"
        );
    }
}

fn random_secure(rng: &mut ChaCha8Rng) -> SecureField {
    SecureField::from_m31_array(std::array::from_fn(|_| {
        BaseField::from_u32_unchecked(rng.gen_range(0..P))
    }))
}

/// Random columns (the constraints need not hold: both sides evaluate the same expressions),
/// random challenges, claimed sum and coefficients; the generated kernel `function` against
/// stwo's `CpuDomainEvaluator` running the component's `evaluate` row by row, times the same
/// denominators. `n_preprocessed` of the kernel's cells come from the preprocessed tree.
#[allow(clippy::too_many_arguments)]
fn check_component<K: AirKernels, E: FrameworkEval>(
    kernels: &K,
    function: &'static str,
    n_preprocessed: usize,
    trace_log: u32,
    blowup: u32,
    component: impl Fn(Relations, SecureField) -> E,
) {
    let kernel = constraint_kernel(function).unwrap();
    let eval_log = trace_log + blowup;
    let n = 1usize << eval_log;
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(trace_log) + 100 * kernel.n_cells as u64);
    let cells: Vec<Vec<u32>> = (0..kernel.n_cells)
        .map(|k| common::column(n, 2000 + k as u64))
        .collect();
    let interaction: Vec<Vec<u32>> = (0..kernel.n_interaction_columns)
        .map(|k| common::column(n, 3000 + k as u64))
        .collect();
    let mut channel = Blake2sChannel::default();
    channel.mix_u64(u64::from(trace_log));
    let relations = Relations::draw(&mut channel);
    let claimed_sum = random_secure(&mut rng);
    let coeffs: Vec<SecureField> = (0..kernel.n_constraints)
        .map(|_| random_secure(&mut rng))
        .collect();
    let initial = common::column(4 * n, 4000);

    // stwo.
    let domain = CanonicCoset::new(eval_log).circle_domain();
    let as_eval = |c: &Vec<u32>| {
        CircleEvaluation::<CpuBackend, BaseField, BitReversedOrder>::new(
            domain,
            c.iter()
                .map(|&v| BaseField::from_u32_unchecked(v))
                .collect(),
        )
    };
    let cell_evals: Vec<_> = cells.iter().map(as_eval).collect();
    let inter_evals: Vec<_> = interaction.iter().map(as_eval).collect();
    let (preprocessed, main) = cell_evals.split_at(n_preprocessed);
    let trace = TreeVec::new(vec![
        preprocessed.iter().collect(),
        main.iter().collect(),
        inter_evals.iter().collect(),
    ]);
    let eval = component(relations.clone(), claimed_sum);
    assert_eq!(eval.log_size(), trace_log, "{function}");
    let trace_domain = CanonicCoset::new(trace_log);
    let mut denom_inv: Vec<BaseField> = (0..1 << blowup)
        .map(|i| coset_vanishing(trace_domain.coset(), domain.at(i)).inverse())
        .collect();
    bit_reverse(&mut denom_inv);
    let expected: Vec<SecureField> = (0..n)
        .map(|row| {
            let evaluator = CpuDomainEvaluator::new(
                &trace,
                row,
                &coeffs,
                trace_log,
                eval_log,
                trace_log,
                claimed_sum,
            );
            let initial = SecureField::from_m31_array(std::array::from_fn(|c| {
                BaseField::from_u32_unchecked(initial[c * n + row])
            }));
            let evaluated = eval.evaluate(evaluator);
            assert_eq!(
                evaluated.constraint_index,
                coeffs.len(),
                "{function}: constraints"
            );
            initial + evaluated.row_res * denom_inv[row >> trace_log]
        })
        .collect();

    // Ours.
    let mut accum = kernels.upload(&initial).unwrap();
    ops::constraint_quotients(
        kernels,
        function,
        &kernels.upload(&cells.concat()).unwrap(),
        &kernels.upload(&interaction.concat()).unwrap(),
        trace_log,
        domain,
        &coeffs,
        &relations,
        claimed_sum,
        &mut accum,
    )
    .unwrap();
    let got = kernels.download(&accum).unwrap();
    for (row, e) in expected.iter().enumerate() {
        let g = SecureField::from_m31_array(std::array::from_fn(|c| {
            BaseField::from_u32_unchecked(got[c * n + row])
        }));
        assert_eq!(g, *e, "{function}: row {row} of 2^{eval_log}");
    }
}

/// Every generated kernel against its component, the CPU component at `cpu_log` rows and the
/// tables at their own sizes (a range table has 2^bits rows), on an evaluation domain `blowup`
/// doublings larger.
fn check_every_component<K: AirKernels>(kernels: &K, cpu_log: u32, table_log: u32, blowup: u32) {
    check_component(
        kernels,
        "cpu_constraint_quotients",
        0,
        cpu_log,
        blowup,
        |relations, claimed_sum| CpuEval {
            log_size: cpu_log,
            relations,
            claimed_sum,
        },
    );
    check_component(
        kernels,
        "program_table_quotients",
        5,
        table_log,
        blowup,
        |relations, claimed_sum| ProgramTableEval {
            log_size: table_log,
            relations,
            claimed_sum,
        },
    );
    for (function, bits) in [
        ("range12_table_quotients", 12),
        ("range5_table_quotients", 5),
    ] {
        check_component(
            kernels,
            function,
            1,
            bits,
            blowup,
            |relations, claimed_sum| RangeTableEval {
                bits,
                relations,
                claimed_sum,
            },
        );
    }
    for (function, space) in [
        ("register_memory_quotients", REGISTER_SPACE),
        ("data_memory_quotients", DATA_SPACE),
    ] {
        check_component(
            kernels,
            function,
            1,
            table_log,
            blowup,
            |relations, claimed_sum| MemoryBoundaryEval {
                space,
                log_size: table_log,
                relations,
                claimed_sum,
            },
        );
    }
}

#[test]
fn generated_constraints_of_every_component_match_stwo_on_the_emulator() {
    for kernels in [Emulator::new(3, 7), Emulator::new(64, 256)] {
        for (cpu_log, table_log, blowup) in [(2, 1, 1), (5, 4, 1), (9, 6, 1), (5, 3, 2)] {
            check_every_component(&kernels, cpu_log, table_log, blowup);
        }
    }
}

#[test]
fn generated_constraints_of_every_component_match_stwo_on_the_device() {
    let kernels = match obelysk_gpu::prewarm_gpu(&obelysk_gpu::GpuConfig::default()) {
        Ok(mut devices) => devices.swap_remove(0),
        Err(e) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 and {e}")
        }
        Err(e) => {
            eprintln!(
                "skipped generated_constraints_of_every_component_match_stwo_on_the_device: {e}"
            );
            return;
        }
    };
    for (cpu_log, table_log, blowup) in [(5, 4, 1), (5, 4, 2), (16, 13, 1)] {
        check_every_component(kernels.as_ref(), cpu_log, table_log, blowup);
    }
}

/// `kernels/witness.cu` names the prover's layout (columns, record words, opcode flags, slots)
/// in `#define`s; each must equal the prover's constant.
#[test]
fn the_witness_kernel_uses_the_provers_layout() {
    use obelysk_prover::air::cpu::{col, SLOT_A, SLOT_B, SLOT_C, SLOT_MEM};
    use obelysk_prover::air::witness::{flag, record};
    use obelysk_prover::air::{HALT_PC, LIMB_BITS, RANGE_BITS};

    // The count of lookups takes the 12-bit table's size from LIMB_BITS.
    assert_eq!(RANGE_BITS, [LIMB_BITS, 5]);
    let source = include_str!("../kernels/witness.cu");
    let defined: std::collections::HashMap<&str, u64> = source
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name, value.trim().parse().ok()?))
        })
        .collect();
    let expected: &[(&str, usize)] = &[
        ("COL_EN", col::EN),
        ("COL_PC", col::PC),
        ("COL_CLK", col::CLK),
        ("COL_IN_IDX", col::IN_IDX),
        ("COL_OUT_IDX", col::OUT_IDX),
        ("COL_PC_NEXT", col::PC_NEXT),
        ("COL_SEL", col::SEL),
        ("COL_A", col::A),
        ("COL_B", col::B),
        ("COL_C", col::C),
        ("COL_VB", col::VB),
        ("COL_TB", col::TB),
        ("COL_TB_LO", col::TB_LO),
        ("COL_TB_HI", col::TB_HI),
        ("COL_VC", col::VC),
        ("COL_TC", col::TC),
        ("COL_TC_LO", col::TC_LO),
        ("COL_TC_HI", col::TC_HI),
        ("COL_RES", col::RES),
        ("COL_A_OLD", col::A_OLD),
        ("COL_TA", col::TA),
        ("COL_TA_LO", col::TA_LO),
        ("COL_TA_HI", col::TA_HI),
        ("COL_M_ADDR", col::M_ADDR),
        ("COL_M_OLD", col::M_OLD),
        ("COL_M_NEW", col::M_NEW),
        ("COL_TM", col::TM),
        ("COL_TM_LO", col::TM_LO),
        ("COL_TM_HI", col::TM_HI),
        ("COL_ZINV", col::ZINV),
        ("COL_IZ", col::IZ),
        ("COL_TAKEN", col::TAKEN),
        ("COL_LT_LO", col::LT_LO),
        ("COL_LT_MID", col::LT_MID),
        ("COL_LT_HI", col::LT_HI),
        ("COL_COUNT", col::COUNT),
        ("N_OPCODES", col::A - col::SEL),
        ("REC_PC", record::PC),
        ("REC_B_VALUE", record::B_VALUE),
        ("REC_C_VALUE", record::C_VALUE),
        ("REC_RESULT", record::RESULT),
        ("REC_MEM_ADDR", record::MEM_ADDR),
        ("REC_MEM_BEFORE", record::MEM_BEFORE),
        ("REC_T_OLD", record::T_OLD),
        ("REC_A_OLD", record::A_OLD),
        ("REC_IN_IDX", record::IN_IDX),
        ("REC_OUT_IDX", record::OUT_IDX),
        ("REC_WORDS", record::WORDS),
        ("FLAG_READS_B", flag::READS_B as usize),
        ("FLAG_READS_C", flag::READS_C as usize),
        ("FLAG_MEMORY", flag::MEMORY as usize),
        ("FLAG_WRITES_A", flag::WRITES_A as usize),
        ("FLAG_STORE", flag::STORE as usize),
        ("FLAG_JMP", flag::JMP as usize),
        ("FLAG_JZ", flag::JZ as usize),
        ("FLAG_JNZ", flag::JNZ as usize),
        ("FLAG_HALT", flag::HALT as usize),
        ("FLAG_LT", flag::LT as usize),
        ("SLOT_B", SLOT_B as usize),
        ("SLOT_C", SLOT_C as usize),
        ("SLOT_MEM", SLOT_MEM as usize),
        ("SLOT_A", SLOT_A as usize),
        ("LIMB_BITS", LIMB_BITS as usize),
        ("RANGE5_BITS", RANGE_BITS[1] as usize),
        ("HALT_PC", HALT_PC as usize),
    ];
    for (name, value) in expected {
        assert_eq!(
            defined.get(name).copied(),
            Some(*value as u64),
            "kernels/witness.cu's {name}"
        );
    }
    assert_eq!(
        defined.len(),
        expected.len(),
        "every #define of kernels/witness.cu is checked"
    );
}
