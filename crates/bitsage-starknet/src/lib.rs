//! Starknet settlement for BitSage: the Cairo contracts in `contracts/` (SAGE token, faucet,
//! prover staking, job escrow, payment router), compiled from source by [`toolchain`], deployed
//! by [`deploy`], and called through [`chain::Chain`] with starknet-rust. [`devnet`] starts a
//! local `starknet-devnet` for tests and for `--network devnet`. [`settlement`] is the ledger's
//! `Settlement` on chain, for the coordinator.

pub mod account;
pub mod chain;
pub mod deploy;
pub mod devnet;
pub mod sage;
pub mod settlement;
pub mod toolchain;

pub use starknet_rust::core::types::Felt;

/// Errors of this crate. Chain errors carry the contract's revert reason when there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Cairo toolchain: {0}")]
    Toolchain(String),
    #[error("compiling the contracts: {0}")]
    Compile(String),
    #[error("the transaction was rejected: {0}")]
    Reverted(String),
    #[error("Starknet node: {0}")]
    Node(String),
    #[error("devnet: {0}")]
    Devnet(String),
    #[error("reading the contract artifacts: {0}")]
    Artifact(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One SAGE in the token's smallest unit (18 decimals).
pub const SAGE: u128 = 1_000_000_000_000_000_000;

/// A `u256` as Cairo serializes it: low 128 bits, then high.
pub fn u256_calldata(value: u128) -> [Felt; 2] {
    [Felt::from(value), Felt::ZERO]
}

/// Reads a `u256` (low, high) that fits in 128 bits.
pub fn u256_from(felts: &[Felt]) -> Result<u128> {
    let [low, high] = felts else {
        return Err(Error::Node(format!(
            "expected a u256, got {} felts",
            felts.len()
        )));
    };
    if *high != Felt::ZERO {
        return Err(Error::Node("a u256 above 2^128".into()));
    }
    u128::try_from(*low).map_err(|_| Error::Node("u256 low word above 2^128".into()))
}

/// Reads a `u256`, capped at `u128::MAX`: for allowances, where "unlimited" is 2^256 - 1.
pub fn u256_saturating(felts: &[Felt]) -> Result<u128> {
    match felts {
        [_, high] if *high != Felt::ZERO => Ok(u128::MAX),
        _ => u256_from(felts),
    }
}

/// The contract's own words in a chain error: Cairo short strings that the node quotes as
/// `0x… ('STAKE: still cooling down')`. Falls back to the first line of the raw message.
pub fn revert_reason(raw: &str) -> String {
    let mut reasons = Vec::new();
    let mut rest = raw;
    while let Some(start) = rest.find("('") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("')") else { break };
        let reason = &after[..end];
        if !reason.is_empty()
            && !reason.contains("ENTRYPOINT_FAILED")
            && !reasons.iter().any(|r| r == reason)
        {
            reasons.push(reason.to_string());
        }
        rest = &after[end..];
    }
    if reasons.is_empty() {
        raw.lines().next().unwrap_or(raw).trim().to_string()
    } else {
        reasons.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revert_reasons_are_the_contracts_words() {
        let raw = "Transaction execution has failed:\n0: Error in the called contract \
                   (0x01): Execution failed. Failure reason: (0x5354414b453a207374696c6c \
                   ('STAKE: still cooling down'), 0x454e545259504f494e545f4641494c4544 \
                   ('ENTRYPOINT_FAILED')).";
        assert_eq!(revert_reason(raw), "STAKE: still cooling down");
        assert_eq!(
            revert_reason("connection refused\nmore"),
            "connection refused"
        );
    }

    #[test]
    fn u256_round_trips_below_2_128() {
        let v = 12_345 * SAGE;
        assert_eq!(u256_from(&u256_calldata(v)).unwrap(), v);
        assert!(u256_from(&[Felt::ONE, Felt::ONE]).is_err());
        assert_eq!(u256_saturating(&[Felt::ONE, Felt::ONE]).unwrap(), u128::MAX);
        assert_eq!(u256_saturating(&u256_calldata(v)).unwrap(), v);
    }
}
