//! The generated constraint kernel: committed as generated, and equal, row by row, to stwo's own
//! evaluation of the CPU component (`CpuDomainEvaluator`) when run on the emulator or a device.

mod common;

use obelysk_gpu::codegen::{cpu_constraint_count, cpu_constraints_kernel};
use obelysk_gpu::emulator::Emulator;
use obelysk_gpu::ops::{self, Kernels};
use obelysk_prover::air::cpu::{self, CpuEval};
use obelysk_prover::air::Relations;
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

const KERNEL: &str = "kernels/cpu_constraints.cu";

#[test]
fn the_committed_kernel_is_what_the_air_generates() {
    let generated = cpu_constraints_kernel();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(KERNEL);
    if std::env::var("UPDATE_KERNELS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "{KERNEL} is stale: the AIR changed; run `UPDATE_KERNELS=1 cargo test -p obelysk-gpu \
         --test codegen` and commit the file"
    );
}

fn random_secure(rng: &mut ChaCha8Rng) -> SecureField {
    SecureField::from_m31_array(std::array::from_fn(|_| {
        BaseField::from_u32_unchecked(rng.gen_range(0..P))
    }))
}

/// Random columns (the constraints need not hold: both sides evaluate the same expressions),
/// random challenges, claimed sum and coefficients; the kernel's accumulation against stwo's
/// `CpuDomainEvaluator` running `CpuEval::evaluate` row by row, times the same denominators.
pub fn check_constraints<K: Kernels>(kernels: &K, trace_log: u32) {
    let eval_log = trace_log + 1;
    let n = 1usize << eval_log;
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(trace_log));
    let main: Vec<Vec<u32>> = (0..cpu::col::COUNT)
        .map(|k| common::column(n, 2000 + k as u64))
        .collect();
    let interaction: Vec<Vec<u32>> = (0..cpu::INTERACTION_COLUMNS)
        .map(|k| common::column(n, 3000 + k as u64))
        .collect();
    let mut channel = Blake2sChannel::default();
    channel.mix_u64(u64::from(trace_log));
    let relations = Relations::draw(&mut channel);
    let claimed_sum = random_secure(&mut rng);
    let coeffs: Vec<SecureField> = (0..cpu_constraint_count())
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
    let main_evals: Vec<_> = main.iter().map(as_eval).collect();
    let inter_evals: Vec<_> = interaction.iter().map(as_eval).collect();
    let trace = TreeVec::new(vec![
        vec![],
        main_evals.iter().collect(),
        inter_evals.iter().collect(),
    ]);
    let eval = CpuEval {
        log_size: trace_log,
        relations: relations.clone(),
        claimed_sum,
    };
    let trace_domain = CanonicCoset::new(trace_log);
    let mut denom_inv: Vec<BaseField> = (0..2)
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
            initial + eval.evaluate(evaluator).row_res * denom_inv[row >> trace_log]
        })
        .collect();

    // Ours.
    let mut accum = kernels.upload(&initial).unwrap();
    ops::cpu_constraint_quotients(
        kernels,
        &kernels.upload(&main.concat()).unwrap(),
        &kernels.upload(&interaction.concat()).unwrap(),
        trace_log,
        eval_log,
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
        assert_eq!(g, *e, "row {row} of 2^{eval_log}");
    }
}

#[test]
fn generated_constraints_match_stwo_on_the_emulator() {
    for kernels in [
        Emulator { grid: 3, block: 7 },
        Emulator {
            grid: 64,
            block: 256,
        },
    ] {
        for trace_log in [2, 5, 9] {
            check_constraints(&kernels, trace_log);
        }
    }
}

#[test]
fn generated_constraints_match_stwo_on_the_device() {
    let kernels = match obelysk_gpu::prewarm_gpu(&obelysk_gpu::GpuConfig::default()) {
        Ok(mut devices) => devices.swap_remove(0),
        Err(e) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 and {e}")
        }
        Err(e) => {
            eprintln!("skipped generated_constraints_match_stwo_on_the_device: {e}");
            return;
        }
    };
    for trace_log in [5, 12] {
        check_constraints(kernels.as_ref(), trace_log);
    }
}
