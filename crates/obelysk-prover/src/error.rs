//! Errors of proving and verifying.

use obelysk_vm::VmError;

/// Why a proof was refused. Each variant names what did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "proof gives {found} bits of security (its queries and proof of work {queries}, its \
         QM31 challenges {field} at its size), the verifier requires at least {required}"
    )]
    InsufficientSecurity {
        required: u32,
        found: u32,
        queries: u32,
        field: u32,
    },
    #[error("proof config says {stated} bits but its parameters give {delivered}")]
    MisstatedSecurity { stated: u32, delivered: u32 },
    #[error("proof's embedded program does not hash to the claimed program hash")]
    ProgramHashMismatch,
    #[error("proof is for program {found}, expected {expected}")]
    WrongProgram { expected: String, found: String },
    #[error("proof's inputs differ from the expected inputs")]
    WrongInputs,
    #[error("proof's outputs differ from the expected outputs")]
    WrongOutputs,
    #[error("proof's job id {found} differs from the expected {expected}")]
    WrongJobId { expected: String, found: String },
    #[error("proof's step count {found} differs from the expected {expected}")]
    WrongSteps { expected: u64, found: u64 },
    #[error("proof shape is invalid: {0}")]
    BadShape(String),
    #[error("preprocessed commitment does not match the program")]
    PreprocessedMismatch,
    #[error("lookup arguments do not balance (LogUp sum is not zero)")]
    LogupSumNonZero,
    #[error("STARK verification failed: {0}")]
    Stark(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("execution failed: {0}")]
    Vm(#[from] VmError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("proof rejected: {0}")]
    Verify(#[from] VerifyError),
    #[error("proving failed: {0}")]
    Proving(String),
    #[error("proof file is malformed: {0}")]
    Decode(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
