//! Committed golden proofs, re-verified on every run. A change to the AIR, the transcript or the
//! encodings that breaks them is a breaking change of the proof format: regenerate them with the
//! commands in `tests/fixtures/README.md` and bump `PROOF_VERSION`.

use obelysk_prover::soundness::field_bits;
use obelysk_prover::{Error, ExpectedClaim, ObelyskProver, ProverConfig, StarkProof, VerifyError};
use obelysk_vm::asm::assemble;
use obelysk_vm::M31;

const QUICKSTART: &str = include_str!("fixtures/quickstart.proof.json");
const DOT_RELU: &str = include_str!("fixtures/dot_relu_job.proof.json");
/// Made before the prover capped a proof's stated bits at what its challenges deliver.
const ML_128: &[u8] = include_bytes!("fixtures/ml_inference_128.proof.bin");
const ML_100: &[u8] = include_bytes!("fixtures/ml_inference_100.proof.bin");

fn verifier() -> ObelyskProver {
    ObelyskProver::new(ProverConfig::default())
}

fn program(source: &str) -> obelysk_vm::Program {
    assemble(source, "fixture.oasm").unwrap()
}

#[test]
fn quickstart_fixture_verifies() {
    let proof = StarkProof::from_json(QUICKSTART).unwrap();
    let expected = ExpectedClaim {
        program: Some(program(include_str!("../../../examples/quickstart.oasm"))),
        inputs: Some(vec![]),
        outputs: Some(vec![M31::new(11)]),
        job_id: Some(None),
        ..Default::default()
    };
    verifier().verify_claim(&proof, &expected).unwrap();
}

#[test]
fn job_bound_fixture_verifies_only_for_its_job() {
    let proof = StarkProof::from_json(DOT_RELU).unwrap();
    let job = [0xab; 32];
    let expected = ExpectedClaim {
        program: Some(program(include_str!("../../../examples/dot_relu.oasm"))),
        outputs: Some(vec![M31::new(5)]),
        job_id: Some(Some(job)),
        ..Default::default()
    };
    verifier().verify_claim(&proof, &expected).unwrap();
    let other_job = ExpectedClaim {
        job_id: Some(Some([0xac; 32])),
        ..Default::default()
    };
    assert!(verifier().verify_claim(&proof, &other_job).is_err());
}

#[test]
fn a_proof_with_128_bits_of_queries_delivers_what_its_challenges_allow() {
    let proof = StarkProof::from_bytes(ML_128).unwrap();
    assert_eq!(proof.config.security_bits, 128);
    let field = field_bits(&proof.shape);
    assert!((96..128).contains(&field), "{field}");
    assert_eq!(proof.security_bits(), field);
    verifier().check(&proof).unwrap();
    verifier()
        .with_min_security_bits(field)
        .check(&proof)
        .unwrap();
    assert_eq!(
        verifier().with_min_security_bits(128).check(&proof),
        Err(VerifyError::InsufficientSecurity {
            required: 128,
            found: field,
            queries: 128,
            field,
        })
    );
    let workload = obelysk_workloads::ml_inference(8, 42);
    assert_eq!(proof.program, workload.program);
    assert_eq!(proof.claim.inputs, workload.inputs);
}

#[test]
fn proving_is_deterministic() {
    let trace = {
        let mut vm = obelysk_vm::ObelyskVM::new();
        vm.load(&program(include_str!("../../../examples/quickstart.oasm")));
        vm.execute().unwrap()
    };
    let proof = verifier().prove_execution(&trace).unwrap();
    assert_eq!(
        proof.to_json(),
        QUICKSTART.trim_end(),
        "prover output changed: the proof format moved, regenerate the fixtures"
    );
}

/// Large enough (557 steps) for the prover's own evaluation loop (`air::quotients`), which
/// must give the composition polynomial stwo's loop gives: the proof is the committed one.
#[test]
fn proving_a_longer_trace_gives_the_committed_bytes() {
    let workload = obelysk_workloads::ml_inference(8, 42);
    let mut vm = obelysk_vm::ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs);
    let trace = vm.execute().unwrap();
    let proof = ObelyskProver::new(ProverConfig::with_security_bits(100))
        .prove_execution(&trace)
        .unwrap();
    assert!(
        proof.to_bytes() == ML_100,
        "prover output changed: the proof format moved, regenerate the fixtures"
    );
    // What the committed 128-bit proof states, its challenges cannot deliver: no longer made.
    let overstated =
        ObelyskProver::new(ProverConfig::with_security_bits(128)).prove_execution(&trace);
    assert!(
        matches!(&overstated, Err(Error::Config(why)) if why.contains("delivers at most")),
        "{overstated:?}"
    );
}
