//! Sixteen lanes of M31 and QM31 arithmetic, inlined into the caller.
//!
//! stwo's packed field types do the same arithmetic, but their operations are ordinary functions
//! of another crate: without cross-crate LTO every QM31 product in our constraint loop was a call
//! that passed 256-byte operands through memory, and that was most of the loop's time. These are
//! written with portable SIMD (the multiplication is stwo's AVX-512 algorithm, which LLVM lowers
//! to the same instructions) and marked `#[inline(always)]`.
//!
//! Values are kept in `[0, P]` (zero may appear as `P`) and made canonical by
//! [`PackedM31::reduce_simd`] when they go back into stwo's types, so results equal stwo's bit for
//! bit.

use std::ops::{Add, AddAssign, Mul, Neg, Sub};
use std::simd::cmp::SimdOrd;
use std::simd::{simd_swizzle, u32x16, u64x8, ToBytes};

use stwo::core::fields::m31::{BaseField, P};
use stwo::core::fields::qm31::SecureField;
use stwo::core::fields::FieldExpOps;
use stwo::prover::backend::simd::m31::PackedM31;
use stwo::prover::backend::simd::qm31::PackedQM31;

const MODULUS: u32x16 = u32x16::from_array([P; 16]);

/// Sixteen M31 values in `[0, P]`.
#[derive(Clone, Copy, Debug)]
pub struct Base(u32x16);

impl Base {
    #[inline(always)]
    pub fn splat(value: BaseField) -> Self {
        Self(u32x16::splat(value.0))
    }

    #[inline(always)]
    pub fn from_packed(value: PackedM31) -> Self {
        Self(value.into_simd())
    }

    /// Canonical values as stwo's packed type.
    #[inline(always)]
    pub fn into_packed(self) -> PackedM31 {
        PackedM31::reduce_simd(self.0)
    }

    #[inline(always)]
    fn reduce_sum(sum: u32x16) -> u32x16 {
        sum.simd_min(sum - MODULUS)
    }
}

impl From<BaseField> for Base {
    #[inline(always)]
    fn from(value: BaseField) -> Self {
        Self::splat(value)
    }
}

impl Mul<BaseField> for Base {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: BaseField) -> Self {
        self * Self::splat(rhs)
    }
}

impl Add for Base {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        Self(Self::reduce_sum(self.0 + rhs.0))
    }
}

impl Sub for Base {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        let diff = self.0 - rhs.0;
        Self(diff.simd_min(diff + MODULUS))
    }
}

impl Neg for Base {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self(MODULUS - self.0)
    }
}

impl Mul for Base {
    type Output = Self;
    /// `a·2b` as 64-bit products of the even and of the odd lanes: the low word of each, halved,
    /// is `ab mod 2^31` and the high word is `ab >> 31`; their sum is `ab mod P` up to one
    /// subtraction.
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        const LOW: u64x8 = u64x8::from_array([0xFFFF_FFFF; 8]);
        // Little-endian on both sides: lane 2k is the low half of 64-bit lane k on any target.
        let wide = |v: u32x16| u64x8::from_le_bytes(v.to_le_bytes());
        let narrow = |v: u64x8| u32x16::from_le_bytes(v.to_le_bytes());
        let (a, b_doubled) = (wide(self.0), wide(rhs.0 + rhs.0));
        let even = narrow((a & LOW) * (b_doubled & LOW));
        let odd = narrow((a >> 32) * (b_doubled >> 32));
        let low = simd_swizzle!(
            even,
            odd,
            [0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30]
        ) >> 1;
        let high = simd_swizzle!(
            even,
            odd,
            [1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31]
        );
        Self(Self::reduce_sum(low + high))
    }
}

/// Sixteen QM31 values as coordinates `[a, b, c, d]`: `(a + bi) + (c + di)u`, `u² = 2 + i`,
/// the layout of `SecureField::from_m31_array`.
#[derive(Clone, Copy, Debug)]
pub struct Ext(pub [Base; 4]);

impl Ext {
    #[inline(always)]
    pub fn zero() -> Self {
        Self([Base(u32x16::splat(0)); 4])
    }

    #[inline(always)]
    pub fn splat(value: SecureField) -> Self {
        Self(value.to_m31_array().map(Base::splat))
    }

    #[inline(always)]
    pub fn from_base(value: Base) -> Self {
        let zero = Base(u32x16::splat(0));
        Self([value, zero, zero, zero])
    }

    #[inline(always)]
    pub fn mul_base(self, rhs: Base) -> Self {
        Self(self.0.map(|c| c * rhs))
    }

    /// Canonical coordinates as stwo's packed type.
    #[inline(always)]
    pub fn into_packed(self) -> [PackedM31; 4] {
        self.0.map(Base::into_packed)
    }

    /// Inverses of every value of `values` with one field inversion: Montgomery's trick, three
    /// products per value. A zero in some lane makes that lane zero in every output; the LogUp
    /// denominators it serves are random combinations, zero with negligible probability, and a
    /// zero would only make the proof fail to verify.
    pub fn batch_inverse(values: &[Ext]) -> Vec<Ext> {
        let mut prefix = Vec::with_capacity(values.len());
        let mut acc = Ext::one();
        for v in values {
            prefix.push(acc);
            acc = acc * *v;
        }
        let mut inverse = Ext::from_packed(
            PackedQM31::from_packed_m31s(acc.into_packed())
                .inverse()
                .into_packed_m31s(),
        );
        for (v, before) in values.iter().zip(prefix.iter_mut()).rev() {
            let own = inverse * *before;
            inverse = inverse * *v;
            *before = own;
        }
        prefix
    }

    #[inline(always)]
    fn one() -> Self {
        Self::from_base(Base(u32x16::splat(1)))
    }

    #[inline(always)]
    fn from_packed(coordinates: [PackedM31; 4]) -> Self {
        Self(coordinates.map(Base::from_packed))
    }
}

/// `(a + bi)(c + di)` with three products.
#[inline(always)]
fn cm31_mul([a, b]: [Base; 2], [c, d]: [Base; 2]) -> [Base; 2] {
    let ac = a * c;
    let bd = b * d;
    let cross = (a + b) * (c + d);
    [ac - bd, cross - ac - bd]
}

#[inline(always)]
fn cm31_add([a, b]: [Base; 2], [c, d]: [Base; 2]) -> [Base; 2] {
    [a + c, b + d]
}

#[inline(always)]
fn cm31_sub([a, b]: [Base; 2], [c, d]: [Base; 2]) -> [Base; 2] {
    [a - c, b - d]
}

impl Add for Ext {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] + rhs.0[i]))
    }
}

impl AddAssign for Ext {
    #[inline(always)]
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl Sub for Ext {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] - rhs.0[i]))
    }
}

impl Mul for Ext {
    type Output = Self;
    /// Karatsuba over CM31, as stwo's `PackedQM31`: `(x + yu)(z + wu) = xz + (2 + i)yw +
    /// ((x + y)(z + w) − xz − yw)u`.
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        let [a0, a1, b0, b1] = self.0;
        let [c0, c1, d0, d1] = rhs.0;
        let (x, y, z, w) = ([a0, a1], [b0, b1], [c0, c1], [d0, d1]);
        let xz = cm31_mul(x, z);
        let yw = cm31_mul(y, w);
        let cross = cm31_sub(cm31_mul(cm31_add(x, y), cm31_add(z, w)), cm31_add(xz, yw));
        // (2 + i)(p + qi) = (2p − q) + (p + 2q)i.
        let [p, q] = yw;
        let yw_times_u2 = [p + p - q, p + q + q];
        let [r0, r1] = cm31_add(xz, yw_times_u2);
        let [s0, s1] = cross;
        Self([r0, r1, s0, s1])
    }
}

/// Two vectors side by side: the 32 lanes of one vector row of the evaluation loop (stwo's
/// `VeryPackedBaseField` has the same shape). Constraint code runs on it through [`AirField`].
///
/// [`AirField`]: super::AirField
#[derive(Clone, Copy, Debug)]
pub struct Row<T>(pub [T; 2]);

impl<T: Copy> Row<T> {
    #[inline(always)]
    fn zip(self, rhs: Self, f: impl Fn(T, T) -> T) -> Self {
        Self([f(self.0[0], rhs.0[0]), f(self.0[1], rhs.0[1])])
    }
}

impl<T: Add<Output = T> + Copy> Add for Row<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        self.zip(rhs, T::add)
    }
}

impl<T: Sub<Output = T> + Copy> Sub for Row<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        self.zip(rhs, T::sub)
    }
}

impl<T: Mul<Output = T> + Copy> Mul for Row<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        self.zip(rhs, T::mul)
    }
}

impl Neg for Row<Base> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self(self.0.map(Base::neg))
    }
}

impl Mul<BaseField> for Row<Base> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: BaseField) -> Self {
        self * Self::from(rhs)
    }
}

impl From<BaseField> for Row<Base> {
    #[inline(always)]
    fn from(value: BaseField) -> Self {
        Self([Base::splat(value); 2])
    }
}

impl Row<Base> {
    /// The even lanes of `even` and the odd lanes of `odd`.
    #[inline(always)]
    pub fn blend(even: Self, odd: Self) -> Self {
        even.zip(odd, |e, o| {
            Base(simd_swizzle!(
                e.0,
                o.0,
                [0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31]
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng as SmallRng;

    use super::*;

    fn edge_or_random(rng: &mut SmallRng) -> u32 {
        // 0, 1, P − 1 and P (another zero) appear often; they are where reductions go wrong.
        match rng.gen_range(0..8) {
            0 => 0,
            1 => 1,
            2 => P - 1,
            3 => P,
            _ => rng.gen_range(0..=P),
        }
    }

    fn base(rng: &mut SmallRng) -> Base {
        Base(u32x16::from_array(std::array::from_fn(|_| {
            edge_or_random(rng)
        })))
    }

    fn packed(b: Base) -> PackedM31 {
        b.into_packed()
    }

    fn stwo_ext(e: Ext) -> PackedQM31 {
        PackedQM31::from_packed_m31s(e.into_packed())
    }

    #[test]
    fn base_arithmetic_equals_stwo() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..2000 {
            let (a, b) = (base(&mut rng), base(&mut rng));
            let (pa, pb) = (packed(a), packed(b));
            let same = |ours: Base, theirs: PackedM31| {
                assert_eq!(ours.into_packed().to_array(), theirs.to_array());
                assert!(ours.0.to_array().iter().all(|&v| v <= P), "left [0, P]");
            };
            same(a + b, pa + pb);
            same(a - b, pa - pb);
            same(a * b, pa * pb);
            same(-a, -pa);
        }
    }

    #[test]
    fn extension_arithmetic_equals_stwo() {
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..1000 {
            let ext = |rng: &mut SmallRng| Ext(std::array::from_fn(|_| base(rng)));
            let (x, y, b) = (ext(&mut rng), ext(&mut rng), base(&mut rng));
            let (px, py) = (stwo_ext(x), stwo_ext(y));
            let same = |ours: Ext, theirs: PackedQM31| {
                assert_eq!(stwo_ext(ours).to_array(), theirs.to_array());
            };
            same(x * y, px * py);
            same(x + y, px + py);
            same(x - y, px - py);
            same(x.mul_base(b), px * packed(b));
            let q = SecureField::from_m31_array(std::array::from_fn(|_| {
                BaseField::from(edge_or_random(&mut rng) % P)
            }));
            same(Ext::splat(q) * x, PackedQM31::broadcast(q) * px);
        }
    }

    #[test]
    fn batch_inverse_inverts_every_value() {
        let mut rng = SmallRng::seed_from_u64(13);
        let nonzero = |rng: &mut SmallRng| {
            Base(u32x16::from_array(std::array::from_fn(|_| {
                rng.gen_range(1..P)
            })))
        };
        for n in [1, 2, 7, 64] {
            let values: Vec<Ext> = (0..n)
                .map(|_| Ext(std::array::from_fn(|_| nonzero(&mut rng))))
                .collect();
            for (v, inv) in values.iter().zip(Ext::batch_inverse(&values)) {
                let product = stwo_ext(*v * inv).to_array();
                assert!(product
                    .iter()
                    .all(|p| *p == SecureField::from(BaseField::from(1))));
            }
        }
    }
}
