//! Request and response bodies of the coordinator's HTTP API.
//!
//! Amounts are decimal SAGE strings, addresses and ids are `0x`-prefixed hex, times are unix
//! milliseconds. Proofs travel as base64 of the prover's binary encoding.

use bitsage_ledger::{AccountInfo, Address, Amount, StakeTier};
use obelysk_vm::Program;
use serde::{Deserialize, Serialize};

/// The error body of every 4xx answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code (`bad_signature`, `lease_not_held`, …).
    pub error: String,
    /// What was wrong, for people.
    pub message: String,
}

/// The workloads clients submit by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// A program given in the request.
    Custom,
    /// `params.batch_size` dot products with ReLU; `params.seed` picks the values.
    MlInference,
    DataTransform,
    PrivacyTransfer,
    BatchVerify,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Custom => "custom",
            WorkloadKind::MlInference => "ml-inference",
            WorkloadKind::DataTransform => "data-transform",
            WorkloadKind::PrivacyTransfer => "privacy-transfer",
            WorkloadKind::BatchVerify => "batch-verify",
        }
    }
}

/// Parameters of the named workloads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// `POST /jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitJobRequest {
    pub workload: WorkloadKind,
    /// Required for `custom`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<Program>,
    #[serde(default)]
    pub params: WorkloadParams,
    /// Public inputs (field elements below 2^31 - 1). For named workloads the coordinator
    /// derives them from `params`.
    #[serde(default)]
    pub inputs: Vec<u32>,
    /// Fee in SAGE, escrowed from the client's balance when the job is accepted.
    pub fee: Amount,
    /// Seconds from now until the job should be done; scheduling prefers early deadlines. A job
    /// no worker holds at its deadline fails, and its fee is refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
    /// Security the proof must reach; the coordinator raises it to its own minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_bits: Option<u32>,
    /// VM step limit for the job (default and cap set by the coordinator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// Makes a retried submission return the first job instead of creating another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, the fee is being escrowed.
    Pending,
    Queued,
    Leased,
    Proved,
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Pending,
        JobState::Queued,
        JobState::Leased,
        JobState::Proved,
        JobState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Queued => "queued",
            JobState::Leased => "leased",
            JobState::Proved => "proved",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// `GET /jobs/:id` and the answer to `POST /jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub job_id: String,
    pub client: Address,
    pub workload: WorkloadKind,
    pub state: JobState,
    pub program_hash: String,
    pub fee: Amount,
    pub security_bits: u32,
    pub max_steps: u64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub worker: Option<Address>,
    pub created_at: i64,
    pub deadline: i64,
    pub leased_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Public outputs, read from the verified proof's claim.
    pub outputs: Option<Vec<u32>>,
    pub steps: Option<u64>,
    /// The proof's 32-byte commitment.
    pub commitment: Option<String>,
    /// Why the last attempt failed, or why the job failed for good.
    pub last_error: Option<String>,
}

/// `GET /jobs/:id/proof`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofView {
    pub job_id: String,
    pub commitment: String,
    /// The proof file (the JSON `bitsage-proof verify` reads).
    pub proof_file: serde_json::Value,
}

/// What a worker needs to run a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub job_id: String,
    pub workload: WorkloadKind,
    pub program: Program,
    pub inputs: Vec<u32>,
    pub security_bits: u32,
    pub max_steps: u64,
    pub deadline: i64,
}

/// GPUs as a worker reports them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub index: u32,
    pub name: String,
    pub memory_mib: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<f32>,
}

/// What a worker can do; `steps_per_sec` is measured by `sage-worker bench` when present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub max_concurrent_jobs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_sec: Option<f64>,
}

/// `POST /workers/register`. The worker's id is its public key, taken from the signature.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisterWorkerRequest {
    #[serde(default)]
    pub gpus: Vec<GpuInfo>,
    pub capacity: Capacity,
}

/// `GET /workers` entries and the answer to registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerView {
    pub worker_id: Address,
    pub gpus: Vec<GpuInfo>,
    pub capacity: Capacity,
    pub stake: Amount,
    pub tier: Option<StakeTier>,
    pub online: bool,
    pub leases: u32,
    pub proofs_done: u64,
    pub invalid_proofs: u64,
    /// The worker's 80% of every fee it was paid, all time.
    pub earned: Amount,
    pub registered_at: i64,
    pub last_seen: i64,
}

/// `GET /workers/:id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerDetail {
    pub worker: WorkerView,
    /// Newest first, at most ten.
    pub recent_jobs: Vec<JobView>,
}

/// `POST /workers/:id/lease`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// Long-poll up to this many seconds (capped by the coordinator) when no job is queued.
    #[serde(default)]
    pub wait_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub lease_id: String,
    pub expires_at: i64,
    pub job: JobSpec,
}

/// `None` when the wait ended without work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseResponse {
    pub lease: Option<Lease>,
}

/// The most lease ids one heartbeat may carry: far above what the largest tier proves at once,
/// and low enough that a heartbeat stays one short transaction for the coordinator.
pub const MAX_HEARTBEAT_LEASES: usize = 4096;

/// `POST /workers/:id/heartbeat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// At most [`MAX_HEARTBEAT_LEASES`].
    pub lease_ids: Vec<String>,
    #[serde(default)]
    pub gpus: Vec<GpuInfo>,
    #[serde(default)]
    pub jobs_in_flight: u32,
    /// Capacity as measured now (`sage-worker bench`); replaces what registration declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// Leases renewed until `expires_at`.
    pub renewed: Vec<String>,
    /// Leases this worker no longer holds: stop working on them.
    pub lost: Vec<String>,
    pub expires_at: i64,
}

/// `POST /jobs/:id/result`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRequest {
    pub lease_id: String,
    /// Base64 of the binary proof.
    pub proof: String,
}

/// The fee as it was paid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub worker: Amount,
    pub treasury: Amount,
    pub stakers: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultResponse {
    pub job: JobView,
    pub payout: Option<Payout>,
    /// The worker's next job, when the upload asked for one (`?next=true`) and one was queued:
    /// a worker that keeps busy needs no lease request between jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Lease>,
}

/// `POST /jobs/:id/fail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailRequest {
    pub lease_id: String,
    pub reason: String,
}

/// `POST /accounts/stake` and `/accounts/unstake`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountRequest {
    pub amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `POST /accounts/faucet`, `/accounts/withdraw`, `/accounts/claim`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Answer of the ledger operations that move an amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedResponse {
    pub amount: Amount,
    pub account: AccountInfo,
}

/// `GET /health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub network: String,
    /// Coordinator clock, unix milliseconds (clients check their skew against it).
    pub now: i64,
    pub min_security_bits: u32,
    /// Where fees settle: `embedded` (the coordinator's ledger) or `starknet` (then accounts
    /// sign their own stake, unstake, withdraw and claim on chain).
    #[serde(default)]
    pub settlement: String,
}
