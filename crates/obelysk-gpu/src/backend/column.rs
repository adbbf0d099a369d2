//! Device columns: stwo's `Column` over a device buffer of 32-bit words.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::OnceLock;

use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::utils::bit_reverse;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::prover::backend::{Column, ColumnOps};

use super::{kernels, ok, Buffer, Device, DeviceBackend};
use crate::ops::Kernels;

/// A value a device column holds, as `WORDS` 32-bit words.
pub trait Element: Copy + Debug + Send + Sync + 'static {
    const WORDS: usize;
    fn push_words(&self, out: &mut Vec<u32>);
    fn from_words(words: &[u32]) -> Self;
}

impl Element for BaseField {
    const WORDS: usize = 1;
    fn push_words(&self, out: &mut Vec<u32>) {
        out.push(self.0);
    }
    fn from_words(words: &[u32]) -> Self {
        BaseField::from_u32_unchecked(words[0])
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

/// `len` values of `T` on device `D`. Single values are read through a host copy of the whole
/// column, made on the first read and dropped on any write: stwo reads queried values one by
/// one (`Column::at`), many per column.
pub struct DeviceColumn<D: Device, T> {
    buffer: Buffer<D>,
    len: usize,
    host: OnceLock<Vec<u32>>,
    _values: PhantomData<T>,
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
            host: OnceLock::new(),
            _values: PhantomData,
        }
    }

    /// A column of `len` values whose contents a kernel must write before they are read.
    pub fn alloc(len: usize) -> Self {
        // The drivers refuse empty allocations; an empty column keeps one unused word.
        Self::from_buffer(ok(kernels::<D>().alloc((len * T::WORDS).max(1))), len)
    }

    pub fn buffer(&self) -> &Buffer<D> {
        &self.buffer
    }

    /// The buffer, for a kernel to write; the host copy is dropped.
    pub fn buffer_mut(&mut self) -> &mut Buffer<D> {
        self.host = OnceLock::new();
        &mut self.buffer
    }

    pub fn into_buffer(self) -> Buffer<D> {
        self.buffer
    }

    /// Words `[start, start + n)` copied into a new column of `n / T::WORDS` values.
    pub fn slice(&self, start: usize, n: usize) -> Self {
        let mut out = Self::alloc(n / T::WORDS);
        if n > 0 {
            ok(kernels::<D>().copy_range(
                &self.buffer,
                start as u32,
                out.buffer_mut(),
                0,
                n as u32,
            ));
        }
        out
    }

    fn words(&self) -> &[u32] {
        self.host
            .get_or_init(|| ok(kernels::<D>().download(&self.buffer)))
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
        let mut words = Vec::new();
        let mut len = 0;
        for value in iter {
            value.push_words(&mut words);
            len += 1;
        }
        if words.is_empty() {
            words.push(0);
        }
        Self::from_buffer(ok(kernels::<D>().upload(&words)), len)
    }
}

impl<D: Device, T: Element> Column<T> for DeviceColumn<D, T> {
    fn zeros(len: usize) -> Self {
        let mut column = Self::alloc(len);
        let n = (len * T::WORDS).max(1) as u32;
        ok(kernels::<D>().zero_from(column.buffer_mut(), 0, n, 1));
        column
    }

    unsafe fn uninitialized(len: usize) -> Self {
        Self::alloc(len)
    }

    fn to_cpu(&self) -> Vec<T> {
        let words = match self.host.get() {
            Some(words) => words.clone(),
            None => ok(kernels::<D>().download(&self.buffer)),
        };
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
        T::from_words(&self.words()[index * T::WORDS..][..T::WORDS])
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
            (index * T::WORDS) as u32,
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

    fn bit_reverse_column(_column: &mut Self::Column) {
        unimplemented!("stwo never bit-reverses a column of hashes")
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
