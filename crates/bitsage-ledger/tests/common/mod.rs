//! Shared test setup: ledgers on SQLite; PostgreSQL servers come from `bitsage-testkit`.
#![allow(dead_code)]

use std::sync::Arc;

use bitsage_ledger::{LedgerConfig, ManualClock, Network, SqlLedger};

pub async fn sqlite_ledger(network: Network) -> (SqlLedger, ManualClock) {
    let clock = ManualClock::new(1_700_000_000);
    let ledger = SqlLedger::connect(
        "sqlite::memory:",
        LedgerConfig::for_network(network),
        Arc::new(clock.clone()),
    )
    .await
    .expect("in-memory SQLite opens");
    (ledger, clock)
}

#[allow(unused_imports)]
pub use bitsage_testkit::Postgres;
