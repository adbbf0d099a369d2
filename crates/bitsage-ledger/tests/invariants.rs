//! Random operation sequences keep the books balanced, and the journal alone rebuilds them.

mod common;

use bitsage_ledger::{Address, Amount, LedgerError, Network, Settlement, SqlLedger};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Faucet(u64),
    Stake(u64, Amount),
    Unstake(u64, Amount),
    Withdraw(u64),
    Claim(u64),
    Escrow(u8, u64, Amount),
    Pay(u8, u64),
    Refund(u8),
    Slash(u64, u32),
    Advance(i64),
}

fn amount() -> impl Strategy<Value = Amount> {
    (0u128..30_000, 0u128..1_000_000)
        .prop_map(|(whole, frac)| Amount(whole * bitsage_ledger::ONE_SAGE + frac))
}

fn op() -> impl Strategy<Value = Op> {
    let who = 1u64..5;
    prop_oneof![
        who.clone().prop_map(Op::Faucet),
        (who.clone(), amount()).prop_map(|(a, x)| Op::Stake(a, x)),
        (who.clone(), amount()).prop_map(|(a, x)| Op::Unstake(a, x)),
        who.clone().prop_map(Op::Withdraw),
        who.clone().prop_map(Op::Claim),
        (0u8..6, who.clone(), amount()).prop_map(|(j, a, x)| Op::Escrow(j, a, x)),
        (0u8..6, who.clone()).prop_map(|(j, a)| Op::Pay(j, a)),
        (0u8..6).prop_map(Op::Refund),
        (who, 1u32..=10_000).prop_map(|(a, bps)| Op::Slash(a, bps)),
        (0i64..30).prop_map(Op::Advance),
    ]
}

async fn apply(
    ledger: &SqlLedger,
    clock: &bitsage_ledger::ManualClock,
    op: &Op,
) -> Result<(), LedgerError> {
    let a = Address::from_u64;
    match op {
        Op::Faucet(x) => ledger.faucet(a(*x), None).await.map(drop),
        Op::Stake(x, v) => ledger.stake(a(*x), *v, None).await.map(drop),
        Op::Unstake(x, v) => ledger.unstake(a(*x), *v, None).await.map(drop),
        Op::Withdraw(x) => ledger.withdraw(a(*x), None).await.map(drop),
        Op::Claim(x) => ledger.claim(a(*x), None).await.map(drop),
        Op::Escrow(j, x, v) => ledger.escrow(&format!("job-{j}"), a(*x), *v).await,
        Op::Pay(j, x) => ledger
            .pay(&format!("job-{j}"), a(*x), &[7; 32])
            .await
            .map(drop),
        Op::Refund(j) => ledger.refund(&format!("job-{j}")).await.map(drop),
        Op::Slash(x, bps) => ledger.slash(a(*x), *bps, "test").await.map(drop),
        Op::Advance(s) => {
            clock.advance(*s);
            Ok(())
        }
    }
}

async fn check_books(ledger: &SqlLedger) -> Result<(), TestCaseError> {
    let totals = ledger.totals().await.unwrap();
    prop_assert_eq!(
        totals.held(),
        Some(totals.minted),
        "books out of balance: {:?}",
        totals
    );
    let mut owed = 0u128;
    for n in 1..5 {
        owed += ledger
            .account(Address::from_u64(n))
            .await
            .unwrap()
            .rewards
            .0;
    }
    prop_assert!(
        owed <= totals.reward_pool.0,
        "rewards owed {} exceed the pool {:?}",
        owed,
        totals.reward_pool
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn books_balance_and_the_journal_rebuilds_them(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (ledger, clock) = common::sqlite_ledger(Network::Local).await;
            for op in &ops {
                match apply(&ledger, &clock, op).await {
                    Ok(()) => {}
                    Err(e @ (LedgerError::Corrupt(_) | LedgerError::Overflow | LedgerError::Database(_))) => {
                        prop_assert!(false, "{:?} broke the ledger: {}", op, e);
                    }
                    Err(_) => {} // refused operations must leave the books untouched (checked next)
                }
                check_books(&ledger).await?;
            }
            let replayed = ledger.replay_journal().await.unwrap();
            let totals = ledger.totals().await.unwrap();
            prop_assert_eq!(replayed.totals, totals);
            let stored: std::collections::BTreeMap<_, _> = ledger
                .stored_accounts()
                .await
                .unwrap()
                .into_iter()
                .filter(|(_, v)| *v != Default::default())
                .collect();
            let rebuilt: std::collections::BTreeMap<_, _> =
                replayed.accounts.into_iter().filter(|(_, v)| *v != Default::default()).collect();
            prop_assert_eq!(rebuilt, stored);
            Ok(())
        })?;
    }
}
