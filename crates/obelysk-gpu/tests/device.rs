//! The differential tests of `emulated.rs` on a real device, when one answers. Without one each
//! test prints why it skipped; with `REQUIRE_GPU=1` a skip is a failure.

mod common;

use std::sync::Arc;

use obelysk_gpu::{prewarm_gpu, CudaKernels, GpuConfig, GpuError};

fn device(test: &str) -> Option<Arc<CudaKernels>> {
    match prewarm_gpu(&GpuConfig::default()) {
        Ok(mut devices) => {
            let first = devices.swap_remove(0);
            eprintln!("{test}: on {}", first.name());
            Some(first)
        }
        Err(e) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("{test}: REQUIRE_GPU=1 and {e}")
        }
        Err(e) => {
            eprintln!("skipped {test}: {e}");
            None
        }
    }
}

#[test]
fn bit_reverse_on_the_device_matches_stwo() {
    let Some(kernels) = device("bit_reverse_on_the_device_matches_stwo") else {
        return;
    };
    for log_n in (0..=12).chain([20, 24]) {
        common::check_bit_reverse(kernels.as_ref(), log_n);
    }
}

#[test]
fn fft_on_the_device_matches_stwo() {
    let Some(kernels) = device("fft_on_the_device_matches_stwo") else {
        return;
    };
    for log_size in (3..=12).chain([16, 20, 22]) {
        common::check_interpolate(kernels.as_ref(), log_size, 1);
        common::check_evaluate(kernels.as_ref(), log_size, 1);
    }
}

#[test]
fn batched_columns_on_the_device_match_stwo() {
    let Some(kernels) = device("batched_columns_on_the_device_match_stwo") else {
        return;
    };
    for (log_size, n_columns) in [(3, 5), (9, 7), (16, 98), (20, 8)] {
        common::check_columns(kernels.as_ref(), log_size, n_columns);
    }
}

#[test]
fn fri_folds_on_the_device_match_stwo() {
    let Some(kernels) = device("fri_folds_on_the_device_match_stwo") else {
        return;
    };
    for log_size in (3..=12).chain([16, 20, 22]) {
        common::check_fold_circle(kernels.as_ref(), log_size, 1);
        common::check_fold_line(kernels.as_ref(), log_size, 1);
    }
}

#[test]
fn merkle_trees_on_the_device_match_stwo() {
    let Some(kernels) = device("merkle_trees_on_the_device_match_stwo") else {
        return;
    };
    let kernels = kernels.as_ref();
    common::check_merkle(kernels, &[5], 5);
    common::check_merkle(kernels, &[4; 17], 6);
    common::check_merkle(kernels, &[1, 3, 3, 5, 6, 6, 6], 7);
    common::check_merkle(kernels, &[20; 98], 21);
}

#[test]
fn packed_leaves_and_proof_of_work_on_the_device_match_stwo() {
    let Some(kernels) = device("packed_leaves_and_proof_of_work_on_the_device_match_stwo") else {
        return;
    };
    let kernels = kernels.as_ref();
    for log_n in (2..=12).chain([20, 22]) {
        common::check_pack_leaves(kernels, log_n);
    }
    let his: Vec<u64> = (0..6)
        .map(|seed| common::check_grind(kernels, 20, seed) >> 32)
        .collect();
    assert!(
        his.iter().any(|&hi| hi > 0),
        "every nonce in chunk 0: {his:?}"
    );
    for (pow_bits, seed) in [(0, 1), (1, 2), (16, 3), (24, 4)] {
        common::check_grind(kernels, pow_bits, seed);
    }
}

#[test]
fn quotients_on_the_device_match_stwo() {
    let Some(kernels) = device("quotients_on_the_device_match_stwo") else {
        return;
    };
    common::check_quotients(kernels.as_ref(), &[(4, 2), (6, 5)], 6, 1);
    common::check_quotients(kernels.as_ref(), &[(18, 8), (20, 20)], 20, 1);
}

#[test]
fn accumulation_on_the_device_matches_stwo() {
    let Some(kernels) = device("accumulation_on_the_device_matches_stwo") else {
        return;
    };
    for log_n in [0, 5, 20] {
        common::check_accumulate(kernels.as_ref(), log_n);
    }
}

#[test]
fn lifts_and_gathers_on_the_device_match_stwo() {
    let Some(kernels) = device("lifts_and_gathers_on_the_device_match_stwo") else {
        return;
    };
    common::check_lift(kernels.as_ref(), &[1, 3, 12, 20]);
    for (log_n, words) in [(0, 1), (20, 1), (20, 8)] {
        common::check_gather(kernels.as_ref(), log_n, words);
    }
    for (n, parts) in [(2, 1), (300, 7), (1 << 20, 16)] {
        common::check_concat_and_split(kernels.as_ref(), n, parts);
    }
    for log_n in [2, 5, 12, 20, 22] {
        common::check_gather_many(kernels.as_ref(), log_n);
    }
}

#[test]
fn evaluation_at_a_point_and_decomposition_on_the_device_match_stwo() {
    let Some(kernels) = device("evaluation_at_a_point_and_decomposition_on_the_device_match_stwo")
    else {
        return;
    };
    for log_n in [0, 1, 5, 8, 9, 16, 20, 22] {
        common::check_eval_at_point(kernels.as_ref(), log_n);
    }
    for log_n in [1, 5, 16, 20] {
        common::check_decompose(kernels.as_ref(), log_n);
    }
    for (log_n, n_columns) in [(1, 1), (4, 3), (9, 7), (16, 98), (20, 150), (21, 8)] {
        common::check_eval_many(kernels.as_ref(), log_n, n_columns);
    }
}

/// Where the loader finds no driver, asking for a GPU is an error that says so, not a panic.
#[test]
fn no_driver_is_gpu_unavailable() {
    if obelysk_gpu::library::find("cuda").is_some() {
        eprintln!("skipped no_driver_is_gpu_unavailable: this machine has a CUDA driver");
        return;
    }
    match prewarm_gpu(&GpuConfig::default()) {
        Err(GpuError::GpuUnavailable(reason)) => assert!(reason.contains("driver"), "{reason}"),
        other => panic!("expected GpuUnavailable, got {other:?}"),
    }
}

#[test]
fn interaction_columns_on_the_device_match_the_host() {
    let Some(kernels) = device("interaction_columns_on_the_device_match_the_host") else {
        return;
    };
    for log_n in [4, 10, 16, 20] {
        common::check_interaction(kernels.as_ref(), log_n);
    }
}

#[test]
fn cpu_columns_on_the_device_match_the_host() {
    let Some(kernels) = device("cpu_columns_on_the_device_match_the_host") else {
        return;
    };
    for trace in common::fill_traces() {
        common::check_cpu_columns(kernels.as_ref(), &trace);
    }
}
