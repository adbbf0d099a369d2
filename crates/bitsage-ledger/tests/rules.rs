//! The ledger's rules on the embedded SQLite store.

mod common;

use bitsage_ledger::{Address, Amount, LedgerError, Network, Settlement, StakeTier};
use common::sqlite_ledger;

fn addr(n: u64) -> Address {
    Address::from_u64(n)
}

#[tokio::test]
async fn faucet_grants_and_rate_limits() {
    let (ledger, clock) = sqlite_ledger(Network::Local).await;
    let a = addr(1);
    assert_eq!(ledger.faucet(a, None).await.unwrap(), Amount::sage(10_000));
    let err = ledger.faucet(a, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::FaucetRateLimited {
                retry_after_secs: 10,
                ..
            }
        ),
        "{err}"
    );
    clock.advance(10);
    ledger.faucet(a, None).await.unwrap();
    assert_eq!(
        ledger.account(a).await.unwrap().balance,
        Amount::sage(20_000)
    );

    let (mainnet, _) = sqlite_ledger(Network::Mainnet).await;
    assert!(matches!(
        mainnet.faucet(a, None).await,
        Err(LedgerError::FaucetDisabled { .. })
    ));
}

#[tokio::test]
async fn tiers_follow_the_active_stake() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let a = addr(2);
    ledger.faucet(a, None).await.unwrap();
    let almost = Amount(Amount::sage(1_000).0 - 1);
    assert_eq!(ledger.stake(a, almost, None).await.unwrap().tier, None);
    assert_eq!(
        ledger.stake(a, Amount(1), None).await.unwrap().tier,
        Some(StakeTier::Consumer)
    );
    assert_eq!(
        ledger
            .stake(a, Amount::sage(1_500), None)
            .await
            .unwrap()
            .tier,
        Some(StakeTier::Workstation)
    );
    assert_eq!(
        ledger.unstake(a, Amount(1), None).await.unwrap().tier,
        Some(StakeTier::Consumer)
    );
}

#[tokio::test]
async fn unstake_waits_for_the_cooldown() {
    let (ledger, clock) = sqlite_ledger(Network::Local).await;
    let a = addr(3);
    ledger.faucet(a, None).await.unwrap();
    ledger.stake(a, Amount::sage(5_000), None).await.unwrap();
    let info = ledger.unstake(a, Amount::sage(2_000), None).await.unwrap();
    assert_eq!(info.pending_unstake, Amount::sage(2_000));
    let err = ledger.withdraw(a, None).await.unwrap_err();
    assert!(matches!(err, LedgerError::CooldownActive { .. }), "{err}");
    clock.advance(9);
    assert!(ledger.withdraw(a, None).await.is_err(), "one second early");
    clock.advance(1);
    assert_eq!(ledger.withdraw(a, None).await.unwrap(), Amount::sage(2_000));
    assert_eq!(
        ledger.account(a).await.unwrap().balance,
        Amount::sage(7_000)
    );
    assert!(matches!(
        ledger.withdraw(a, None).await,
        Err(LedgerError::NothingToWithdraw { .. })
    ));
}

#[tokio::test]
async fn errors_name_account_amount_and_available() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let a = addr(4);
    let err = ledger.stake(a, Amount::sage(1), None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&a.to_string()) && text.contains("1 SAGE") && text.contains("0 SAGE"),
        "{text}"
    );
    assert!(matches!(
        ledger.stake(a, Amount::ZERO, None).await,
        Err(LedgerError::ZeroAmount)
    ));
}

#[tokio::test]
async fn job_fee_splits_80_18_2_and_stakers_share_pro_rata() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let (client, worker, s1, s2) = (addr(10), addr(11), addr(12), addr(13));
    for a in [client, s1, s2] {
        ledger.faucet(a, None).await.unwrap();
    }
    // s1 stakes alone, a job pays out, then s2 joins with three times the stake.
    ledger.stake(s1, Amount::sage(1_000), None).await.unwrap();
    let fee = Amount(1_000_000_000_000_000_101); // does not divide by 100
    ledger.escrow("job-1", client, fee).await.unwrap();
    let split = ledger.pay("job-1", worker, &[7; 32]).await.unwrap();
    assert_eq!(split.worker.0, fee.0 * 80 / 100, "80%, rounded down");
    assert_eq!(split.worker.0 + split.treasury.0 + split.stakers.0, fee.0);
    assert_eq!(ledger.account(worker).await.unwrap().balance, split.worker);
    ledger.stake(s2, Amount::sage(3_000), None).await.unwrap();
    ledger
        .escrow("job-2", client, Amount::sage(100))
        .await
        .unwrap();
    let second = ledger.pay("job-2", worker, &[7; 32]).await.unwrap();
    assert_eq!(second.stakers, Amount::sage(2));

    let r1 = ledger.account(s1).await.unwrap().rewards;
    let r2 = ledger.account(s2).await.unwrap().rewards;
    // s1: all of the first 2%, a quarter of the second; s2: three quarters of the second.
    let expected_s1 = split.stakers.0 + Amount::sage(2).0 / 4;
    assert!(expected_s1 - r1.0 <= 1, "{r1:?}");
    assert!(Amount::sage(2).0 * 3 / 4 - r2.0 <= 1, "{r2:?}");
    assert_eq!(ledger.claim(s1, None).await.unwrap(), r1);
    assert_eq!(ledger.claim(s1, None).await.unwrap(), Amount::ZERO);
    let totals = ledger.totals().await.unwrap();
    assert_eq!(totals.held(), Some(totals.minted));
}

#[tokio::test]
async fn without_stakers_the_2_percent_goes_to_the_treasury() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    ledger.faucet(addr(20), None).await.unwrap();
    ledger
        .escrow("j", addr(20), Amount::sage(100))
        .await
        .unwrap();
    let split = ledger.pay("j", addr(21), &[7; 32]).await.unwrap();
    assert_eq!(
        (split.worker, split.treasury, split.stakers),
        (Amount::sage(80), Amount::sage(20), Amount::ZERO)
    );
    assert_eq!(ledger.totals().await.unwrap().reward_pool, Amount::ZERO);
}

#[tokio::test]
async fn jobs_are_idempotent_and_refundable() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let (client, worker) = (addr(30), addr(31));
    ledger.faucet(client, None).await.unwrap();
    ledger.escrow("a", client, Amount::sage(10)).await.unwrap();
    ledger.escrow("a", client, Amount::sage(10)).await.unwrap();
    assert!(matches!(
        ledger.escrow("a", client, Amount::sage(11)).await,
        Err(LedgerError::JobConflict { .. })
    ));
    assert_eq!(
        ledger.account(client).await.unwrap().balance,
        Amount::sage(9_990),
        "escrowed once"
    );
    let first = ledger.pay("a", worker, &[7; 32]).await.unwrap();
    assert_eq!(
        ledger.pay("a", worker, &[7; 32]).await.unwrap(),
        first,
        "same result twice is one payment"
    );
    assert!(matches!(
        ledger.pay("a", addr(32), &[7; 32]).await,
        Err(LedgerError::JobAlreadySettled { .. })
    ));
    assert!(matches!(
        ledger.refund("a").await,
        Err(LedgerError::JobAlreadySettled { .. })
    ));
    assert_eq!(
        ledger.account(worker).await.unwrap().balance,
        Amount::sage(8)
    );

    ledger.escrow("b", client, Amount::sage(5)).await.unwrap();
    assert_eq!(ledger.refund("b").await.unwrap(), Amount::sage(5));
    assert_eq!(ledger.refund("b").await.unwrap(), Amount::sage(5));
    assert_eq!(
        ledger.account(client).await.unwrap().balance,
        Amount::sage(9_990)
    );
    assert!(matches!(
        ledger.pay("b", worker, &[7; 32]).await,
        Err(LedgerError::JobAlreadySettled { .. })
    ));
    assert!(matches!(
        ledger.pay("nope", worker, &[7; 32]).await,
        Err(LedgerError::UnknownJob { .. })
    ));
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_outcome() {
    let (ledger, clock) = sqlite_ledger(Network::Local).await;
    let a = addr(40);
    ledger.faucet(a, Some("f1")).await.unwrap();
    clock.advance(1);
    // A retry inside the rate-limit window is not an error: it is the same request.
    assert_eq!(
        ledger.faucet(a, Some("f1")).await.unwrap(),
        Amount::sage(10_000)
    );
    let once = ledger
        .stake(a, Amount::sage(1_000), Some("s1"))
        .await
        .unwrap();
    let twice = ledger
        .stake(a, Amount::sage(1_000), Some("s1"))
        .await
        .unwrap();
    assert_eq!(once, twice);
    assert_eq!(ledger.account(a).await.unwrap().stake, Amount::sage(1_000));
    assert!(matches!(
        ledger.unstake(a, Amount::sage(1), Some("s1")).await,
        Err(LedgerError::IdempotencyConflict { .. })
    ));
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_account() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let (a, b) = (addr(41), addr(42));
    // The same key from two accounts: two grants, each account its own.
    ledger.faucet(a, Some("k")).await.unwrap();
    ledger.faucet(b, Some("k")).await.unwrap();
    assert_eq!(
        ledger.account(b).await.unwrap().balance,
        Amount::sage(10_000)
    );
    ledger
        .stake(a, Amount::sage(1_000), Some("s"))
        .await
        .unwrap();
    let b_staked = ledger
        .stake(b, Amount::sage(2_500), Some("s"))
        .await
        .unwrap();
    assert_eq!(b_staked.address, b);
    assert_eq!(b_staked.stake, Amount::sage(2_500));

    // A client's key spelt like the ledger's own key for a job's payment does not block it.
    let (client, worker) = (addr(43), addr(44));
    ledger.faucet(client, None).await.unwrap();
    ledger
        .escrow("job-k", client, Amount::sage(10))
        .await
        .unwrap();
    ledger.claim(addr(45), Some("pay:job-k")).await.unwrap();
    let split = ledger.pay("job-k", worker, &[7; 32]).await.unwrap();
    assert_eq!(split.worker, Amount::sage(8));
}

#[tokio::test]
async fn reading_an_account_creates_nothing() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let accounts = async || {
        let mut tx = ledger.pool().begin().await.unwrap();
        let rows = bitsage_sql::query("SELECT address FROM ledger_accounts")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        rows.len()
    };
    // An address never seen reads as an empty account, and gets no row.
    let stranger = ledger.account(addr(77)).await.unwrap();
    assert_eq!(
        (
            stranger.address,
            stranger.balance,
            stranger.stake,
            stranger.rewards
        ),
        (addr(77), Amount::ZERO, Amount::ZERO, Amount::ZERO)
    );
    assert_eq!((stranger.tier, stranger.unstake_ready_at), (None, None));
    assert_eq!(accounts().await, 0);
    // A known one reads as it is.
    ledger.faucet(addr(78), None).await.unwrap();
    ledger
        .stake(addr(78), Amount::sage(1_000), None)
        .await
        .unwrap();
    let known = ledger.account(addr(78)).await.unwrap();
    assert_eq!(
        (known.balance, known.stake, known.tier),
        (
            Amount::sage(9_000),
            Amount::sage(1_000),
            Some(StakeTier::Consumer)
        )
    );
    assert_eq!(accounts().await, 1);
}

#[tokio::test]
async fn slashing_moves_stake_to_the_treasury_with_a_reason() {
    let (ledger, _) = sqlite_ledger(Network::Local).await;
    let w = addr(50);
    ledger.faucet(w, None).await.unwrap();
    ledger.stake(w, Amount::sage(5_000), None).await.unwrap();
    assert_eq!(
        ledger
            .slash(w, 1_000, "invalid proof for job 7")
            .await
            .unwrap(),
        Amount::sage(500)
    );
    let info = ledger.account(w).await.unwrap();
    assert_eq!(
        (info.stake, info.tier),
        (Amount::sage(4_500), Some(StakeTier::Workstation))
    );
    assert_eq!(ledger.totals().await.unwrap().treasury, Amount::sage(500));
    let journal = ledger.journal().await.unwrap();
    let slash = journal.iter().find(|e| e.kind == "slash").unwrap();
    assert_eq!(slash.reason.as_deref(), Some("invalid proof for job 7"));
    assert!(matches!(
        ledger.slash(w, 0, "x").await,
        Err(LedgerError::InvalidFraction { .. })
    ));
}

#[tokio::test]
async fn a_file_database_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    let config = bitsage_ledger::LedgerConfig::for_network(Network::Local);
    let clock = std::sync::Arc::new(bitsage_ledger::SystemClock);
    {
        let ledger = bitsage_ledger::SqlLedger::connect(&url, config.clone(), clock.clone())
            .await
            .unwrap();
        ledger.faucet(addr(60), None).await.unwrap();
    }
    let ledger = bitsage_ledger::SqlLedger::connect(&url, config, clock)
        .await
        .unwrap();
    assert_eq!(
        ledger.account(addr(60)).await.unwrap().balance,
        Amount::sage(10_000)
    );
}
