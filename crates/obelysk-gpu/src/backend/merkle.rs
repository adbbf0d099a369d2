//! `MerkleOpsLifted` for Blake2s, proof of work, and the packing of FRI leaves.

use stwo::core::channel::Blake2sChannel;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SECURE_EXTENSION_DEGREE;
use stwo::core::proof_of_work::GrindOps;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleHasher;
use stwo::core::vcs_lifted::verifier::PACKED_LEAF_SIZE;
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::backend::{Col, Column, CpuBackend};
use stwo::prover::vcs_lifted::ops::{MerkleOpsLifted, PackLeavesOps};

use super::{kernels, ok, u32_of, Device, DeviceBackend, DeviceColumn};
use crate::ops::{self, Kernels};

impl<D: Device> MerkleOpsLifted<Blake2sMerkleHasher> for DeviceBackend<D> {
    /// The columns (shortest first, as stwo orders them) are copied into one buffer, which the
    /// leaf kernel reads with per-column offsets.
    fn build_leaves(
        columns: &[&Col<Self, BaseField>],
        lifting_log_size: u32,
    ) -> Col<Self, Blake2sHash> {
        let kernels = kernels::<D>();
        let total: usize = columns.iter().map(|c| c.len()).sum();
        let mut values = ok(kernels.alloc(total.max(1)));
        let mut log_sizes = Vec::with_capacity(columns.len());
        let mut offset = 0;
        for column in columns {
            let n = column.len();
            assert!(
                n >= 2 && n.is_power_of_two(),
                "a column of {n} values in a Merkle tree"
            );
            ok(kernels.copy_range(column.buffer(), 0, &mut values, u32_of(offset), u32_of(n)));
            log_sizes.push(n.ilog2());
            offset += n;
        }
        let leaves = ok(ops::merkle_leaves_on_device(
            kernels,
            &values,
            &log_sizes,
            lifting_log_size,
        ));
        let n_leaves = if columns.is_empty() {
            1
        } else {
            1 << lifting_log_size
        };
        // Decommitment reads the tree's columns, then its layers, each at the same rows.
        DeviceColumn::group(columns);
        let leaves = DeviceColumn::from_buffer(leaves, n_leaves);
        DeviceColumn::group(&[&leaves]);
        leaves
    }

    fn build_next_layer(prev_layer: &Col<Self, Blake2sHash>) -> Col<Self, Blake2sHash> {
        let n_parents = prev_layer.len() / 2;
        let parents = ok(ops::merkle_parents(
            kernels::<D>(),
            prev_layer.buffer(),
            n_parents,
        ));
        let parents = DeviceColumn::from_buffer(parents, n_parents);
        parents.join_group_of(prev_layer);
        parents
    }
}

/// On the host: the FRI trees' leaves are four columns at most half the size of the trace's, so
/// the copies cost little next to the tree itself.
impl<D: Device> PackLeavesOps for DeviceBackend<D> {
    fn pack_leaves_input(
        values: &[&Col<Self, BaseField>; SECURE_EXTENSION_DEGREE],
    ) -> [Col<Self, BaseField>; SECURE_EXTENSION_DEGREE * PACKED_LEAF_SIZE] {
        let host = values.map(|c| c.to_cpu());
        CpuBackend::pack_leaves_input(&host.each_ref()).map(|c| c.into_iter().collect())
    }
}

/// Proof of work stays on the host, on stwo's SIMD grinder.
impl<D: Device> GrindOps<Blake2sChannel> for DeviceBackend<D> {
    fn grind(channel: &Blake2sChannel, pow_bits: u32) -> u64 {
        SimdBackend::grind(channel, pow_bits)
    }
}
