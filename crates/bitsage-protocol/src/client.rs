//! A typed async client for the coordinator's API, used by the worker and the CLIs.

use std::time::Duration;

use bitsage_ledger::{AccountInfo, Address, Amount};
use bitsage_wallet::SigningKey;
use serde::{de::DeserializeOwned, Serialize};

use crate::api::*;
use crate::auth::SignedHeaders;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("coordinator refused {method} {path} ({status}, {code}): {message}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "coordinator answered {method} {path} with a body that is not the expected JSON: {reason}"
    )]
    Decode {
        method: &'static str,
        path: String,
        reason: String,
    },
    #[error("this call must be signed: the client has no key")]
    NoKey,
}

impl ClientError {
    /// The API error code, when the coordinator answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Worth retrying later: the coordinator was unreachable or failed internally.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The innermost cause ("Connection refused (os error 111)", "operation timed out"): reqwest's
/// outer layers repeat the URL, which the message already names.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() {
        format!("timed out ({cause})")
    } else {
        cause.to_string()
    }
}

/// The coordinator's API over HTTP.
#[derive(Clone, Debug)]
pub struct CoordinatorClient {
    base: String,
    http: reqwest::Client,
    key: Option<SigningKey>,
}

impl CoordinatorClient {
    /// A client for `base_url` (`http://127.0.0.1:8080`); `key` signs mutating calls.
    pub fn new(base_url: &str, key: Option<SigningKey>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client without TLS always builds");
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            key,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn key(&self) -> Option<&SigningKey> {
        self.key.as_ref()
    }

    /// This client's account address (its public key).
    pub fn address(&self) -> Result<Address> {
        let key = self.key.as_ref().ok_or(ClientError::NoKey)?;
        Ok(crate::address_of(&key.public_key()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30));
        self.send("GET", path, request).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body).expect("API bodies serialize");
        self.post_signed(path, bytes, "application/json", timeout)
            .await
    }

    async fn post_signed<T: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
        timeout: Duration,
    ) -> Result<T> {
        let key = self.key.as_ref().ok_or(ClientError::NoKey)?;
        let signed = SignedHeaders::sign(key, "POST", path, &bytes, crate::unix_millis() / 1000);
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .timeout(timeout)
            .body(bytes);
        for (name, value) in signed.to_pairs() {
            request = request.header(name, value);
        }
        self.send("POST", path, request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T> {
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: self.base.clone(),
            reason: root_cause(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => (body.error, body.message),
                Err(_) => (
                    "http_error".to_string(),
                    String::from_utf8_lossy(&bytes).chars().take(500).collect(),
                ),
            };
            return Err(ClientError::Api {
                method,
                path: path.to_string(),
                status: status.as_u16(),
                code,
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            method,
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    pub async fn health(&self) -> Result<Health> {
        self.get("/health").await
    }

    pub async fn submit_job(&self, request: &SubmitJobRequest) -> Result<JobView> {
        self.post("/jobs", request, Duration::from_secs(30)).await
    }

    pub async fn job(&self, job_id: &str) -> Result<JobView> {
        self.get(&format!("/jobs/{job_id}")).await
    }

    pub async fn job_proof(&self, job_id: &str) -> Result<ProofView> {
        self.get(&format!("/jobs/{job_id}/proof")).await
    }

    pub async fn register(&self, request: &RegisterWorkerRequest) -> Result<WorkerView> {
        self.post("/workers/register", request, Duration::from_secs(30))
            .await
    }

    pub async fn workers(&self) -> Result<Vec<WorkerView>> {
        self.get("/workers").await
    }

    pub async fn worker(&self, worker: Address) -> Result<WorkerDetail> {
        self.get(&format!("/workers/{worker}")).await
    }

    /// Long-polls for a job for up to `wait_secs`.
    pub async fn lease(&self, wait_secs: u32) -> Result<Option<Lease>> {
        let path = format!("/workers/{}/lease", self.address()?);
        let timeout = Duration::from_secs(u64::from(wait_secs) + 30);
        let response: LeaseResponse = self
            .post(&path, &LeaseRequest { wait_secs }, timeout)
            .await?;
        Ok(response.lease)
    }

    pub async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse> {
        let path = format!("/workers/{}/heartbeat", self.address()?);
        self.post(&path, request, Duration::from_secs(30)).await
    }

    /// Submits a proof; verification happens before the answer, so allow it time.
    pub async fn submit_result(
        &self,
        job_id: &str,
        request: &ResultRequest,
    ) -> Result<ResultResponse> {
        self.post(
            &format!("/jobs/{job_id}/result"),
            request,
            Duration::from_secs(300),
        )
        .await
    }

    /// Submits a binary proof (`StarkProof::to_bytes`) for `lease_id`, as the body itself: a
    /// quarter smaller than [`Self::submit_result`]'s base64 in JSON, and cheaper to check.
    pub async fn submit_proof(
        &self,
        job_id: &str,
        lease_id: &str,
        proof: Vec<u8>,
    ) -> Result<ResultResponse> {
        self.upload_proof(&format!("/jobs/{job_id}/leases/{lease_id}/proof"), proof)
            .await
    }

    /// [`CoordinatorClient::submit_proof`], and a lease on the next queued job in the same
    /// request (`ResultResponse::next`, without waiting). The result stands even when no job
    /// comes back.
    pub async fn submit_proof_and_lease(
        &self,
        job_id: &str,
        lease_id: &str,
        proof: Vec<u8>,
    ) -> Result<ResultResponse> {
        self.upload_proof(
            &format!("/jobs/{job_id}/leases/{lease_id}/proof?next=true"),
            proof,
        )
        .await
    }

    async fn upload_proof(&self, path: &str, proof: Vec<u8>) -> Result<ResultResponse> {
        self.post_signed(
            path,
            proof,
            "application/octet-stream",
            Duration::from_secs(300),
        )
        .await
    }

    pub async fn fail(&self, job_id: &str, request: &FailRequest) -> Result<JobView> {
        self.post(
            &format!("/jobs/{job_id}/fail"),
            request,
            Duration::from_secs(30),
        )
        .await
    }

    pub async fn account(&self, address: Address) -> Result<AccountInfo> {
        self.get(&format!("/accounts/{address}")).await
    }

    pub async fn faucet(&self) -> Result<MovedResponse> {
        self.post(
            "/accounts/faucet",
            &KeyedRequest::default(),
            Duration::from_secs(30),
        )
        .await
    }

    pub async fn stake(&self, amount: Amount) -> Result<MovedResponse> {
        let body = AmountRequest {
            amount,
            idempotency_key: None,
        };
        self.post("/accounts/stake", &body, Duration::from_secs(30))
            .await
    }

    pub async fn unstake(&self, amount: Amount) -> Result<MovedResponse> {
        let body = AmountRequest {
            amount,
            idempotency_key: None,
        };
        self.post("/accounts/unstake", &body, Duration::from_secs(30))
            .await
    }

    pub async fn withdraw(&self) -> Result<MovedResponse> {
        self.post(
            "/accounts/withdraw",
            &KeyedRequest::default(),
            Duration::from_secs(30),
        )
        .await
    }

    pub async fn claim(&self) -> Result<MovedResponse> {
        self.post(
            "/accounts/claim",
            &KeyedRequest::default(),
            Duration::from_secs(30),
        )
        .await
    }
}
