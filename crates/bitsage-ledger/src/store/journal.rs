//! The append-only journal: reading it, and rebuilding every balance from it alone.

use std::collections::BTreeMap;

use bitsage_sql as sql;
use serde::Serialize;

use super::{add, amount, corrupt, SqlLedger};
use crate::{Address, Amount, LedgerError, Result, Totals};

/// One row of the append-only journal: `amount` moved from one bucket to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct JournalEntry {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub amount: Amount,
    pub from_account: Option<Address>,
    pub from_bucket: String,
    pub to_account: Option<Address>,
    pub to_bucket: String,
    pub job_id: Option<String>,
    pub reason: Option<String>,
}

/// Balances rebuilt from the journal alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub totals: Totals,
    /// `(balance, stake, pending unstake)` per account.
    pub accounts: BTreeMap<Address, (Amount, Amount, Amount)>,
}

impl SqlLedger {
    /// Every journal row, oldest first.
    pub async fn journal(&self) -> Result<Vec<JournalEntry>> {
        let rows = sql::query(
            "SELECT seq, at, kind, amount, from_account, from_bucket, to_account, to_bucket, job_id, reason
             FROM ledger_journal ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let addr = |col: &str| -> Result<Option<Address>> {
                    let text: Option<String> = row.try_get(col)?;
                    text.map(|t| t.parse().map_err(|_| corrupt(col)))
                        .transpose()
                };
                Ok(JournalEntry {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    amount: amount(row, "amount")?,
                    from_account: addr("from_account")?,
                    from_bucket: row.try_get("from_bucket")?,
                    to_account: addr("to_account")?,
                    to_bucket: row.try_get("to_bucket")?,
                    job_id: row.try_get("job_id")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Rebuilds every balance from the journal alone.
    pub async fn replay_journal(&self) -> Result<Replayed> {
        let mut buckets: BTreeMap<(Option<Address>, String), i128> = BTreeMap::new();
        for e in self.journal().await? {
            let amount = i128::try_from(e.amount.0).map_err(|_| LedgerError::Overflow)?;
            *buckets.entry((e.from_account, e.from_bucket)).or_default() -= amount;
            *buckets.entry((e.to_account, e.to_bucket)).or_default() += amount;
        }
        let mut out = Replayed::default();
        let mut totals = Totals::default();
        for ((account, bucket), value) in buckets {
            let value = if bucket == "mint" { -value } else { value };
            let value =
                Amount(u128::try_from(value).map_err(|_| corrupt("negative bucket in journal"))?);
            let total = match bucket.as_str() {
                "mint" => &mut totals.minted,
                "balance" => &mut totals.balances,
                "stake" => &mut totals.stakes,
                "pending" => &mut totals.pending_unstakes,
                "escrow" => &mut totals.escrow,
                "rewards" => &mut totals.reward_pool,
                "treasury" => &mut totals.treasury,
                other => return Err(corrupt(&format!("unknown bucket {other}"))),
            };
            *total = add(*total, value)?;
            if let Some(account) = account {
                let entry = out.accounts.entry(account).or_default();
                match bucket.as_str() {
                    "balance" => entry.0 = value,
                    "stake" => entry.1 = value,
                    "pending" => entry.2 = value,
                    _ => {}
                }
            }
        }
        out.totals = totals;
        Ok(out)
    }

    /// `(balance, stake, pending unstake)` of every stored account.
    pub async fn stored_accounts(&self) -> Result<BTreeMap<Address, (Amount, Amount, Amount)>> {
        let rows = sql::query("SELECT address, balance, stake, pending FROM ledger_accounts")
            .fetch_all(&self.pool)
            .await?;
        let mut out = BTreeMap::new();
        for row in rows {
            let address: String = row.try_get("address")?;
            let address: Address = address.parse().map_err(|_| corrupt("address"))?;
            out.insert(
                address,
                (
                    amount(&row, "balance")?,
                    amount(&row, "stake")?,
                    amount(&row, "pending")?,
                ),
            );
        }
        Ok(out)
    }
}
