//! Out-of-domain samples (`PolyOps::eval_at_point`), brought back in batches.
//!
//! stwo asks for them one polynomial at a time from every thread of its pool (about 150 at 2^20
//! steps), and each answer needs the evaluation's partial sums back on the host: one transfer
//! per polynomial cost 31 ms of a 2^20-step proof. Here every caller launches its evaluation at
//! once and queues its partial sums; one caller at a time (the leader) gathers everything
//! queued into one buffer, brings it back in a single transfer and hands each caller its value.
//! Callers that arrive meanwhile queue up for the next transfer, which the first of them to find
//! no leader makes.

use std::any::{Any, TypeId};
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
    queued: Vec<(u64, Buffer<D>)>,
    next_ticket: u64,
    leading: bool,
    /// Values (or the device error that lost them) not yet taken by their callers.
    done: HashMap<u64, std::result::Result<SecureField, String>>,
}

/// The sampler of the calling thread's device.
pub(super) fn sampler<D: Device>() -> Arc<Sampler<D>> {
    type Entry = (TypeId, u64, Arc<dyn Any + Send + Sync>);
    static SAMPLERS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    let key = (TypeId::of::<D>(), D::instance());
    let mut samplers = SAMPLERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, _, s)) = samplers.iter().find(|(t, i, _)| (*t, *i) == key) {
        return s
            .clone()
            .downcast()
            .expect("samplers are keyed by device type");
    }
    let sampler = Arc::new(Sampler::<D> {
        state: Mutex::new(State {
            queued: Vec::new(),
            next_ticket: 0,
            leading: false,
            done: HashMap::new(),
        }),
        published: Condvar::new(),
    });
    samplers.push((key.0, key.1, sampler.clone()));
    sampler
}

impl<D: Device> Sampler<D> {
    fn lock(&self) -> MutexGuard<'_, State<D>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sum of `partials` (four words per value), which the caller has launched the kernels
    /// to write.
    pub(super) fn total(&self, partials: Buffer<D>) -> Result<SecureField> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued.push((ticket, partials));
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
        let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
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
        values: std::result::Result<Vec<SecureField>, String>,
    ) -> MutexGuard<'a, State<D>> {
        let mut state = self.sampler.lock();
        for (i, t) in self.tickets.iter().enumerate() {
            let value = match &values {
                Ok(values) => Ok(values[i]),
                Err(e) => Err(e.clone()),
            };
            state.done.insert(*t, value);
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

/// Every queued buffer's sum, from one transfer.
fn totals<D: Device>(batch: &[(u64, Buffer<D>)]) -> Result<Vec<SecureField>> {
    let partials: Vec<&Buffer<D>> = batch.iter().map(|(_, p)| p).collect();
    sums::<D>(&partials)
}

/// The sum of each buffer of partial sums (four words per value), from one transfer.
fn sums<D: Device>(partials: &[&Buffer<D>]) -> Result<Vec<SecureField>> {
    let kernels = kernels::<D>();
    if let [only] = partials {
        return Ok(vec![sum_words(&kernels.download(only)?)]);
    }
    let lens: Vec<usize> = partials.iter().map(|p| kernels.len(p)).collect();
    let mut all = kernels.alloc(lens.iter().sum::<usize>().max(1))?;
    let mut offset = 0;
    for (p, &len) in partials.iter().zip(&lens) {
        let (start, n) = (
            crate::ops::as_u32(offset, "batched partial sums")?,
            crate::ops::as_u32(len, "partial sums")?,
        );
        kernels.copy_range(p, 0, &mut all, start, n)?;
        offset += len;
    }
    let words = kernels.download(&all)?;
    let mut offset = 0;
    Ok(lens
        .iter()
        .map(|&len| {
            let value = sum_words(&words[offset..][..len]);
            offset += len;
            value
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Emulated;

    /// A leader that panics mid-transfer still answers its batch (with an error) and hands the
    /// lead on.
    #[test]
    fn a_lead_dropped_unfinished_answers_its_batch_and_steps_down() {
        let sampler = sampler::<Emulated>();
        let tickets = {
            let mut state = sampler.lock();
            state.leading = true;
            let first = state.next_ticket;
            state.next_ticket += 2;
            vec![first, first + 1]
        };
        drop(Lead {
            sampler: &*sampler,
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
