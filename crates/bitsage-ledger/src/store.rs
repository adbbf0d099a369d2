//! [`SqlLedger`]: the [`Settlement`] rules on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Every mutating operation runs in one transaction that first locks the single globals row
//! (`FOR UPDATE` on PostgreSQL; on SQLite the pool has one connection), so operations are
//! serialised: two callers can never spend the same balance twice, on one process or on several
//! coordinator replicas sharing a PostgreSQL database. Amounts are stored as decimal strings of
//! base units (u128 does not fit SQL integers); the accumulator as a decimal U256.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use primitive_types::U256;
use serde::{de::DeserializeOwned, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::rules::{accumulate, earned, pending};
use crate::{
    AccountInfo, Address, Amount, Clock, EscrowState, FeeSplit, LedgerConfig, LedgerError, Network,
    Result, Settlement, StakeTier, Totals,
};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The ledger on an SQL database.
#[derive(Clone)]
pub struct SqlLedger {
    pool: AnyPool,
    dialect: Dialect,
    config: LedgerConfig,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqlLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlLedger")
            .field("dialect", &self.dialect)
            .field("config", &self.config)
            .finish()
    }
}

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

struct Globals {
    minted: Amount,
    treasury: Amount,
    reward_pool: Amount,
    total_stake: Amount,
    acc: U256,
    escrow: Amount,
}

struct Account {
    address: Address,
    balance: Amount,
    stake: Amount,
    pending: Amount,
    ready_at: i64,
    reward_debt: U256,
    rewards: Amount,
    faucet_at: i64,
}

struct Movement<'a> {
    kind: &'a str,
    amount: Amount,
    from: (Option<Address>, &'a str),
    to: (Option<Address>, &'a str),
    job_id: Option<&'a str>,
    reason: Option<&'a str>,
}

fn corrupt(what: &str) -> LedgerError {
    LedgerError::Corrupt(what.to_string())
}

fn amount(row: &AnyRow, col: &str) -> Result<Amount> {
    let text: String = row.try_get(col)?;
    text.parse::<u128>().map(Amount).map_err(|_| corrupt(col))
}

fn u256(row: &AnyRow, col: &str) -> Result<U256> {
    let text: String = row.try_get(col)?;
    U256::from_dec_str(&text).map_err(|_| corrupt(col))
}

fn add(a: Amount, b: Amount) -> Result<Amount> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

fn take(
    available: Amount,
    requested: Amount,
    account: Address,
    bucket: &'static str,
) -> Result<Amount> {
    available
        .checked_sub(requested)
        .ok_or(LedgerError::InsufficientFunds {
            account,
            bucket,
            requested,
            available,
        })
}

const SCHEMA_COMMON: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ledger_accounts (
        address TEXT PRIMARY KEY, balance TEXT NOT NULL, stake TEXT NOT NULL,
        pending TEXT NOT NULL, ready_at BIGINT NOT NULL, reward_debt TEXT NOT NULL,
        rewards TEXT NOT NULL, faucet_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_globals (
        id INTEGER PRIMARY KEY, minted TEXT NOT NULL, treasury TEXT NOT NULL,
        reward_pool TEXT NOT NULL, total_stake TEXT NOT NULL, acc TEXT NOT NULL,
        escrow TEXT NOT NULL)",
    "INSERT INTO ledger_globals (id, minted, treasury, reward_pool, total_stake, acc, escrow)
        VALUES (1, '0', '0', '0', '0', '0', '0') ON CONFLICT (id) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS ledger_escrows (
        job_id TEXT PRIMARY KEY, client TEXT NOT NULL, fee TEXT NOT NULL,
        state TEXT NOT NULL, worker TEXT)",
    "CREATE TABLE IF NOT EXISTS ledger_idempotency (
        key TEXT PRIMARY KEY, op TEXT NOT NULL, outcome TEXT NOT NULL)",
];

const JOURNAL_COLUMNS: &str = "at BIGINT NOT NULL, kind TEXT NOT NULL, amount TEXT NOT NULL,
    from_account TEXT, from_bucket TEXT NOT NULL, to_account TEXT, to_bucket TEXT NOT NULL,
    job_id TEXT, reason TEXT";

impl SqlLedger {
    /// Opens (and migrates) the ledger at `url`: `sqlite://PATH`, `sqlite::memory:` or
    /// `postgres://…`.
    pub async fn connect(url: &str, config: LedgerConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        let options = match dialect {
            // SQLite has one writer; one connection makes every transaction exclusive.
            // The connection is never recycled, so `sqlite::memory:` keeps its data.
            Dialect::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                }),
            Dialect::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = options.connect(url).await?;
        let ledger = Self {
            pool,
            dialect,
            config,
            clock,
        };
        ledger.migrate().await?;
        Ok(ledger)
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    async fn migrate(&self) -> Result<()> {
        let journal = match self.dialect {
            Dialect::Sqlite => format!(
                "CREATE TABLE IF NOT EXISTS ledger_journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, {JOURNAL_COLUMNS})"
            ),
            Dialect::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS ledger_journal (seq BIGSERIAL PRIMARY KEY, {JOURNAL_COLUMNS})"
            ),
        };
        let mut tx = self.pool.begin().await?;
        for statement in SCHEMA_COMMON.iter().copied().chain([journal.as_str()]) {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    async fn lock(&self, tx: &mut Tx<'_>) -> Result<Globals> {
        let sql = format!(
            "SELECT minted, treasury, reward_pool, total_stake, acc, escrow FROM ledger_globals WHERE id = 1{}",
            self.for_update()
        );
        let row = sqlx::query(&sql).fetch_one(&mut **tx).await?;
        Ok(Globals {
            minted: amount(&row, "minted")?,
            treasury: amount(&row, "treasury")?,
            reward_pool: amount(&row, "reward_pool")?,
            total_stake: amount(&row, "total_stake")?,
            acc: u256(&row, "acc")?,
            escrow: amount(&row, "escrow")?,
        })
    }

    async fn save_globals(&self, tx: &mut Tx<'_>, g: &Globals) -> Result<()> {
        sqlx::query(
            "UPDATE ledger_globals SET minted = $1, treasury = $2, reward_pool = $3,
             total_stake = $4, acc = $5, escrow = $6 WHERE id = 1",
        )
        .bind(g.minted.0.to_string())
        .bind(g.treasury.0.to_string())
        .bind(g.reward_pool.0.to_string())
        .bind(g.total_stake.0.to_string())
        .bind(g.acc.to_string())
        .bind(g.escrow.0.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn load(&self, tx: &mut Tx<'_>, address: Address) -> Result<Account> {
        sqlx::query(
            "INSERT INTO ledger_accounts (address, balance, stake, pending, ready_at, reward_debt, rewards, faucet_at)
             VALUES ($1, '0', '0', '0', 0, '0', '0', -1) ON CONFLICT (address) DO NOTHING",
        )
        .bind(address.to_string())
        .execute(&mut **tx)
        .await?;
        let sql = format!(
            "SELECT balance, stake, pending, ready_at, reward_debt, rewards, faucet_at
             FROM ledger_accounts WHERE address = $1{}",
            self.for_update()
        );
        let row = sqlx::query(&sql)
            .bind(address.to_string())
            .fetch_one(&mut **tx)
            .await?;
        account_from_row(address, &row)
    }

    async fn save(&self, tx: &mut Tx<'_>, a: &Account) -> Result<()> {
        sqlx::query(
            "UPDATE ledger_accounts SET balance = $1, stake = $2, pending = $3, ready_at = $4,
             reward_debt = $5, rewards = $6, faucet_at = $7 WHERE address = $8",
        )
        .bind(a.balance.0.to_string())
        .bind(a.stake.0.to_string())
        .bind(a.pending.0.to_string())
        .bind(a.ready_at)
        .bind(a.reward_debt.to_string())
        .bind(a.rewards.0.to_string())
        .bind(a.faucet_at)
        .bind(a.address.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn record(&self, tx: &mut Tx<'_>, m: Movement<'_>) -> Result<()> {
        if m.amount.is_zero() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO ledger_journal (at, kind, amount, from_account, from_bucket, to_account, to_bucket, job_id, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(self.clock.now())
        .bind(m.kind.to_string())
        .bind(m.amount.0.to_string())
        .bind(m.from.0.map(|a| a.to_string()))
        .bind(m.from.1.to_string())
        .bind(m.to.0.map(|a| a.to_string()))
        .bind(m.to.1.to_string())
        .bind(m.job_id.map(str::to_string))
        .bind(m.reason.map(str::to_string))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Returns the stored outcome when `key` was already used for `op`.
    async fn replayed<T: DeserializeOwned>(
        &self,
        tx: &mut Tx<'_>,
        key: Option<&str>,
        op: &str,
    ) -> Result<Option<T>> {
        let Some(key) = key else { return Ok(None) };
        let row = sqlx::query("SELECT op, outcome FROM ledger_idempotency WHERE key = $1")
            .bind(key.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let stored_op: String = row.try_get("op")?;
        if stored_op != op {
            return Err(LedgerError::IdempotencyConflict {
                key: key.to_string(),
            });
        }
        let outcome: String = row.try_get("outcome")?;
        serde_json::from_str(&outcome)
            .map(Some)
            .map_err(|_| corrupt("idempotency outcome"))
    }

    async fn remember<T: Serialize>(
        &self,
        tx: &mut Tx<'_>,
        key: Option<&str>,
        op: &str,
        outcome: &T,
    ) -> Result<()> {
        let Some(key) = key else { return Ok(()) };
        let outcome = serde_json::to_string(outcome).map_err(|_| corrupt("outcome"))?;
        sqlx::query("INSERT INTO ledger_idempotency (key, op, outcome) VALUES ($1, $2, $3)")
            .bind(key.to_string())
            .bind(op.to_string())
            .bind(outcome)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Opens a transaction holding the ledger lock; returns the stored outcome instead when
    /// `key` was already used.
    async fn begin<T: DeserializeOwned>(
        &self,
        key: Option<&str>,
        op: &str,
    ) -> Result<Result<(Tx<'static>, Globals), T>> {
        let mut tx = self.pool.begin().await?;
        let globals = self.lock(&mut tx).await?;
        match self.replayed(&mut tx, key, op).await? {
            Some(done) => Ok(Err(done)),
            None => Ok(Ok((tx, globals))),
        }
    }

    /// Saves the globals, remembers the outcome under `key` and commits.
    async fn finish<T: Serialize>(
        &self,
        mut tx: Tx<'static>,
        g: &Globals,
        key: Option<&str>,
        op: &str,
        outcome: &T,
    ) -> Result<()> {
        self.save_globals(&mut tx, g).await?;
        self.remember(&mut tx, key, op, outcome).await?;
        tx.commit().await?;
        Ok(())
    }

    fn info(&self, a: &Account, g: &Globals) -> AccountInfo {
        AccountInfo {
            address: a.address,
            balance: a.balance,
            stake: a.stake,
            pending_unstake: a.pending,
            unstake_ready_at: (!a.pending.is_zero()).then_some(a.ready_at),
            rewards: Amount(
                a.rewards
                    .0
                    .saturating_add(pending(a.stake, g.acc, a.reward_debt).0),
            ),
            tier: StakeTier::for_stake(a.stake),
        }
    }

    /// Every journal row, oldest first.
    pub async fn journal(&self) -> Result<Vec<JournalEntry>> {
        let rows = sqlx::query(
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
        let rows = sqlx::query("SELECT address, balance, stake, pending FROM ledger_accounts")
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

    /// Escrow state of a job, if any.
    pub async fn escrow_state(&self, job_id: &str) -> Result<Option<EscrowState>> {
        let row = sqlx::query("SELECT state FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_state(&r.try_get::<String, _>("state")?))
            .transpose()
    }
}

fn account_from_row(address: Address, row: &AnyRow) -> Result<Account> {
    Ok(Account {
        address,
        balance: amount(row, "balance")?,
        stake: amount(row, "stake")?,
        pending: amount(row, "pending")?,
        ready_at: row.try_get("ready_at")?,
        reward_debt: u256(row, "reward_debt")?,
        rewards: amount(row, "rewards")?,
        faucet_at: row.try_get("faucet_at")?,
    })
}

fn parse_state(text: &str) -> Result<EscrowState> {
    match text {
        "escrowed" => Ok(EscrowState::Escrowed),
        "paid" => Ok(EscrowState::Paid),
        "refunded" => Ok(EscrowState::Refunded),
        _ => Err(corrupt("escrow state")),
    }
}

/// Folds rewards earned so far into `rewards`, before the stake changes.
fn settle_rewards(a: &mut Account, g: &Globals) -> Result<()> {
    a.rewards = add(a.rewards, pending(a.stake, g.acc, a.reward_debt))?;
    a.reward_debt = earned(a.stake, g.acc);
    Ok(())
}

fn reset_debt(a: &mut Account, g: &Globals) {
    a.reward_debt = earned(a.stake, g.acc);
}

#[async_trait]
impl Settlement for SqlLedger {
    async fn account(&self, address: Address) -> Result<AccountInfo> {
        let mut tx = self.pool.begin().await?;
        let g = self.lock(&mut tx).await?;
        let a = self.load(&mut tx, address).await?;
        tx.commit().await?;
        Ok(self.info(&a, &g))
    }

    async fn faucet(&self, address: Address, key: Option<&str>) -> Result<Amount> {
        if self.config.network == Network::Mainnet {
            return Err(LedgerError::FaucetDisabled {
                network: self.config.network,
            });
        }
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
        if fee.is_zero() {
            return Err(LedgerError::ZeroAmount);
        }
        let (mut tx, mut g) = match self.begin::<()>(None, "escrow").await? {
            Ok(open) => open,
            Err(()) => return Ok(()),
        };
        let existing = sqlx::query("SELECT client, fee FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            let same = row.try_get::<String, _>("client")? == client.to_string()
                && amount(&row, "fee")? == fee;
            return if same {
                Ok(())
            } else {
                Err(LedgerError::JobConflict {
                    job_id: job_id.to_string(),
                })
            };
        }
        let mut a = self.load(&mut tx, client).await?;
        a.balance = take(a.balance, fee, client, "balance")?;
        g.escrow = add(g.escrow, fee)?;
        self.save(&mut tx, &a).await?;
        sqlx::query("INSERT INTO ledger_escrows (job_id, client, fee, state, worker) VALUES ($1, $2, $3, 'escrowed', NULL)")
            .bind(job_id.to_string())
            .bind(client.to_string())
            .bind(fee.0.to_string())
            .execute(&mut *tx)
            .await?;
        let m = Movement {
            kind: "escrow",
            amount: fee,
            from: (Some(client), "balance"),
            to: (None, "escrow"),
            job_id: Some(job_id),
            reason: None,
        };
        self.record(&mut tx, m).await?;
        self.finish(tx, &g, None, "escrow", &()).await
    }

    async fn pay(&self, job_id: &str, worker: Address) -> Result<FeeSplit> {
        let (mut tx, mut g) = match self.begin::<FeeSplit>(None, "pay").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let row = sqlx::query("SELECT fee, state, worker FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| LedgerError::UnknownJob {
                job_id: job_id.to_string(),
            })?;
        let fee = amount(&row, "fee")?;
        let state = parse_state(&row.try_get::<String, _>("state")?)?;
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
                let sql = "SELECT amount, to_bucket FROM ledger_journal WHERE job_id = $1 AND kind = 'payout'";
                let rows = sqlx::query(sql)
                    .bind(job_id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                let mut done = FeeSplit {
                    worker: Amount::ZERO,
                    treasury: Amount::ZERO,
                    stakers: Amount::ZERO,
                };
                for r in rows {
                    let part = amount(&r, "amount")?;
                    match r.try_get::<String, _>("to_bucket")?.as_str() {
                        "balance" => done.worker = part,
                        "treasury" => done.treasury = part,
                        _ => done.stakers = part,
                    }
                }
                return Ok(done);
            }
            other => {
                return Err(LedgerError::JobAlreadySettled {
                    job_id: job_id.to_string(),
                    state: other.as_str(),
                })
            }
        }
        let mut w = self.load(&mut tx, worker).await?;
        w.balance = add(w.balance, split.worker)?;
        g.treasury = add(g.treasury, split.treasury)?;
        g.acc = accumulate(g.acc, split.stakers, g.total_stake);
        g.reward_pool = add(g.reward_pool, split.stakers)?;
        g.escrow = g
            .escrow
            .checked_sub(fee)
            .ok_or_else(|| corrupt("escrow total"))?;
        self.save(&mut tx, &w).await?;
        sqlx::query("UPDATE ledger_escrows SET state = 'paid', worker = $1 WHERE job_id = $2")
            .bind(worker.to_string())
            .bind(job_id.to_string())
            .execute(&mut *tx)
            .await?;
        for (part, to) in [
            (split.worker, (Some(worker), "balance")),
            (split.treasury, (None, "treasury")),
            (split.stakers, (None, "rewards")),
        ] {
            let m = Movement {
                kind: "payout",
                amount: part,
                from: (None, "escrow"),
                to,
                job_id: Some(job_id),
                reason: None,
            };
            self.record(&mut tx, m).await?;
        }
        self.finish(tx, &g, None, "pay", &split).await?;
        Ok(split)
    }

    async fn refund(&self, job_id: &str) -> Result<Amount> {
        let (mut tx, mut g) = match self.begin::<Amount>(None, "refund").await? {
            Ok(open) => open,
            Err(done) => return Ok(done),
        };
        let row = sqlx::query("SELECT client, fee, state FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| LedgerError::UnknownJob {
                job_id: job_id.to_string(),
            })?;
        let fee = amount(&row, "fee")?;
        let client: Address = row
            .try_get::<String, _>("client")?
            .parse()
            .map_err(|_| corrupt("client"))?;
        match parse_state(&row.try_get::<String, _>("state")?)? {
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
        sqlx::query("UPDATE ledger_escrows SET state = 'refunded' WHERE job_id = $1")
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
        let rows = sqlx::query("SELECT balance, stake, pending FROM ledger_accounts")
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
