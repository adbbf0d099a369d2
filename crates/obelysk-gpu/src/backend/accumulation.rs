//! `AccumulationOps`: sums of secure columns, and the lift of shorter ones.

use stwo::core::fields::qm31::SecureField;
use stwo::prover::backend::CpuBackend;
use stwo::prover::secure_column::SecureColumnByCoords;
use stwo::prover::AccumulationOps;

use super::{kernels, ok, u32_of, Device, DeviceBackend};
use crate::ops::Kernels;

impl<D: Device> AccumulationOps for DeviceBackend<D> {
    fn accumulate(column: &mut SecureColumnByCoords<Self>, other: &SecureColumnByCoords<Self>) {
        let n = column.len();
        assert_eq!(n, other.len(), "accumulating columns of different lengths");
        for (acc, add) in column.columns.iter_mut().zip(&other.columns) {
            ok(kernels::<D>().add_assign(acc.buffer_mut(), add.buffer(), u32_of(n)));
        }
    }

    fn generate_secure_powers(felt: SecureField, n_powers: usize) -> Vec<SecureField> {
        CpuBackend::generate_secure_powers(felt, n_powers)
    }

    /// stwo's CPU loop starts from a zero column of two values, so the first column is kept as
    /// it is and each later one adds the lift of the sum so far.
    fn lift_and_accumulate(
        cols: Vec<SecureColumnByCoords<Self>>,
    ) -> Option<SecureColumnByCoords<Self>> {
        let mut cols = cols.into_iter();
        let mut sum = cols.next()?;
        assert!(sum.len() >= 2, "A column must be of length at least 2.");
        for mut col in cols {
            let n = col.len();
            assert!(
                n.is_power_of_two() && n >= sum.len(),
                "columns must come in increasing order of length"
            );
            let log_ratio = n.ilog2() - sum.len().ilog2();
            for (acc, small) in col.columns.iter_mut().zip(&sum.columns) {
                ok(kernels::<D>().lift_add(acc.buffer_mut(), small.buffer(), u32_of(n), log_ratio));
            }
            sum = col;
        }
        Some(sum)
    }
}
