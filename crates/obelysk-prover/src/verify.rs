//! The verifier. It trusts nothing in the proof that it can recompute: the program hash, the
//! preprocessed commitment, the delivered security and the public LogUp terms.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use num_traits::Zero;
use stwo::core::channel::{Blake2sChannel, Channel};
use stwo::core::fields::qm31::SecureField;
use stwo::core::pcs::CommitmentSchemeVerifier;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleChannel;

use crate::air::preprocessed;
use crate::air::witness::log_size_for;
use crate::air::{public_logup_sum, PublicIo, Relations};
use crate::components::{Evals, N_COMPONENTS};
use crate::error::VerifyError;
use crate::proof::StarkProof;
use crate::prove::preprocessed_root;
use crate::soundness;
use obelysk_vm::{MAX_DATA_WORDS, MAX_STEPS};
use stwo_constraint_framework::preprocessed_columns::PreProcessedColumnId;

/// Verifies `proof` on its own terms (its embedded program and claim). Callers that expect a
/// particular program, inputs or job must also compare the claim: see
/// [`crate::ObelyskProver::verify_claim`].
pub fn verify_proof(proof: &StarkProof, min_security_bits: u32) -> Result<(), VerifyError> {
    let query_bits = proof.config.query_bits();
    if proof.config.security_bits != query_bits {
        return Err(VerifyError::MisstatedSecurity {
            stated: proof.config.security_bits,
            delivered: query_bits,
        });
    }
    let pcs = proof
        .config
        .pcs_config()
        .map_err(|e| VerifyError::BadShape(e.to_string()))?;
    if proof.stark.config != pcs {
        return Err(VerifyError::BadShape(
            "STARK parameters differ from the stated config".into(),
        ));
    }
    if !proof.claim.is_for_program(&proof.program) {
        return Err(VerifyError::ProgramHashMismatch);
    }
    check_shape(proof)?;
    // After the shape check: the field's share depends on the shape's sizes.
    let found = proof.security_bits();
    if found < min_security_bits {
        return Err(VerifyError::InsufficientSecurity {
            required: min_security_bits,
            found,
            queries: query_bits,
            field: soundness::field_bits(&proof.shape),
        });
    }

    let shape = proof.shape;
    let claim = &proof.claim;
    let channel = &mut Blake2sChannel::default();
    pcs.mix_into(channel);
    claim.mix_into(channel);
    shape.mix_into(channel);
    let scheme = &mut CommitmentSchemeVerifier::<Blake2sMerkleChannel>::new(pcs);

    let pre = preprocessed_commitment(proof)?;
    if pre.root != proof.stark.commitments[0] {
        return Err(VerifyError::PreprocessedMismatch);
    }
    let (root, pre_ids, pre_sizes) = (pre.root, &pre.ids, &pre.sizes);
    scheme.commit(root, pre_sizes, channel);

    // Sizes of trees 1 and 2 depend only on the shape; build throwaway components to read them.
    let probe = Evals::new(&shape, &Relations::draw(&mut Blake2sChannel::default()))
        .into_components(&[SecureField::zero(); N_COMPONENTS], pre_ids);
    scheme.commit(
        proof.stark.commitments[1],
        &probe.tree_log_sizes(1),
        channel,
    );

    let relations = Relations::draw(channel);
    let sums: [SecureField; N_COMPONENTS] = proof.claimed_sums.clone().try_into().expect("checked");
    let io = PublicIo {
        inputs: &claim.inputs_field(),
        outputs: &claim.outputs_field(),
        steps: claim.steps as u32,
    };
    let total = sums.iter().copied().sum::<SecureField>() + public_logup_sum(&relations, &io);
    if !total.is_zero() {
        return Err(VerifyError::LogupSumNonZero);
    }
    channel.mix_felts(&sums);
    scheme.commit(
        proof.stark.commitments[2],
        &probe.tree_log_sizes(2),
        channel,
    );

    let components = Evals::new(&shape, &relations).into_components(&sums, pre_ids);
    let stark = proof.stark.clone();
    // A malformed proof can trip assertions inside stwo; that is a rejection, not a crash.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        stwo::core::verifier::verify(&components.verifiers(), channel, scheme, stark)
    }));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(VerifyError::Stark(e.to_string())),
        Err(_) => Err(VerifyError::Stark("malformed proof".into())),
    }
}

/// The preprocessed tree's root, column ids and sizes: a function of public data only.
#[derive(Debug)]
struct Preprocessed {
    root: Blake2sHash,
    ids: Vec<PreProcessedColumnId>,
    sizes: Vec<u32>,
}

/// Everything the preprocessed commitment depends on: the program (by hash, which the caller
/// has checked against the embedded program), the shape (table sizes, and the tallest size,
/// which has a `seq` column of its own) and the blowup. Not the other parameters (queries,
/// proof of work): keyed on them, proofs that vary them only to miss the cache would rebuild
/// the tree each time, and push honest entries out.
type PreprocessedKey = ([u8; 32], crate::Shape, u32);

/// How many preprocessed commitments a process keeps. A coordinator verifies many proofs of the
/// same few programs; recomputing the commitment (a column as tall as the CPU table included)
/// would otherwise be most of each verification.
const PREPROCESSED_CACHE: usize = 64;

fn preprocessed_commitment(proof: &StarkProof) -> Result<Arc<Preprocessed>, VerifyError> {
    static CACHE: OnceLock<Mutex<HashMap<PreprocessedKey, Arc<Preprocessed>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (
        proof.claim.program_hash,
        proof.shape,
        proof.config.log_blowup,
    );
    if let Some(hit) = cache.lock().expect("cache lock").get(&key) {
        return Ok(hit.clone());
    }
    let pre = preprocessed::columns(&proof.program, &proof.shape);
    let ids = preprocessed::ids(&pre);
    let sizes = pre.iter().map(|(_, e)| e.domain.log_size()).collect();
    let columns = pre.into_iter().map(|(_, e)| e).collect();
    let root = preprocessed_root(columns, &proof.config)
        .map_err(|e| VerifyError::BadShape(e.to_string()))?;
    let computed = Arc::new(Preprocessed { root, ids, sizes });
    let mut cache = cache.lock().expect("cache lock");
    if cache.len() >= PREPROCESSED_CACHE {
        cache.clear();
    }
    cache.insert(key, computed.clone());
    Ok(computed)
}

fn check_shape(proof: &StarkProof) -> Result<(), VerifyError> {
    let bad = |what: String| Err(VerifyError::BadShape(what));
    let shape = proof.shape;
    let steps = proof.claim.steps;
    if steps == 0 || steps > MAX_STEPS {
        return bad(format!("step count {steps} outside 1..={MAX_STEPS}"));
    }
    if shape.cpu_log != log_size_for(steps as usize) {
        return bad(format!(
            "cpu log size {} does not fit {steps} steps",
            shape.cpu_log
        ));
    }
    if shape.program_log != log_size_for(proof.program.len()) {
        return bad(format!(
            "program log size {} does not fit the program",
            shape.program_log
        ));
    }
    if shape.data_log < log_size_for(0) || shape.data_log > log_size_for(MAX_DATA_WORDS as usize) {
        return bad(format!("data log size {} out of range", shape.data_log));
    }
    if proof.claimed_sums.len() != N_COMPONENTS {
        return bad(format!(
            "{} claimed sums, expected {N_COMPONENTS}",
            proof.claimed_sums.len()
        ));
    }
    // Field elements arrive as raw u32s; only canonical ones have one meaning.
    let canonical = |v: stwo::core::fields::m31::M31| v.0 < obelysk_vm::P;
    if !proof
        .claimed_sums
        .iter()
        .all(|s| s.to_m31_array().into_iter().all(canonical))
    {
        return bad("a claimed sum is not a canonical field element".into());
    }
    // The same for the STARK's own values: stwo decodes them unchecked, and its field
    // arithmetic on a value of p or more is not the field's (it wraps in release builds).
    let stark = &proof.stark.0;
    let fri = &stark.fri_proof;
    let secure = stark
        .sampled_values
        .iter()
        .flatten()
        .flatten()
        .chain(
            std::iter::once(&fri.first_layer)
                .chain(&fri.inner_layers)
                .flat_map(|l| &l.fri_witness),
        )
        .chain(fri.last_layer_poly.iter());
    let base = stark.queried_values.iter().flatten().flatten();
    if !(secure.flat_map(|v| v.to_m31_array()).all(canonical) && base.copied().all(canonical)) {
        return bad("a STARK value is not a canonical field element".into());
    }
    // Every input is read and every output written by a step of its own.
    let io = proof.claim.inputs.len() as u64 + proof.claim.outputs.len() as u64;
    if io > steps {
        return bad(format!(
            "{io} inputs and outputs cannot fit in {steps} steps"
        ));
    }
    if proof.stark.commitments.len() != 4 {
        return bad(format!(
            "{} commitments, expected 4",
            proof.stark.commitments.len()
        ));
    }
    // stwo stores the last FRI layer's size twice (coefficients and their log); it only reads
    // one, so insist they agree to keep the encoding free of unchecked bytes.
    let last_layer = &proof.stark.fri_proof.last_layer_poly;
    let stated_log = serde_json::to_value(last_layer)
        .ok()
        .and_then(|v| v.get("log_size").and_then(|l| l.as_u64()));
    let n_coeffs = last_layer.iter().count();
    if !n_coeffs.is_power_of_two() || stated_log != Some(u64::from(n_coeffs.ilog2())) {
        return bad("last FRI layer size is inconsistent".into());
    }
    Ok(())
}
