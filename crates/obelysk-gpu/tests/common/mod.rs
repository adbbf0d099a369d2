//! What the differential tests share: inputs, stwo's CPU results, and the comparisons, for any
//! [`Kernels`] implementation (the emulator here, a device where there is one).

// Each test binary uses part of these helpers.
#![allow(dead_code)]

mod fft;
#[allow(unused_imports)]
pub use fft::{check_columns, check_evaluate, check_interpolate};

use obelysk_gpu::ops::{self, AirKernels, DeviceTwiddles, Kernels};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stwo::core::circle::CirclePoint;
use stwo::core::fields::m31::{BaseField, P};
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::quotients::{ColumnSampleBatch, NumeratorData};
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::core::poly::line::LineDomain;
use stwo::core::utils::bit_reverse;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleHasher;
use stwo::prover::backend::CpuBackend;
use stwo::prover::fri::FriOps;
use stwo::prover::line::LineEvaluation;
use stwo::prover::poly::circle::{CircleCoefficients, CircleEvaluation, PolyOps, SecureEvaluation};
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::secure_column::SecureColumnByCoords;
use stwo::prover::vcs_lifted::ops::{MerkleOpsLifted, PackLeavesOps};
use stwo::prover::{AccumulationOps, QuotientOps};

/// Random canonical values with 0, 1 and p − 1 planted at the start, the end and throughout.
pub fn column(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| match (i, rng.gen_range(0..6)) {
            (0, _) => P - 1,
            (i, _) if i + 1 == n => 0,
            (_, 0) => 0,
            (_, 1) => 1,
            (_, 2) => P - 1,
            _ => rng.gen_range(0..P),
        })
        .collect()
}

/// Values no kernel may leave behind: above p, so a missed write cannot pass for a result.
pub fn junk(n: usize) -> Vec<u32> {
    vec![u32::MAX - 7; n]
}

fn field(values: &[u32]) -> Vec<BaseField> {
    values
        .iter()
        .map(|&v| BaseField::from_u32_unchecked(v))
        .collect()
}

fn raw(values: &[BaseField]) -> Vec<u32> {
    values.iter().map(|v| v.0).collect()
}

pub fn check_bit_reverse<K: Kernels>(kernels: &K, log_n: u32) {
    let values = column(1 << log_n, u64::from(log_n));
    let mut expected = values.clone();
    bit_reverse(&mut expected);
    let mut device = kernels.upload(&values).unwrap();
    kernels.bit_reverse(&mut device, log_n).unwrap();
    assert_eq!(kernels.download(&device).unwrap(), expected, "2^{log_n}");
}

fn domain(log_size: u32) -> CircleDomain {
    CanonicCoset::new(log_size).circle_domain()
}

fn secure_column(n: usize, seed: u64) -> [Vec<u32>; 4] {
    std::array::from_fn(|c| column(n, seed * 4 + c as u64))
}

fn cpu_secure(coords: &[Vec<u32>; 4]) -> SecureColumnByCoords<CpuBackend> {
    SecureColumnByCoords {
        columns: std::array::from_fn(|c| field(&coords[c])),
    }
}

fn flat(columns: &[Vec<BaseField>; 4]) -> Vec<u32> {
    columns.iter().flat_map(|c| raw(c)).collect()
}

fn alpha(seed: u64) -> SecureField {
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| BaseField::from_u32_unchecked(column(4, seed)[i]));
    SecureField::from_m31_array([a, b, c, d])
}

/// A circle evaluation of 2^log_size secure values folded into a line, against
/// `CpuBackend::fold_circle_into_line`, with twiddles for a coset `extra` doublings larger (a
/// prover folds with the tree of its largest domain).
pub fn check_fold_circle<K: Kernels>(kernels: &K, log_size: u32, extra: u32) {
    let coords = secure_column(1 << log_size, 300 + u64::from(log_size));
    let circle = domain(log_size);
    let alpha = alpha(u64::from(log_size));
    let tree_coset = domain(log_size + extra).half_coset;
    let cpu_twiddles = CpuBackend::precompute_twiddles(tree_coset);
    let expected = CpuBackend::fold_circle_into_line(
        &SecureEvaluation::<CpuBackend, BitReversedOrder>::new(circle, cpu_secure(&coords)),
        alpha,
        &cpu_twiddles,
    );
    let twiddles = DeviceTwiddles::new(kernels, tree_coset).unwrap();
    let src = kernels.upload(&coords.concat()).unwrap();
    let folded = ops::fold_circle_into_line(kernels, &src, circle, alpha, &twiddles).unwrap();
    assert_eq!(
        kernels.download(&folded).unwrap(),
        flat(&expected.values.columns),
        "circle fold at 2^{log_size}"
    );
}

/// A line evaluation of 2^log_size secure values folded once, against `CpuBackend::fold_line`,
/// with twiddles for a coset `extra` doublings larger.
pub fn check_fold_line<K: Kernels>(kernels: &K, log_size: u32, extra: u32) {
    let coords = secure_column(1 << log_size, 400 + u64::from(log_size));
    let coset = domain(log_size + 1).half_coset;
    let line = LineDomain::new(coset);
    let alpha = alpha(1000 + u64::from(log_size));
    let tree_coset = domain(log_size + 1 + extra).half_coset;
    let cpu_twiddles = CpuBackend::precompute_twiddles(tree_coset);
    let expected = CpuBackend::fold_line(
        &LineEvaluation::<CpuBackend>::new(line, cpu_secure(&coords)),
        alpha,
        &cpu_twiddles,
        1,
    );
    let twiddles = DeviceTwiddles::new(kernels, tree_coset).unwrap();
    let src = kernels.upload(&coords.concat()).unwrap();
    let folded = ops::fold_line(kernels, &src, line, alpha, &twiddles).unwrap();
    assert_eq!(
        kernels.download(&folded).unwrap(),
        flat(&expected.values.columns),
        "line fold at 2^{log_size}"
    );
}

fn hashes(words: &[u32]) -> Vec<[u8; 32]> {
    words
        .chunks(8)
        .map(|h| {
            let mut bytes = [0; 32];
            for (dst, w) in bytes.chunks_mut(4).zip(h) {
                dst.copy_from_slice(&w.to_le_bytes());
            }
            bytes
        })
        .collect()
}

/// A lifted Merkle tree over columns of the given log sizes (increasing), leaves and the layer
/// above, against stwo's `MerkleOpsLifted<Blake2sMerkleHasher>` for the CPU backend.
pub fn check_merkle<K: Kernels>(kernels: &K, log_sizes: &[u32], lifting_log: u32) {
    let columns: Vec<Vec<u32>> = log_sizes
        .iter()
        .enumerate()
        .map(|(k, &l)| column(1 << l, 500 + k as u64))
        .collect();
    let cpu_columns: Vec<Vec<BaseField>> = columns.iter().map(|c| field(c)).collect();
    let cpu_refs: Vec<&Vec<BaseField>> = cpu_columns.iter().collect();
    let leaves =
        <CpuBackend as MerkleOpsLifted<Blake2sMerkleHasher>>::build_leaves(&cpu_refs, lifting_log);
    let refs: Vec<&[u32]> = columns.iter().map(|c| c.as_slice()).collect();
    let device_leaves = ops::merkle_leaves(kernels, &refs, lifting_log).unwrap();
    let what = format!(
        "{} columns of 2^{log_sizes:?} in 2^{lifting_log} leaves",
        columns.len()
    );
    assert_eq!(
        hashes(&kernels.download(&device_leaves).unwrap()),
        leaves.iter().map(|h| h.0).collect::<Vec<_>>(),
        "leaves of {what}"
    );
    if leaves.len() < 2 {
        return;
    }
    let parents = <CpuBackend as MerkleOpsLifted<Blake2sMerkleHasher>>::build_next_layer(&leaves);
    let device_parents = ops::merkle_parents(kernels, &device_leaves, leaves.len() / 2).unwrap();
    assert_eq!(
        hashes(&kernels.download(&device_parents).unwrap()),
        parents.iter().map(|h| h.0).collect::<Vec<_>>(),
        "parents of {what}"
    );
    // Several layers in one launch: one, two, as many as a launch builds, and up to the root.
    let n_parents = leaves.len() / 2;
    let to_root = n_parents.ilog2() as usize + 1;
    for n_layers in [1, 2, ops::MERKLE_LAYERS_PER_LAUNCH, to_root] {
        let n_layers = n_layers.min(to_root);
        let built = ops::merkle_layers(kernels, &device_leaves, n_parents, n_layers).unwrap();
        assert_eq!(built.len(), n_layers);
        let mut layer = leaves.clone();
        for (l, device) in built.iter().enumerate() {
            layer = <CpuBackend as MerkleOpsLifted<Blake2sMerkleHasher>>::build_next_layer(&layer);
            assert_eq!(
                hashes(&kernels.download(device).unwrap()),
                layer.iter().map(|h| h.0).collect::<Vec<_>>(),
                "layer {l} of {n_layers} from the leaves of {what}"
            );
        }
    }
    assert!(
        ops::merkle_layers(kernels, &device_leaves, n_parents, to_root + 1).is_err(),
        "no layer above the root"
    );
}

/// The 16 packed columns of a FRI tree's leaves from a secure column of 2^log_n values, against
/// `CpuBackend::pack_leaves_input`.
pub fn check_pack_leaves<K: Kernels>(kernels: &K, log_n: u32) {
    let coords = secure_column(1 << log_n, 700 + u64::from(log_n));
    let cpu = coords.each_ref().map(|c| field(c));
    let expected = CpuBackend::pack_leaves_input(&cpu.each_ref());
    let n_packed = (1 << log_n) / 4;
    let inputs = coords.each_ref().map(|c| kernels.upload(c).unwrap());
    let mut out = std::array::from_fn(|_| kernels.upload(&junk(n_packed + 1)).unwrap());
    kernels
        .pack_leaves(inputs.each_ref(), n_packed as u32, &mut out)
        .unwrap();
    for (k, (got, want)) in out.iter().zip(&expected).enumerate() {
        let got = kernels.download(got).unwrap();
        assert_eq!(got[..n_packed], raw(want), "packed column {k} of 2^{log_n}");
        assert_eq!(
            got[n_packed],
            u32::MAX - 7,
            "past packed column {k} of 2^{log_n}"
        );
    }
}

/// stwo's proof of work for the channel after mixing `seed`, against `SimdBackend::grind`
/// (which the device backend replaces); returns the nonce.
pub fn check_grind<K: Kernels>(kernels: &K, pow_bits: u32, seed: u64) -> u64 {
    use stwo::core::channel::{Blake2sChannel, Channel};
    use stwo::core::proof_of_work::GrindOps;
    let mut channel = Blake2sChannel::default();
    channel.mix_u64(seed);
    let expected = stwo::prover::backend::simd::SimdBackend::grind(&channel, pow_bits);
    let got = ops::grind(kernels, &channel, pow_bits).unwrap();
    assert_eq!(got, expected, "{pow_bits} bits, seed {seed}");
    assert!(channel.verify_pow_nonce(pow_bits, got));
    got
}

fn random_secure(rng: &mut ChaCha8Rng) -> SecureField {
    SecureField::from_m31_array(std::array::from_fn(|_| {
        BaseField::from_u32_unchecked(rng.gen_range(0..P))
    }))
}

/// DEEP quotients: groups of `(log length, columns)` sampled at two points each (the second
/// point on every other column), numerators and their combination on the subdomain against
/// stwo's `QuotientOps` for the CPU backend, and the extension to the whole domain against
/// `compute_quotients_and_combine`.
pub fn check_quotients<K: Kernels>(
    kernels: &K,
    groups: &[(u32, usize)],
    lifting_log: u32,
    log_blowup: u32,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(lifting_log) * 31 + groups.len() as u64);
    let mut columns: Vec<Vec<Vec<u32>>> = Vec::new();
    let mut batches: Vec<Vec<ColumnSampleBatch>> = Vec::new();
    for (g, &(log_len, n_columns)) in groups.iter().enumerate() {
        columns.push(
            (0..n_columns)
                .map(|k| column(1 << log_len, 700 + 10 * g as u64 + k as u64))
                .collect(),
        );
        batches.push(
            [1, 2]
                .map(|step| ColumnSampleBatch {
                    point: CirclePoint {
                        x: random_secure(&mut rng),
                        y: random_secure(&mut rng),
                    },
                    cols_vals_randpows: (0..n_columns)
                        .step_by(step)
                        .map(|column_index| NumeratorData {
                            column_index,
                            sample_value: random_secure(&mut rng),
                            random_coeff: random_secure(&mut rng),
                        })
                        .collect(),
                })
                .into(),
        );
    }

    // stwo.
    let mut accumulations = Vec::new();
    for ((&(log_len, _), group), group_batches) in groups.iter().zip(&columns).zip(&batches) {
        let evaluations: Vec<CircleEvaluation<CpuBackend, BaseField, BitReversedOrder>> = group
            .iter()
            .map(|c| CircleEvaluation::new(domain(log_len), field(c)))
            .collect();
        let refs: Vec<_> = evaluations.iter().collect();
        CpuBackend::accumulate_numerators(&refs, group_batches, &mut accumulations, log_blowup);
    }

    // Ours.
    let uploaded: Vec<_> = columns
        .iter()
        .map(|group| kernels.upload(&group.concat()).unwrap())
        .collect();
    let device_groups: Vec<ops::NumeratorGroup<'_, K::Column>> = groups
        .iter()
        .zip(&uploaded)
        .zip(&batches)
        .map(|((&(log_len, _), columns), batches)| ops::NumeratorGroup {
            columns,
            column_len: 1 << log_len,
            batches,
        })
        .collect();
    let numerators = ops::accumulate_numerators(kernels, &device_groups, log_blowup).unwrap();
    for (s, expected) in accumulations.iter().enumerate() {
        let (partial, first) = numerators.batch(kernels, s).unwrap();
        assert_eq!(
            partial,
            flat(&expected.partial_numerators_acc.columns),
            "numerators of batch {s}"
        );
        assert_eq!(
            first, expected.first_linear_term_acc,
            "first line coefficient of batch {s}"
        );
    }

    let eval_domain = domain(lifting_log);
    let twiddles = CpuBackend::precompute_twiddles(eval_domain.half_coset);
    let expected = CpuBackend::compute_quotients_and_combine(
        accumulations,
        lifting_log,
        log_blowup,
        &twiddles,
    );
    let on_subdomain =
        ops::combine_quotients(kernels, &numerators, lifting_log, log_blowup).unwrap();
    let (subdomain, _) = eval_domain.split(log_blowup);
    let extended = ops::extend_quotients(
        kernels,
        &on_subdomain,
        lifting_log,
        log_blowup,
        &DeviceTwiddles::new(kernels, subdomain.half_coset).unwrap(),
        &DeviceTwiddles::new(kernels, eval_domain.half_coset).unwrap(),
    )
    .unwrap();
    let extended: Vec<u32> = extended
        .iter()
        .flat_map(|c| kernels.download(c).unwrap())
        .collect();
    assert_eq!(
        extended,
        flat(&expected.values.columns),
        "quotients at 2^{lifting_log}"
    );
}

/// `AccumulationOps::accumulate` on secure columns of 2^log_n values.
pub fn check_accumulate<K: Kernels>(kernels: &K, log_n: u32) {
    let (a, b) = (
        secure_column(1 << log_n, 900),
        secure_column(1 << log_n, 901),
    );
    let mut expected = cpu_secure(&a);
    CpuBackend::accumulate(&mut expected, &cpu_secure(&b));
    let mut acc = kernels.upload(&a.concat()).unwrap();
    ops::accumulate(
        kernels,
        &mut acc,
        &kernels.upload(&b.concat()).unwrap(),
        1 << log_n,
    )
    .unwrap();
    assert_eq!(
        kernels.download(&acc).unwrap(),
        flat(&expected.columns),
        "2^{log_n}"
    );
}

/// `AccumulationOps::lift_and_accumulate` of secure columns of 2^logs[i] values (ascending),
/// through `lift_add` coordinate by coordinate, as the device backend runs it.
pub fn check_lift<K: Kernels>(kernels: &K, logs: &[u32]) {
    let columns: Vec<[Vec<u32>; 4]> = logs
        .iter()
        .enumerate()
        .map(|(i, &l)| secure_column(1 << l, 950 + i as u64))
        .collect();
    let expected = CpuBackend::lift_and_accumulate(columns.iter().map(cpu_secure).collect())
        .expect("at least one column");
    let mut sum: Vec<K::Column> = columns[0]
        .iter()
        .map(|c| kernels.upload(c).unwrap())
        .collect();
    let mut sum_log = logs[0];
    for (column, &log) in columns.iter().zip(logs).skip(1) {
        let mut next: Vec<K::Column> = column.iter().map(|c| kernels.upload(c).unwrap()).collect();
        for (acc, small) in next.iter_mut().zip(&sum) {
            kernels
                .lift_add(acc, small, 1 << log, log - sum_log)
                .unwrap();
        }
        (sum, sum_log) = (next, log);
    }
    let got: Vec<Vec<u32>> = sum.iter().map(|c| kernels.download(c).unwrap()).collect();
    // Not a lift: a column of 2 from one of 1, and 3 values.
    let mut acc = kernels.upload(&[1, 2, 3, 4]).unwrap();
    let small = kernels.upload(&[5, 6, 7, 8]).unwrap();
    assert!(kernels.lift_add(&mut acc, &small, 2, 1).is_err());
    assert!(kernels.lift_add(&mut acc, &small, 3, 0).is_err());
    assert_eq!(got.concat(), flat(&expected.columns), "lift of 2^{logs:?}");
}

/// `gather` of rows of `words`-word values against plain indexing, repeated and unordered rows
/// included.
pub fn check_gather<K: Kernels>(kernels: &K, log_n: u32, words: u32) {
    let n = 1usize << log_n;
    let values = column(n * words as usize, 990 + u64::from(words));
    let mut rng = ChaCha8Rng::seed_from_u64(991);
    let mut rows: Vec<u32> = (0..200).map(|_| rng.gen_range(0..n as u32)).collect();
    rows.extend([0, n as u32 - 1, 0]);
    let expected: Vec<u32> = rows
        .iter()
        .flat_map(|&r| values[r as usize * words as usize..][..words as usize].to_vec())
        .collect();
    // After words of another gather, which it must leave as they are.
    let start = 5 * words;
    let mut out = kernels
        .upload(&junk(start as usize + expected.len()))
        .unwrap();
    let src = kernels.upload(&values).unwrap();
    kernels.gather(&src, &rows, words, &mut out, start).unwrap();
    let got = kernels.download(&out).unwrap();
    assert_eq!(got[start as usize..], expected, "2^{log_n} × {words}");
    assert_eq!(
        got[..start as usize],
        junk(start as usize),
        "words before the start"
    );
    assert!(
        kernels
            .gather(&src, &[n as u32], words, &mut out, 0)
            .is_err(),
        "a row past the column is refused"
    );
    assert!(
        kernels
            .gather(&src, &rows, words, &mut out, start + 1)
            .is_err(),
        "an output too short from its start is refused"
    );
}

/// Batched copies (`Kernels::concat` and `Kernels::split_into`): parts from offsets into a
/// strided buffer whose gaps keep their junk, and back out; ranges past a column are refused.
pub fn check_concat_and_split<K: Kernels>(kernels: &K, n: usize, n_parts: usize) {
    let stride = n + 3;
    let sources: Vec<Vec<u32>> = (0..n_parts)
        .map(|k| column(n + 2, 800 + k as u64))
        .collect();
    let device: Vec<K::Column> = sources.iter().map(|s| kernels.upload(s).unwrap()).collect();
    let parts: Vec<(&K::Column, usize)> = device.iter().zip(0..).map(|(d, k)| (d, k % 3)).collect();
    // From word 2 of `out`: the words before it keep their junk too.
    let mut out = kernels.upload(&junk(2 + n_parts * stride)).unwrap();
    kernels.concat(&parts, n, stride, &mut out, 2).unwrap();
    let mut expected = junk(2 + n_parts * stride);
    for (k, s) in sources.iter().enumerate() {
        expected[2 + k * stride..][..n].copy_from_slice(&s[k % 3..][..n]);
    }
    assert_eq!(
        kernels.download(&out).unwrap(),
        expected,
        "{n_parts} parts of {n}"
    );
    let mut outs: Vec<K::Column> = (0..n_parts)
        .map(|_| kernels.upload(&junk(n + 1)).unwrap())
        .collect();
    kernels
        .split_into(
            &out,
            3,
            stride,
            n - 1,
            &mut outs.iter_mut().collect::<Vec<_>>(),
        )
        .unwrap();
    for (k, o) in outs.iter().enumerate() {
        let got = kernels.download(o).unwrap();
        assert_eq!(
            got[..n - 1],
            expected[3 + k * stride..][..n - 1],
            "part {k} of {n}"
        );
        assert_eq!(got[n - 1..], junk(2), "past part {k} of {n}");
    }
    let short = [(&device[0], 3)];
    assert!(
        kernels.concat(&short, n, stride, &mut out, 0).is_err(),
        "a source range past its column"
    );
    assert!(
        kernels
            .concat(&parts[..1], n, stride, &mut out, 3 + n_parts * stride - n)
            .is_err(),
        "a destination range past its column"
    );
    assert!(
        kernels
            .split_into(
                &out,
                0,
                stride,
                n + 2,
                &mut outs.iter_mut().collect::<Vec<_>>()
            )
            .is_err(),
        "a destination range past its column"
    );
}

/// Several gathers in one launch (`Kernels::gather_many`): sources of different lengths and
/// widths, some sharing their rows, one with none, into one output after a gap of junk it must
/// keep; and the checks that refuse a row past a source or an output too short.
pub fn check_gather_many<K: Kernels>(kernels: &K, log_n: u32) {
    let mut rng = ChaCha8Rng::seed_from_u64(992 + u64::from(log_n));
    let shapes = [
        (log_n, 1),
        (log_n, 1),
        (log_n, 8),
        (log_n.saturating_sub(2), 1),
        (log_n, 4),
    ];
    let sources: Vec<Vec<u32>> = shapes
        .iter()
        .enumerate()
        .map(|(k, &(l, w))| column((1usize << l) * w as usize, 993 + k as u64))
        .collect();
    let rows_of = |l: u32, count: usize, rng: &mut ChaCha8Rng| -> Vec<u32> {
        let n = 1u32 << l;
        let mut rows: Vec<u32> = (0..count).map(|_| rng.gen_range(0..n)).collect();
        rows.extend([0, n - 1]);
        rows
    };
    let shared = rows_of(log_n, 70, &mut rng);
    let rows: Vec<Vec<u32>> = vec![
        shared.clone(),
        shared.clone(),
        shared,
        rows_of(log_n.saturating_sub(2), 30, &mut rng),
        Vec::new(),
    ];
    let gap = 3;
    let mut expected = junk(gap);
    let mut starts = Vec::new();
    for ((values, rows), &(_, words)) in sources.iter().zip(&rows).zip(&shapes) {
        starts.push(expected.len());
        for &r in rows {
            expected.extend_from_slice(&values[r as usize * words as usize..][..words as usize]);
        }
    }
    let device: Vec<K::Column> = sources.iter().map(|v| kernels.upload(v).unwrap()).collect();
    let gathers: Vec<ops::Gather<'_, K::Column>> = (0..sources.len())
        .map(|k| ops::Gather {
            src: &device[k],
            rows: &rows[k],
            words: shapes[k].1,
            out_start: starts[k],
        })
        .collect();
    let mut out = kernels.upload(&junk(expected.len())).unwrap();
    kernels.gather_many(&gathers, &mut out).unwrap();
    assert_eq!(
        kernels.download(&out).unwrap(),
        expected,
        "gathers of 2^{log_n}"
    );
    let past = [1u32 << log_n];
    let bad_row = ops::Gather {
        rows: &past,
        ..gathers[0]
    };
    assert!(
        kernels.gather_many(&[bad_row], &mut out).is_err(),
        "a row past its source is refused"
    );
    let late = ops::Gather {
        out_start: expected.len() - 1,
        ..gathers[2]
    };
    assert!(
        kernels.gather_many(&[late], &mut out).is_err(),
        "an output too short from its start is refused"
    );
}

/// `PolyOps::eval_at_point` of 2^log_n coefficients at a random point of the extension.
pub fn check_eval_at_point<K: Kernels>(kernels: &K, log_n: u32) {
    let mut rng = ChaCha8Rng::seed_from_u64(1100 + u64::from(log_n));
    let coeffs = column(1 << log_n, 1200 + u64::from(log_n));
    let point = CirclePoint {
        x: random_secure(&mut rng),
        y: random_secure(&mut rng),
    };
    let expected = CpuBackend::eval_at_point(
        &CircleCoefficients::<CpuBackend>::new(field(&coeffs)),
        point,
    );
    let device = kernels.upload(&coeffs).unwrap();
    assert_eq!(
        ops::eval_at_point(kernels, &device, log_n, point).unwrap(),
        expected,
        "2^{log_n} coefficients"
    );
}

/// `n_columns` polynomials of 2^log_n coefficients (log_n ≥ 1) at one point in one batch
/// (`ops::eval_many_at_point`), each against `CpuBackend::eval_at_point`.
pub fn check_eval_many<K: Kernels>(kernels: &K, log_n: u32, n_columns: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(1300 + u64::from(log_n));
    let point = CirclePoint {
        x: random_secure(&mut rng),
        y: random_secure(&mut rng),
    };
    let columns: Vec<Vec<u32>> = (0..n_columns)
        .map(|k| column(1 << log_n, 1400 + k as u64))
        .collect();
    let device: Vec<K::Column> = columns.iter().map(|c| kernels.upload(c).unwrap()).collect();
    let factors = kernels.upload(&ops::point_factors(log_n, point)).unwrap();
    let refs: Vec<&K::Column> = device.iter().collect();
    let got = ops::eval_many_at_point(kernels, &refs, log_n, &factors).unwrap();
    assert_eq!(got.len(), n_columns);
    for (k, (c, value)) in columns.iter().zip(got).enumerate() {
        let expected =
            CpuBackend::eval_at_point(&CircleCoefficients::<CpuBackend>::new(field(c)), point);
        assert_eq!(
            value, expected,
            "column {k} of {n_columns} of 2^{log_n} coefficients"
        );
    }
}

/// `FriOps::decompose` of a secure evaluation on a circle domain of 2^log_n points.
pub fn check_decompose<K: Kernels>(kernels: &K, log_n: u32) {
    let coords = secure_column(1 << log_n, 1300 + u64::from(log_n));
    let (expected, expected_lambda) =
        CpuBackend::decompose(&SecureEvaluation::<CpuBackend, BitReversedOrder>::new(
            domain(log_n),
            cpu_secure(&coords),
        ));
    let mut device = kernels.upload(&coords.concat()).unwrap();
    let lambda = ops::decompose(kernels, &mut device, 1 << log_n).unwrap();
    assert_eq!(lambda, expected_lambda, "λ at 2^{log_n}");
    assert_eq!(
        kernels.download(&device).unwrap(),
        flat(&expected.values.columns),
        "decomposition at 2^{log_n}"
    );
}

/// The CPU component's interaction columns built on the device from 2^log_n random rows,
/// against the host's `interaction_trace`: every column and the claimed sum.
pub fn check_interaction<K: AirKernels>(kernels: &K, log_n: u32) {
    use obelysk_prover::air::witness::interaction_trace;
    use obelysk_prover::air::{cpu, Relations};
    use stwo::core::channel::{Blake2sChannel, Channel};
    use stwo::prover::backend::simd::column::BaseColumn;

    let n = 1usize << log_n;
    let cells: Vec<Vec<u32>> = (0..cpu::col::COUNT)
        .map(|k| column(n, 1500 + 100 * u64::from(log_n) + k as u64))
        .collect();
    let mut channel = Blake2sChannel::default();
    channel.mix_u64(u64::from(log_n));
    let relations = Relations::draw(&mut channel);
    let host_columns: Vec<BaseColumn> = cells
        .iter()
        .map(|c| field(c).into_iter().collect())
        .collect();
    let host_refs: Vec<&BaseColumn> = host_columns.iter().collect();
    let (expected, expected_sum) = interaction_trace(log_n, &host_refs, &relations, cpu::lookups);

    let device = kernels.upload(&cells.concat()).unwrap();
    let (columns, sum) = ops::interaction_columns(kernels, &device, log_n, &relations).unwrap();
    assert_eq!(sum, expected_sum, "claimed sum at 2^{log_n}");
    let columns = kernels.download(&columns).unwrap();
    assert_eq!(columns.len(), expected.len() * n, "columns at 2^{log_n}");
    for (k, column) in expected.iter().enumerate() {
        assert_eq!(
            columns[k * n..][..n],
            raw(column.values.as_slice())[..],
            "interaction column {k} of 2^{log_n}"
        );
    }
}

/// Traces the CPU-column fill and the count of lookups are checked on: every opcode, a workload
/// of a few thousand steps, and a program too long for the count's shared table of
/// instructions (2^12).
pub fn fill_traces() -> Vec<obelysk_vm::ExecutionTrace> {
    use obelysk_vm::{asm::assemble, ObelyskVM, M31};
    let run = |program: &obelysk_vm::Program, inputs: Vec<M31>| {
        let mut vm = ObelyskVM::new();
        vm.load(program);
        vm.set_inputs(inputs);
        vm.execute().expect("the test program runs")
    };
    let all = assemble(obelysk_prover::testing::ALL_OPCODES, "all.oasm")
        .expect("the test program assembles");
    let inputs = [3, 4, -5, 6].map(M31::from_i64).to_vec();
    let workload = obelysk_workloads::ml_inference(4, 7);
    let long: String = (0..5000)
        .map(|i| format!("addi r{}, r{}, {}\n", 1 + i % 3, 1 + (i + 1) % 3, i % 7))
        .chain(["halt\n".to_string()])
        .collect();
    let long = assemble(&long, "long.oasm").expect("the long program assembles");
    vec![
        run(&all, inputs),
        run(&workload.program, workload.inputs),
        run(&long, Vec::new()),
    ]
}

/// The CPU component's main columns filled on the device from `trace`'s records, and the
/// lookups counted there, against the host's.
pub fn check_cpu_columns<K: AirKernels>(kernels: &K, trace: &obelysk_vm::ExecutionTrace) {
    use obelysk_prover::air::witness::{cpu_columns, Witness};
    use stwo::prover::backend::simd::column::BaseColumn;
    let (witness, records) = Witness::replay(trace);
    let log = witness.shape.cpu_log;
    let expected = cpu_columns(trace.program(), log, &records);
    let (got, counts) =
        ops::cpu_columns(kernels, trace.program(), &witness.shape, &records).unwrap();
    let got = kernels.download(&got).unwrap();
    // The lookups' counts: each table's, against the host's.
    let tables = |program: &BaseColumn, range: &[BaseColumn]| -> Vec<Vec<u32>> {
        std::iter::once(program)
            .chain(range)
            .map(|c| raw(c.as_slice()))
            .collect()
    };
    assert_eq!(
        tables(&counts.program, &counts.range),
        tables(&witness.program_multiplicity, &witness.range_multiplicity),
        "lookups of {} steps",
        records.len()
    );
    let n = 1usize << log;
    assert_eq!(got.len(), expected.len() * n);
    for (k, column) in expected.iter().enumerate() {
        assert_eq!(
            got[k * n..][..n],
            raw(column.as_slice())[..],
            "CPU column {k} of {} steps",
            records.len()
        );
    }
}
