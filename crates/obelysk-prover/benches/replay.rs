//! The replay: every step's record (`Replay::of`), the host work a proof does before any
//! backend starts, and the count of the tables' lookups from the records (`count_lookups`), which
//! the SIMD backend does on the host and a GPU on the device. Prints the fastest and the median
//! of several runs per size.
//!
//! `cargo bench -p obelysk-prover --bench replay` (`-- 18,20` picks the log sizes).

use std::time::{Duration, Instant};

use obelysk_prover::air::witness::{count_lookups, Replay};
use obelysk_vm::ObelyskVM;
use obelysk_workloads::bench_loop;

const RUNS: usize = 15;

fn main() {
    // `cargo bench` passes `--bench`; a list of log sizes may follow.
    let logs: Vec<u32> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|list| {
            list.split(',')
                .map(|n| n.trim().parse().expect("log sizes like 18,20"))
                .collect()
        })
        .unwrap_or_else(|| vec![16, 18, 20]);
    println!(
        "{:>8} {:>8} {:>14} {:>14}",
        "steps", "threads", "replay ms", "count ms"
    );
    println!(
        "{:>8} {:>8} {:>14} {:>14}",
        "", "", "best / median", "best / median"
    );
    for log in logs {
        let workload = bench_loop(1 << log);
        let mut vm = ObelyskVM::new();
        vm.load(&workload.program);
        vm.set_inputs(workload.inputs);
        vm.set_step_limit(1 << (log + 1));
        let trace = vm.execute().expect("the bench loop runs");
        let program_log = obelysk_prover::Shape::of(&trace).program_log;
        let (mut replays, mut counts) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let start = Instant::now();
            let (replay, records) = Replay::of(&trace);
            replays.push(start.elapsed());
            let start = Instant::now();
            let counted = count_lookups(trace.program(), program_log, &records);
            counts.push(start.elapsed());
            drop(std::hint::black_box((replay, records, counted)));
        }
        println!(
            "{:>8} {:>8} {:>14} {:>14}",
            trace.steps().len(),
            rayon::current_num_threads(),
            best_and_median(&mut replays),
            best_and_median(&mut counts),
        );
    }
}

fn best_and_median(times: &mut [Duration]) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!("{:.2} / {:.2}", ms(times[0]), ms(times[times.len() / 2]))
}
