//! Device columns: stwo's `Column` over a device buffer of 32-bit words.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard, PoisonError};

use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::utils::bit_reverse;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::prover::backend::{Column, ColumnOps};

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
pub struct DeviceColumn<D: Device, T> {
    buffer: Buffer<D>,
    len: usize,
    reads: Mutex<HashMap<usize, T>>,
}

/// Recent reads as (log2 of the column's length, row), oldest first.
static READ_HINTS: Mutex<VecDeque<(u32, u32)>> = Mutex::new(VecDeque::new());
/// Hints kept: a few proofs' worth of queries.
const MAX_READ_HINTS: usize = 2048;
/// Columns up to this many words are read whole on their first read: one transfer instead of
/// the gather's four.
const WHOLE_READ_WORDS: usize = 1 << 14;
/// Values a column keeps from reads before it starts over.
const MAX_READS: usize = 1 << 16;

/// The rows of a column of 2^log values that the hints point at: a hint at row `i` of a column
/// 2^k times longer maps to the pair containing `i >> k`, which is where both stwo's lift and a
/// Merkle path read.
fn hinted_rows(log: u32) -> Vec<u32> {
    let hints = READ_HINTS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut rows: Vec<u32> = hints
        .iter()
        .filter(|&&(l, _)| l >= log)
        .flat_map(|&(l, i)| {
            let pair = (i >> (l - log + 1)) << 1;
            [pair, pair | 1]
        })
        .filter(|&r| (r as usize) < (1usize << log))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

fn hint(log: u32, row: usize) {
    let mut hints = READ_HINTS.lock().unwrap_or_else(PoisonError::into_inner);
    if hints.len() == MAX_READ_HINTS {
        hints.pop_front();
    }
    hints.push_back((log, u32_of(row)));
}

impl<D: Device, T: Element> DeviceColumn<D, T> {
    /// A column of `len` values over `buffer`, which holds at least `len · T::WORDS` words.
    pub fn from_buffer(buffer: Buffer<D>, len: usize) -> Self {
        assert!(
            kernels::<D>().len(&buffer) >= len * T::WORDS,
            "a buffer too short for {len} values"
        );
        Self {
            buffer,
            len,
            reads: Mutex::new(HashMap::new()),
        }
    }

    /// `values`, uploaded.
    pub fn from_values(values: &[T]) -> Self {
        let words = T::as_words(values);
        let buffer = if words.is_empty() {
            ok(kernels::<D>().upload(&[0]))
        } else {
            ok(kernels::<D>().upload(&words))
        };
        Self::from_buffer(buffer, values.len())
    }

    /// A column of `len` values whose contents a kernel must write before they are read.
    pub fn alloc(len: usize) -> Self {
        // The drivers refuse empty allocations; an empty column keeps one unused word.
        Self::from_buffer(ok(kernels::<D>().alloc((len * T::WORDS).max(1))), len)
    }

    pub fn buffer(&self) -> &Buffer<D> {
        &self.buffer
    }

    /// The buffer, for a kernel to write; values read before are forgotten.
    pub fn buffer_mut(&mut self) -> &mut Buffer<D> {
        self.reads
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        &mut self.buffer
    }

    /// Values read so far. A panic elsewhere while the lock was held leaves them correct, so a
    /// poisoned lock is used as it is.
    fn reads(&self) -> MutexGuard<'_, HashMap<usize, T>> {
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

    /// Rows `rows` (each below `len`), fetched in one gather.
    fn fetch(&self, rows: &[u32]) -> Vec<T> {
        let kernels = kernels::<D>();
        let n = rows.len();
        let mut out = ok(kernels.alloc(n * T::WORDS));
        ok(kernels.gather(&self.buffer, rows, T::WORDS as u32, &mut out));
        ok(kernels.download(&out))
            .chunks_exact(T::WORDS)
            .take(n)
            .map(T::from_words)
            .collect()
    }
}

impl<D: Device, T> Debug for DeviceColumn<D, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceColumn")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<D: Device, T: Element> Clone for DeviceColumn<D, T> {
    fn clone(&self) -> Self {
        self.slice(0, self.len * T::WORDS)
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
            (reads.get(&index).copied(), reads.is_empty())
        };
        if let Some(value) = value {
            return value;
        }
        // Device work happens outside the lock: a failure panics (stwo's traits cannot fail),
        // and the values already read stay usable.
        let fetched: Vec<(usize, T)> = if fresh && self.len * T::WORDS <= WHOLE_READ_WORDS {
            // A small column (the top of a Merkle tree, a late FRI layer): one download.
            let words = ok(kernels::<D>().download(&self.buffer));
            words
                .chunks_exact(T::WORDS)
                .take(self.len)
                .map(T::from_words)
                .enumerate()
                .collect()
        } else {
            let log = self.len.is_power_of_two().then(|| self.len.ilog2());
            let mut rows = log.map(hinted_rows).unwrap_or_default();
            {
                let reads = self.reads();
                rows.retain(|r| !reads.contains_key(&(*r as usize)));
            }
            // A row the hints did not predict becomes one.
            if rows.binary_search(&u32_of(index)).is_err() {
                rows.push(u32_of(index));
                if let Some(log) = log {
                    hint(log, index);
                }
            }
            rows.iter()
                .map(|&r| r as usize)
                .zip(self.fetch(&rows))
                .collect()
        };
        let value = fetched
            .iter()
            .find(|(row, _)| *row == index)
            .map(|(_, v)| *v)
            .expect("the fetched rows include the one asked for");
        let mut reads = self.reads();
        // A column kept between proofs (the preprocessed tree) would otherwise collect every
        // proof's queries.
        if reads.len() + fetched.len() > MAX_READS {
            reads.clear();
        }
        reads.extend(fetched);
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
