//! The OpenAPI 3.1 document served at `/openapi.json`, built from [`ROUTES`]; a test checks
//! that every documented route exists in the router and that every route is documented.

use serde_json::{json, Map, Value};

/// One endpoint: method, path, summary, whether it must be signed, request and response
/// schema names (from `bitsage-protocol`).
#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub signed: bool,
    pub request: Option<&'static str>,
    pub response: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    signed: bool,
    request: Option<&'static str>,
    response: &'static str,
) -> Route {
    Route {
        method,
        path,
        summary,
        signed,
        request,
        response,
    }
}

/// The request "schema" of a body that is a binary proof (`StarkProof::to_bytes`).
const PROOF_BYTES: &str = "ProofBytes";

pub const ROUTES: &[Route] = &[
    route("get", "/health", "Liveness, version, network and the coordinator's clock.", false, None, "Health"),
    route("get", "/metrics", "Prometheus text: jobs by state, lease expiries, verification failures, latencies, workers online.", false, None, "PrometheusText"),
    route("get", "/openapi.json", "This document.", false, None, "OpenApi"),
    route("post", "/jobs", "Submit a job; its fee is escrowed from the signer's balance.", true, Some("SubmitJobRequest"), "JobView"),
    route("get", "/jobs/{id}", "A job's state, attempts, worker, timings and verified outputs.", false, None, "JobView"),
    route("get", "/jobs/{id}/proof", "The proof file and its 32-byte commitment, once proved.", false, None, "ProofView"),
    route("post", "/jobs/{id}/result", "Submit a proof for a held lease; it is verified before it is accepted and paid.", true, Some("ResultRequest"), "ResultResponse"),
    route("post", "/jobs/{id}/leases/{lease_id}/proof", "The same as /jobs/{id}/result with the binary proof as the body (a quarter smaller than base64 in JSON); with ?next=true an accepted result also leases the worker's next queued job (`next` in the answer).", true, Some(PROOF_BYTES), "ResultResponse"),
    route("post", "/jobs/{id}/fail", "Give a leased job back with a reason.", true, Some("FailRequest"), "JobView"),
    route("get", "/workers", "Registered workers with GPUs, tier, online state and proofs done.", false, None, "WorkerViewList"),
    route("get", "/workers/{id}", "One worker with its latest jobs.", false, None, "WorkerDetail"),
    route("post", "/workers/register", "Register the signing key as a worker, with its GPUs and capacity.", true, Some("RegisterWorkerRequest"), "WorkerView"),
    route("post", "/workers/{id}/lease", "Long-poll for a job; answers a lease with an expiry or none.", true, Some("LeaseRequest"), "LeaseResponse"),
    route("post", "/workers/{id}/heartbeat", "Renew held leases and report GPUs and load.", true, Some("HeartbeatRequest"), "HeartbeatResponse"),
    route("get", "/accounts/{address}", "Balance, stake, pending unstake, rewards and tier.", false, None, "AccountInfo"),
    route("post", "/accounts/faucet", "Test networks only: a fixed grant, rate-limited.", true, Some("KeyedRequest"), "MovedResponse"),
    route("post", "/accounts/stake", "Stake SAGE from the balance.", true, Some("AmountRequest"), "MovedResponse"),
    route("post", "/accounts/unstake", "Start the cooldown on part of the stake.", true, Some("AmountRequest"), "MovedResponse"),
    route("post", "/accounts/withdraw", "Move matured unstakes to the balance.", true, Some("KeyedRequest"), "MovedResponse"),
    route("post", "/accounts/claim", "Move accrued staking rewards to the balance.", true, Some("KeyedRequest"), "MovedResponse"),
];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in ROUTES {
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method, r.path),
            "responses": {
                "200": { "description": "success", "content": { "application/json": { "schema": schema_ref(r.response) } } },
                "4XX": { "description": "refused", "content": { "application/json": { "schema": schema_ref("ErrorBody") } } },
                "500": { "description": "internal error (plain text)" }
            }
        });
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if r.request == Some(PROOF_BYTES) {
            op["requestBody"] = json!({ "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } });
        } else if let Some(req) = r.request {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema_ref(req) } } });
            schemas.insert(
                req.to_string(),
                json!({ "type": "object", "description": format!("`bitsage_protocol::{req}`") }),
            );
        }
        if r.signed {
            op["security"] = json!([{ "starkSignature": [] }]);
        }
        schemas.insert(r.response.to_string(), json!({ "type": "object", "description": format!("`bitsage_protocol::{}`", r.response) }));
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method] = op;
    }
    schemas.insert(
        "ErrorBody".into(),
        json!({ "type": "object", "required": ["error", "message"],
                "properties": { "error": { "type": "string" }, "message": { "type": "string" } } }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "BitSage coordinator",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Jobs, leases, the verification gate and the ledger of the BitSage proving network. Mutating requests are signed: headers x-bitsage-public-key, x-bitsage-timestamp (unix seconds), x-bitsage-nonce and x-bitsage-signature (Stark-curve ECDSA `0xR,0xS` over BLAKE3 of method, path with query, body hash, timestamp and nonce; see bitsage_protocol::auth)."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "starkSignature": { "type": "apiKey", "in": "header", "name": "x-bitsage-signature" }
            }
        }
    })
}
