//! Named workloads: programs and input encoders that clients submit by name.
//!
//! Each workload is an ordinary Obelysk program (assembled from `.oasm` text generated here) plus
//! its public inputs, so proving a workload is proving a program. Implemented so far:
//! `ml-inference` (dot products with ReLU on signed fixed-point values) and the benchmark loop
//! used by `bitsage-proof bench`. Other names in the network's catalogue arrive with their issues.

use obelysk_vm::asm::assemble;
use obelysk_vm::{Program, M31};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A program and the inputs to run it on.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub program: Program,
    pub inputs: Vec<M31>,
}

/// Length of each dot product in [`ml_inference`].
pub const ML_VECTOR_LEN: u32 = 8;
/// Inputs and weights are drawn from `-ML_VALUE_BOUND..=ML_VALUE_BOUND`, so every dot product
/// stays well inside `lt`'s signed range.
pub const ML_VALUE_BOUND: i64 = 1000;

/// `batch_size` inferences of one neuron: `relu(w · x_i)` for `i in 0..batch_size`, with `w` and
/// each `x_i` of length [`ML_VECTOR_LEN`]. Inputs: `w` then every `x_i`; outputs: one value per
/// inference. Values are deterministic in `seed`.
pub fn ml_inference(batch_size: u32, seed: u64) -> Workload {
    let n = ML_VECTOR_LEN;
    let source = format!(
        "
        ; weights -> memory[0..{n})
            loadi r1, {n}
            loadi r2, 0
        weights:
            in r3
            store r3, [r2 + 0]
            addi r2, r2, 1
            addi r1, r1, -1
            jnz r1, weights
            loadi r10, {batch_size}
            jz r10, done
        sample:
            loadi r6, 0          ; accumulator
            loadi r2, 0
            loadi r1, {n}
        dot:
            in r3
            load r4, [r2 + 0]
            mul r5, r3, r4
            add r6, r6, r5
            addi r2, r2, 1
            addi r1, r1, -1
            jnz r1, dot
            lt r7, r0, r6        ; relu: keep positive sums
            mul r8, r6, r7
            out r8
            addi r10, r10, -1
            jnz r10, sample
        done:
            halt
        "
    );
    let program = assemble(&source, "ml-inference.oasm").expect("generated program is valid");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = n as usize * (batch_size as usize + 1);
    let inputs = (0..count)
        .map(|_| M31::from_i64(rng.gen_range(-ML_VALUE_BOUND..=ML_VALUE_BOUND)))
        .collect();
    Workload {
        name: "ml-inference",
        program,
        inputs,
    }
}

/// Steps of the fixed part of [`bench_loop`]: setup (`in`, `loadi`), `out`, `halt`.
const BENCH_FIXED_STEPS: u64 = 4;
/// Steps of one loop iteration of [`bench_loop`].
const BENCH_BODY_STEPS: u64 = 8;

/// A program that runs exactly `steps` steps (at least 16) through a loop that mixes
/// arithmetic, memory and comparisons, for benchmarks that need an exact trace height.
pub fn bench_loop(steps: u64) -> Workload {
    bench_loop_variant(steps, 0)
}

/// [`bench_loop`] on another input (the loop's starting value), the same program and steps: a
/// benchmark that proves one size several times proves different traces of one program, as a
/// worker's jobs are, so that nothing one proof leaves behind (a GPU backend's read hints) serves
/// the next. Variant 0 is [`bench_loop`].
pub fn bench_loop_variant(steps: u64, variant: u32) -> Workload {
    let steps = steps.max(16);
    let iterations = (steps - BENCH_FIXED_STEPS) / BENCH_BODY_STEPS;
    let padding = (steps - BENCH_FIXED_STEPS) % BENCH_BODY_STEPS;
    let mut source = format!("in r2\nloadi r1, {iterations}\n");
    for _ in 0..padding {
        source += "loadi r9, 1\n";
    }
    source += "
        loop:
            mul r3, r2, r2
            add r2, r2, r3
            store r2, [r1 + 0]
            load r4, [r1 + 0]
            lt r5, r0, r1
            addi r2, r4, 1
            addi r1, r1, -1
            jnz r1, loop
            out r2
            halt
        ";
    let program = assemble(&source, "bench-loop.oasm").expect("generated program is valid");
    Workload {
        name: "bench-loop",
        program,
        inputs: vec![M31::from(variant)],
    }
}

#[cfg(test)]
mod tests {
    use obelysk_vm::ObelyskVM;

    use super::*;

    fn run(w: &Workload) -> obelysk_vm::ExecutionTrace {
        let mut vm = ObelyskVM::new();
        vm.load(&w.program);
        vm.set_inputs(w.inputs.clone());
        vm.set_step_limit(1 << 22);
        vm.execute().unwrap()
    }

    #[test]
    fn ml_inference_matches_a_direct_computation() {
        let w = ml_inference(5, 1);
        let trace = run(&w);
        let n = ML_VECTOR_LEN as usize;
        let signed: Vec<i64> = w.inputs.iter().map(|v| v.signed()).collect();
        let (weights, samples) = signed.split_at(n);
        let expected: Vec<M31> = samples
            .chunks(n)
            .map(|x| {
                M31::from_i64(
                    x.iter()
                        .zip(weights)
                        .map(|(a, b)| a * b)
                        .sum::<i64>()
                        .max(0),
                )
            })
            .collect();
        assert_eq!(trace.outputs(), expected);
        assert!(expected.contains(&M31::ZERO), "seed should exercise relu");
    }

    #[test]
    fn empty_batch_still_reads_weights() {
        assert!(run(&ml_inference(0, 1)).outputs().is_empty());
    }

    #[test]
    fn bench_loop_runs_exactly_the_requested_steps() {
        for steps in [16, 17, 100, 1 << 10, (1 << 12) + 5] {
            assert_eq!(run(&bench_loop(steps)).steps().len() as u64, steps);
        }
    }

    #[test]
    fn bench_loop_variants_run_the_same_steps_through_other_values() {
        let steps = (1 << 10) + 3;
        let base = run(&bench_loop_variant(steps, 0));
        let other = run(&bench_loop_variant(steps, 4));
        assert_eq!(other.steps().len(), base.steps().len());
        assert_eq!(
            bench_loop_variant(steps, 4).program,
            bench_loop(steps).program
        );
        assert_ne!(other.outputs(), base.outputs());
    }
}
