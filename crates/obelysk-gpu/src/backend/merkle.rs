//! `MerkleOpsLifted` for Blake2s, proof of work, and the packing of FRI leaves.

use stwo::core::channel::Blake2sChannel;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SECURE_EXTENSION_DEGREE;
use stwo::core::proof_of_work::GrindOps;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleHasher;
use stwo::core::vcs_lifted::verifier::PACKED_LEAF_SIZE;
use stwo::prover::backend::{Col, Column};
use stwo::prover::vcs_lifted::ops::{MerkleOpsLifted, PackLeavesOps};

use super::{kernels, ok, u32_of, Buffer, Device, DeviceBackend, DeviceColumn};
use crate::ops::{self, Kernels};

impl<D: Device> MerkleOpsLifted<Blake2sMerkleHasher> for DeviceBackend<D> {
    /// The leaf kernel reads the columns (shortest first, as stwo orders them) where they are,
    /// through a table of their addresses.
    fn build_leaves(
        columns: &[&Col<Self, BaseField>],
        lifting_log_size: u32,
    ) -> Col<Self, Blake2sHash> {
        let mut log_sizes = Vec::with_capacity(columns.len());
        for column in columns {
            let n = column.len();
            assert!(
                n >= 2 && n.is_power_of_two(),
                "a column of {n} values in a Merkle tree"
            );
            log_sizes.push(n.ilog2());
        }
        let buffers: Vec<&Buffer<D>> = columns.iter().map(|c| c.buffer()).collect();
        let leaves = ok(ops::merkle_leaves_on_device(
            kernels::<D>(),
            &buffers,
            &log_sizes,
            lifting_log_size,
        ));
        let n_leaves = if columns.is_empty() {
            1
        } else {
            1 << lifting_log_size
        };
        // Decommitment reads the tree's columns, then its layers, at rows the same queries
        // point at: one group, so one fetch brings both. A FRI layer's packed columns are
        // already in its coordinates' group, which the decommitment reads instead.
        if !DeviceColumn::in_one_group(columns) {
            DeviceColumn::group_for_decommitment(columns);
        }
        let leaves = DeviceColumn::from_buffer(leaves, n_leaves);
        match columns.first() {
            Some(column) => leaves.join_group_of(*column),
            None => DeviceColumn::group_for_decommitment(&[&leaves]),
        }
        leaves
    }

    /// Up to [`ops::MERKLE_LAYERS_PER_LAUNCH`] layers are built in one launch when stwo asks
    /// for the first of them; each layer keeps the one above for the next call.
    fn build_next_layer(prev_layer: &Col<Self, Blake2sHash>) -> Col<Self, Blake2sHash> {
        if let Some(built) = prev_layer.take_above() {
            return built;
        }
        let n_parents = prev_layer.len() / 2;
        if n_parents.is_power_of_two() {
            let to_root = n_parents.ilog2() as usize + 1;
            let layers = ok(ops::merkle_layers(
                kernels::<D>(),
                prev_layer.buffer(),
                n_parents,
                to_root.min(ops::MERKLE_LAYERS_PER_LAUNCH),
            ));
            let mut above: Option<Col<Self, Blake2sHash>> = None;
            for (l, buffer) in layers.into_iter().enumerate().rev() {
                let layer = DeviceColumn::from_buffer(buffer, n_parents >> l);
                layer.join_group_of(prev_layer);
                if let Some(above) = above.take() {
                    layer.set_above(above);
                }
                above = Some(layer);
            }
            return above.expect("a layer at least");
        }
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

/// On the device: one launch per FRI tree, instead of a round trip of its four columns.
impl<D: Device> PackLeavesOps for DeviceBackend<D> {
    fn pack_leaves_input(
        values: &[&Col<Self, BaseField>; SECURE_EXTENSION_DEGREE],
    ) -> [Col<Self, BaseField>; SECURE_EXTENSION_DEGREE * PACKED_LEAF_SIZE] {
        let n = values[0].len();
        assert!(
            values.iter().all(|c| c.len() == n) && n.is_multiple_of(PACKED_LEAF_SIZE),
            "packing coordinates of {} values",
            n
        );
        let n_packed = n / PACKED_LEAF_SIZE;
        let kernels = kernels::<D>();
        let mut buffers = std::array::from_fn(|_| ok(kernels.alloc(n_packed.max(1))));
        if n_packed > 0 {
            ok(kernels.pack_leaves(values.map(|c| c.buffer()), u32_of(n_packed), &mut buffers));
        }
        // The tree over these columns joins the coordinates' group (see `build_leaves`).
        buffers.map(|b| {
            let packed = DeviceColumn::from_buffer(b, n_packed);
            packed.join_group_of(values[0]);
            packed
        })
    }
}

/// Proof of work on the device: stwo's SIMD grinder (`SimdBackend::grind`) takes a few
/// milliseconds of a 16-core host for 16 bits, the device a launch. The same nonce: the
/// smallest `(hi << 32) | low` with `low < 2^GRIND_LOW_BITS` whose hash passes.
impl<D: Device> GrindOps<Blake2sChannel> for DeviceBackend<D> {
    /// Also predicts the queries stwo draws next (see `queries`).
    fn grind(channel: &Blake2sChannel, pow_bits: u32) -> u64 {
        let nonce = ok(ops::grind(kernels::<D>(), channel, pow_bits));
        super::queries::predict(channel, nonce);
        nonce
    }
}
