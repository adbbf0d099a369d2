//! [`StarkProof`] and its two encodings: a JSON file other tools can read, and a compact binary.

use base64::Engine;
use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};
use stwo::core::fields::qm31::SecureField;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleHasher;

use crate::claim::{Claim, Shape};
use crate::config::ProofConfig;
use crate::error::{Error, Result};
use obelysk_vm::{Program, M31};

/// Version of both encodings.
pub const PROOF_VERSION: u32 = 2;
const BINARY_MAGIC: &[u8; 8] = b"OBLPROOF";

/// A proof of one Obelysk execution, with everything a verifier needs except trust.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StarkProof {
    pub program: Program,
    pub claim: Claim,
    pub config: ProofConfig,
    pub shape: Shape,
    pub claimed_sums: Vec<SecureField>,
    pub stark: stwo::core::proof::StarkProof<Blake2sMerkleHasher>,
}

/// The JSON proof file.
#[derive(Serialize, Deserialize)]
struct ProofFile {
    version: u32,
    claim: ClaimJson,
    config: ProofConfig,
    commitment: String,
    program: Vec<[u32; 4]>,
    proof: String,
}

#[derive(Serialize, Deserialize)]
struct ClaimJson {
    program_hash: String,
    inputs: Vec<u32>,
    outputs: Vec<u32>,
    steps: u64,
    job_id: Option<String>,
}

impl StarkProof {
    /// Bits of security the proof delivers: the least of its queries and proof of work, its
    /// challenges at its size, and its hash ([`crate::soundness`]). Meaningful for a proof
    /// whose shape the verifier accepted; `config.security_bits` states the queries' share.
    pub fn security_bits(&self) -> u32 {
        crate::soundness::delivered_bits(self.config.query_bits(), &self.shape)
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes.
pub fn parse_hex32(text: &str) -> std::result::Result<[u8; 32], String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|e| format!("`{text}` is not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("`{text}` has {} bytes, expected 32", b.len()))
}

fn field_list(values: &[u32], what: &str) -> Result<Vec<M31>> {
    values
        .iter()
        .map(|&v| {
            M31::from_canonical(v)
                .ok_or_else(|| Error::Decode(format!("{what} value {v} is not a field element")))
        })
        .collect()
}

impl StarkProof {
    /// Binary size of the proof in bytes (the compact encoding).
    pub fn size(&self) -> usize {
        self.to_bytes().len()
    }

    /// 32-byte commitment: Blake2s of the claim, the configuration, the shape, the Merkle roots
    /// and the LogUp sums. It identifies a proof; it never replaces verifying it.
    pub fn commitment(&self) -> [u8; 32] {
        let mut h = Blake2s256::new();
        h.update(b"OBELYSK-PROOF-v1");
        h.update(self.claim.encode());
        let c = &self.config;
        for v in [c.security_bits, c.log_blowup, c.n_queries, c.pow_bits] {
            h.update(v.to_le_bytes());
        }
        for v in [
            self.shape.cpu_log,
            self.shape.program_log,
            self.shape.data_log,
        ] {
            h.update(v.to_le_bytes());
        }
        for root in self.stark.commitments.iter() {
            h.update(root.0);
        }
        for sum in &self.claimed_sums {
            for v in sum.to_m31_array() {
                h.update(v.0.to_le_bytes());
            }
        }
        h.finalize().into()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = BINARY_MAGIC.to_vec();
        out.extend_from_slice(&PROOF_VERSION.to_le_bytes());
        out.extend(bincode::serialize(self).expect("serializing to memory cannot fail"));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let rest = bytes
            .strip_prefix(BINARY_MAGIC.as_slice())
            .ok_or_else(|| Error::Decode("not an Obelysk binary proof (bad magic)".into()))?;
        let (version, body) = rest
            .split_at_checked(4)
            .ok_or_else(|| Error::Decode("truncated".into()))?;
        let version = u32::from_le_bytes(version.try_into().expect("4 bytes"));
        if version != PROOF_VERSION {
            return Err(Error::Decode(format!(
                "version {version}, expected {PROOF_VERSION}"
            )));
        }
        let proof: Self = bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .reject_trailing_bytes()
            .with_limit(1 << 30)
            .deserialize(body)
            .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(proof)
    }

    /// The JSON file: a readable view of the claim, configuration and program, and the complete
    /// binary proof in `proof`. Reading checks that the view and the binary agree.
    pub fn to_json(&self) -> String {
        let file = ProofFile {
            version: PROOF_VERSION,
            claim: ClaimJson {
                program_hash: to_hex(&self.claim.program_hash),
                inputs: self.claim.inputs.iter().map(|v| v.value()).collect(),
                outputs: self.claim.outputs.iter().map(|v| v.value()).collect(),
                steps: self.claim.steps,
                job_id: self.claim.job_id.map(|id| to_hex(&id)),
            },
            config: self.config,
            commitment: to_hex(&self.commitment()),
            program: self
                .program
                .instructions()
                .iter()
                .map(|i| [i.opcode as u32, i.a, i.b, i.c])
                .collect(),
            proof: base64::engine::general_purpose::STANDARD.encode(self.to_bytes()),
        };
        serde_json::to_string_pretty(&file).expect("proof JSON is always serializable")
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let file: ProofFile =
            serde_json::from_str(text).map_err(|e| Error::Decode(format!("JSON: {e}")))?;
        if file.version != PROOF_VERSION {
            return Err(Error::Decode(format!(
                "version {}, expected {PROOF_VERSION}",
                file.version
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(file.proof.trim())
            .map_err(|e| Error::Decode(format!("proof field is not base64: {e}")))?;
        let proof = Self::from_bytes(&bytes)?;
        let view_matches = file.config == proof.config
            && file.program
                == proof
                    .program
                    .instructions()
                    .iter()
                    .map(|i| [i.opcode as u32, i.a, i.b, i.c])
                    .collect::<Vec<_>>()
            && parse_hex32(&file.claim.program_hash).ok() == Some(proof.claim.program_hash)
            && field_list(&file.claim.inputs, "input")? == proof.claim.inputs
            && field_list(&file.claim.outputs, "output")? == proof.claim.outputs
            && file.claim.steps == proof.claim.steps
            && file
                .claim
                .job_id
                .as_deref()
                .map(parse_hex32)
                .transpose()
                .map_err(Error::Decode)?
                == proof.claim.job_id;
        if !view_matches {
            return Err(Error::Decode(
                "the JSON claim, config or program differ from the binary proof".into(),
            ));
        }
        if to_hex(&proof.commitment()) != file.commitment.to_lowercase() {
            return Err(Error::Decode(
                "commitment field does not match the proof's contents".into(),
            ));
        }
        Ok(proof)
    }
}

use bincode::Options;
