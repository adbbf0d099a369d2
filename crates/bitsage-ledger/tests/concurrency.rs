//! Many callers spending one balance at once never overdraw it: on SQLite always, and on
//! PostgreSQL with two ledger instances (two coordinator replicas) when a server can be started.

mod common;

use std::sync::Arc;

use bitsage_ledger::{Address, Amount, LedgerConfig, Network, Settlement, SqlLedger, SystemClock};

/// 40 tasks try to escrow 500 SAGE each from a 10,000 SAGE balance: exactly 20 may succeed.
async fn race(ledgers: Vec<SqlLedger>, tag: &str) {
    let client = Address::from_u64(7);
    ledgers[0].faucet(client, None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let ledger = ledgers[i % ledgers.len()].clone();
        let job = format!("{tag}-{i}");
        tasks.push(tokio::spawn(async move {
            ledger.escrow(&job, client, Amount::sage(500)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 20, "exactly the balance's worth of escrows succeed");
    let account = ledgers[0].account(client).await.unwrap();
    assert_eq!(account.balance, Amount::ZERO);
    let totals = ledgers[0].totals().await.unwrap();
    assert_eq!(totals.escrow, Amount::sage(10_000));
    assert_eq!(totals.held(), Some(totals.minted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_never_overdraws() {
    let (ledger, _) = common::sqlite_ledger(Network::Local).await;
    race(vec![ledger], "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_never_overdraw() {
    let server = match common::Postgres::start() {
        Ok(server) => server,
        Err(reason) => {
            println!("skipped: PostgreSQL unavailable: {reason}");
            return;
        }
    };
    let config = LedgerConfig::for_network(Network::Local);
    let a = SqlLedger::connect(&server.url, config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let b = SqlLedger::connect(&server.url, config, Arc::new(SystemClock))
        .await
        .unwrap();
    race(vec![a.clone(), b], "pg").await;

    // The rules hold on PostgreSQL too: a payout, rewards and the journal replay.
    let (worker, staker) = (Address::from_u64(8), Address::from_u64(9));
    a.faucet(staker, None).await.unwrap();
    a.stake(staker, Amount::sage(1_000), None).await.unwrap();
    let mut escrowed = None;
    for i in 0..40 {
        if a.escrow_state(&format!("pg-{i}")).await.unwrap().is_some() {
            escrowed = Some(format!("pg-{i}"));
            break;
        }
    }
    let split = a
        .pay(&escrowed.expect("20 escrows succeeded"), worker, &[7; 32])
        .await
        .unwrap();
    assert_eq!(split.stakers, Amount::sage(10));
    assert_eq!(a.claim(staker, None).await.unwrap(), Amount::sage(10));
    let replayed = a.replay_journal().await.unwrap();
    assert_eq!(replayed.totals, a.totals().await.unwrap());
}
