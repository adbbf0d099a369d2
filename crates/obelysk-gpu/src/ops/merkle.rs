//! The lifted Blake2s Merkle tree (`MerkleOpsLifted<Blake2sMerkleHasher>`).

use stwo::core::channel::Blake2sChannel;
use stwo::core::fields::m31::P;
use stwo::core::vcs::blake2_hash::Blake2sHasher;

use super::{as_u32, holds, Kernels};
use crate::{GpuError, Result};

/// The leaves of stwo's lifted Blake2s Merkle tree (`MerkleOpsLifted::build_leaves`) over
/// `columns`, given in increasing order of length as stwo requires: 8 words per leaf.
pub fn merkle_leaves<K: Kernels>(
    kernels: &K,
    columns: &[&[u32]],
    lifting_log: u32,
) -> Result<K::Column> {
    let mut log_sizes = Vec::with_capacity(columns.len());
    let mut device = Vec::with_capacity(columns.len());
    for column in columns {
        let n = column.len();
        if n < 2 || !n.is_power_of_two() {
            return Err(GpuError::Unsupported(format!(
                "a column of {n} values in a Merkle tree"
            )));
        }
        log_sizes.push(n.ilog2());
        device.push(kernels.upload(column)?);
    }
    let device: Vec<&K::Column> = device.iter().collect();
    merkle_leaves_on_device(kernels, &device, &log_sizes, lifting_log)
}

/// [`merkle_leaves`] over columns already on the device, column k holding 2^log_sizes[k]
/// values.
pub fn merkle_leaves_on_device<K: Kernels>(
    kernels: &K,
    columns: &[&K::Column],
    log_sizes: &[u32],
    lifting_log: u32,
) -> Result<K::Column> {
    // As stwo: a tree without columns is one leaf, the hash of nothing.
    let lifting_log = if log_sizes.is_empty() { 0 } else { lifting_log };
    let mut out = kernels.alloc(8 << lifting_log)?;
    kernels.merkle_leaves(columns, log_sizes, lifting_log, &mut out)?;
    Ok(out)
}

/// The layer above `layer` (`MerkleOpsLifted::build_next_layer`): `n_parents` hashes.
pub fn merkle_parents<K: Kernels>(
    kernels: &K,
    layer: &K::Column,
    n_parents: usize,
) -> Result<K::Column> {
    holds(kernels, layer, 16 * n_parents, "Merkle layer")?;
    let mut out = kernels.alloc(8 * n_parents)?;
    kernels.merkle_parents(layer, as_u32(n_parents, "Merkle parents")?, &mut out)?;
    Ok(out)
}

/// Most layers one [`merkle_layers`] launch builds: a subtree's first layer is then 512
/// hashes, two for each of a block's 256 threads.
pub const MERKLE_LAYERS_PER_LAUNCH: usize = 10;

/// The layers above `layer` (`MerkleOpsLifted::build_next_layer`, repeated) in one launch:
/// `n_parents` hashes (a power of two), then half as many, `n_layers` times (at most
/// `log2(n_parents) + 1`, which ends at the root).
pub fn merkle_layers<K: Kernels>(
    kernels: &K,
    layer: &K::Column,
    n_parents: usize,
    n_layers: usize,
) -> Result<Vec<K::Column>> {
    if !n_parents.is_power_of_two() || n_layers == 0 || n_layers > n_parents.ilog2() as usize + 1 {
        return Err(GpuError::Unsupported(format!(
            "{n_layers} Merkle layers from {n_parents} parents"
        )));
    }
    holds(kernels, layer, 16 * n_parents, "Merkle layer")?;
    let mut layers = (0..n_layers)
        .map(|l| kernels.alloc(8 * (n_parents >> l)))
        .collect::<Result<Vec<_>>>()?;
    let mut refs: Vec<&mut K::Column> = layers.iter_mut().collect();
    kernels.merkle_layers(layer, n_parents as u32, &mut refs)?;
    Ok(layers)
}

/// Checks a [`Kernels::merkle_layers`] launch, given the lengths of `children` and of each
/// layer: `n_parents` a power of two, 16 words of children per parent, one layer at least and
/// none above the root, each of 8 words per hash.
pub fn check_merkle_layers(n_parents: u32, children: usize, layers: &[usize]) -> Result<()> {
    let fits = n_parents.is_power_of_two()
        && children >= 16 * n_parents as usize
        && !layers.is_empty()
        && layers.len() <= n_parents.ilog2() as usize + 1
        && layers
            .iter()
            .enumerate()
            .all(|(l, &len)| len >= 8 * (n_parents >> l) as usize);
    if !fits {
        return Err(GpuError::Unsupported(format!(
            "Merkle layers from {n_parents} parents of {children} words of children, into \
             layers of {layers:?} words"
        )));
    }
    Ok(())
}

/// stwo's `GRIND_LOW_BITS` for Blake2s: a nonce is `(hi << 32) | low` with `low < 2^20`.
pub const GRIND_LOW_BITS: u32 = 20;

/// Chunks of 2^GRIND_LOW_BITS nonces one launch tries at most: 2^28 hashes.
const MAX_GRIND_CHUNKS: u32 = 1 << 8;

/// stwo's proof of work for a Blake2s channel (`GrindOps::grind`): the smallest nonce of the
/// form above whose `H(H(POW_PREFIX, [0; 12], digest, pow_bits), nonce)` has `pow_bits` trailing
/// zeros in its first word, found on the device.
pub fn grind<K: Kernels>(kernels: &K, channel: &Blake2sChannel, pow_bits: u32) -> Result<u64> {
    if pow_bits > 32 {
        return Err(GpuError::Unsupported(format!(
            "proof of work of {pow_bits} bits (at most 32)"
        )));
    }
    let mut hasher = Blake2sHasher::default();
    hasher.update(&Blake2sChannel::POW_PREFIX.to_le_bytes());
    hasher.update(&[0_u8; 12]);
    hasher.update(&channel.digest().0);
    hasher.update(&pow_bits.to_le_bytes());
    let digest = hasher.finalize().0;
    let prefixed: [u32; 8] =
        std::array::from_fn(|i| u32::from_le_bytes(digest[4 * i..][..4].try_into().unwrap()));
    // About 2^pow_bits hashes until a pass: enough chunks per launch that one usually does.
    let per_launch = 1
        << pow_bits
            .saturating_sub(GRIND_LOW_BITS)
            .min(MAX_GRIND_CHUNKS.ilog2());
    let mut first_hi = 0u32;
    while first_hi < P {
        let n_chunks = per_launch.min(P - first_hi);
        let mut found = kernels.upload(&vec![u32::MAX; n_chunks as usize])?;
        kernels.pow_grind(
            prefixed,
            first_hi,
            n_chunks,
            GRIND_LOW_BITS,
            pow_bits,
            &mut found,
        )?;
        let found = kernels.download(&found)?;
        if let Some((c, &low)) = found.iter().enumerate().find(|(_, &low)| low != u32::MAX) {
            return Ok((u64::from(first_hi) + c as u64) << 32 | u64::from(low));
        }
        first_hi += n_chunks;
    }
    Err(GpuError::Unsupported(format!(
        "no nonce passes a proof of work of {pow_bits} bits"
    )))
}
