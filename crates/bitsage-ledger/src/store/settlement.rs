//! [`Settlement`] on the SQL store: each operation is one locked transaction, or, through the
//! `*_in` methods, part of a transaction of the caller's on the same database.

use async_trait::async_trait;
use bitsage_sql as sql;

use super::{
    account_key, add, amount, corrupt, parse_state, reset_debt, settle_rewards, take, Movement,
    SqlLedger,
};
use crate::rules::accumulate;
use crate::{
    AccountInfo, Address, Amount, EscrowState, FeeSplit, LedgerError, Network, Result, Settlement,
    Totals,
};

#[async_trait]
impl Settlement for SqlLedger {
    async fn account(&self, address: Address) -> Result<AccountInfo> {
        let mut tx = self.pool.begin().await?;
        let g = self.read_globals(&mut tx).await?;
        let a = self.peek(&mut tx, address).await?;
        tx.commit().await?;
        Ok(self.info(&a, &g))
    }

    async fn faucet(&self, address: Address, key: Option<&str>) -> Result<Amount> {
        if self.config.network == Network::Mainnet {
            return Err(LedgerError::FaucetDisabled {
                network: self.config.network,
            });
        }
        let key = account_key(address, key);
        let key = key.as_deref();
        let (mut tx, mut g) = match self.begin(key, "faucet").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let mut a = self.load(&mut tx, address).await?;
        let now = self.clock.now();
        let cooldown = self.config.faucet_cooldown_secs;
        if a.faucet_at >= 0 && now - a.faucet_at < cooldown {
            let retry_after_secs = cooldown - (now - a.faucet_at);
            return Err(LedgerError::FaucetRateLimited {
                account: address,
                retry_after_secs,
            });
        }
        let grant = self.config.faucet_grant;
        a.balance = add(a.balance, grant)?;
        a.faucet_at = now;
        g.minted = add(g.minted, grant)?;
        self.save(&mut tx, &a).await?;
        let m = Movement {
            kind: "faucet",
            amount: grant,
            from: (None, "mint"),
            to: (Some(address), "balance"),
            job_id: None,
            reason: None,
        };
        self.record(&mut tx, m).await?;
        self.finish(tx, &g, key, "faucet", &grant).await?;
        Ok(grant)
    }

    async fn stake(
        &self,
        address: Address,
        amount: Amount,
        key: Option<&str>,
    ) -> Result<AccountInfo> {
        if amount.is_zero() {
            return Err(LedgerError::ZeroAmount);
        }
        let key = account_key(address, key);
        let key = key.as_deref();
        let (mut tx, mut g) = match self.begin(key, "stake").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let mut a = self.load(&mut tx, address).await?;
        a.balance = take(a.balance, amount, address, "balance")?;
        settle_rewards(&mut a, &g)?;
        a.stake = add(a.stake, amount)?;
        g.total_stake = add(g.total_stake, amount)?;
        reset_debt(&mut a, &g);
        self.save(&mut tx, &a).await?;
        let m = Movement {
            kind: "stake",
            amount,
            from: (Some(address), "balance"),
            to: (Some(address), "stake"),
            job_id: None,
            reason: None,
        };
        self.record(&mut tx, m).await?;
        let info = self.info(&a, &g);
        self.finish(tx, &g, key, "stake", &info).await?;
        Ok(info)
    }

    async fn unstake(
        &self,
        address: Address,
        amount: Amount,
        key: Option<&str>,
    ) -> Result<AccountInfo> {
        if amount.is_zero() {
            return Err(LedgerError::ZeroAmount);
        }
        let key = account_key(address, key);
        let key = key.as_deref();
        let (mut tx, mut g) = match self.begin(key, "unstake").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let mut a = self.load(&mut tx, address).await?;
        settle_rewards(&mut a, &g)?;
        a.stake = take(a.stake, amount, address, "stake")?;
        a.pending = add(a.pending, amount)?;
        // A new unstake restarts the cooldown for everything still pending.
        a.ready_at = self.clock.now() + self.config.unstake_cooldown_secs;
        g.total_stake = g
            .total_stake
            .checked_sub(amount)
            .ok_or_else(|| corrupt("total stake"))?;
        reset_debt(&mut a, &g);
        self.save(&mut tx, &a).await?;
        let m = Movement {
            kind: "unstake",
            amount,
            from: (Some(address), "stake"),
            to: (Some(address), "pending"),
            job_id: None,
            reason: None,
        };
        self.record(&mut tx, m).await?;
        let info = self.info(&a, &g);
        self.finish(tx, &g, key, "unstake", &info).await?;
        Ok(info)
    }

    async fn withdraw(&self, address: Address, key: Option<&str>) -> Result<Amount> {
        let key = account_key(address, key);
        let key = key.as_deref();
        let (mut tx, g) = match self.begin(key, "withdraw").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let mut a = self.load(&mut tx, address).await?;
        if a.pending.is_zero() {
            return Err(LedgerError::NothingToWithdraw { account: address });
        }
        let now = self.clock.now();
        if now < a.ready_at {
            return Err(LedgerError::CooldownActive {
                account: address,
                amount: a.pending,
                ready_at: a.ready_at,
                now,
            });
        }
        let amount = a.pending;
        a.pending = Amount::ZERO;
        a.ready_at = 0;
        a.balance = add(a.balance, amount)?;
        self.save(&mut tx, &a).await?;
        let m = Movement {
            kind: "withdraw",
            amount,
            from: (Some(address), "pending"),
            to: (Some(address), "balance"),
            job_id: None,
            reason: None,
        };
        self.record(&mut tx, m).await?;
        self.finish(tx, &g, key, "withdraw", &amount).await?;
        Ok(amount)
    }

    async fn claim(&self, address: Address, key: Option<&str>) -> Result<Amount> {
        let key = account_key(address, key);
        let key = key.as_deref();
        let (mut tx, mut g) = match self.begin(key, "claim").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let mut a = self.load(&mut tx, address).await?;
        settle_rewards(&mut a, &g)?;
        let amount = a.rewards;
        g.reward_pool = g
            .reward_pool
            .checked_sub(amount)
            .ok_or_else(|| corrupt("reward pool"))?;
        a.rewards = Amount::ZERO;
        a.balance = add(a.balance, amount)?;
        self.save(&mut tx, &a).await?;
        let m = Movement {
            kind: "claim",
            amount,
            from: (None, "rewards"),
            to: (Some(address), "balance"),
            job_id: None,
            reason: None,
        };
        self.record(&mut tx, m).await?;
        self.finish(tx, &g, key, "claim", &amount).await?;
        Ok(amount)
    }

    async fn escrow(&self, job_id: &str, client: Address, fee: Amount) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.escrow_in(&mut tx, job_id, client, fee).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pay(
        &self,
        job_id: &str,
        worker: Address,
        proof_commitment: &[u8; 32],
    ) -> Result<FeeSplit> {
        let mut tx = self.pool.begin().await?;
        let split = self
            .pay_in(&mut tx, job_id, worker, proof_commitment)
            .await?;
        tx.commit().await?;
        Ok(split)
    }

    async fn refund(&self, job_id: &str) -> Result<Amount> {
        let (mut tx, mut g) = match self.begin::<Amount>(None, "refund").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let row = sql::query("SELECT client, fee, state FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| LedgerError::UnknownJob {
                job_id: job_id.to_string(),
            })?;
        let fee = amount(&row, "fee")?;
        let client: Address = row
            .try_get::<String>("client")?
            .parse()
            .map_err(|_| corrupt("client"))?;
        match parse_state(&row.try_get::<String>("state")?)? {
            EscrowState::Escrowed => {}
            EscrowState::Refunded => return Ok(fee),
            EscrowState::Paid => {
                return Err(LedgerError::JobAlreadySettled {
                    job_id: job_id.to_string(),
                    state: "paid",
                })
            }
        }
        let mut a = self.load(&mut tx, client).await?;
        a.balance = add(a.balance, fee)?;
        g.escrow = g
            .escrow
            .checked_sub(fee)
            .ok_or_else(|| corrupt("escrow total"))?;
        self.save(&mut tx, &a).await?;
        sql::query("UPDATE ledger_escrows SET state = 'refunded' WHERE job_id = $1")
            .bind(job_id.to_string())
            .execute(&mut *tx)
            .await?;
        let m = Movement {
            kind: "refund",
            amount: fee,
            from: (None, "escrow"),
            to: (Some(client), "balance"),
            job_id: Some(job_id),
            reason: None,
        };
        self.record(&mut tx, m).await?;
        self.finish(tx, &g, None, "refund", &fee).await?;
        Ok(fee)
    }

    async fn slash(&self, worker: Address, bps: u32, reason: &str) -> Result<Amount> {
        if !(1..=10_000).contains(&bps) {
            return Err(LedgerError::InvalidFraction { bps });
        }
        let (mut tx, mut g) = match self.begin::<Amount>(None, "slash").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let mut a = self.load(&mut tx, worker).await?;
        settle_rewards(&mut a, &g)?;
        let cut =
            Amount(a.stake.0 / 10_000 * bps as u128 + a.stake.0 % 10_000 * bps as u128 / 10_000);
        a.stake = take(a.stake, cut, worker, "stake")?;
        g.total_stake = g
            .total_stake
            .checked_sub(cut)
            .ok_or_else(|| corrupt("total stake"))?;
        g.treasury = add(g.treasury, cut)?;
        reset_debt(&mut a, &g);
        self.save(&mut tx, &a).await?;
        let m = Movement {
            kind: "slash",
            amount: cut,
            from: (Some(worker), "stake"),
            to: (None, "treasury"),
            job_id: None,
            reason: Some(reason),
        };
        self.record(&mut tx, m).await?;
        self.finish(tx, &g, None, "slash", &cut).await?;
        Ok(cut)
    }

    async fn totals(&self) -> Result<Totals> {
        let mut tx = self.pool.begin().await?;
        let g = self.lock(&mut tx).await?;
        let rows = sql::query("SELECT balance, stake, pending FROM ledger_accounts")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut t = Totals {
            minted: g.minted,
            escrow: g.escrow,
            reward_pool: g.reward_pool,
            treasury: g.treasury,
            ..Totals::default()
        };
        for row in rows {
            t.balances = add(t.balances, amount(&row, "balance")?)?;
            t.stakes = add(t.stakes, amount(&row, "stake")?)?;
            t.pending_unstakes = add(t.pending_unstakes, amount(&row, "pending")?)?;
        }
        Ok(t)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SqlLedger {
    /// [`Settlement::account`] inside `tx`, a transaction on [`SqlLedger::pool`].
    pub async fn account_in(&self, tx: &mut sql::Tx, address: Address) -> Result<AccountInfo> {
        let g = self.lock(tx).await?;
        let a = self.load(tx, address).await?;
        Ok(self.info(&a, &g))
    }

    /// [`Settlement::escrow`] inside `tx`, a transaction on [`SqlLedger::pool`]: the caller's
    /// own writes and the escrow commit together. An error leaves `tx` to be dropped (rolled
    /// back), not committed.
    pub async fn escrow_in(
        &self,
        tx: &mut sql::Tx,
        job_id: &str,
        client: Address,
        fee: Amount,
    ) -> Result<()> {
        if fee.is_zero() {
            return Err(LedgerError::ZeroAmount);
        }
        let mut g = self.lock(tx).await?;
        let existing = sql::query("SELECT client, fee FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(row) = existing {
            let same = row.try_get::<String>("client")? == client.to_string()
                && amount(&row, "fee")? == fee;
            return if same {
                Ok(())
            } else {
                Err(LedgerError::JobConflict {
                    job_id: job_id.to_string(),
                })
            };
        }
        let mut a = self.load(tx, client).await?;
        a.balance = take(a.balance, fee, client, "balance")?;
        g.escrow = add(g.escrow, fee)?;
        self.save(tx, &a).await?;
        sql::query("INSERT INTO ledger_escrows (job_id, client, fee, state, worker) VALUES ($1, $2, $3, 'escrowed', NULL)")
            .bind(job_id.to_string())
            .bind(client.to_string())
            .bind(fee.0.to_string())
            .execute(&mut **tx)
            .await?;
        let m = Movement {
            kind: "escrow",
            amount: fee,
            from: (Some(client), "balance"),
            to: (None, "escrow"),
            job_id: Some(job_id),
            reason: None,
        };
        self.record(tx, m).await?;
        self.save_globals(tx, &g).await
    }

    /// [`Settlement::pay`] inside `tx`, as [`SqlLedger::escrow_in`].
    pub async fn pay_in(
        &self,
        tx: &mut sql::Tx,
        job_id: &str,
        worker: Address,
        proof_commitment: &[u8; 32],
    ) -> Result<FeeSplit> {
        let mut g = self.lock(tx).await?;
        let row = sql::query("SELECT fee, state, worker FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| LedgerError::UnknownJob {
                job_id: job_id.to_string(),
            })?;
        let fee = amount(&row, "fee")?;
        let state = parse_state(&row.try_get::<String>("state")?)?;
        let paid_to: Option<String> = row.try_get("worker")?;
        let mut split = FeeSplit::of(fee);
        if g.total_stake.is_zero() {
            // Nobody to share the stakers' part with: it goes to the treasury.
            split = FeeSplit {
                worker: split.worker,
                treasury: add(split.treasury, split.stakers)?,
                stakers: Amount::ZERO,
            };
        }
        match state {
            EscrowState::Escrowed => {}
            EscrowState::Paid if paid_to == Some(worker.to_string()) => {
                // The same result twice is one payment: answer with the first split.
                let key = format!("pay:{job_id}");
                return self
                    .replayed(tx, Some(&key), "pay")
                    .await?
                    .ok_or_else(|| corrupt("payout record"));
            }
            other => {
                return Err(LedgerError::JobAlreadySettled {
                    job_id: job_id.to_string(),
                    state: other.as_str(),
                })
            }
        }
        let mut w = self.load(tx, worker).await?;
        w.balance = add(w.balance, split.worker)?;
        g.treasury = add(g.treasury, split.treasury)?;
        g.acc = accumulate(g.acc, split.stakers, g.total_stake);
        g.reward_pool = add(g.reward_pool, split.stakers)?;
        g.escrow = g
            .escrow
            .checked_sub(fee)
            .ok_or_else(|| corrupt("escrow total"))?;
        self.save(tx, &w).await?;
        sql::query("UPDATE ledger_escrows SET state = 'paid', worker = $1 WHERE job_id = $2")
            .bind(worker.to_string())
            .bind(job_id.to_string())
            .execute(&mut **tx)
            .await?;
        let proof = format!("proof 0x{}", hex_of(proof_commitment));
        for (kind, part, to) in [
            ("payout", split.worker, (Some(worker), "balance")),
            ("fee", split.treasury, (None, "treasury")),
            ("reward", split.stakers, (None, "rewards")),
        ] {
            let m = Movement {
                kind,
                amount: part,
                from: (None, "escrow"),
                to,
                job_id: Some(job_id),
                reason: Some(&proof),
            };
            self.record(tx, m).await?;
        }
        self.save_globals(tx, &g).await?;
        self.remember(tx, Some(&format!("pay:{job_id}")), "pay", &split)
            .await?;
        Ok(split)
    }
}
