//! Security configuration: how many bits a proof claims, and the FRI parameters behind them.

use serde::{Deserialize, Serialize};
use stwo::core::fri::FriConfig;
use stwo::core::pcs::PcsConfig;

use crate::error::{Error, Result};

/// Proofs below this many bits are refused unless the caller lowers the floor explicitly.
pub const DEFAULT_MIN_SECURITY_BITS: u32 = 96;
/// FRI stops folding at a last layer of degree below 2^this.
pub const LOG_LAST_LAYER_DEGREE_BOUND: u32 = 0;
/// FRI folds one circle step at a time (stwo's only supported value).
pub const FOLD_STEP: u32 = 1;
/// Largest accepted FRI blowup (log2). Bigger blowups buy little and let a hostile proof make the
/// verifier build huge evaluation domains.
pub const MAX_LOG_BLOWUP: u32 = 4;

/// What the caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProverConfig {
    /// Target conjectured security: `pow_bits + log_blowup * n_queries >= security_bits`, and no
    /// more than the proof's challenges deliver at its size ([`crate::soundness`]).
    pub security_bits: u32,
    /// Log2 of the FRI blowup factor. 1 keeps proving fastest; higher values give smaller proofs.
    pub log_blowup: u32,
    /// Grinding bits before FRI queries.
    pub pow_bits: u32,
}

impl Default for ProverConfig {
    fn default() -> Self {
        Self {
            security_bits: DEFAULT_MIN_SECURITY_BITS,
            log_blowup: 1,
            pow_bits: 16,
        }
    }
}

impl ProverConfig {
    /// The default configuration at `security_bits` (e.g. 100).
    pub fn with_security_bits(security_bits: u32) -> Self {
        Self {
            security_bits,
            ..Self::default()
        }
    }

    /// The concrete parameters that meet this configuration.
    pub fn proof_config(&self) -> Result<ProofConfig> {
        if !(1..=MAX_LOG_BLOWUP).contains(&self.log_blowup) {
            return Err(Error::Config(format!(
                "log_blowup must be in 1..={MAX_LOG_BLOWUP}, found {}",
                self.log_blowup
            )));
        }
        if self.pow_bits > 32 {
            return Err(Error::Config(format!(
                "pow_bits must be at most 32, found {}",
                self.pow_bits
            )));
        }
        if !(1..=256).contains(&self.security_bits) {
            return Err(Error::Config(format!(
                "security_bits must be in 1..=256, found {}",
                self.security_bits
            )));
        }
        let query_bits = self.security_bits.saturating_sub(self.pow_bits);
        let n_queries = query_bits.div_ceil(self.log_blowup).max(1);
        let config = ProofConfig {
            security_bits: self.pow_bits + self.log_blowup * n_queries,
            log_blowup: self.log_blowup,
            n_queries,
            pow_bits: self.pow_bits,
        };
        debug_assert!(config.security_bits >= self.security_bits);
        Ok(config)
    }
}

/// The parameters a proof was made with, as stored in proof files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProofConfig {
    pub security_bits: u32,
    pub log_blowup: u32,
    pub n_queries: u32,
    pub pow_bits: u32,
}

impl ProofConfig {
    /// Bits the queries and proof of work deliver, recomputed from the parameters (never
    /// trusted from the file). The proof as a whole may deliver fewer: see
    /// [`StarkProof::security_bits`](crate::StarkProof::security_bits).
    pub fn query_bits(&self) -> u32 {
        self.pow_bits
            .saturating_add(self.log_blowup.saturating_mul(self.n_queries))
    }

    pub fn pcs_config(&self) -> Result<PcsConfig> {
        if !(1..=MAX_LOG_BLOWUP).contains(&self.log_blowup)
            || self.n_queries == 0
            || self.n_queries > 1024
        {
            return Err(Error::Config(format!(
                "unsupported proof parameters {self:?}"
            )));
        }
        if self.pow_bits > 32 {
            return Err(Error::Config(format!(
                "pow_bits must be at most 32, found {}",
                self.pow_bits
            )));
        }
        Ok(PcsConfig {
            pow_bits: self.pow_bits,
            fri_config: FriConfig::new(
                LOG_LAST_LAYER_DEGREE_BOUND,
                self.log_blowup,
                self.n_queries as usize,
                FOLD_STEP,
            ),
            lifting_log_size: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_mapping_meets_the_target() {
        for bits in [80, 96, 100, 128, 160] {
            for log_blowup in 1..=MAX_LOG_BLOWUP {
                let config = ProverConfig {
                    security_bits: bits,
                    log_blowup,
                    pow_bits: 16,
                };
                let proof = config.proof_config().unwrap();
                assert!(proof.query_bits() >= bits);
                assert!(
                    proof.query_bits() < bits + log_blowup,
                    "no more queries than needed"
                );
                assert_eq!(
                    proof.pcs_config().unwrap().security_bits(),
                    proof.query_bits()
                );
            }
        }
    }

    #[test]
    fn default_is_at_least_96_bits() {
        assert!(ProverConfig::default().proof_config().unwrap().query_bits() >= 96);
        assert!(
            ProverConfig::with_security_bits(128)
                .proof_config()
                .unwrap()
                .query_bits()
                >= 128
        );
    }
}
