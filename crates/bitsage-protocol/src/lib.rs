//! The BitSage coordinator protocol: API types, the signed-request scheme and a typed client.
//!
//! [`api`] holds every request and response body; [`auth`] defines the digest a request's
//! signature covers and checks it; [`client::CoordinatorClient`] speaks the API over HTTP for
//! the worker and the CLIs. This crate knows nothing of axum or sqlx: the server side lives in
//! `bitsage-coordinator`.

pub mod api;
pub mod auth;
pub mod client;

pub use api::*;
pub use auth::{AuthError, SignedHeaders};
pub use client::{ClientError, CoordinatorClient};

/// Milliseconds since the Unix epoch: the protocol's times (0 if the clock is before 1970).
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The account address of a key on the embedded ledger: its public key.
pub fn address_of(key: &bitsage_wallet::PublicKey) -> bitsage_ledger::Address {
    bitsage_ledger::Address::from_bytes(key.to_bytes())
        .expect("a public key is a felt, below the prime")
}
