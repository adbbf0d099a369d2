//! SAGE amounts: integers of base units, 18 decimals. Floats never touch money.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Decimals of the SAGE token.
pub const DECIMALS: u32 = 18;
/// Base units in one SAGE.
pub const ONE_SAGE: u128 = 10u128.pow(DECIMALS);

/// An amount of SAGE in base units. Parsed from and printed as a decimal string ("2500.5").
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a SAGE amount: {reason}")]
pub struct AmountParseError {
    pub input: String,
    pub reason: &'static str,
}

impl Amount {
    pub const ZERO: Self = Self(0);

    /// Whole SAGE.
    pub const fn sage(n: u128) -> Self {
        Self(n * ONE_SAGE)
    }

    pub const fn base_units(self) -> u128 {
        self.0
    }

    pub fn checked_add(self, rhs: Self) -> Option<Self> {
        self.0.checked_add(rhs.0).map(Self)
    }

    pub fn checked_sub(self, rhs: Self) -> Option<Self> {
        self.0.checked_sub(rhs.0).map(Self)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl FromStr for Amount {
    type Err = AmountParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AmountParseError {
            input: s.to_string(),
            reason,
        };
        let text = s.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(err("empty"));
        }
        if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(err("only digits and one decimal point are allowed"));
        }
        if frac.len() > DECIMALS as usize {
            return Err(err("more than 18 decimals"));
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err("too large"))?
        };
        let frac_units: u128 = if frac.is_empty() {
            0
        } else {
            let padded = format!("{frac:0<18}");
            padded.parse().map_err(|_| err("bad fraction"))?
        };
        whole
            .checked_mul(ONE_SAGE)
            .and_then(|w| w.checked_add(frac_units))
            .map(Self)
            .ok_or_else(|| err("too large"))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / ONE_SAGE;
        let frac = self.0 % ONE_SAGE;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:018}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} SAGE")
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_and_prints_decimals() {
        assert_eq!("1000".parse::<Amount>().unwrap(), Amount::sage(1000));
        assert_eq!(
            "2500.5".parse::<Amount>().unwrap().0,
            2_500_500_000_000_000_000_000
        );
        assert_eq!(Amount(1).to_string(), "0.000000000000000001");
        assert_eq!(Amount::sage(3).to_string(), "3");
        assert_eq!("0.1".parse::<Amount>().unwrap().to_string(), "0.1");
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "1.2.3",
            "0.0000000000000000001",
            "abc",
        ] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
        assert!(
            "999999999999999999999999".parse::<Amount>().is_err(),
            "overflow"
        );
    }

    proptest! {
        #[test]
        fn display_round_trips(units in any::<u128>()) {
            let amount = Amount(units);
            prop_assert_eq!(amount.to_string().parse::<Amount>().unwrap(), amount);
        }
    }
}
