//! `QuotientOps`: the DEEP quotients that FRI commits to.

use std::array;

use stwo::core::fields::m31::BaseField;
use stwo::core::pcs::quotients::ColumnSampleBatch;
use stwo::core::poly::circle::CanonicCoset;
use stwo::prover::backend::Column;
use stwo::prover::pcs::quotient_ops::{AccumulatedNumerators, QuotientOps};
use stwo::prover::poly::circle::{CircleEvaluation, SecureEvaluation};
use stwo::prover::poly::twiddles::TwiddleTree;
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::secure_column::SecureColumnByCoords;

use super::cache;
use super::poly::device_twiddles;
use super::{kernels, ok, u32_of, Device, DeviceBackend, DeviceColumn};
use crate::ops::{self, Kernels, NumeratorGroup, Numerators};

impl<D: Device> QuotientOps for DeviceBackend<D> {
    fn accumulate_numerators(
        columns: &[&CircleEvaluation<Self, BaseField, BitReversedOrder>],
        sample_batches: &[ColumnSampleBatch],
        accumulated_numerators_vec: &mut Vec<AccumulatedNumerators<Self>>,
        log_blowup_factor: u32,
    ) {
        let Some(first) = columns.first() else {
            return;
        };
        let kernels = kernels::<D>();
        // The kernel reads the group's columns from one buffer.
        let column_len = first.len();
        let mut group = ok(kernels.alloc(columns.len() * column_len));
        assert!(
            columns.iter().all(|c| c.len() == column_len),
            "columns of one group differ in size"
        );
        let parts: Vec<_> = columns.iter().map(|c| (c.values.buffer(), 0)).collect();
        ok(kernels.concat(&parts, column_len, column_len, &mut group, 0));
        let numerators = ok(ops::accumulate_numerators(
            kernels,
            &[NumeratorGroup {
                columns: &group,
                column_len,
                batches: sample_batches,
            }],
            log_blowup_factor,
        ));
        let layouts: Vec<_> = (0..sample_batches.len())
            .map(|s| numerators.layout(s))
            .collect();
        let partials = numerators.into_partials();
        for (batch, (start, log_rows, first_linear_term_acc)) in sample_batches.iter().zip(layouts)
        {
            // The four coordinates lie one after another: one launch splits them.
            let rows = 1usize << log_rows;
            let mut columns = array::from_fn(|_| DeviceColumn::<D, BaseField>::alloc(rows));
            ok(kernels.split_into(
                &partials,
                start,
                rows,
                rows,
                &mut columns.each_mut().map(|c| c.buffer_mut()),
            ));
            accumulated_numerators_vec.push(AccumulatedNumerators {
                sample_point: batch.point,
                partial_numerators_acc: SecureColumnByCoords { columns },
                first_linear_term_acc,
            });
        }
    }

    fn compute_quotients_and_combine(
        accs: Vec<AccumulatedNumerators<Self>>,
        lifting_log_size: u32,
        log_blowup_factor: u32,
        twiddles: &TwiddleTree<Self>,
    ) -> SecureEvaluation<Self, BitReversedOrder> {
        let kernels = kernels::<D>();
        // Every sample point's numerators into one buffer, as the combining kernel reads them.
        let total: usize = accs
            .iter()
            .map(|a| 4 * a.partial_numerators_acc.len())
            .sum();
        let mut partials = ok(kernels.alloc(total.max(1)));
        let mut batches = Vec::with_capacity(accs.len());
        let mut offset = 0usize;
        for acc in &accs {
            let rows = acc.partial_numerators_acc.len();
            assert!(rows.is_power_of_two(), "numerators over {rows} rows");
            let parts = acc
                .partial_numerators_acc
                .columns
                .each_ref()
                .map(|c| (c.buffer(), 0));
            ok(kernels.concat(&parts, rows, rows, &mut partials, offset));
            batches.push((
                u32_of(offset),
                rows.ilog2(),
                acc.first_linear_term_acc,
                acc.sample_point,
            ));
            offset += 4 * rows;
        }
        let numerators = Numerators::from_batches(partials, batches);
        let points = cache::points::<D>(lifting_log_size, log_blowup_factor);
        let on_subdomain = ok(ops::combine_quotients_at(
            kernels,
            &numerators,
            points.buffer(),
            lifting_log_size,
            log_blowup_factor,
        ));
        let domain = CanonicCoset::new(lifting_log_size).circle_domain();
        let (subdomain, _) = domain.split(log_blowup_factor);
        let subdomain_twiddles = cache::twiddles::<D>(subdomain.half_coset);
        let extended = ok(ops::extend_quotients(
            kernels,
            &on_subdomain,
            lifting_log_size,
            log_blowup_factor,
            &subdomain_twiddles,
            device_twiddles(twiddles),
        ));
        let columns = extended.map(|c| DeviceColumn::from_buffer(c, domain.size()));
        SecureEvaluation::new(domain, SecureColumnByCoords { columns })
    }
}
