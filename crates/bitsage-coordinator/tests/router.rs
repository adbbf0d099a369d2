//! Router tests with `oneshot`: no socket, the real router over a real SQLite store.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use bitsage_coordinator::{router, Coordinator, CoordinatorConfig};
use bitsage_protocol::auth::SignedHeaders;
use bitsage_protocol::ErrorBody;
use bitsage_wallet::SigningKey;
use tower::ServiceExt;

async fn app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = CoordinatorConfig {
        database: format!("sqlite://{}", dir.path().join("c.db").display()),
        ..CoordinatorConfig::default()
    };
    (router(Coordinator::open(config).await.unwrap()), dir)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn signed(path: &str, body: &str, headers: &SignedHeaders) -> Request<Body> {
    let mut builder = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers.to_pairs() {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

fn error_code(bytes: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(bytes)
        .unwrap_or_else(|_| panic!("error body: {}", String::from_utf8_lossy(bytes)))
        .error
}

#[tokio::test]
async fn health_and_openapi_document_every_route() {
    let (app, _dir) = app().await;
    let (status, body) = send(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let health: bitsage_protocol::Health = serde_json::from_slice(&body).unwrap();
    assert_eq!(health.network, "local");

    let (status, body) = send(
        &app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in bitsage_coordinator::openapi::ROUTES {
        assert!(
            doc["paths"][route.path][route.method].is_object(),
            "{}",
            route.path
        );
        // Every documented route exists: an unsigned or empty call is refused by the route
        // itself, never with the fallback's `no_route`.
        let path = route
            .path
            .replace("{id}", "0x01")
            .replace("{address}", "0x01");
        let request = Request::builder()
            .method(route.method.to_uppercase().as_str())
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(&app, request).await;
        if status.is_client_error() && body.starts_with(b"{") {
            assert_ne!(
                error_code(&body),
                "no_route",
                "{} {}",
                route.method,
                route.path
            );
        }
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{}", route.path);
    }
    let (status, body) = send(&app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::NOT_FOUND, "no_route")
    );
}

#[tokio::test]
async fn signed_requests_are_checked_for_signature_time_and_replay() {
    let (app, _dir) = app().await;
    let key = SigningKey::generate();
    let body = "{}";

    let ok = SignedHeaders::sign(&key, "POST", "/accounts/faucet", body.as_bytes(), now());
    let (status, _) = send(&app, signed("/accounts/faucet", body, &ok)).await;
    assert_eq!(status, StatusCode::OK);

    // The same request again is a replay, even though its signature is valid.
    let (status, bytes) = send(&app, signed("/accounts/faucet", body, &ok)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::CONFLICT, "replayed_nonce")
    );

    // Signed for another path or body: the signature does not match.
    let other = SignedHeaders::sign(&key, "POST", "/accounts/claim", body.as_bytes(), now());
    let (status, bytes) = send(&app, signed("/accounts/faucet", body, &other)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
    let tampered =
        SignedHeaders::sign(&key, "POST", "/accounts/stake", br#"{"amount":"1"}"#, now());
    let (status, bytes) = send(
        &app,
        signed("/accounts/stake", r#"{"amount":"1000"}"#, &tampered),
    )
    .await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );

    // Another key's signature under this key's name.
    let mut forged = SignedHeaders::sign(
        &SigningKey::generate(),
        "POST",
        "/accounts/faucet",
        body.as_bytes(),
        now(),
    );
    forged.public_key = key.public_key();
    let (status, bytes) = send(&app, signed("/accounts/faucet", body, &forged)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );

    // Outside the skew window.
    let stale = SignedHeaders::sign(
        &key,
        "POST",
        "/accounts/faucet",
        body.as_bytes(),
        now() - 3600,
    );
    let (status, bytes) = send(&app, signed("/accounts/faucet", body, &stale)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::UNAUTHORIZED, "stale_timestamp")
    );

    // Unsigned.
    let request = Request::post("/jobs").body(Body::from("{}")).unwrap();
    let (status, bytes) = send(&app, request).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::UNAUTHORIZED, "unsigned_request")
    );

    // A worker may only lease for itself.
    let path = format!("/workers/{}/lease", SigningKey::generate().public_key());
    let h = SignedHeaders::sign(&key, "POST", &path, body.as_bytes(), now());
    let (status, bytes) = send(&app, signed(&path, body, &h)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::FORBIDDEN, "not_your_worker")
    );

    let (_, metrics) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("bitsage_auth_rejections_total{reason=\"replayed_nonce\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bitsage_auth_rejections_total{reason=\"bad_signature\"} 3"),
        "{metrics}"
    );
}

/// Submit, lease and result store their nonce with their own write; a refused request, or one
/// whose write was rolled back, still burns its nonce, so no replay gets through.
#[tokio::test]
async fn requests_that_store_their_nonce_with_their_write_cannot_be_replayed_either() {
    let (app, _dir) = app().await;
    let key = SigningKey::generate();
    let client: bitsage_ledger::Address = key.public_key().to_string().parse().unwrap();
    let submit = |idempotency_key: &str| {
        let request = bitsage_protocol::SubmitJobRequest {
            workload: bitsage_protocol::WorkloadKind::Custom,
            program: Some(obelysk_vm::asm::assemble("in r0\nout r0\nhalt\n", "j.oasm").unwrap()),
            params: Default::default(),
            inputs: vec![5],
            fee: bitsage_ledger::Amount::sage(1),
            deadline_secs: None,
            security_bits: None,
            max_steps: None,
            idempotency_key: Some(idempotency_key.into()),
        };
        let body = serde_json::to_string(&request).unwrap();
        let headers = SignedHeaders::sign(&key, "POST", "/jobs", body.as_bytes(), now());
        (body, headers)
    };
    let job_state = |key: &str| {
        let path = format!(
            "/jobs/{}",
            bitsage_coordinator::service::job_id_for(client, key)
        );
        let app = app.clone();
        async move {
            let (_, bytes) = send(&app, Request::get(&path).body(Body::empty()).unwrap()).await;
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["state"].clone()
        }
    };

    // Refused for want of funds: the job is kept as failed, the escrow rolled back.
    let (body, poor) = submit("k1");
    let (status, bytes) = send(&app, signed("/jobs", &body, &poor)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::PAYMENT_REQUIRED, "insufficient_funds")
    );
    assert_eq!(job_state("k1").await, "failed");
    let faucet = SignedHeaders::sign(&key, "POST", "/accounts/faucet", b"{}", now());
    assert_eq!(
        send(&app, signed("/accounts/faucet", "{}", &faucet))
            .await
            .0,
        StatusCode::OK
    );
    // Funded now, the refused request replayed is still refused.
    let (status, bytes) = send(&app, signed("/jobs", &body, &poor)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::CONFLICT, "replayed_nonce")
    );
    assert_eq!(job_state("k1").await, "failed");

    // Accepted, then replayed: one job, one fee.
    let (body, ok) = submit("k2");
    assert_eq!(
        send(&app, signed("/jobs", &body, &ok)).await.0,
        StatusCode::CREATED
    );
    let (status, bytes) = send(&app, signed("/jobs", &body, &ok)).await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::CONFLICT, "replayed_nonce")
    );
    let (_, bytes) = send(
        &app,
        Request::get(format!("/accounts/{client}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let account: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        account["balance"],
        serde_json::to_value(bitsage_ledger::Amount::sage(9_999)).unwrap(),
        "{account}"
    );

    // A lease refused (for another worker's id) burns its nonce too.
    let path = format!("/workers/{}/lease", SigningKey::generate().public_key());
    let h = SignedHeaders::sign(&key, "POST", &path, b"{}", now());
    for expected in ["not_your_worker", "replayed_nonce"] {
        let (_, bytes) = send(&app, signed(&path, "{}", &h)).await;
        assert_eq!(error_code(&bytes), expected);
    }
    // So does a result for a job that does not exist.
    let path = "/jobs/0x01/leases/l1/proof";
    let h = SignedHeaders::sign(&key, "POST", path, b"proof", now());
    for expected in ["unknown_job", "replayed_nonce"] {
        let (_, bytes) = send(&app, signed(path, "proof", &h)).await;
        assert_eq!(error_code(&bytes), expected);
    }

    let (_, metrics) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("bitsage_auth_rejections_total{reason=\"replayed_nonce\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_4xx_that_says_what_was_wrong() {
    let (app, _dir) = app().await;
    let key = SigningKey::generate();
    let body = r#"{"workload":"custom","fee":"ten"}"#;
    let h = SignedHeaders::sign(&key, "POST", "/jobs", body.as_bytes(), now());
    let (status, bytes) = send(&app, signed("/jobs", body, &h)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let err: ErrorBody = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(err.error, "malformed_body");
    assert!(err.message.contains("ten"), "{}", err.message);

    let (status, bytes) = send(
        &app,
        Request::get("/jobs/0xabc").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::NOT_FOUND, "unknown_job")
    );
    let (status, bytes) = send(
        &app,
        Request::get("/accounts/nothex")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&bytes).as_str()),
        (StatusCode::BAD_REQUEST, "malformed_address")
    );

    // Metrics parse as exposition text.
    let (_, metrics) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    bitsage_metrics::check_exposition(&String::from_utf8(metrics).unwrap()).unwrap();
}
