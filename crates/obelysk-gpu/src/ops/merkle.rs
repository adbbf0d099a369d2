//! The lifted Blake2s Merkle tree (`MerkleOpsLifted<Blake2sMerkleHasher>`).

use super::{as_u32, holds, Kernels};
use crate::{GpuError, Result};

/// The leaves of stwo's lifted Blake2s Merkle tree (`MerkleOpsLifted::build_leaves`) over
/// `columns`, given in increasing order of length as stwo requires: 8 words per leaf.
pub fn merkle_leaves<K: Kernels>(
    kernels: &K,
    columns: &[&[u32]],
    lifting_log: u32,
) -> Result<K::Column> {
    let mut values = Vec::with_capacity(columns.iter().map(|c| c.len()).sum());
    let mut log_sizes = Vec::with_capacity(columns.len());
    for column in columns {
        let n = column.len();
        if n < 2 || !n.is_power_of_two() {
            return Err(GpuError::Unsupported(format!(
                "a column of {n} values in a Merkle tree"
            )));
        }
        log_sizes.push(n.ilog2());
        values.extend_from_slice(column);
    }
    if values.is_empty() {
        values.push(0);
    }
    merkle_leaves_on_device(kernels, &kernels.upload(&values)?, &log_sizes, lifting_log)
}

/// [`merkle_leaves`] over columns already on the device, one after another in `values`, with
/// 2^log_sizes[k] values in column k.
pub fn merkle_leaves_on_device<K: Kernels>(
    kernels: &K,
    values: &K::Column,
    log_sizes: &[u32],
    lifting_log: u32,
) -> Result<K::Column> {
    // As stwo: a tree without columns is one leaf, the hash of nothing.
    let lifting_log = if log_sizes.is_empty() { 0 } else { lifting_log };
    if log_sizes.windows(2).any(|w| w[1] < w[0]) {
        return Err(GpuError::Unsupported(
            "columns must come in increasing order of length".into(),
        ));
    }
    if log_sizes.iter().any(|&l| l == 0 || l > lifting_log) || lifting_log > 30 {
        return Err(GpuError::Unsupported(format!(
            "a column taller than a tree of 2^{lifting_log} leaves, or of one value, or a tree \
             past 2^30 leaves"
        )));
    }
    let mut offsets = Vec::with_capacity(log_sizes.len());
    let mut total: u64 = 0;
    for &l in log_sizes {
        offsets.push(
            u32::try_from(total)
                .map_err(|_| GpuError::Unsupported("more than 2^32 values in one tree".into()))?,
        );
        total += 1 << l;
    }
    as_u32(total as usize, "values in one tree")?;
    holds(kernels, values, total as usize, "Merkle columns")?;
    // Kernels take no empty buffers.
    let pad = |v: &[u32]| if v.is_empty() { vec![0] } else { v.to_vec() };
    let mut out = kernels.alloc(8 << lifting_log)?;
    kernels.merkle_leaves(
        values,
        &kernels.upload(&pad(&offsets))?,
        &kernels.upload(&pad(log_sizes))?,
        log_sizes.len() as u32,
        lifting_log,
        &mut out,
    )?;
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
