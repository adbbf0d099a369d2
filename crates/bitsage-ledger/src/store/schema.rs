//! The ledger's tables, version by version (`ledger_migrations` records what was applied).
//! New schema changes go at the end of [`MIGRATIONS`]; applied ones are never edited.

use bitsage_sql::{self as sql, Migration};

/// The journal's columns after `seq`, as each version creates them.
macro_rules! journal_columns {
    () => {
        "at BIGINT NOT NULL, kind TEXT NOT NULL, amount TEXT NOT NULL,
        from_account TEXT, from_bucket TEXT NOT NULL, to_account TEXT, to_bucket TEXT NOT NULL,
        job_id TEXT, reason TEXT"
    };
}

/// The tables as they were before versions were recorded; on such a database every statement
/// finds its table already there.
const V1: &[&str] = &[
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
    concat!(
        "CREATE TABLE IF NOT EXISTS ledger_journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, ",
        journal_columns!(),
        ")"
    ),
];

/// SQLite only. Tables keyed by text become clustered (`WITHOUT ROWID`): a rowid table keeps
/// its text key in a second tree, so every new escrow or idempotency key wrote two pages, and
/// every lookup searched two trees. The journal drops `AUTOINCREMENT`, which rewrote the
/// `sqlite_sequence` page on every entry; the journal never deletes, so a plain integer key
/// still numbers entries in order without reuse.
const V2: &[&str] = &[
    "CREATE TABLE ledger_accounts_v2 (
        address TEXT PRIMARY KEY, balance TEXT NOT NULL, stake TEXT NOT NULL,
        pending TEXT NOT NULL, ready_at BIGINT NOT NULL, reward_debt TEXT NOT NULL,
        rewards TEXT NOT NULL, faucet_at BIGINT NOT NULL) WITHOUT ROWID",
    "INSERT INTO ledger_accounts_v2 SELECT address, balance, stake, pending, ready_at,
        reward_debt, rewards, faucet_at FROM ledger_accounts",
    "DROP TABLE ledger_accounts",
    "ALTER TABLE ledger_accounts_v2 RENAME TO ledger_accounts",
    "CREATE TABLE ledger_escrows_v2 (
        job_id TEXT PRIMARY KEY, client TEXT NOT NULL, fee TEXT NOT NULL,
        state TEXT NOT NULL, worker TEXT) WITHOUT ROWID",
    "INSERT INTO ledger_escrows_v2 SELECT job_id, client, fee, state, worker FROM ledger_escrows",
    "DROP TABLE ledger_escrows",
    "ALTER TABLE ledger_escrows_v2 RENAME TO ledger_escrows",
    "CREATE TABLE ledger_idempotency_v2 (
        key TEXT PRIMARY KEY, op TEXT NOT NULL, outcome TEXT NOT NULL) WITHOUT ROWID",
    "INSERT INTO ledger_idempotency_v2 SELECT key, op, outcome FROM ledger_idempotency",
    "DROP TABLE ledger_idempotency",
    "ALTER TABLE ledger_idempotency_v2 RENAME TO ledger_idempotency",
    concat!(
        "CREATE TABLE ledger_journal_v2 (seq INTEGER PRIMARY KEY, ",
        journal_columns!(),
        ")"
    ),
    "INSERT INTO ledger_journal_v2 SELECT seq, at, kind, amount, from_account, from_bucket,
        to_account, to_bucket, job_id, reason FROM ledger_journal",
    "DROP TABLE ledger_journal",
    "ALTER TABLE ledger_journal_v2 RENAME TO ledger_journal",
];

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts, totals, escrows, idempotency keys and the journal",
        statements: V1,
        sqlite_only: false,
    },
    Migration {
        version: 2,
        name: "clustered tables, and a journal without AUTOINCREMENT",
        statements: V2,
        sqlite_only: true,
    },
];

pub(super) async fn apply(db: &sql::Db) -> sql::Result<()> {
    sql::migrate(db, "ledger_migrations", MIGRATIONS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ledger_from_before_versions_keeps_its_rows_and_numbers_on() {
        let db = sql::Db::connect("sqlite::memory:", sql::Durability::Process)
            .await
            .unwrap();
        // As the ledger left a database before it recorded versions.
        for statement in V1 {
            sql::query(statement).execute(&db).await.unwrap();
        }
        for statement in [
            "INSERT INTO ledger_accounts VALUES ('0xa', '5', '0', '0', 0, '0', '0', -1)",
            "INSERT INTO ledger_escrows VALUES ('j', '0xa', '5', 'escrowed', NULL)",
            "INSERT INTO ledger_idempotency VALUES ('k', 'faucet', '5')",
            "INSERT INTO ledger_journal (at, kind, amount, from_bucket, to_bucket)
                VALUES (1, 'faucet', '5', 'mint', 'balance')",
            "INSERT INTO ledger_journal (at, kind, amount, from_bucket, to_bucket)
                VALUES (2, 'escrow', '5', 'balance', 'escrow')",
        ] {
            sql::query(statement).execute(&db).await.unwrap();
        }

        apply(&db).await.unwrap();
        apply(&db).await.unwrap();

        let one = |text: &'static str| {
            let db = db.clone();
            async move { sql::query(text).fetch_one(&db).await.unwrap() }
        };
        let row = one("SELECT balance FROM ledger_accounts WHERE address = '0xa'").await;
        assert_eq!(row.try_get::<String>("balance").unwrap(), "5");
        let row = one("SELECT state FROM ledger_escrows WHERE job_id = 'j'").await;
        assert_eq!(row.try_get::<String>("state").unwrap(), "escrowed");
        let row = one("SELECT outcome FROM ledger_idempotency WHERE key = 'k'").await;
        assert_eq!(row.try_get::<String>("outcome").unwrap(), "5");
        sql::query(
            "INSERT INTO ledger_journal (at, kind, amount, from_bucket, to_bucket)
                VALUES (3, 'pay', '5', 'escrow', 'balance')",
        )
        .execute(&db)
        .await
        .unwrap();
        let row = one("SELECT group_concat(seq || ':' || kind) AS s FROM ledger_journal").await;
        assert_eq!(
            row.try_get::<String>("s").unwrap(),
            "1:faucet,2:escrow,3:pay"
        );
        let row = one("SELECT COUNT(*) AS n FROM sqlite_schema
             WHERE name IN ('ledger_accounts', 'ledger_escrows', 'ledger_idempotency')
             AND sql LIKE '%WITHOUT ROWID'")
        .await;
        assert_eq!(row.try_get::<i64>("n").unwrap(), 3);
    }
}
