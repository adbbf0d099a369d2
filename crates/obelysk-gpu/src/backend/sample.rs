//! Out-of-domain samples (`PolyOps::eval_at_point`), brought back in batches.
//!
//! stwo asks for them one polynomial at a time from every thread of its pool (about 150 at 2^20
//! steps), and each answer needs the evaluation's partial sums back on the host: one transfer
//! per polynomial cost 31 ms of a 2^20-step proof. Here every caller launches its evaluation at
//! once and queues its partial sums (or a read group's values, see `group`); one caller at a
//! time (the leader) gathers everything queued into one buffer, brings it back in a single
//! transfer and hands each caller its values. Callers that arrive meanwhile queue up for the
//! next transfer, which the first of them to find no leader makes.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use stwo::core::fields::qm31::SecureField;

use super::{kernels, Buffer, Device};
use crate::ops::{sum_words, Kernels};
use crate::{GpuError, Result};

/// One device's queue of partial sums.
pub(super) struct Sampler<D: Device> {
    state: Mutex<State<D>>,
    published: Condvar,
}

struct State<D: Device> {
    queued: Vec<(u64, Buffer<D>, Wanted)>,
    next_ticket: u64,
    leading: bool,
    /// Values (or the device error that lost them) not yet taken by their callers.
    done: HashMap<u64, std::result::Result<Vec<SecureField>, String>>,
}

/// What a queued buffer holds.
#[derive(Clone, Copy, Debug)]
enum Wanted {
    /// Partial sums (four words each) of one value.
    Sum,
    /// `n` values, coordinate by coordinate (`ops::eval_many_launch`).
    Values(usize),
}

/// The sampler of the calling thread's device.
pub(super) fn sampler<D: Device>() -> Arc<Sampler<D>> {
    super::per_device::<D, Sampler<D>>(Sampler::new)
}

impl<D: Device> Sampler<D> {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queued: Vec::new(),
                next_ticket: 0,
                leading: false,
                done: HashMap::new(),
            }),
            published: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<D>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sum of `partials` (four words per value), which the caller has launched the kernels
    /// to write.
    pub(super) fn total(&self, partials: Buffer<D>) -> Result<SecureField> {
        Ok(self.bring(partials, Wanted::Sum)?[0])
    }

    /// The `n` values of `values`, written coordinate by coordinate by kernels the caller has
    /// launched (`ops::eval_many_launch`).
    pub(super) fn values(&self, values: Buffer<D>, n: usize) -> Result<Vec<SecureField>> {
        self.bring(values, Wanted::Values(n))
    }

    fn bring(&self, buffer: Buffer<D>, wanted: Wanted) -> Result<Vec<SecureField>> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued.push((ticket, buffer, wanted));
        loop {
            if let Some(done) = state.done.remove(&ticket) {
                return done.map_err(GpuError::Driver);
            }
            if !state.leading {
                break;
            }
            state = self
                .published
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Lead one transfer: everything queued, this caller's partials included.
        state.leading = true;
        let batch = std::mem::take(&mut state.queued);
        drop(state);
        let tickets: Vec<u64> = batch.iter().map(|(t, _, _)| *t).collect();
        let lead = Lead {
            sampler: self,
            tickets: &tickets,
            finished: false,
        };
        let values = totals::<D>(&batch).map_err(|e| e.to_string());
        let mut state = lead.finish(values);
        let mine = state.done.remove(&ticket);
        drop(state);
        mine.expect("the leader's own partials are in its batch")
            .map_err(GpuError::Driver)
    }
}

/// A leader's transfer in progress. Dropped without [`Lead::finish`] (the leader panicked), it
/// still answers every caller of its batch, with an error, and lets the next caller lead:
/// otherwise they would wait forever on a sampler that lives as long as the process.
struct Lead<'a, D: Device> {
    sampler: &'a Sampler<D>,
    tickets: &'a [u64],
    finished: bool,
}

impl<'a, D: Device> Lead<'a, D> {
    fn finish(
        mut self,
        values: std::result::Result<Vec<Vec<SecureField>>, String>,
    ) -> MutexGuard<'a, State<D>> {
        let mut state = self.sampler.lock();
        match values {
            Ok(values) => {
                for (t, v) in self.tickets.iter().zip(values) {
                    state.done.insert(*t, Ok(v));
                }
            }
            Err(e) => {
                for t in self.tickets {
                    state.done.insert(*t, Err(e.clone()));
                }
            }
        }
        state.leading = false;
        self.sampler.published.notify_all();
        self.finished = true;
        state
    }
}

impl<D: Device> Drop for Lead<'_, D> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self.sampler.lock();
        for t in self.tickets {
            state
                .done
                .entry(*t)
                .or_insert_with(|| Err("the transfer's leader panicked".into()));
        }
        state.leading = false;
        self.sampler.published.notify_all();
    }
}

/// Every queued buffer's values, from one transfer.
fn totals<D: Device>(batch: &[(u64, Buffer<D>, Wanted)]) -> Result<Vec<Vec<SecureField>>> {
    let kernels = kernels::<D>();
    let read = |words: &[u32], wanted: Wanted| match wanted {
        Wanted::Sum => vec![sum_words(words)],
        Wanted::Values(n) => crate::ops::decode_many(words, n),
    };
    if let [(_, only, wanted)] = batch {
        return Ok(vec![read(&kernels.download(only)?, *wanted)]);
    }
    let lens: Vec<usize> = batch.iter().map(|(_, b, _)| kernels.len(b)).collect();
    let mut all = kernels.alloc(lens.iter().sum::<usize>().max(1))?;
    let mut offset = 0;
    for ((_, b, _), &len) in batch.iter().zip(&lens) {
        let (start, n) = (
            crate::ops::as_u32(offset, "batched samples")?,
            crate::ops::as_u32(len, "samples")?,
        );
        kernels.copy_range(b, 0, &mut all, start, n)?;
        offset += len;
    }
    let words = kernels.download(&all)?;
    let mut offset = 0;
    Ok(batch
        .iter()
        .zip(&lens)
        .map(|((_, _, wanted), &len)| {
            let values = read(&words[offset..][..len], *wanted);
            offset += len;
            values
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Emulated;

    /// One transfer brings sums of partials and batches of values, each from its own place.
    #[test]
    fn one_transfer_brings_sums_and_batches_of_values() {
        let kernels = kernels::<Emulated>();
        let partials: Vec<u32> = (1..=12).collect();
        let values: Vec<u32> = (100..108).collect();
        let batch = vec![
            (0, kernels.upload(&partials).unwrap(), Wanted::Sum),
            (1, kernels.upload(&values).unwrap(), Wanted::Values(2)),
            (2, kernels.upload(&partials[4..]).unwrap(), Wanted::Sum),
        ];
        assert_eq!(
            totals::<Emulated>(&batch).unwrap(),
            vec![
                vec![sum_words(&partials)],
                crate::ops::decode_many(&values, 2),
                vec![sum_words(&partials[4..])],
            ]
        );
    }

    /// A leader that panics mid-transfer still answers its batch (with an error) and hands the
    /// lead on.
    #[test]
    fn a_lead_dropped_unfinished_answers_its_batch_and_steps_down() {
        // A sampler of its own: the device's is shared with the tests that sample.
        let sampler = Sampler::<Emulated>::new();
        let tickets = {
            let mut state = sampler.lock();
            state.leading = true;
            let first = state.next_ticket;
            state.next_ticket += 2;
            vec![first, first + 1]
        };
        drop(Lead {
            sampler: &sampler,
            tickets: &tickets,
            finished: false,
        });
        let mut state = sampler.lock();
        assert!(!state.leading);
        for t in &tickets {
            assert!(matches!(state.done.remove(t), Some(Err(_))), "ticket {t}");
        }
    }
}
