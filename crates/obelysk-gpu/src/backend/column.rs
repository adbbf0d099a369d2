//! Device columns: stwo's `Column` over a device buffer of 32-bit words.

use std::borrow::Cow;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use stwo::core::circle::CirclePoint;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::utils::bit_reverse;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::prover::backend::{Column, ColumnOps};

use super::group::ReadGroup;
use super::hints::{hint, hinted_rows};
use super::{kernels, ok, u32_of, Buffer, Device, DeviceBackend};
use crate::ops::Kernels;

/// A value a device column holds, as `WORDS` 32-bit words.
pub trait Element: Copy + Debug + Send + Sync + 'static {
    const WORDS: usize;
    fn push_words(&self, out: &mut Vec<u32>);
    fn from_words(words: &[u32]) -> Self;
    /// `values` as the words a device column holds.
    fn as_words(values: &[Self]) -> Cow<'_, [u32]> {
        let mut words = Vec::with_capacity(values.len() * Self::WORDS);
        for value in values {
            value.push_words(&mut words);
        }
        Cow::Owned(words)
    }
}

impl Element for BaseField {
    const WORDS: usize = 1;
    fn push_words(&self, out: &mut Vec<u32>) {
        out.push(self.0);
    }
    fn from_words(words: &[u32]) -> Self {
        BaseField::from_u32_unchecked(words[0])
    }
    fn as_words(values: &[Self]) -> Cow<'_, [u32]> {
        Cow::Borrowed(bytemuck::cast_slice(values))
    }
}

/// A Blake2s hash is its 32 bytes read as eight little-endian words, as the kernels write them.
impl Element for Blake2sHash {
    const WORDS: usize = 8;
    fn push_words(&self, out: &mut Vec<u32>) {
        out.extend(
            self.0
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    fn from_words(words: &[u32]) -> Self {
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Blake2sHash(bytes)
    }
}

/// `len` values of `T` on device `D`.
///
/// stwo reads decommitted values one by one (`Column::at`): every queried row of every column
/// of a tree, then of every Merkle layer and FRI layer. One transfer per value would cost more
/// than the whole proof, so reads go through [`READ_HINTS`]: the rows recently read from any
/// column. A read the column has not served fetches, in one gather, the rows those hints map to
/// at its length that it has not read yet (queries are the same for every column of a tree, and
/// the same positions folded down for the smaller ones and for the layers); a row the hints did
/// not predict becomes a hint. Reads are kept until the column is written (or too many pile up
/// on a column kept between proofs).
///
/// Columns read together (a tree's columns, a Merkle tree's layers, a FRI layer's coordinates)
/// form a [`ReadGroup`]: a read fetches the rows the new hints point at for every member at
/// once, one transfer for the whole tree. The buffer is shared with the group; a write goes to
/// a copy.
pub struct DeviceColumn<D: Device, T> {
    buffer: Arc<Buffer<D>>,
    len: usize,
    reads: Mutex<Reads>,
    group: Mutex<Option<(Arc<ReadGroup<D>>, usize)>>,
    /// The layer above this one of a Merkle tree, built with it (`MerkleOpsLifted` builds the
    /// top of a tree in one launch and hands the layers out one at a time).
    above: Mutex<Option<Box<Self>>>,
    value: PhantomData<T>,
}

/// Values fetched for one column in one transfer: its sorted `rows`, and their values `width`
/// words each from `start` in `words`. The rows and words are shared with the other columns of
/// the transfer: inserting every value into a map per column (thousands per tree) cost a
/// 2^20-step proof more host time than the whole decommitment on the CPU.
#[derive(Clone, Debug)]
pub(super) struct Batch {
    pub(super) rows: Arc<[u32]>,
    pub(super) words: Arc<[u32]>,
    pub(super) start: usize,
    pub(super) width: usize,
}

impl Batch {
    pub(super) fn find(&self, row: u32) -> Option<&[u32]> {
        let i = self.rows.binary_search(&row).ok()?;
        Some(&self.words[self.start + i * self.width..][..self.width])
    }
}

/// A column's fetched values, newest batch last.
#[derive(Clone, Debug, Default)]
struct Reads {
    batches: Vec<Batch>,
    values: usize,
}

impl Reads {
    fn get<T: Element>(&self, row: usize) -> Option<T> {
        let row = u32::try_from(row).ok()?;
        self.batches
            .iter()
            .rev()
            .find_map(|b| b.find(row))
            .map(T::from_words)
    }

    /// Every value of a column of `len`, if one batch holds them all.
    fn whole<T: Element>(&self, len: usize) -> Option<Vec<T>> {
        let batch = self.batches.iter().rev().find(|b| b.rows.len() == len)?;
        let words = &batch.words[batch.start..][..len * batch.width];
        Some(words.chunks_exact(batch.width).map(T::from_words).collect())
    }

    fn contains(&self, row: u32) -> bool {
        self.batches.iter().any(|b| b.find(row).is_some())
    }

    /// A column kept between proofs (the preprocessed tree's) would otherwise collect every
    /// proof's queries, and a read that misses searches every batch: past [`MAX_READS`] values
    /// or [`MAX_BATCHES`] batches it starts over.
    fn add(&mut self, batch: Batch) {
        if self.values + batch.rows.len() > MAX_READS || self.batches.len() >= MAX_BATCHES {
            self.clear();
        }
        self.values += batch.rows.len();
        self.batches.push(batch);
    }

    fn clear(&mut self) {
        self.batches.clear();
        self.values = 0;
    }

    fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

/// Columns up to this many words are read whole on their first read: one transfer instead of
/// the gather's four.
pub(super) const WHOLE_READ_WORDS: usize = 1 << 14;
/// Batches a column keeps from reads before it starts over (a proof brings a few per column).
pub(super) const MAX_BATCHES: usize = 32;
/// Values a column keeps from reads before it starts over.
const MAX_READS: usize = 1 << 16;

impl<D: Device, T: Element> DeviceColumn<D, T> {
    /// A column of `len` values over `buffer`, which holds at least `len · T::WORDS` words.
    pub fn from_buffer(buffer: Buffer<D>, len: usize) -> Self {
        assert!(
            kernels::<D>().len(&buffer) >= len * T::WORDS,
            "a buffer too short for {len} values"
        );
        Self {
            buffer: Arc::new(buffer),
            len,
            reads: Mutex::new(Reads::default()),
            group: Mutex::new(None),
            above: Mutex::new(None),
            value: PhantomData,
        }
    }

    /// Makes `columns` one [`ReadGroup`], in place of any group they were in: their reads and
    /// out-of-domain samples are brought back together.
    pub fn group(columns: &[&Self]) {
        let group = ReadGroup::new();
        for column in columns {
            column.enter(&group);
        }
    }

    /// [`Self::group`] for columns the decommitment reads (a tree's, a FRI layer's): their
    /// reads are also fetched with those of every other such group of the device.
    pub fn group_for_decommitment(columns: &[&Self]) {
        let group = ReadGroup::decommitted();
        for column in columns {
            column.enter(&group);
        }
    }

    fn enter(&self, group: &Arc<ReadGroup<D>>) {
        let member = group.join(self.buffer.clone(), self.len, T::WORDS);
        *self.group.lock().unwrap_or_else(PoisonError::into_inner) = Some((group.clone(), member));
    }

    fn in_a_group(&self) -> bool {
        self.group
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Whether `columns` are all members of one [`ReadGroup`].
    pub fn in_one_group(columns: &[&Self]) -> bool {
        let group_of = |c: &Self| {
            c.group
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|(group, _)| group.clone())
        };
        let Some(first) = columns.first().and_then(|c| group_of(c)) else {
            return false;
        };
        columns[1..]
            .iter()
            .all(|c| group_of(c).is_some_and(|g| Arc::ptr_eq(&g, &first)))
    }

    /// `PolyOps::eval_at_point` of this column's 2^log_n coefficients, batched with the other
    /// members of its group (see [`ReadGroup`]); `None` for a column with no group.
    pub fn sample(&self, log_n: u32, point: CirclePoint<SecureField>) -> Option<SecureField> {
        let (group, member) = self
            .group
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        Some(ok(group.sample(member, log_n, point)))
    }

    /// Adds this column to the group of `other` (a Merkle layer to the layers below it), if it
    /// has one.
    pub fn join_group_of<U: Element>(&self, other: &DeviceColumn<D, U>) {
        let group = other
            .group
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((group, _)) = group {
            self.enter(&group);
        }
    }

    /// `values`, uploaded. A small column keeps them as read: the host values FRI's last folds
    /// make come back from the host copy, not in a transfer each.
    pub fn from_values(values: &[T]) -> Self {
        let words = T::as_words(values);
        let buffer = if words.is_empty() {
            ok(kernels::<D>().upload(&[0]))
        } else {
            ok(kernels::<D>().upload(&words))
        };
        let column = Self::from_buffer(buffer, values.len());
        if !words.is_empty() && words.len() <= WHOLE_READ_WORDS {
            column.reads().add(Batch {
                rows: (0..u32_of(values.len())).collect(),
                words: words.into_owned().into(),
                start: 0,
                width: T::WORDS,
            });
        }
        column
    }

    /// A column of `len` values whose contents a kernel must write before they are read.
    pub fn alloc(len: usize) -> Self {
        // The drivers refuse empty allocations; an empty column keeps one unused word.
        Self::from_buffer(ok(kernels::<D>().alloc((len * T::WORDS).max(1))), len)
    }

    pub fn buffer(&self) -> &Buffer<D> {
        &self.buffer
    }

    /// The buffer, for a kernel to write; values read before are forgotten, and the column
    /// leaves its group (which keeps the values it had, for its other members).
    pub fn buffer_mut(&mut self) -> &mut Buffer<D> {
        self.reads
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self.group.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        *self.above.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        if Arc::get_mut(&mut self.buffer).is_none() {
            let kernels = kernels::<D>();
            let n = kernels.len(&self.buffer);
            let mut copy = ok(kernels.alloc(n));
            ok(kernels.copy_range(&self.buffer, 0, &mut copy, 0, u32_of(n)));
            self.buffer = Arc::new(copy);
        }
        Arc::get_mut(&mut self.buffer).expect("a buffer no group shares")
    }

    /// Keeps `above` as the layer built on this one (see [`Self::take_above`]).
    pub fn set_above(&self, above: Self) {
        *self.above.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(above));
    }

    /// The layer built on this one, if it was built with it and this column has not been
    /// written since.
    pub fn take_above(&self) -> Option<Self> {
        self.above
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(|above| *above)
    }

    /// Values read so far. A panic elsewhere while the lock was held leaves them correct, so a
    /// poisoned lock is used as it is.
    fn reads(&self) -> MutexGuard<'_, Reads> {
        self.reads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Words `[start, start + n)` copied into a new column of `n / T::WORDS` values.
    pub fn slice(&self, start: usize, n: usize) -> Self {
        let mut out = Self::alloc(n / T::WORDS);
        if n > 0 {
            ok(kernels::<D>().copy_range(
                &self.buffer,
                u32_of(start),
                out.buffer_mut(),
                0,
                u32_of(n),
            ));
        }
        out
    }

    /// `index` through the column's group: from what the group fetched, or from a fetch for
    /// every member (a row no hint points at becomes one first, so that the fetch brings it for
    /// every member). `None` when the column has no group, or lost the row to the cap on kept
    /// values (the caller then fetches it alone).
    fn read_with_group(&self, index: usize) -> Option<T> {
        let (group, member) = self
            .group
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let keep = |taken: Vec<Batch>| {
            let mut reads = self.reads();
            for batch in taken {
                reads.add(batch);
            }
            reads.get::<T>(index)
        };
        if let Some(value) = group.take(member).and_then(keep) {
            return Some(value);
        }
        // Another reader of this column (a clone, a tree shared by concurrent proofs) may
        // have taken the row in while this one waited for the fetch.
        group.fetch(member, index, || self.reads().contains(u32_of(index)));
        group
            .take(member)
            .and_then(keep)
            .or_else(|| self.reads().get(index))
    }

    /// Rows `rows` (each below `len`), fetched in one gather: their values' words.
    fn fetch(&self, rows: &[u32]) -> Vec<u32> {
        let kernels = kernels::<D>();
        let mut out = ok(kernels.alloc((rows.len() * T::WORDS).max(1)));
        ok(kernels.gather(&self.buffer, rows, T::WORDS as u32, &mut out, 0));
        ok(kernels.download(&out))
    }
}

impl<D: Device, T> Debug for DeviceColumn<D, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceColumn")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Copy on write: the clone shares the buffer (and the values read, and the read group) until
/// one of the two is written ([`DeviceColumn::buffer_mut`] copies a shared buffer). stwo clones
/// a column to read it (FRI's last layer, `SecureColumnByCoords::to_cpu`), which was a copy on
/// the device and a transfer per coordinate.
impl<D: Device, T: Element> Clone for DeviceColumn<D, T> {
    fn clone(&self) -> Self {
        Self {
            buffer: self.buffer.clone(),
            len: self.len,
            reads: Mutex::new(self.reads().clone()),
            group: Mutex::new(
                self.group
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            above: Mutex::new(None),
            value: PhantomData,
        }
    }
}

impl<D: Device, T: Element> FromIterator<T> for DeviceColumn<D, T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self::from_values(&iter.into_iter().collect::<Vec<T>>())
    }
}

impl<D: Device, T: Element> Column<T> for DeviceColumn<D, T> {
    fn zeros(len: usize) -> Self {
        let mut column = Self::alloc(len);
        let n = u32_of((len * T::WORDS).max(1));
        ok(kernels::<D>().zero_from(column.buffer_mut(), 0, n, 1));
        column
    }

    unsafe fn uninitialized(len: usize) -> Self {
        Self::alloc(len)
    }

    fn to_cpu(&self) -> Vec<T> {
        if self.len > 0 && self.len * T::WORDS <= WHOLE_READ_WORDS {
            if let Some(values) = self.reads().whole::<T>(self.len) {
                return values;
            }
            // A small grouped column (a late FRI layer, the top of a tree) comes whole with its
            // group's other small members, in one transfer.
            if self.in_a_group() {
                return (0..self.len).map(|i| self.at(i)).collect();
            }
        }
        let words = ok(kernels::<D>().download(&self.buffer));
        words[..self.len * T::WORDS]
            .chunks_exact(T::WORDS)
            .map(T::from_words)
            .collect()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn at(&self, index: usize) -> T {
        assert!(
            index < self.len,
            "index {index} of a column of {}",
            self.len
        );
        let (value, fresh) = {
            let reads = self.reads();
            (reads.get::<T>(index), reads.is_empty())
        };
        if let Some(value) = value {
            return value;
        }
        if let Some(value) = self.read_with_group(index) {
            return value;
        }
        // Device work happens outside the lock: a failure panics (stwo's traits cannot fail),
        // and the values already read stay usable.
        let batch = if fresh && self.len * T::WORDS <= WHOLE_READ_WORDS {
            // A small column (the top of a Merkle tree, a late FRI layer): one download.
            Batch {
                rows: (0..u32_of(self.len)).collect(),
                words: ok(kernels::<D>().download(&self.buffer)).into(),
                start: 0,
                width: T::WORDS,
            }
        } else {
            let log = self.len.is_power_of_two().then(|| self.len.ilog2());
            let mut rows = log.map(hinted_rows).unwrap_or_default();
            {
                let reads = self.reads();
                rows.retain(|&r| !reads.contains(r));
            }
            // A row the hints did not predict becomes one.
            if let Err(at) = rows.binary_search(&u32_of(index)) {
                rows.insert(at, u32_of(index));
                if let Some(log) = log {
                    hint(log, index);
                }
            }
            let words = self.fetch(&rows).into();
            Batch {
                rows: rows.into(),
                words,
                start: 0,
                width: T::WORDS,
            }
        };
        let value = T::from_words(
            batch
                .find(u32_of(index))
                .expect("the fetched rows include the one asked for"),
        );
        self.reads().add(batch);
        value
    }

    fn set(&mut self, index: usize, value: T) {
        assert!(
            index < self.len,
            "index {index} of a column of {}",
            self.len
        );
        let mut words = Vec::with_capacity(T::WORDS);
        value.push_words(&mut words);
        let kernels = kernels::<D>();
        let staged = ok(kernels.upload(&words));
        ok(kernels.copy_range(
            &staged,
            0,
            self.buffer_mut(),
            u32_of(index * T::WORDS),
            T::WORDS as u32,
        ));
    }

    fn split_at_mid(self) -> (Self, Self) {
        let half = self.len / 2;
        let words = half * T::WORDS;
        (self.slice(0, words), self.slice(words, words))
    }
}

impl<D: Device> ColumnOps<BaseField> for DeviceBackend<D> {
    type Column = DeviceColumn<D, BaseField>;

    fn bit_reverse_column(column: &mut Self::Column) {
        let n = column.len();
        assert!(n.is_power_of_two(), "bit reversal of {n} values");
        if n > 1 {
            ok(kernels::<D>().bit_reverse(column.buffer_mut(), n.ilog2()));
        }
    }
}

impl<D: Device> ColumnOps<Blake2sHash> for DeviceBackend<D> {
    type Column = DeviceColumn<D, Blake2sHash>;

    /// stwo's prover never asks for it; on the host, through a copy, since a hash is eight
    /// words and the kernel moves single words.
    fn bit_reverse_column(column: &mut Self::Column) {
        let mut hashes = column.to_cpu();
        bit_reverse(&mut hashes);
        *column = DeviceColumn::from_values(&hashes);
    }
}

/// Secure columns of this type are host vectors: stwo keeps the ones it proves with as four
/// base columns (`SecureColumnByCoords`), and uses these only for barycentric weights and GKR,
/// which run on the host here.
impl<D: Device> ColumnOps<SecureField> for DeviceBackend<D> {
    type Column = Vec<SecureField>;

    fn bit_reverse_column(column: &mut Self::Column) {
        bit_reverse(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Emulated;

    type Col = DeviceColumn<Emulated, BaseField>;

    /// Past `WHOLE_READ_WORDS`, so that reads go through hints and gathers.
    const LOG: u32 = 15;

    fn values(seed: u32) -> Vec<BaseField> {
        (0..1u32 << LOG)
            .map(|i| BaseField::from(i.wrapping_mul(7919) ^ seed))
            .collect()
    }

    #[test]
    fn grouped_reads_return_each_columns_own_values_and_writes_leave_the_group() {
        let (va, vb) = (values(1), values(2));
        let a = Col::from_values(&va);
        let mut b = Col::from_values(&vb);
        Col::group(&[&a, &b]);
        // Row 4242 predicted: the first read fetches it for both members at once.
        hint(LOG, 4242);
        assert_eq!(a.at(4242), va[4242]);
        assert!(
            b.reads().is_empty(),
            "b's values wait in the group until it reads"
        );
        assert_eq!(b.at(4243), vb[4243], "the pair's other row came along");
        // Unpredicted rows are fetched alone, and correctly.
        assert_eq!(b.at(77), vb[77]);
        // A write goes to b's own copy; a keeps reading the buffer it shares with the group.
        b.set(4242, BaseField::from(5));
        assert_eq!(b.at(4242), BaseField::from(5));
        assert_eq!(b.to_cpu()[..4242], vb[..4242]);
        assert_eq!(a.at(4243), va[4243]);
        assert_eq!(a.to_cpu(), va);
    }

    /// The first read after new hints fetches for every group the decommitment reads, and only
    /// for those; the values wait in each group until its members read them.
    #[test]
    fn one_fetch_serves_every_decommitted_group() {
        let (va, vb, vc) = (values(6), values(7), values(8));
        let (a, b, c) = (
            Col::from_values(&va),
            Col::from_values(&vb),
            Col::from_values(&vc),
        );
        Col::group_for_decommitment(&[&a]);
        Col::group_for_decommitment(&[&b]);
        Col::group(&[&c]);
        let waiting = |col: &Col| {
            let (group, member) = col.group.lock().unwrap().clone().unwrap();
            group.take(member)
        };
        hint(LOG, 31337);
        assert_eq!(a.at(31337), va[31337]);
        let fetched = waiting(&b).expect("b's rows came with a's fetch");
        assert!(fetched.iter().any(|batch| batch.find(31336).is_some()));
        assert!(waiting(&c).is_none(), "a group of samples is fetched alone");
        assert_eq!(b.at(31337), vb[31337]);
        assert_eq!(c.at(31337), vc[31337]);
    }

    /// A clone shares the buffer until one of the two is written; the write is the writer's.
    #[test]
    fn clones_share_until_written() {
        let v = values(5);
        let mut a = Col::from_values(&v);
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.buffer, &b.buffer));
        a.set(3, BaseField::from(11));
        assert_eq!(a.at(3), BaseField::from(11));
        assert_eq!(b.at(3), v[3]);
        let mut c = b.clone();
        c.set(4, BaseField::from(12));
        assert_eq!(b.to_cpu(), v);
        assert_eq!(c.at(4), BaseField::from(12));
        // A small column read whole: its clone keeps the values and the group.
        let small = Col::from_values(&v[..8]);
        Col::group(&[&small]);
        let twin = small.clone();
        assert!(twin.in_a_group());
        assert_eq!(twin.to_cpu(), v[..8]);
        // Read through the group: the clone that reads second gets the member whole again.
        let fetched = Col::from_values(&v).slice(0, 8);
        Col::group_for_decommitment(&[&fetched]);
        let second = fetched.clone();
        assert_eq!(fetched.at(5), v[5]);
        assert_eq!(second.to_cpu(), v[..8]);
        assert!(
            second.reads().whole::<BaseField>(8).is_some(),
            "one transfer, not a fetch per row"
        );
    }

    /// A fetch finds a row another fetch brought and fetches nothing; a member that never reads
    /// keeps at most `MAX_BATCHES` batches waiting.
    #[test]
    fn fetches_bring_a_row_once_and_waiting_batches_are_capped() {
        let (va, vb) = (values(9), values(10));
        let (a, b) = (Col::from_values(&va), Col::from_values(&vb));
        Col::group(&[&a, &b]);
        let (group, b_member) = b.group.lock().unwrap().clone().unwrap();
        hint(LOG, 2024);
        assert_eq!(a.at(2024), va[2024]);
        group.fetch(b_member, 2024, || false);
        assert_eq!(group.take(b_member).map(|b| b.len()), Some(1));
        for k in 0..3 * MAX_BATCHES {
            let row = (k * 7919 + 1) % (1 << LOG);
            hint(LOG, row);
            assert_eq!(a.at(row), va[row]);
        }
        let waiting = group.take(b_member).map_or(0, |b| b.len());
        assert!((1..=MAX_BATCHES).contains(&waiting), "{waiting} batches");
        assert_eq!(b.at(2024), vb[2024]);
    }

    /// A column kept between proofs reads in every proof: its batches start over instead of
    /// piling up, and what it reads stays right.
    #[test]
    fn a_column_read_in_many_proofs_keeps_few_batches() {
        let v = values(4);
        let column = Col::from_values(&v);
        for proof in 0..3 * MAX_BATCHES {
            let row = (proof * 7919) % (1 << LOG);
            hint(LOG, row);
            assert_eq!(column.at(row), v[row], "proof {proof}");
            assert!(column.reads().batches.len() <= MAX_BATCHES);
        }
    }

    #[test]
    fn grouped_samples_equal_single_evaluations() {
        use stwo::core::circle::SECURE_FIELD_CIRCLE_GEN;
        let columns: Vec<Col> = (0..3).map(|k| Col::from_values(&values(k))).collect();
        let short = Col::from_values(&values(9)[..1 << 10]);
        let mut members: Vec<&Col> = columns.iter().collect();
        members.push(&short);
        Col::group(&members);
        let point = SECURE_FIELD_CIRCLE_GEN.mul(12345);
        let single = |c: &Col, log| {
            crate::ops::eval_at_point(kernels::<Emulated>(), c.buffer(), log, point).unwrap()
        };
        // The second column's sample comes from the batch the first one's started.
        for c in columns.iter().rev() {
            assert_eq!(c.sample(LOG, point), Some(single(c, LOG)));
        }
        assert_eq!(short.sample(10, point), Some(single(&short, 10)));
        let loner = Col::from_values(&values(3));
        assert_eq!(loner.sample(LOG, point), None, "a column with no group");
    }
}
