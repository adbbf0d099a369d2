//! The axum router: thin handlers over [`Coordinator`], the signed-body extractor, request
//! latency metrics.

use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use bitsage_ledger::Address;
use bitsage_protocol::*;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::service::{Coordinator, Upload};
use crate::store::Nonce;

/// Largest request body: a proof at 128 bits is under 1 MiB, base64 adds a third.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most of a body's announced length reserved before any of it arrives.
const PREALLOCATED_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A JSON body whose request was signed; `signer` is the verified key's address. Its nonce is
/// stored before the handler runs.
#[derive(Debug)]
pub struct Signed<T> {
    pub signer: Address,
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<Coordinator> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Coordinator) -> Result<Self, Self::Rejection> {
        let (signer, body, _, nonce) = signed_request(req, state).await?;
        finish(state, &nonce, Ok(())).await?;
        Ok(Signed {
            signer,
            body: json_body(&body)?,
        })
    }
}

/// A signed request whose handler stores its nonce in its first transaction, saving a commit
/// of its own: the hot routes (submit, lease, result). `finish` stores it when the handler
/// did not.
#[derive(Debug)]
pub struct Deferred<T> {
    pub signer: Address,
    pub body: T,
    pub nonce: Nonce,
}

impl<T: DeserializeOwned + Send> FromRequest<Coordinator> for Deferred<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Coordinator) -> Result<Self, Self::Rejection> {
        let (signer, body, _, nonce) = signed_request(req, state).await?;
        let refused = match json_body(&body) {
            Ok(body) => {
                return Ok(Deferred {
                    signer,
                    body,
                    nonce,
                })
            }
            Err(e) => e,
        };
        finish(state, &nonce, Err(refused)).await
    }
}

/// [`Deferred`] with a body of raw bytes, and their BLAKE3 (the signature covers it).
#[derive(Debug)]
pub struct DeferredBytes {
    pub signer: Address,
    pub body: Vec<u8>,
    pub body_hash: blake3::Hash,
    pub nonce: Nonce,
}

impl FromRequest<Coordinator> for DeferredBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Coordinator) -> Result<Self, Self::Rejection> {
        let (signer, body, body_hash, nonce) = signed_request(req, state).await?;
        Ok(DeferredBytes {
            signer,
            body,
            body_hash,
            nonce,
        })
    }
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("malformed_body", format!("request body is not valid: {e}"))
    })
}

/// The signer, body, body hash and nonce of a signed request whose signature and time are good.
async fn signed_request(
    req: Request,
    state: &Coordinator,
) -> ApiResult<(Address, Vec<u8>, blake3::Hash, Nonce)> {
    let (parts, body) = req.into_parts();
    let headers =
        SignedHeaders::from_lookup(|name| parts.headers.get(name).and_then(|v| v.to_str().ok()));
    let headers = match headers {
        Ok(h) => h,
        Err(e) => {
            state.metrics().auth_rejected(e.code());
            return Err(e.into());
        }
    };
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = read_body(body, length).await?;
    // The query is signed too: it may change what a request does (`?next=true`).
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let body_hash = blake3::hash(&body);
    let (signer, nonce) = state.authenticate(&headers, parts.method.as_str(), path, &body_hash)?;
    Ok((signer, body, body_hash, nonce))
}

/// The whole body, copied once from the connection's buffers into one allocation of the
/// announced length: a proof upload is a few hundred KiB, and collecting it in chunks copied it
/// again.
async fn read_body(mut body: Body, length: Option<usize>) -> ApiResult<Vec<u8>> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    if length.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    // Reserved up front only up to what a proof takes: the header is the sender's word, and a
    // body is read before its signature can be checked.
    let mut out = Vec::with_capacity(length.unwrap_or(0).min(PREALLOCATED_BODY_BYTES));
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| {
            ApiError::bad_request("unreadable_body", format!("reading the body failed: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Ends a signed request: stores its nonce unless the handler's transaction did, so that even
/// a refused request cannot be replayed, and counts a replay. A replay is answered as one
/// whatever the handler said.
async fn finish<R>(c: &Coordinator, nonce: &Nonce, result: ApiResult<R>) -> ApiResult<R> {
    let stored = c.store_nonce(nonce).await;
    let result = match (result, stored) {
        (_, Err(e)) | (Err(e), Ok(())) => Err(e),
        (Ok(v), Ok(())) => Ok(v),
    };
    if let Err(e) = &result {
        let replayed = AuthError::ReplayedNonce {
            nonce: String::new(),
        };
        if e.code() == replayed.code() {
            c.metrics().auth_rejected(e.code());
        }
    }
    result
}

/// The whole API.
pub fn router(coordinator: Coordinator) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/jobs", post(submit_job))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/proof", get(job_proof))
        .route("/jobs/{id}/result", post(job_result))
        .route("/jobs/{id}/leases/{lease_id}/proof", post(job_proof_upload))
        .route("/jobs/{id}/fail", post(job_fail))
        .route("/workers", get(workers))
        .route("/workers/register", post(register))
        .route("/workers/{id}", get(worker))
        .route("/workers/{id}/lease", post(lease))
        .route("/workers/{id}/heartbeat", post(heartbeat))
        .route("/accounts/{address}", get(account))
        .route("/accounts/faucet", post(faucet))
        .route("/accounts/stake", post(stake))
        .route("/accounts/unstake", post(unstake))
        .route("/accounts/withdraw", post(withdraw))
        .route("/accounts/claim", post(claim))
        .route_layer(middleware::from_fn_with_state(coordinator.clone(), observe))
        .fallback(|| async {
            ApiError::not_found("no_route", "no such endpoint; see /openapi.json")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(coordinator)
}

async fn observe(State(c): State<Coordinator>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    c.metrics()
        .observe_request(&method, &route, started.elapsed().as_secs_f64());
    response
}

/// An address from the path; `code` names which kind the route expects.
fn path_address(text: &str, code: &'static str) -> ApiResult<Address> {
    text.parse()
        .map_err(|e| ApiError::bad_request(code, format!("{e}")))
}

fn same_worker(path_id: &str, signer: Address) -> ApiResult<()> {
    let id = path_address(path_id, "malformed_worker_id")?;
    if id != signer {
        return Err(ApiError::forbidden(
            "not_your_worker",
            format!("the request is signed by {signer}, not by worker {id}"),
        ));
    }
    Ok(())
}

async fn health(State(c): State<Coordinator>) -> Json<Health> {
    Json(c.health())
}

async fn metrics(State(c): State<Coordinator>) -> ApiResult<Response> {
    let text = c.metrics_text().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(crate::openapi::document().to_string()),
    )
        .into_response()
}

async fn submit_job(
    State(c): State<Coordinator>,
    req: Deferred<SubmitJobRequest>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let job = c.submit(req.signer, req.body, &req.nonce).await;
    let job = finish(&c, &req.nonce, job).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

async fn job(State(c): State<Coordinator>, Path(id): Path<String>) -> ApiResult<Json<JobView>> {
    Ok(Json(c.job(&id).await?))
}

async fn job_proof(
    State(c): State<Coordinator>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProofView>> {
    Ok(Json(c.proof(&id).await?))
}

async fn job_result(
    State(c): State<Coordinator>,
    Path(id): Path<String>,
    req: Deferred<ResultRequest>,
) -> ApiResult<Json<ResultResponse>> {
    let answer = match base64::engine::general_purpose::STANDARD.decode(req.body.proof.as_bytes()) {
        Ok(bytes) => {
            let upload = Upload {
                bytes,
                blake3: None,
            };
            c.submit_result(
                req.signer,
                &id,
                &req.body.lease_id,
                upload,
                &req.nonce,
                false,
            )
            .await
        }
        Err(e) => Err(ApiError::bad_request(
            "malformed_proof",
            format!("proof is not base64: {e}"),
        )),
    };
    Ok(Json(finish(&c, &req.nonce, answer).await?))
}

/// `POST /jobs/:id/leases/:lease_id/proof[?next=true]`: with `next`, an accepted result also
/// leases the worker's next queued job, so a busy worker makes one request per job.
async fn job_proof_upload(
    State(c): State<Coordinator>,
    Path((id, lease_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    req: DeferredBytes,
) -> ApiResult<Json<ResultResponse>> {
    let answer = match next_wanted(query.as_deref()) {
        Ok(next) => {
            let upload = Upload {
                bytes: req.body,
                blake3: Some(req.body_hash),
            };
            c.submit_result(req.signer, &id, &lease_id, upload, &req.nonce, next)
                .await
        }
        Err(e) => Err(e),
    };
    Ok(Json(finish(&c, &req.nonce, answer).await?))
}

/// Whether an upload's query (`next=true` or `next=false`, or none) asks for the next job.
fn next_wanted(query: Option<&str>) -> ApiResult<bool> {
    match query.unwrap_or("") {
        "" | "next=false" => Ok(false),
        "next=true" => Ok(true),
        other => Err(ApiError::bad_request(
            "malformed_query",
            format!("unknown query `{other}`: the only option is next=true or next=false"),
        )),
    }
}

async fn job_fail(
    State(c): State<Coordinator>,
    Path(id): Path<String>,
    req: Signed<FailRequest>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(c.fail(req.signer, &id, req.body).await?))
}

async fn workers(State(c): State<Coordinator>) -> ApiResult<Json<Vec<WorkerView>>> {
    Ok(Json(c.workers().await?))
}

async fn worker(
    State(c): State<Coordinator>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkerDetail>> {
    let id = path_address(&id, "malformed_worker_id")?;
    Ok(Json(c.worker(id).await?))
}

async fn register(
    State(c): State<Coordinator>,
    req: Signed<RegisterWorkerRequest>,
) -> ApiResult<Json<WorkerView>> {
    Ok(Json(c.register(req.signer, req.body).await?))
}

async fn lease(
    State(c): State<Coordinator>,
    Path(id): Path<String>,
    req: Deferred<LeaseRequest>,
) -> ApiResult<Json<LeaseResponse>> {
    let lease = match same_worker(&id, req.signer) {
        Ok(()) => c.lease(req.signer, req.body.wait_secs, &req.nonce).await,
        Err(e) => Err(e),
    };
    let lease = finish(&c, &req.nonce, lease).await?;
    Ok(Json(LeaseResponse { lease }))
}

async fn heartbeat(
    State(c): State<Coordinator>,
    Path(id): Path<String>,
    req: Signed<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    same_worker(&id, req.signer)?;
    Ok(Json(c.heartbeat(req.signer, req.body).await?))
}

async fn account(
    State(c): State<Coordinator>,
    Path(address): Path<String>,
) -> ApiResult<Json<bitsage_ledger::AccountInfo>> {
    let address = path_address(&address, "malformed_address")?;
    Ok(Json(c.account(address).await?))
}

async fn faucet(
    State(c): State<Coordinator>,
    req: Signed<KeyedRequest>,
) -> ApiResult<Json<MovedResponse>> {
    Ok(Json(
        c.faucet(req.signer, req.body.idempotency_key.as_deref())
            .await?,
    ))
}

async fn stake(
    State(c): State<Coordinator>,
    req: Signed<AmountRequest>,
) -> ApiResult<Json<MovedResponse>> {
    Ok(Json(c.stake(req.signer, req.body).await?))
}

async fn unstake(
    State(c): State<Coordinator>,
    req: Signed<AmountRequest>,
) -> ApiResult<Json<MovedResponse>> {
    Ok(Json(c.unstake(req.signer, req.body).await?))
}

async fn withdraw(
    State(c): State<Coordinator>,
    req: Signed<KeyedRequest>,
) -> ApiResult<Json<MovedResponse>> {
    Ok(Json(
        c.withdraw(req.signer, req.body.idempotency_key.as_deref())
            .await?,
    ))
}

async fn claim(
    State(c): State<Coordinator>,
    req: Signed<KeyedRequest>,
) -> ApiResult<Json<MovedResponse>> {
    Ok(Json(
        c.claim(req.signer, req.body.idempotency_key.as_deref())
            .await?,
    ))
}
