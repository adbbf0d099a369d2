//! The signed-request scheme.
//!
//! A mutating request carries four headers: the signer's public key, a unix timestamp in seconds,
//! a random nonce and a Stark-curve ECDSA signature over [`request_digest`]: BLAKE3 of a domain
//! tag, the method, the path with its query (if any), the BLAKE3 hash of the body, the timestamp
//! and the nonce, reduced below 2^251. BLAKE3 because bodies carry proofs of a few hundred KiB
//! and the coordinator hashes every one: it is several times faster than Blake2s here. Changing
//! any of them breaks the signature; the coordinator refuses timestamps outside its skew window
//! and a (timestamp, nonce) it has already seen from that signer.

use bitsage_wallet::{digest_to_message, Felt, KeyCache, PublicKey, Signature, SigningKey};

pub const HEADER_PUBLIC_KEY: &str = "x-bitsage-public-key";
pub const HEADER_TIMESTAMP: &str = "x-bitsage-timestamp";
pub const HEADER_NONCE: &str = "x-bitsage-nonce";
pub const HEADER_SIGNATURE: &str = "x-bitsage-signature";

const DOMAIN: &[u8] = b"BITSAGE-REQUEST-v1";

/// Why a signed request was refused. Each has its own error code on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing header `{0}`: mutating requests must be signed")]
    MissingHeader(&'static str),
    #[error("header `{header}` is malformed: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: String,
    },
    #[error("the signature does not match the request and the public key")]
    BadSignature,
    #[error("timestamp {timestamp} is {skew}s away from the coordinator's clock ({now}); the window is ±{window}s: check the machine's clock")]
    StaleTimestamp {
        timestamp: i64,
        now: i64,
        skew: i64,
        window: i64,
    },
    #[error("nonce `{nonce}` was already used by this key: the request is a replay")]
    ReplayedNonce { nonce: String },
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingHeader(_) | AuthError::MalformedHeader { .. } => "unsigned_request",
            AuthError::BadSignature => "bad_signature",
            AuthError::StaleTimestamp { .. } => "stale_timestamp",
            AuthError::ReplayedNonce { .. } => "replayed_nonce",
        }
    }
}

/// The message a request's signature covers.
pub fn request_digest(method: &str, path: &str, body: &[u8], timestamp: i64, nonce: &str) -> Felt {
    request_digest_of(method, path, &blake3::hash(body), timestamp, nonce)
}

/// [`request_digest`] with the body's BLAKE3 hash given.
pub fn request_digest_of(
    method: &str,
    path: &str,
    body_hash: &blake3::Hash,
    timestamp: i64,
    nonce: &str,
) -> Felt {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    for part in [method.as_bytes(), path.as_bytes()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(body_hash.as_bytes());
    h.update(&timestamp.to_le_bytes());
    h.update(&(nonce.len() as u64).to_le_bytes());
    h.update(nonce.as_bytes());
    digest_to_message(*h.finalize().as_bytes())
}

/// The authentication headers of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    pub public_key: PublicKey,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: Signature,
}

impl SignedHeaders {
    /// Signs a request with a fresh random nonce.
    pub fn sign(key: &SigningKey, method: &str, path: &str, body: &[u8], now: i64) -> Self {
        use rand::RngCore;
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        Self::sign_with_nonce(key, method, path, body, now, hex::encode(nonce))
    }

    pub fn sign_with_nonce(
        key: &SigningKey,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
        nonce: String,
    ) -> Self {
        let digest = request_digest(method, path, body, now, &nonce);
        let signature = key
            .sign(&digest)
            .expect("request digests are reduced below 2^251");
        Self {
            public_key: key.public_key(),
            timestamp: now,
            nonce,
            signature,
        }
    }

    /// `(name, value)` pairs to attach to the HTTP request.
    pub fn to_pairs(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_PUBLIC_KEY, self.public_key.to_string()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.to_string()),
        ]
    }

    /// Reads the headers through `get` (a header lookup by lowercase name).
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, AuthError> {
        let header = |name: &'static str| get(name).ok_or(AuthError::MissingHeader(name));
        let malformed =
            |header: &'static str, reason: String| AuthError::MalformedHeader { header, reason };
        let public_key =
            header(HEADER_PUBLIC_KEY)?
                .parse()
                .map_err(|e: bitsage_wallet::WalletError| {
                    malformed(HEADER_PUBLIC_KEY, e.to_string())
                })?;
        let timestamp = header(HEADER_TIMESTAMP)?
            .parse()
            .map_err(|_| malformed(HEADER_TIMESTAMP, "expected unix seconds".into()))?;
        let nonce = header(HEADER_NONCE)?;
        if nonce.is_empty() || nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(malformed(
                HEADER_NONCE,
                "expected 1 to 64 letters or digits".into(),
            ));
        }
        let signature = header(HEADER_SIGNATURE)?
            .parse()
            .map_err(|e: bitsage_wallet::WalletError| malformed(HEADER_SIGNATURE, e.to_string()))?;
        Ok(Self {
            public_key,
            timestamp,
            nonce: nonce.to_string(),
            signature,
        })
    }

    /// Checks the signature and the timestamp window. Replay is the caller's check: it needs a
    /// store of seen nonces.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        self.check(
            method,
            path,
            &blake3::hash(body),
            now,
            window_secs,
            |digest| self.public_key.verify(digest, &self.signature),
        )
    }

    /// [`Self::verify`] through `keys`, which keeps each recent signer's key prepared: what a
    /// server that hears from the same keys again and again wants. `body_hash` is the body's
    /// BLAKE3, which such a server may want again (to keep the body).
    pub fn verify_cached(
        &self,
        keys: &KeyCache,
        method: &str,
        path: &str,
        body_hash: &blake3::Hash,
        now: i64,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        self.check(method, path, body_hash, now, window_secs, |digest| {
            keys.verify(&self.public_key, digest, &self.signature)
        })
    }

    fn check(
        &self,
        method: &str,
        path: &str,
        body_hash: &blake3::Hash,
        now: i64,
        window_secs: i64,
        signature_holds: impl FnOnce(&Felt) -> bool,
    ) -> Result<(), AuthError> {
        // abs_diff: the timestamp comes from the peer, and `i64::MIN - now` would overflow.
        let skew = self.timestamp.abs_diff(now);
        if skew > window_secs.unsigned_abs() {
            return Err(AuthError::StaleTimestamp {
                timestamp: self.timestamp,
                now,
                skew: i64::try_from(skew).unwrap_or(i64::MAX),
                window: window_secs,
            });
        }
        let digest = request_digest_of(method, path, body_hash, self.timestamp, &self.nonce);
        if !signature_holds(&digest) {
            return Err(AuthError::BadSignature);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &SigningKey) -> SignedHeaders {
        SignedHeaders::sign_with_nonce(key, "POST", "/jobs", b"{}", 1_000, "abc".into())
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let key = SigningKey::generate();
        let h = signed(&key);
        // Both paths, plain and through prepared keys, give each answer.
        let keys = KeyCache::new(4);
        let verify = |h: &SignedHeaders, method: &str, path: &str, body: &[u8], now: i64| {
            let plain = h.verify(method, path, body, now, 30);
            assert_eq!(
                h.verify_cached(&keys, method, path, &blake3::hash(body), now, 30),
                plain
            );
            plain
        };
        assert_eq!(verify(&h, "POST", "/jobs", b"{}", 1_010), Ok(()));
        let bad = Err(AuthError::BadSignature);
        assert_eq!(verify(&h, "PUT", "/jobs", b"{}", 1_000), bad);
        assert_eq!(verify(&h, "POST", "/jobz", b"{}", 1_000), bad);
        assert_eq!(verify(&h, "POST", "/jobs", b"{ }", 1_000), bad);
        let mut other_nonce = h.clone();
        other_nonce.nonce = "abd".into();
        assert_eq!(verify(&other_nonce, "POST", "/jobs", b"{}", 1_000), bad);
        let mut other_time = h.clone();
        other_time.timestamp += 1;
        assert_eq!(verify(&other_time, "POST", "/jobs", b"{}", 1_000), bad);
        let mut other_key = h.clone();
        other_key.public_key = SigningKey::generate().public_key();
        assert_eq!(verify(&other_key, "POST", "/jobs", b"{}", 1_000), bad);
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn timestamps_outside_the_window_are_stale() {
        let h = signed(&SigningKey::generate());
        assert!(matches!(
            h.verify("POST", "/jobs", b"{}", 1_031, 30),
            Err(AuthError::StaleTimestamp { skew: 31, .. })
        ));
        assert!(matches!(
            h.verify("POST", "/jobs", b"{}", 969, 30),
            Err(AuthError::StaleTimestamp { .. })
        ));
        let mut extreme = h.clone();
        extreme.timestamp = i64::MIN;
        assert!(matches!(
            extreme.verify("POST", "/jobs", b"{}", 1_000, 30),
            Err(AuthError::StaleTimestamp { .. })
        ));
    }

    #[test]
    fn headers_round_trip_and_malformed_ones_are_named() {
        let h = signed(&SigningKey::generate());
        let pairs = h.to_pairs();
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(SignedHeaders::from_lookup(lookup).unwrap(), h);
        let missing =
            SignedHeaders::from_lookup(|n| if n == HEADER_NONCE { None } else { lookup(n) });
        assert_eq!(missing, Err(AuthError::MissingHeader(HEADER_NONCE)));
        let bad_time = SignedHeaders::from_lookup(|n| {
            if n == HEADER_TIMESTAMP {
                Some("soon")
            } else {
                lookup(n)
            }
        });
        assert!(matches!(
            bad_time,
            Err(AuthError::MalformedHeader {
                header: HEADER_TIMESTAMP,
                ..
            })
        ));
    }
}
