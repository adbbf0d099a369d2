//! End to end: prove, verify, and reject every kind of mismatch or tampering.

mod common;

use obelysk_prover::{ExpectedClaim, ObelyskProver, ProverConfig, StarkProof, VerifyError};
use obelysk_vm::asm::assemble;
use obelysk_vm::{Instruction, ObelyskVM, OpCode, M31};

fn prover() -> ObelyskProver {
    ObelyskProver::new(ProverConfig::default())
}

fn all_opcodes_proof(job: Option<[u8; 32]>) -> (obelysk_vm::ExecutionTrace, StarkProof) {
    let trace = common::all_opcodes_trace();
    let proof = prover().prove_for_job(&trace, job).unwrap();
    (trace, proof)
}

#[test]
fn quickstart_proves_and_verifies() {
    let mut vm = ObelyskVM::new();
    vm.load_program(vec![
        Instruction::new(OpCode::LoadImm, 0, 2, 0),
        Instruction::new(OpCode::LoadImm, 1, 3, 0),
        Instruction::new(OpCode::Mul, 2, 0, 1),
        Instruction::new(OpCode::LoadImm, 3, 5, 0),
        Instruction::new(OpCode::Add, 4, 2, 3),
        Instruction::new(OpCode::Out, 0, 4, 0),
    ]);
    let trace = vm.execute().unwrap();
    assert_eq!(trace.outputs(), &[M31::new(11)]);
    let proof = prover().prove_execution(&trace).unwrap();
    assert!(prover().verify(&proof).unwrap());
    assert_eq!(proof.claim.outputs, vec![M31::new(11)]);
    assert_eq!(proof.claim.steps, 7);
}

#[test]
fn every_opcode_proves_and_the_claim_matches_execution() {
    let job = [0xab; 32];
    let (trace, proof) = all_opcodes_proof(Some(job));
    let expected = ExpectedClaim {
        program: Some(trace.program().clone()),
        inputs: Some(trace.inputs().to_vec()),
        outputs: Some(trace.outputs().to_vec()),
        steps: Some(trace.steps().len() as u64),
        job_id: Some(Some(job)),
    };
    prover().verify_claim(&proof, &expected).unwrap();
}

/// A regression test: stwo 2.3 could reject valid proofs whose CPU table is taller than every
/// preprocessed column (about one query set in ten), so each job id, which changes the queries,
/// must verify. 40 job ids catch a 1-in-10 failure with probability 98.5%.
#[test]
fn tall_executions_verify_for_every_query_set() {
    let workload = obelysk_workloads::bench_loop(1 << 13);
    let mut vm = ObelyskVM::new();
    vm.load(&workload.program);
    vm.set_inputs(workload.inputs);
    let trace = vm.execute().unwrap();
    let prover = prover();
    let rejected: Vec<u8> = (0..40u8)
        .filter(|&job| {
            let proof = prover.prove_for_job(&trace, Some([job; 32])).unwrap();
            prover.check(&proof).is_err()
        })
        .collect();
    assert!(
        rejected.is_empty(),
        "valid proofs rejected for job ids {rejected:?}"
    );
}

#[test]
fn expectations_that_differ_are_rejected() {
    let job = [7; 32];
    let (trace, proof) = all_opcodes_proof(Some(job));
    let other_program = assemble("loadi r1, 1\nout r1\nhalt", "other.oasm").unwrap();
    let cases = [
        (
            ExpectedClaim {
                program: Some(other_program),
                ..Default::default()
            },
            "program",
        ),
        (
            ExpectedClaim {
                inputs: Some(vec![M31::new(3)]),
                ..Default::default()
            },
            "inputs",
        ),
        (
            ExpectedClaim {
                outputs: Some(vec![M31::ONE]),
                ..Default::default()
            },
            "outputs",
        ),
        (
            ExpectedClaim {
                job_id: Some(Some([8; 32])),
                ..Default::default()
            },
            "job",
        ),
        (
            ExpectedClaim {
                job_id: Some(None),
                ..Default::default()
            },
            "no job",
        ),
        (
            ExpectedClaim {
                steps: Some(trace.steps().len() as u64 + 1),
                ..Default::default()
            },
            "steps",
        ),
    ];
    for (expected, what) in cases {
        assert!(
            prover().verify_claim(&proof, &expected).is_err(),
            "{what} mismatch accepted"
        );
    }
}

type Edit = Box<dyn Fn(&mut StarkProof)>;

/// Rewriting the claim inside a valid proof must break the proof itself, not just a comparison:
/// the claim is in the transcript and in the LogUp boundary terms.
#[test]
fn a_proof_does_not_transfer_to_another_claim() {
    let (_, proof) = all_opcodes_proof(None);
    let other_program = assemble(
        &common::ALL_OPCODES.replace("muli r8, r2, 3", "muli r8, r2, 4"),
        "x",
    )
    .unwrap();
    let mut edits: Vec<(&str, Edit)> = vec![
        ("input", Box::new(|p| p.claim.inputs[2] = M31::new(5))),
        (
            "output",
            Box::new(|p| p.claim.outputs[0] = p.claim.outputs[0] + M31::ONE),
        ),
        ("job id", Box::new(|p| p.claim.job_id = Some([1; 32]))),
        ("steps", Box::new(|p| p.claim.steps += 1)),
        ("dropped output", Box::new(|p| p.claim.outputs.truncate(1))),
    ];
    edits.push((
        "program",
        Box::new(move |p| {
            p.program = other_program.clone();
            p.claim.program_hash = other_program.hash();
        }),
    ));
    for (what, edit) in edits {
        let mut forged = proof.clone();
        edit(&mut forged);
        assert!(
            prover().check(&forged).is_err(),
            "proof accepted for another {what}"
        );
    }
}

#[test]
fn flipping_bytes_of_a_serialized_proof_is_rejected() {
    let (_, proof) = all_opcodes_proof(Some([3; 32]));
    let bytes = proof.to_bytes();
    let roundtrip = StarkProof::from_bytes(&bytes).unwrap();
    prover().check(&roundtrip).unwrap();
    // A spread of positions across the whole encoding, including the header and the end.
    let positions: Vec<usize> = (0..48)
        .map(|i| i * (bytes.len() - 1) / 47)
        .chain([0, 8, 12, 13, bytes.len() - 1])
        .collect();
    for pos in positions {
        for flip in [0x01u8, 0x80] {
            let mut forged = bytes.clone();
            forged[pos] ^= flip;
            if let Ok(p) = StarkProof::from_bytes(&forged) {
                assert!(
                    prover().check(&p).is_err(),
                    "flip {flip:#x} at byte {pos} accepted"
                );
            }
        }
    }
}

#[test]
fn json_round_trips_and_detects_edits() {
    let (_, proof) = all_opcodes_proof(Some([9; 32]));
    let json = proof.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["version", "claim", "config", "commitment", "proof"] {
        assert!(value.get(key).is_some(), "missing {key}");
    }
    assert_eq!(
        value["claim"]["job_id"],
        serde_json::json!(format!("0x{}", "09".repeat(32)))
    );
    let back = StarkProof::from_json(&json).unwrap();
    assert_eq!(back.commitment(), proof.commitment());
    prover().check(&back).unwrap();

    let edited = json.replacen("\"steps\": ", "\"steps\": 1", 1);
    assert!(
        StarkProof::from_json(&edited).is_err(),
        "edited claim kept its commitment"
    );
}

#[test]
fn security_floor_is_enforced() {
    let trace = common::all_opcodes_trace();
    let weak = ObelyskProver::new(ProverConfig {
        security_bits: 60,
        log_blowup: 1,
        pow_bits: 10,
    })
    .with_min_security_bits(50);
    let proof = weak.prove_execution(&trace).unwrap();
    weak.check(&proof).unwrap();
    assert!(matches!(
        prover().check(&proof),
        Err(VerifyError::InsufficientSecurity { required: 96, .. })
    ));
    let mut overstated = proof.clone();
    overstated.config.security_bits = 128;
    assert!(matches!(
        prover().check(&overstated),
        Err(VerifyError::MisstatedSecurity { .. })
    ));

    // The most this trace's challenges deliver can be asked for and is verified at; one bit
    // more is refused before any work.
    let most = obelysk_prover::soundness::field_bits(&obelysk_prover::Shape::of(&trace));
    assert!((96..128).contains(&most), "{most}");
    let strong =
        ObelyskProver::new(ProverConfig::with_security_bits(most)).with_min_security_bits(most);
    let proof = strong.prove_execution(&trace).unwrap();
    assert_eq!(proof.security_bits(), most);
    strong.check(&proof).unwrap();
    // Whatever the blowup, which rounds the query bits up in steps of its log: the request is
    // what is held to the bound, and the proof is counted at what it delivers.
    for log_blowup in [1, 2, 3] {
        let config = |security_bits| ProverConfig {
            security_bits,
            log_blowup,
            pow_bits: 16,
        };
        let proof = ObelyskProver::new(config(most))
            .prove_execution(&trace)
            .unwrap();
        assert_eq!(proof.security_bits(), most);
        let too_strong = ObelyskProver::new(config(most + 1));
        assert!(matches!(
            too_strong.prove_execution(&trace),
            Err(obelysk_prover::Error::Config(why)) if why.contains(&format!("at most {most} bits"))
        ));
    }
}

#[test]
fn random_programs_prove_what_the_vm_computes() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for case in 0..6 {
        let n = rng.gen_range(1..12);
        let mut source = String::from("loadi r15, 1\n");
        for _ in 0..n {
            let (a, b, c) = (
                rng.gen_range(1..8),
                rng.gen_range(1..8),
                rng.gen_range(1..8),
            );
            let imm: i32 = rng.gen_range(-1000..1000);
            source += &match rng.gen_range(0..7) {
                0 => format!("add r{a}, r{b}, r{c}\n"),
                1 => format!("sub r{a}, r{b}, r{c}\n"),
                2 => format!("mul r{a}, r{b}, r{c}\n"),
                3 => format!("addi r{a}, r{b}, {imm}\n"),
                4 => format!("store r{b}, [r0 + {}]\nload r{a}, [r0 + {}]\n", case, case),
                5 => format!("loadi r{a}, {}\n", imm.unsigned_abs()),
                _ => format!("muli r{a}, r{b}, {imm}\n"),
            };
        }
        source += "out r1\nout r2\nout r3\nhalt\n";
        let trace = common::run(&source, &[]);
        let proof = prover().prove_execution(&trace).unwrap();
        prover().check(&proof).unwrap();
        assert_eq!(proof.claim.outputs, trace.outputs());
    }
}

#[test]
#[ignore = "slow exhaustive sweep; run with --ignored when touching encodings"]
fn flipping_every_byte_is_rejected() {
    let (_, proof) = all_opcodes_proof(Some([3; 32]));
    let bytes = proof.to_bytes();
    let step = std::env::var("FLIP_STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(97);
    for pos in (0..bytes.len()).step_by(step) {
        let mut forged = bytes.clone();
        forged[pos] ^= 0x01;
        if let Ok(p) = StarkProof::from_bytes(&forged) {
            assert!(prover().check(&p).is_err(), "flip at byte {pos} accepted");
        }
    }
}

/// Hostile proofs found in review: each must be a clean rejection, never a panic or a wrong
/// claim.
#[test]
fn hostile_encodings_are_rejected_cleanly() {
    let (_, proof) = all_opcodes_proof(None);

    // An output of p + 5 would alias 5 in the field: it must not even decode.
    let mut value = serde_json::to_value(&proof).unwrap();
    value["claim"]["outputs"][0] = serde_json::json!(obelysk_vm::P as u64 + 5);
    assert!(serde_json::from_value::<StarkProof>(value).is_err());

    // A huge blowup would make the verifier build enormous domains.
    let mut forged = proof.clone();
    forged.config = obelysk_prover::ProofConfig {
        security_bits: 96,
        log_blowup: 8,
        n_queries: 12,
        pow_bits: 0,
    };
    assert!(matches!(
        prover().check(&forged),
        Err(VerifyError::BadShape(_))
    ));

    // Claimed sums must be canonical field elements.
    let mut forged = proof.clone();
    let raw = stwo::core::fields::m31::M31(u32::MAX);
    forged.claimed_sums[0] = stwo::core::fields::qm31::QM31::from_m31_array([raw; 4]);
    let verdict = prover().check(&forged);
    assert!(
        matches!(verdict, Err(VerifyError::BadShape(_))),
        "{verdict:?}"
    );

    // So must the STARK's own values: a queried value or an out-of-domain sample written as
    // v + p (the same field element, another u32).
    let alias = |v: stwo::core::fields::m31::M31| stwo::core::fields::m31::M31(v.0 + obelysk_vm::P);
    let mut forged = proof.clone();
    let queried = &mut forged.stark.0.queried_values[1][0][0];
    *queried = alias(*queried);
    let verdict = prover().check(&forged);
    assert!(
        matches!(&verdict, Err(VerifyError::BadShape(why)) if why.contains("canonical")),
        "{verdict:?}"
    );
    let mut forged = proof.clone();
    let sampled = &mut forged.stark.0.sampled_values[1][0][0];
    let mut coords = sampled.to_m31_array();
    coords[2] = alias(coords[2]);
    *sampled = stwo::core::fields::qm31::QM31::from_m31_array(coords);
    let verdict = prover().check(&forged);
    assert!(
        matches!(&verdict, Err(VerifyError::BadShape(why)) if why.contains("canonical")),
        "{verdict:?}"
    );

    // More inputs and outputs than steps cannot be honest.
    let mut forged = proof.clone();
    forged.claim.outputs = vec![M31::ONE; 10_000];
    assert!(matches!(
        prover().check(&forged),
        Err(VerifyError::BadShape(_))
    ));

    // Bytes after the proof are not ignored.
    let mut bytes = proof.to_bytes();
    bytes.push(0);
    assert!(StarkProof::from_bytes(&bytes).is_err());
}
