//! [`SqlLedger`]: the [`crate::Settlement`] rules on SQLite or PostgreSQL, through `bitsage-sql`.
//!
//! Every mutating operation runs in one transaction that first locks the single globals row
//! (`FOR UPDATE` on PostgreSQL; on SQLite the pool has one connection), so operations are
//! serialised: two callers can never spend the same balance twice, on one process or on several
//! coordinator replicas sharing a PostgreSQL database. Amounts are stored as decimal strings of
//! base units (u128 does not fit SQL integers); the accumulator as a decimal U256.

use std::sync::Arc;

use bitsage_sql as sql;
use primitive_types::U256;
use serde::{de::DeserializeOwned, Serialize};

use crate::rules::{earned, pending};
use crate::{
    AccountInfo, Address, Amount, Clock, EscrowState, LedgerConfig, LedgerError, Result, StakeTier,
};

pub(crate) type Tx = sql::Tx;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The ledger on an SQL database.
#[derive(Clone)]
pub struct SqlLedger {
    pool: sql::Db,
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

pub(crate) struct Globals {
    pub(crate) minted: Amount,
    pub(crate) treasury: Amount,
    pub(crate) reward_pool: Amount,
    pub(crate) total_stake: Amount,
    pub(crate) acc: U256,
    pub(crate) escrow: Amount,
}

pub(crate) struct Account {
    pub(crate) address: Address,
    pub(crate) balance: Amount,
    pub(crate) stake: Amount,
    pub(crate) pending: Amount,
    pub(crate) ready_at: i64,
    pub(crate) reward_debt: U256,
    pub(crate) rewards: Amount,
    pub(crate) faucet_at: i64,
}

pub(crate) struct Movement<'a> {
    pub(crate) kind: &'a str,
    pub(crate) amount: Amount,
    pub(crate) from: (Option<Address>, &'a str),
    pub(crate) to: (Option<Address>, &'a str),
    pub(crate) job_id: Option<&'a str>,
    pub(crate) reason: Option<&'a str>,
}

/// The globals' row.
macro_rules! globals {
    () => {
        "SELECT minted, treasury, reward_pool, total_stake, acc, escrow FROM ledger_globals WHERE id = 1"
    };
}

/// An account's row.
macro_rules! account_row {
    () => {
        "SELECT balance, stake, pending, ready_at, reward_debt, rewards, faucet_at
         FROM ledger_accounts WHERE address = $1"
    };
}

/// An account operation's idempotency key, as stored: the client's key under its account, so
/// that two accounts choosing the same key do not answer each other, and no client key can take
/// one the ledger keeps for itself (`pay:{job}`), which would block that job's payment.
pub(crate) fn account_key(address: Address, key: Option<&str>) -> Option<String> {
    key.map(|key| format!("account:{address}:{key}"))
}

pub(crate) fn corrupt(what: &str) -> LedgerError {
    LedgerError::Corrupt(what.to_string())
}

pub(crate) fn amount(row: &sql::Row, col: &str) -> Result<Amount> {
    let text: String = row.try_get(col)?;
    text.parse::<u128>().map(Amount).map_err(|_| corrupt(col))
}

pub(crate) fn u256(row: &sql::Row, col: &str) -> Result<U256> {
    let text: String = row.try_get(col)?;
    U256::from_dec_str(&text).map_err(|_| corrupt(col))
}

pub(crate) fn add(a: Amount, b: Amount) -> Result<Amount> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

pub(crate) fn take(
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

impl SqlLedger {
    /// Opens (and migrates) the ledger at `url`: `sqlite://PATH`, `sqlite::memory:` or
    /// `postgres://…`. SQLite commits get [`sql::Durability::Process`] (WAL, no fsync per commit:
    /// a crash of the process loses nothing committed, a power loss may); [`SqlLedger::open`]
    /// takes a database opened with any durability.
    pub async fn connect(url: &str, config: LedgerConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let db = sql::Db::connect(url, sql::Durability::default()).await?;
        Self::open(db, config, clock).await
    }

    /// The ledger on an open database (creating its tables), which other tables may share.
    pub async fn open(db: sql::Db, config: LedgerConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let dialect = if db.is_postgres() {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        let ledger = Self {
            pool: db,
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

    /// The database, for a service that keeps its own tables in it. On SQLite it is one
    /// connection, so sharing it keeps every writer serialised.
    pub fn pool(&self) -> &sql::Db {
        &self.pool
    }

    pub fn is_postgres(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    async fn migrate(&self) -> Result<()> {
        Ok(schema::apply(&self.pool).await?)
    }

    pub(crate) async fn lock(&self, tx: &mut Tx) -> Result<Globals> {
        // Whole texts, not formatted per call: this runs in every job's two transactions.
        let sql = match self.dialect {
            Dialect::Postgres => concat!(globals!(), " FOR UPDATE"),
            Dialect::Sqlite => globals!(),
        };
        self.globals(tx, sql).await
    }

    /// The globals as they stand, without the ledger lock: for reads that change nothing.
    pub(crate) async fn read_globals(&self, tx: &mut Tx) -> Result<Globals> {
        self.globals(tx, globals!()).await
    }

    async fn globals(&self, tx: &mut Tx, sql: &'static str) -> Result<Globals> {
        let row = sql::query(sql).fetch_one(&mut **tx).await?;
        Ok(Globals {
            minted: amount(&row, "minted")?,
            treasury: amount(&row, "treasury")?,
            reward_pool: amount(&row, "reward_pool")?,
            total_stake: amount(&row, "total_stake")?,
            acc: u256(&row, "acc")?,
            escrow: amount(&row, "escrow")?,
        })
    }

    pub(crate) async fn save_globals(&self, tx: &mut Tx, g: &Globals) -> Result<()> {
        sql::query(
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

    /// The account at `address` without creating its row (an address never seen reads as an
    /// empty account) and without locking it: for reads that change nothing, such as an
    /// anonymous `GET /accounts/{address}`, which must not grow the table.
    pub(crate) async fn peek(&self, tx: &mut Tx, address: Address) -> Result<Account> {
        let row = sql::query(account_row!())
            .bind(address.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            Some(row) => account_from_row(address, &row),
            None => Ok(Account {
                address,
                balance: Amount::ZERO,
                stake: Amount::ZERO,
                pending: Amount::ZERO,
                ready_at: 0,
                reward_debt: U256::zero(),
                rewards: Amount::ZERO,
                faucet_at: -1,
            }),
        }
    }

    pub(crate) async fn load(&self, tx: &mut Tx, address: Address) -> Result<Account> {
        sql::query(
            "INSERT INTO ledger_accounts (address, balance, stake, pending, ready_at, reward_debt, rewards, faucet_at)
             VALUES ($1, '0', '0', '0', 0, '0', '0', -1) ON CONFLICT (address) DO NOTHING",
        )
        .bind(address.to_string())
        .execute(&mut **tx)
        .await?;
        let sql = match self.dialect {
            Dialect::Postgres => concat!(account_row!(), " FOR UPDATE"),
            Dialect::Sqlite => account_row!(),
        };
        let row = sql::query(sql)
            .bind(address.to_string())
            .fetch_one(&mut **tx)
            .await?;
        account_from_row(address, &row)
    }

    pub(crate) async fn save(&self, tx: &mut Tx, a: &Account) -> Result<()> {
        sql::query(
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

    pub(crate) async fn record(&self, tx: &mut Tx, m: Movement<'_>) -> Result<()> {
        if m.amount.is_zero() {
            return Ok(());
        }
        sql::query(
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
    pub(crate) async fn replayed<T: DeserializeOwned>(
        &self,
        tx: &mut Tx,
        key: Option<&str>,
        op: &str,
    ) -> Result<Option<T>> {
        let Some(key) = key else { return Ok(None) };
        let row = sql::query("SELECT op, outcome FROM ledger_idempotency WHERE key = $1")
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

    pub(crate) async fn remember<T: Serialize>(
        &self,
        tx: &mut Tx,
        key: Option<&str>,
        op: &str,
        outcome: &T,
    ) -> Result<()> {
        let Some(key) = key else { return Ok(()) };
        let outcome = serde_json::to_string(outcome).map_err(|_| corrupt("outcome"))?;
        sql::query("INSERT INTO ledger_idempotency (key, op, outcome) VALUES ($1, $2, $3)")
            .bind(key.to_string())
            .bind(op.to_string())
            .bind(outcome)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Opens a transaction holding the ledger lock; returns the stored outcome instead when
    /// `key` was already used.
    pub(crate) async fn begin<T: DeserializeOwned>(
        &self,
        key: Option<&str>,
        op: &str,
    ) -> Result<Result<(Tx, Globals), T>> {
        let mut tx = self.pool.begin().await?;
        let globals = self.lock(&mut tx).await?;
        match self.replayed(&mut tx, key, op).await? {
            Some(done) => Ok(Err(done)),
            None => Ok(Ok((tx, globals))),
        }
    }

    /// Saves the globals, remembers the outcome under `key` and commits.
    pub(crate) async fn finish<T: Serialize>(
        &self,
        mut tx: Tx,
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

    pub(crate) fn info(&self, a: &Account, g: &Globals) -> AccountInfo {
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

    /// Escrow state of a job, if any.
    pub async fn escrow_state(&self, job_id: &str) -> Result<Option<EscrowState>> {
        let row = sql::query("SELECT state FROM ledger_escrows WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_state(&r.try_get::<String>("state")?))
            .transpose()
    }
}

fn account_from_row(address: Address, row: &sql::Row) -> Result<Account> {
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

pub(crate) fn parse_state(text: &str) -> Result<EscrowState> {
    match text {
        "escrowed" => Ok(EscrowState::Escrowed),
        "paid" => Ok(EscrowState::Paid),
        "refunded" => Ok(EscrowState::Refunded),
        _ => Err(corrupt("escrow state")),
    }
}

/// Folds rewards earned so far into `rewards`, before the stake changes.
pub(crate) fn settle_rewards(a: &mut Account, g: &Globals) -> Result<()> {
    a.rewards = add(a.rewards, pending(a.stake, g.acc, a.reward_debt))?;
    a.reward_debt = earned(a.stake, g.acc);
    Ok(())
}

pub(crate) fn reset_debt(a: &mut Account, g: &Globals) {
    a.reward_debt = earned(a.stake, g.acc);
}

mod journal;
mod schema;
mod settlement;

pub use journal::{JournalEntry, Replayed};
