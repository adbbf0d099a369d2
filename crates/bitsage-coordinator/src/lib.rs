//! `bitsage-coordinator`: the service between clients and workers.
//!
//! Clients submit jobs ([`service::Coordinator::submit`]), whose fees the ledger escrows;
//! staked workers long-poll for leases, highest tier first ([`dispatch`]); a returned proof is
//! verified against the job's own claim before the job is marked proved and the fee is paid
//! 80/18/2 (the verification gate in [`service`]). Jobs, workers, nonces and the ledger live in
//! one SQL database ([`store`]): SQLite by default, PostgreSQL for several replicas. Fees settle
//! in that database's embedded ledger by default, or on Starknet ([`SettlementKind::Starknet`],
//! through `bitsage-starknet`).
//!
//! Not here: proving (workers do it).

pub mod config;
pub mod dispatch;
pub mod error;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod service;
pub mod store;

pub use config::{CoordinatorConfig, Durability, SettlementKind};
pub use error::{ApiError, ApiResult};
pub use http::router;
pub use service::Coordinator;

/// Serves the API on `listener` until `shutdown` resolves, with the maintenance loop beside it.
pub async fn serve(
    coordinator: Coordinator,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = tokio::spawn(coordinator.clone().maintenance_loop());
    // In-flight requests finish; long-polls answer "no job" at once rather than hold the
    // shutdown for their whole wait.
    let closing = coordinator.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close_long_polls();
    };
    let result = axum::serve(listener, router(coordinator))
        .with_graceful_shutdown(shutdown)
        .await;
    maintenance.abort();
    result
}
