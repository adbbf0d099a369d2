//! Starknet addresses (felt252) as account keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The Stark field prime, 2^251 + 17·2^192 + 1, big-endian.
const FELT_PRIME: [u8; 32] = {
    let mut p = [0u8; 32];
    p[0] = 0x08;
    p[7] = 0x11;
    p[31] = 0x01;
    p
};

/// A felt252, kept canonical (`0x` + 64 lowercase hex digits) so one account has one key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a Starknet address: {reason}")]
pub struct AddressParseError {
    pub input: String,
    pub reason: &'static str,
}

impl Address {
    pub const fn from_bytes(bytes: [u8; 32]) -> Option<Self> {
        // Compare big-endian with the prime.
        let mut i = 0;
        while i < 32 {
            if bytes[i] != FELT_PRIME[i] {
                return if bytes[i] < FELT_PRIME[i] {
                    Some(Self(bytes))
                } else {
                    None
                };
            }
            i += 1;
        }
        None
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// A small address for tests and examples.
    pub fn from_u64(v: u64) -> Self {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&v.to_be_bytes());
        Self(b)
    }
}

impl FromStr for Address {
    type Err = AddressParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressParseError {
            input: s.to_string(),
            reason,
        };
        let digits = s
            .trim()
            .strip_prefix("0x")
            .or_else(|| s.trim().strip_prefix("0X"))
            .ok_or_else(|| err("missing 0x prefix"))?;
        if digits.is_empty() || digits.len() > 64 {
            return Err(err("needs 1 to 64 hex digits"));
        }
        // Right-aligned: the last digit is the low nibble of the last byte.
        let mut bytes = [0u8; 32];
        for (i, digit) in digits.bytes().rev().enumerate() {
            let nibble = (digit as char).to_digit(16).ok_or_else(|| err("not hex"))? as u8;
            bytes[31 - i / 2] |= nibble << (4 * (i % 2));
        }
        Self::from_bytes(bytes).ok_or_else(|| err("not below the Stark field prime"))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of the whole text: addresses are formatted for every SQL parameter and log
        // line that names an account, and a write per byte showed in profiles.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 66];
        text[..2].copy_from_slice(b"0x");
        for (i, b) in self.0.iter().enumerate() {
            text[2 + 2 * i] = HEX[usize::from(b >> 4)];
            text[3 + 2 * i] = HEX[usize::from(b & 0xf)];
        }
        f.write_str(std::str::from_utf8(&text).expect("ASCII"))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let a: Address = "0xABC".parse().unwrap();
        assert_eq!(a.to_string(), format!("0x{:0>64}", "abc"));
        assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        assert!("abc".parse::<Address>().is_err());
        assert!("0x".parse::<Address>().is_err());
        assert!(
            "0x0800000000000011000000000000000000000000000000000000000000000001"
                .parse::<Address>()
                .is_err(),
            "the prime itself"
        );
        assert!(
            "0x0800000000000011000000000000000000000000000000000000000000000000"
                .parse::<Address>()
                .is_ok()
        );
    }
}
