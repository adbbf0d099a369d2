//! The Mersenne-31 field, p = 2^31 - 1, as the VM sees it.
//!
//! The VM keeps its own small field type so that it does not depend on the prover; the prover
//! converts with `M31::value()`.

use std::fmt;
use std::ops::{Add, Mul, Neg, Sub};

use serde::{Deserialize, Serialize};

/// The field modulus, 2^31 - 1.
pub const P: u32 = (1 << 31) - 1;

/// An element of the Mersenne-31 field, always kept in canonical form (`0..P`): deserializing a
/// value `>= P` is an error, so no two encodings name one element.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct M31(u32);

impl<'de> Deserialize<'de> for M31 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = u32::deserialize(d)?;
        Self::from_canonical(value).ok_or_else(|| {
            serde::de::Error::custom(format!("{value} is not below the field modulus {P}"))
        })
    }
}

impl M31 {
    pub const ZERO: Self = Self(0);
    pub const ONE: Self = Self(1);

    /// Reduces any `u32` into the field.
    pub const fn new(value: u32) -> Self {
        Self(reduce_u64(value as u64))
    }

    /// Returns `Some` only for canonical values (`< P`), for parsers that must not wrap silently.
    pub const fn from_canonical(value: u32) -> Option<Self> {
        if value < P {
            Some(Self(value))
        } else {
            None
        }
    }

    /// Encodes a signed integer: negative values map to `P - |v|`.
    pub fn from_i64(value: i64) -> Self {
        let r = value.rem_euclid(P as i64);
        Self(r as u32)
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    /// The signed reading used by `Lt`: values above `P / 2` are negative.
    pub const fn signed(self) -> i64 {
        if self.0 > P / 2 {
            self.0 as i64 - P as i64
        } else {
            self.0 as i64
        }
    }

    pub fn pow(self, mut exp: u64) -> Self {
        let mut base = self;
        let mut acc = Self::ONE;
        while exp > 0 {
            if exp & 1 == 1 {
                acc = acc * base;
            }
            base = base * base;
            exp >>= 1;
        }
        acc
    }

    /// The multiplicative inverse, or `None` for zero.
    pub fn inverse(self) -> Option<Self> {
        if self.0 == 0 {
            None
        } else {
            Some(self.pow(P as u64 - 2))
        }
    }
}

const fn reduce_u64(x: u64) -> u32 {
    // x < 2^62 in every use; two folds bring it below 2^31 + small, one subtraction finishes.
    let folded = (x & P as u64) + (x >> 31);
    let folded = (folded & P as u64) + (folded >> 31);
    let r = folded as u32;
    if r >= P {
        r - P
    } else {
        r
    }
}

impl Add for M31 {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(reduce_u64(self.0 as u64 + rhs.0 as u64))
    }
}

impl Sub for M31 {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self(reduce_u64(self.0 as u64 + (P - rhs.0) as u64))
    }
}

impl Neg for M31 {
    type Output = Self;
    fn neg(self) -> Self {
        Self::ZERO - self
    }
}

impl Mul for M31 {
    type Output = Self;
    fn mul(self, rhs: Self) -> Self {
        Self(reduce_u64(self.0 as u64 * rhs.0 as u64))
    }
}

impl From<u32> for M31 {
    fn from(value: u32) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for M31 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for M31 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reference(a: u32, b: u32, op: fn(u128, u128) -> u128) -> u32 {
        (op(a as u128, b as u128) % P as u128) as u32
    }

    proptest! {
        #[test]
        fn field_laws(a in 0..P, b in 0..P, c in 0..P) {
            let (x, y, z) = (M31(a), M31(b), M31(c));
            prop_assert_eq!((x + y).value(), reference(a, b, |a, b| a + b));
            prop_assert_eq!((x * y).value(), reference(a, b, |a, b| a * b));
            prop_assert_eq!((x - y) + y, x);
            prop_assert_eq!(x * (y + z), x * y + x * z);
            if a != 0 {
                prop_assert_eq!(x * x.inverse().unwrap(), M31::ONE);
            }
        }

        #[test]
        fn signed_round_trip(v in -(P as i64 / 2)..=(P as i64 / 2)) {
            prop_assert_eq!(M31::from_i64(v).signed(), v);
        }
    }

    #[test]
    fn deserializing_rejects_non_canonical_values() {
        let ok: M31 = serde_json::from_str("5").unwrap();
        assert_eq!(ok, M31::new(5));
        assert!(serde_json::from_str::<M31>(&P.to_string()).is_err());
        assert!(serde_json::from_str::<M31>(&(P + 5).to_string()).is_err());
    }

    #[test]
    fn edges() {
        assert_eq!(M31::new(P), M31::ZERO);
        assert_eq!(M31::new(u32::MAX), M31::new(u32::MAX - P));
        assert_eq!(M31(P - 1) + M31::ONE, M31::ZERO);
        assert_eq!(M31::ZERO.inverse(), None);
        assert_eq!(M31::from_canonical(P), None);
    }
}
