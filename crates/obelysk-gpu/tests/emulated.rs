//! Every kernel, compiled as host C++, against stwo's CPU backend: random values with 0, 1 and
//! p − 1 planted, sizes from below one block to 2^20, odd launch shapes.

mod common;

mod emulated {
    use obelysk_gpu::emulator::Emulator;
    use obelysk_gpu::ops::{self, DeviceTwiddles, Kernels};
    use obelysk_gpu::GpuError;
    use stwo::core::fields::m31::BaseField;
    use stwo::core::fields::qm31::SecureField;
    use stwo::core::poly::circle::CanonicCoset;

    use super::common::*;

    /// One thread, a few odd shapes, and a shape wider than most inputs; the FFT in passes
    /// through tiles from 2^3 values (many passes even at 2^5) to the device's 2^12, and in
    /// three-layer launches (`fft_tile_log` 0).
    const SHAPES: [Emulator; 4] = [
        Emulator {
            fft_tile_log: 0,
            ..Emulator::new(1, 1)
        },
        Emulator {
            fft_tile_log: 3,
            ..Emulator::new(3, 7)
        },
        Emulator {
            fft_tile_log: 5,
            ..Emulator::new(2, 32)
        },
        Emulator::new(64, 256),
    ];

    /// The three-layer FFT kernels at the launch shape of the large checks.
    const REGISTERS: Emulator = Emulator {
        fft_tile_log: 0,
        ..Emulator::new(3, 7)
    };

    #[test]
    fn bit_reverse_matches_stwo() {
        for kernels in SHAPES {
            for log_n in 0..=12 {
                check_bit_reverse(&kernels, log_n);
            }
        }
        check_bit_reverse(&Emulator::default(), 20);
    }

    #[test]
    fn cpu_columns_match_the_host() {
        for trace in fill_traces() {
            for kernels in SHAPES {
                check_cpu_columns(&kernels, &trace);
            }
        }
    }

    /// Sizes whose running sum runs in one chunk per value and (from 2^15) in longer chunks.
    #[test]
    fn interaction_columns_match_the_host() {
        for kernels in SHAPES {
            for log_n in [4, 7] {
                check_interaction(&kernels, log_n);
            }
        }
        check_interaction(&Emulator::default(), 15);
        check_interaction(&Emulator::default(), 17);
    }

    #[test]
    fn interpolation_matches_stwo() {
        for kernels in SHAPES {
            for log_size in 3..=11 {
                check_interpolate(&kernels, log_size, 0);
                check_interpolate(&kernels, log_size, 2);
            }
        }
        check_interpolate(&Emulator::default(), 16, 1);
        check_interpolate(&Emulator::default(), 20, 0);
        check_interpolate(&REGISTERS, 16, 1);
    }

    #[test]
    fn evaluation_matches_stwo() {
        for kernels in SHAPES {
            for log_size in 2..=10 {
                check_evaluate(&kernels, log_size, 1);
                check_evaluate(&kernels, log_size, 2);
            }
        }
        check_evaluate(&Emulator::default(), 19, 1);
        check_evaluate(&REGISTERS, 17, 1);
    }

    #[test]
    fn batched_columns_match_stwo() {
        for kernels in SHAPES {
            for (log_size, n_columns) in [(3, 1), (3, 5), (6, 3), (9, 7)] {
                check_columns(&kernels, log_size, n_columns);
            }
        }
        check_columns(&Emulator::default(), 14, 98);
    }

    #[test]
    fn fri_folds_match_stwo() {
        for kernels in SHAPES {
            for log_size in 2..=11 {
                for extra in [0, 2] {
                    if log_size >= 3 {
                        check_fold_circle(&kernels, log_size, extra);
                    }
                    check_fold_line(&kernels, log_size, extra);
                }
            }
        }
        check_fold_circle(&Emulator::default(), 20, 1);
        check_fold_line(&Emulator::default(), 19, 1);
    }

    #[test]
    fn merkle_trees_match_stwo() {
        for kernels in SHAPES {
            // One column; sixteen (one full message block) and seventeen; lifted sizes.
            check_merkle(&kernels, &[5], 5);
            check_merkle(&kernels, &[4; 16], 4);
            check_merkle(&kernels, &[4; 17], 6);
            check_merkle(&kernels, &[1, 3, 3, 5, 6, 6, 6], 7);
            check_merkle(&kernels, &[], 3);
            // The largest tree whose layers above the leaves are one launch, and a larger one.
            check_merkle(&kernels, &[10; 3], 10);
            check_merkle(&kernels, &[11; 2], 11);
        }
        // The CPU component's width at 2^12 rows.
        check_merkle(&Emulator::default(), &[12; 98], 13);
    }

    #[test]
    fn packed_fri_leaves_match_stwo() {
        for kernels in SHAPES {
            for log_n in 2..=12 {
                check_pack_leaves(&kernels, log_n);
            }
        }
        check_pack_leaves(&Emulator::default(), 20);
    }

    #[test]
    fn proof_of_work_matches_stwo() {
        for kernels in SHAPES {
            for (pow_bits, seed) in [(0, 1), (1, 2), (5, 3), (12, 4)] {
                check_grind(&kernels, pow_bits, seed);
            }
        }
        // At 20 bits a launch tries one chunk of 2^20 nonces, and a chunk has no passing nonce
        // about one time in three: some of these seeds need a second launch.
        let his: Vec<u64> = (0..6)
            .map(|seed| check_grind(&Emulator::default(), 20, seed) >> 32)
            .collect();
        assert!(
            his.iter().any(|&hi| hi > 0),
            "every nonce in chunk 0: {his:?}"
        );
    }

    #[test]
    fn quotients_match_stwo() {
        for kernels in SHAPES {
            check_quotients(&kernels, &[(6, 3)], 6, 1);
            check_quotients(&kernels, &[(4, 2), (6, 5)], 6, 1);
            check_quotients(&kernels, &[(5, 1), (7, 4)], 7, 2);
        }
        check_quotients(&Emulator::default(), &[(14, 8), (16, 20)], 16, 1);
    }

    #[test]
    fn accumulation_matches_stwo() {
        for kernels in SHAPES {
            for log_n in 0..=8 {
                check_accumulate(&kernels, log_n);
            }
        }
    }

    #[test]
    fn lifts_and_gathers_match_stwo() {
        for kernels in SHAPES {
            for logs in [&[1][..], &[1, 1], &[1, 3], &[2, 2, 5], &[3, 4, 9]] {
                check_lift(&kernels, logs);
            }
            for (log_n, words) in [(0, 1), (5, 1), (12, 1), (5, 8), (12, 8)] {
                check_gather(&kernels, log_n, words);
            }
        }
    }

    #[test]
    fn batched_copies_match_the_host() {
        for kernels in SHAPES {
            for (n, parts) in [(2, 1), (5, 3), (300, 7)] {
                check_concat_and_split(&kernels, n, parts);
            }
        }
        check_concat_and_split(&Emulator::default(), 1 << 20, 4);
    }

    #[test]
    fn batched_gathers_match_the_host() {
        for kernels in SHAPES {
            for log_n in [2, 5, 12] {
                check_gather_many(&kernels, log_n);
            }
        }
        check_gather_many(&Emulator::default(), 20);
    }

    #[test]
    fn evaluation_at_a_point_matches_stwo() {
        for kernels in SHAPES {
            for log_n in 0..=11 {
                check_eval_at_point(&kernels, log_n);
            }
        }
        check_eval_at_point(&Emulator::default(), 20);
    }

    #[test]
    fn batched_evaluations_at_a_point_match_stwo() {
        for kernels in SHAPES {
            for (log_n, n_columns) in [(1, 1), (3, 5), (4, 3), (9, 7), (12, 40)] {
                check_eval_many(&kernels, log_n, n_columns);
            }
        }
        check_eval_many(&Emulator::default(), 16, 98);
        check_eval_many(&Emulator::default(), 20, 3);
    }

    #[test]
    fn fri_decomposition_matches_stwo() {
        for kernels in SHAPES {
            for log_n in 1..=10 {
                check_decompose(&kernels, log_n);
            }
        }
        check_decompose(&Emulator::default(), 18);
    }

    #[test]
    fn inputs_the_kernels_cannot_take_are_refused_before_any_launch() {
        let kernels = Emulator::default();
        let log = 6;
        let circle = CanonicCoset::new(log).circle_domain();
        let other = CanonicCoset::new(log + 1).circle_domain();
        // Twiddles of a smaller tree than the domain's.
        let small =
            DeviceTwiddles::new(&kernels, CanonicCoset::new(4).circle_domain().half_coset).unwrap();
        let src = kernels.upload(&vec![1; 4 << log]).unwrap();
        let alpha = SecureField::from_m31_array([1, 2, 3, 4].map(BaseField::from));
        assert!(matches!(
            ops::fold_circle_into_line(&kernels, &src, circle, alpha, &small),
            Err(GpuError::Unsupported(_))
        ));
        // A source column shorter than the domain.
        let twiddles = DeviceTwiddles::new(&kernels, other.half_coset).unwrap();
        let short = kernels.upload(&vec![1; 4 << (log - 1)]).unwrap();
        assert!(matches!(
            ops::fold_circle_into_line(&kernels, &short, circle, alpha, &twiddles),
            Err(GpuError::Unsupported(_))
        ));
        // A Merkle column shorter than its size says, a column of one value, sizes out of
        // order, and a size for a column that is not there.
        let values = kernels.upload(&[1; 8]).unwrap();
        let short = kernels.upload(&[1; 4]).unwrap();
        for (columns, log_sizes) in [
            (vec![&values, &short], vec![3, 3]),
            (vec![&values], vec![0]),
            (vec![&values, &short], vec![3, 2]),
            (vec![&values], vec![3, 3]),
        ] {
            assert!(matches!(
                ops::merkle_leaves_on_device(&kernels, &columns, &log_sizes, 3),
                Err(GpuError::Unsupported(_))
            ));
        }
    }

    #[test]
    fn domains_the_kernels_do_not_take_are_refused() {
        let kernels = Emulator::default();
        let small = CanonicCoset::new(2).circle_domain();
        let twiddles = DeviceTwiddles::new(&kernels, small.half_coset).unwrap();
        let mut column = kernels.upload(&[1, 2, 3, 4]).unwrap();
        assert!(matches!(
            ops::interpolate(&kernels, &mut column, small, &twiddles),
            Err(GpuError::Unsupported(_))
        ));
        let big = CanonicCoset::new(8).circle_domain();
        let mut column = kernels.upload(&[0; 256]).unwrap();
        assert!(matches!(
            ops::interpolate(&kernels, &mut column, big, &twiddles),
            Err(GpuError::Unsupported(_))
        ));
    }
}
