//! Identities on the BitSage network: Stark-curve key pairs and ECDSA signatures over them.
//!
//! Every worker and client is a [`SigningKey`]; its [`PublicKey`] (a felt252) is its identity and,
//! on the embedded ledger, its account address. Curve arithmetic comes from `starknet-crypto` and
//! `starknet-types-core`; nothing here implements field or point formulas. A [`VerifyingKey`]
//! (through [`KeyCache`]) checks the signatures of a key that signs often several times faster,
//! by choosing which of its precomputed multiples to add. Nonces are deterministic (RFC 6979), so signing needs no
//! randomness and a weak RNG cannot leak the key.
//!
//! Keys at rest are [`keystore::Keystore`] files (Web3 Secret Storage v3, scrypt), the format
//! starkli uses. [`ElGamalKey`] is the key pair for workloads encrypted to a worker.
//!
//! Not here: what is signed (the request digest lives in `bitsage-protocol`).

pub mod keystore;
mod prepared;

pub use prepared::{KeyCache, VerifyingKey};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
pub use starknet_types_core::felt::Felt;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("`{text}` is not a felt252: {reason}")]
    BadFelt { text: String, reason: String },
    #[error("a private key must be in 1..2^251, found {found}")]
    BadPrivateKey { found: String },
    #[error("a signature is two felts `0xR,0xS`, found `{found}`")]
    BadSignature { found: String },
    #[error("message hash {hash} is not below 2^251 and cannot be signed")]
    MessageTooLarge { hash: String },
}

pub type Result<T, E = WalletError> = std::result::Result<T, E>;

/// 2^251: private keys and message hashes stay below it (the Stark curve order is just above).
fn bound() -> Felt {
    Felt::TWO.pow(251u32)
}

/// Parses `0x…` hex or decimal into a felt, refusing values at or above the field prime.
pub fn parse_felt(text: &str) -> Result<Felt> {
    let bad = |reason: &str| WalletError::BadFelt {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    if let Some(hex) = trimmed.strip_prefix("0x") {
        if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("expected 1 to 64 hex digits after 0x"));
        }
        let mut bytes = [0u8; 32];
        let padded = format!("{hex:0>64}");
        hex::decode_to_slice(padded, &mut bytes).map_err(|e| bad(&e.to_string()))?;
        let felt = Felt::from_bytes_be(&bytes);
        if felt.to_bytes_be() != bytes {
            return Err(bad("at or above the field prime"));
        }
        Ok(felt)
    } else {
        Felt::from_dec_str(trimmed).map_err(|_| bad("expected 0x-prefixed hex or a decimal number"))
    }
}

/// `0x` and 64 hex digits: one spelling per felt, so it can key a database row.
pub fn felt_hex(felt: &Felt) -> String {
    format!("0x{}", hex::encode(felt.to_bytes_be()))
}

/// A Stark-curve public key: the identity of a worker or client.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(Felt);

impl PublicKey {
    pub fn felt(&self) -> Felt {
        self.0
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes_be()
    }

    /// Checks `signature` over `message` (a hash below 2^251).
    pub fn verify(&self, message: &Felt, signature: &Signature) -> bool {
        starknet_crypto::verify(&self.0, message, &signature.r, &signature.s).unwrap_or(false)
    }
}

impl FromStr for PublicKey {
    type Err = WalletError;
    fn from_str(s: &str) -> Result<Self> {
        parse_felt(s).map(PublicKey)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&felt_hex(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An ECDSA signature on the Stark curve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub r: Felt,
    pub s: Felt,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", felt_hex(&self.r), felt_hex(&self.s))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = WalletError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || WalletError::BadSignature {
            found: s.chars().take(200).collect(),
        };
        let (r, sig_s) = s.split_once(',').ok_or_else(bad)?;
        Ok(Self {
            r: parse_felt(r).map_err(|_| bad())?,
            s: parse_felt(sig_s).map_err(|_| bad())?,
        })
    }
}

/// A Stark-curve private key. `Debug` never prints it.
#[derive(Clone)]
pub struct SigningKey {
    secret: Felt,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key from the operating system's RNG.
    pub fn generate() -> Self {
        use rand::RngCore;
        loop {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            bytes[0] &= 0x07; // below 2^251, hence below the curve order
            if let Ok(key) = Self::from_secret(Felt::from_bytes_be(&bytes)) {
                return key;
            }
        }
    }

    /// A key from its secret scalar, which must be in `1..2^251`.
    pub fn from_secret(secret: Felt) -> Result<Self> {
        if secret == Felt::ZERO || secret >= bound() {
            return Err(WalletError::BadPrivateKey {
                found: "a value outside the range".into(),
            });
        }
        let public = PublicKey(starknet_crypto::get_public_key(&secret));
        Ok(Self { secret, public })
    }

    /// Parses a hex or decimal private key (as `STARKNET_PRIVATE_KEY` holds it).
    pub fn from_hex(text: &str) -> Result<Self> {
        let secret = parse_felt(text).map_err(|_| WalletError::BadPrivateKey {
            found: "text that is not a felt".into(),
        })?;
        Self::from_secret(secret)
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The secret scalar, for the encrypted keystore. Handle with care.
    pub fn secret(&self) -> Felt {
        self.secret
    }

    /// Signs `message`, a hash below 2^251, with an RFC 6979 nonce.
    pub fn sign(&self, message: &Felt) -> Result<Signature> {
        if *message >= bound() {
            return Err(WalletError::MessageTooLarge {
                hash: felt_hex(message),
            });
        }
        // RFC 6979 can, with negligible probability, give a nonce the curve rejects; a seed
        // moves to the next candidate.
        let mut seed = Felt::ZERO;
        loop {
            let k = starknet_crypto::rfc6979_generate_k(message, &self.secret, Some(&seed));
            if let Ok(sig) = starknet_crypto::sign(&self.secret, message, &k) {
                return Ok(Signature { r: sig.r, s: sig.s });
            }
            seed += Felt::ONE;
        }
    }
}

/// An ElGamal key pair on the Stark curve, for workloads whose inputs are encrypted to a worker:
/// the secret is a scalar `x`, the public key the point `x·G` (stored by its x-coordinate, as
/// Stark public keys are). It is a separate key from the signing key, so that decrypting never
/// needs the key that moves money.
#[derive(Clone)]
pub struct ElGamalKey(SigningKey);

impl fmt::Debug for ElGamalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElGamalKey")
            .field("public", &self.0.public_key())
            .finish_non_exhaustive()
    }
}

impl ElGamalKey {
    pub fn generate() -> Self {
        Self(SigningKey::generate())
    }

    pub fn from_secret(secret: Felt) -> Result<Self> {
        SigningKey::from_secret(secret).map(Self)
    }

    pub fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    pub fn secret(&self) -> Felt {
        self.0.secret()
    }
}

/// Reduces a 32-byte digest to a felt below 2^251, the domain of Stark-curve ECDSA messages.
pub fn digest_to_message(digest: [u8; 32]) -> Felt {
    let mut bytes = digest;
    bytes[0] &= 0x07;
    Felt::from_bytes_be(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let message = digest_to_message([0xab; 32]);
        let sig = key.sign(&message).unwrap();
        assert!(key.public_key().verify(&message, &sig));
        assert!(!other.public_key().verify(&message, &sig));
        let changed = digest_to_message([0xac; 32]);
        assert!(!key.public_key().verify(&changed, &sig));
        let round: Signature = sig.to_string().parse().unwrap();
        assert_eq!(round, sig);
    }

    #[test]
    fn known_private_key_gives_the_known_public_key() {
        // Test vector from starknet-rs (`get_public_key` docs).
        let key = SigningKey::from_hex(
            "0x03c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc",
        )
        .unwrap();
        assert_eq!(
            key.public_key().to_string(),
            "0x077a3b314db07c45076d11f62b6f9e748a39790441823307743cf00d6597ea43"
        );
    }

    #[test]
    fn felts_parse_strictly() {
        assert!(parse_felt("0x").is_err());
        assert!(parse_felt("0xzz").is_err());
        assert!(parse_felt(&format!("0x{}", "f".repeat(64))).is_err());
        assert_eq!(parse_felt("0x10").unwrap(), Felt::from(16u8));
        assert_eq!(parse_felt("16").unwrap(), Felt::from(16u8));
        assert!(SigningKey::from_hex("0x0").is_err());
        let sig_text = "0x1";
        assert!(sig_text.parse::<Signature>().is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = SigningKey::from_hex("0x1234").unwrap();
        assert!(!format!("{key:?}").contains("1234"));
    }
}
