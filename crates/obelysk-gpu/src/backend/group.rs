//! Read groups: columns whose values are brought back together.
//!
//! stwo reads decommitted values one at a time and asks for out-of-domain samples one
//! polynomial at a time, from every thread of its pool. On a device each answer is a round
//! trip, so columns read together form a [`ReadGroup`] and their reads are batched:
//! - **Decommitment.** A tree's columns with its Merkle layers, and a FRI layer's coordinates
//!   with its packed columns and Merkle layers, are read at rows the same queries point at. The
//!   first read after new hints (the queries predicted at the proof of work, see `queries`)
//!   fetches, in one launch and one transfer, the rows those hints point at for every member of
//!   every such group of the device ([`Registry`]): a proof's whole decommitment is then one
//!   round trip, where it was one per tree and per FRI layer.
//! - **Out-of-domain samples.** A tree's coefficient columns are evaluated at the same point:
//!   the first member to ask evaluates every member of its size in one launch, and the values
//!   come back through the device's sampler (`sample`), in one transfer with whatever other
//!   groups and sizes asked meanwhile. Members that ask for a batch in flight wait for it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use stwo::core::circle::CirclePoint;
use stwo::core::fields::qm31::SecureField;

use super::column::{Batch, MAX_BATCHES, WHOLE_READ_WORDS};
use super::hints::{hint, hinted_rows_between, newest_hint};
use super::{kernels, ok, per_device, u32_of, Buffer, Device};
use crate::ops::{Gather, Kernels};

/// Columns whose values are brought back together (see the module's documentation).
pub(super) struct ReadGroup<D: Device> {
    members: Mutex<Vec<Member<D>>>,
    fetched: Mutex<Fetched>,
    samples: Mutex<Samples>,
    /// A batch of samples came back (or failed): its waiters look again.
    sampled: Condvar,
}

struct Member<D: Device> {
    buffer: Arc<Buffer<D>>,
    len: usize,
    words: usize,
}

#[derive(Default)]
struct Fetched {
    /// Values fetched and not yet taken, by member.
    pending: HashMap<usize, Vec<Batch>>,
    /// The last hint a fetch took in: the next one maps only those after it.
    last_hint: u64,
    /// Small members already fetched whole.
    whole: HashSet<usize>,
}

#[derive(Default)]
struct Samples {
    /// Values evaluated and not yet taken, by member and point.
    values: HashMap<(usize, [u32; 8]), SecureField>,
    /// Batches launched and not yet back, by members' length and point.
    in_flight: HashSet<(usize, [u32; 8])>,
}

/// Samples a group keeps for members that have not asked yet, before it starts over.
const MAX_SAMPLES: usize = 1 << 12;

/// The groups of one device that the decommitment reads, so that one fetch serves them all.
struct Registry<D: Device> {
    groups: Mutex<Vec<Weak<ReadGroup<D>>>>,
    /// One fetch at a time: each takes in the hints after its groups' last ones.
    fetching: Mutex<()>,
}

fn registry<D: Device>() -> Arc<Registry<D>> {
    per_device::<D, Registry<D>>(|| Registry {
        groups: Mutex::new(Vec::new()),
        fetching: Mutex::new(()),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One member's rows in a fetch, and where its values start in the transfer.
struct Planned<D: Device> {
    member: usize,
    rows: Arc<[u32]>,
    buffer: Arc<Buffer<D>>,
    words: usize,
}

impl<D: Device> ReadGroup<D> {
    /// A group for out-of-domain samples, or for reads that only its own members share.
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            members: Mutex::new(Vec::new()),
            // Hints from before the group are an earlier proof's queries: a tree's first read,
            // its root at the commitment, fetched every row they pointed at for every member
            // (most of a proof's downloaded bytes) and served no read.
            fetched: Mutex::new(Fetched {
                last_hint: newest_hint(),
                ..Fetched::default()
            }),
            samples: Mutex::new(Samples::default()),
            sampled: Condvar::new(),
        })
    }

    /// A group the decommitment reads: its fetches bring the rows of every such group of the
    /// device, and theirs its own.
    pub(super) fn decommitted() -> Arc<Self> {
        let group = Self::new();
        let registry = registry::<D>();
        let mut groups = lock(&registry.groups);
        groups.retain(|g| g.strong_count() > 0);
        groups.push(Arc::downgrade(&group));
        group
    }

    /// Adds a column of `len` values `words` wide over `buffer`; its index in the group.
    pub(super) fn join(&self, buffer: Arc<Buffer<D>>, len: usize, words: usize) -> usize {
        assert!(words <= 8, "a value of {words} words");
        let mut members = lock(&self.members);
        members.push(Member { buffer, len, words });
        members.len() - 1
    }

    /// `member` (2^log_n coefficients) at `point`: evaluated with every member of its size
    /// unless an earlier batch did.
    pub(super) fn sample(
        &self,
        member: usize,
        log_n: u32,
        point: CirclePoint<SecureField>,
    ) -> crate::Result<SecureField> {
        let point_words = crate::ops::point_words(point);
        let len = lock(&self.members)[member].len;
        let batch_key = (len, point_words);
        let mut samples = lock(&self.samples);
        loop {
            if let Some(value) = samples.values.remove(&(member, point_words)) {
                return Ok(value);
            }
            if !samples.in_flight.contains(&batch_key) {
                break;
            }
            samples = self
                .sampled
                .wait(samples)
                .unwrap_or_else(PoisonError::into_inner);
        }
        samples.in_flight.insert(batch_key);
        drop(samples);
        // Whatever happens next, the batch's waiters are woken: they find their values, or
        // evaluate them themselves.
        let landing = Landing {
            group: self,
            key: batch_key,
        };
        let kernels = kernels::<D>();
        let (same, partials) = {
            let members = lock(&self.members);
            let same: Vec<usize> = (0..members.len())
                .filter(|&m| members[m].len == len && members[m].words == 1)
                .collect();
            let factors = kernels.upload(&crate::ops::point_factors(log_n, point))?;
            let buffers: Vec<&Buffer<D>> = same.iter().map(|&m| &*members[m].buffer).collect();
            let partials = crate::ops::eval_many_launch(kernels, &buffers, log_n, &factors)?;
            (same, partials)
        };
        let values = super::sample::sampler::<D>().values(partials, same.len())?;
        let mut samples = landing.land();
        // Samples of a group kept between proofs (the preprocessed tree's) at earlier points.
        if samples.values.len() > MAX_SAMPLES {
            samples.values.clear();
        }
        let mut mine = None;
        for (m, value) in same.into_iter().zip(values) {
            if m == member {
                mine = Some(value);
            } else {
                samples.values.insert((m, point_words), value);
            }
        }
        Ok(mine.expect("a member is of its own size"))
    }

    /// The values fetched for `member`, taken out of the group.
    pub(super) fn take(&self, member: usize) -> Option<Vec<Batch>> {
        lock(&self.fetched).pending.remove(&member)
    }

    /// Fetches, in one transfer, `row` of `member` and the rows that the hints since each
    /// group's last fetch point at, for every member of this group and (if the decommitment
    /// reads it) of every other group the decommitment reads; a small member whole, once (and
    /// whole whenever it asks). A row no hint points at becomes one first, so that the transfer
    /// brings it for every member. Nothing is fetched if, once the fetches before it are done,
    /// the row waits in the group or `has_row` (the reading column's own values) says it holds
    /// it.
    pub(super) fn fetch(self: &Arc<Self>, member: usize, row: usize, has_row: impl Fn() -> bool) {
        let registry = registry::<D>();
        let _one_at_a_time = lock(&registry.fetching);
        // Another thread's fetch, which this one waited for, may have brought the row.
        let brought = |batches: &Vec<Batch>| batches.iter().any(|b| b.find(u32_of(row)).is_some());
        if has_row()
            || lock(&self.fetched)
                .pending
                .get(&member)
                .is_some_and(brought)
        {
            return;
        }
        self.hint_unless_predicted(member, row);
        let upto = newest_hint();
        let mut groups = vec![self.clone()];
        {
            let registered = lock(&registry.groups);
            if registered.iter().any(|g| g.as_ptr() == Arc::as_ptr(self)) {
                groups.extend(
                    registered
                        .iter()
                        .filter_map(Weak::upgrade)
                        .filter(|g| !Arc::ptr_eq(g, self)),
                );
            }
        }
        let plans: Vec<Vec<Planned<D>>> = groups
            .iter()
            .enumerate()
            .map(|(k, g)| g.plan((k == 0).then_some((member, row)), upto))
            .collect();
        let total: usize = plans.iter().flatten().map(|p| p.rows.len() * p.words).sum();
        let kernels = kernels::<D>();
        let mut out = ok(kernels.alloc(total));
        let mut start = 0;
        let gathers: Vec<Gather<'_, Buffer<D>>> = plans
            .iter()
            .flatten()
            .map(|p| {
                let gather = Gather {
                    src: &*p.buffer,
                    rows: &p.rows,
                    words: p.words as u32,
                    out_start: start,
                };
                start += p.rows.len() * p.words;
                gather
            })
            .collect();
        // One launch for every group (never empty: the asked row is in this group's plan): a
        // launch and an upload per member made a 2^20-step proof's decommitment cost about 15
        // ms on an H100.
        ok(kernels.gather_many(&gathers, &mut out));
        drop(gathers);
        let words: Arc<[u32]> = ok(kernels.download(&out)).into();
        let mut start = 0;
        for (group, plans) in groups.iter().zip(plans) {
            let mut fetched = lock(&group.fetched);
            for p in plans {
                let n = p.rows.len();
                let pending = fetched.pending.entry(p.member).or_default();
                // A group no proof reads any more (a cached tree of another program) would
                // otherwise collect a batch per fetch.
                if pending.len() >= MAX_BATCHES {
                    pending.clear();
                }
                pending.push(Batch {
                    rows: p.rows,
                    words: words.clone(),
                    start,
                    width: p.words,
                });
                start += n * p.words;
            }
        }
    }

    /// Makes `row` of `member` a hint unless the hints the group has not taken in yet point
    /// at it.
    fn hint_unless_predicted(&self, member: usize, row: usize) {
        let (len, words) = {
            let members = lock(&self.members);
            (members[member].len, members[member].words)
        };
        if len * words <= WHOLE_READ_WORDS || !len.is_power_of_two() {
            return;
        }
        let log = len.ilog2();
        let since = lock(&self.fetched).last_hint;
        if hinted_rows_between(log, since, u64::MAX)
            .binary_search(&u32_of(row))
            .is_err()
        {
            hint(log, row);
        }
    }

    /// What a fetch brings for this group: each member's rows that the hints numbered after the
    /// last fetch's and up to `upto` point at (and `row` of `member` where given); those hints
    /// are then taken in.
    fn plan(&self, asked: Option<(usize, usize)>, upto: u64) -> Vec<Planned<D>> {
        let members = lock(&self.members);
        let mut fetched = lock(&self.fetched);
        let since = fetched.last_hint;
        let mut hinted: HashMap<u32, Arc<[u32]>> = HashMap::new();
        let mut plans = Vec::new();
        for (m, c) in members.iter().enumerate() {
            let asks = asked.is_some_and(|(member, _)| member == m);
            let mut rows: Arc<[u32]> = if c.len * c.words <= WHOLE_READ_WORDS {
                // Whole once, and whole whenever it asks again (a clone of it read first).
                if fetched.whole.insert(m) || asks {
                    (0..u32_of(c.len)).collect()
                } else {
                    Arc::new([])
                }
            } else if c.len.is_power_of_two() {
                let log = c.len.ilog2();
                hinted
                    .entry(log)
                    .or_insert_with(|| hinted_rows_between(log, since, upto).into())
                    .clone()
            } else {
                Arc::new([])
            };
            if let Some((_, row)) = asked.filter(|&(member, _)| member == m) {
                if let Err(at) = rows.binary_search(&u32_of(row)) {
                    let mut with_row = rows.to_vec();
                    with_row.insert(at, u32_of(row));
                    rows = with_row.into();
                }
            }
            if !rows.is_empty() {
                plans.push(Planned {
                    member: m,
                    rows,
                    buffer: c.buffer.clone(),
                    words: c.words,
                });
            }
        }
        fetched.last_hint = since.max(upto);
        plans
    }
}

/// A batch of samples in flight; [`Landing::land`] (or a panic) ends it and wakes its waiters.
struct Landing<'a, D: Device> {
    group: &'a ReadGroup<D>,
    key: (usize, [u32; 8]),
}

impl<'a, D: Device> Landing<'a, D> {
    /// The group's samples, with the batch no longer in flight: the caller stores its values
    /// before the lock goes and the waiters look.
    fn land(self) -> MutexGuard<'a, Samples> {
        let group = self.group;
        let key = self.key;
        std::mem::forget(self);
        let mut samples = lock(&group.samples);
        samples.in_flight.remove(&key);
        group.sampled.notify_all();
        samples
    }
}

impl<D: Device> Drop for Landing<'_, D> {
    fn drop(&mut self) {
        lock(&self.group.samples).in_flight.remove(&self.key);
        self.group.sampled.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use stwo::core::circle::SECURE_FIELD_CIRCLE_GEN;
    use stwo::core::fields::m31::BaseField;

    use crate::backend::{DeviceColumn, Emulated};

    type Col = DeviceColumn<Emulated, BaseField>;

    /// Members of one group sampled from several threads at once, at two points: whoever asks
    /// while its batch is in flight waits for it, and every value is the member's own.
    #[test]
    fn samples_asked_at_once_are_each_members_own() {
        const LOG: u32 = 12;
        let columns: Vec<Col> = (0..6u32)
            .map(|k| {
                let values: Vec<BaseField> = (0..1u32 << LOG)
                    .map(|i| BaseField::from(i.wrapping_mul(2654435761) ^ k))
                    .collect();
                Col::from_values(&values)
            })
            .collect();
        Col::group(&columns.iter().collect::<Vec<_>>());
        let points = [
            SECURE_FIELD_CIRCLE_GEN.mul(777),
            SECURE_FIELD_CIRCLE_GEN.mul(31337),
        ];
        let single = |c: &Col, k: usize| {
            crate::ops::eval_at_point(
                crate::backend::kernels::<Emulated>(),
                c.buffer(),
                LOG,
                points[k],
            )
            .unwrap()
        };
        std::thread::scope(|scope| {
            let asks: Vec<_> = (0..2 * columns.len())
                .map(|i| {
                    let (c, k) = (&columns[i % columns.len()], i % 2);
                    scope.spawn(move || (c, k, c.sample(LOG, points[k])))
                })
                .collect();
            for ask in asks {
                let (c, k, got) = ask.join().unwrap();
                assert_eq!(got, Some(single(c, k)));
            }
        });
    }
}
