//! Versioned schema migrations, for each component that keeps tables in a database.
//!
//! A component lists its [`Migration`]s in order and records what it applied in a table of its
//! own. Pending migrations run once, in order, in one transaction; on PostgreSQL under an
//! advisory lock, so replicas starting at once take turns. New schema changes go at the end of
//! the list; applied ones are never edited. Upgrade every replica of a PostgreSQL deployment
//! together: an older binary does not know what a newer migration moved.

use crate::{query, Db, Result};

/// One schema change. Statements are written for SQLite; on PostgreSQL `BLOB` becomes `BYTEA`,
/// `INTEGER PRIMARY KEY AUTOINCREMENT` becomes `BIGSERIAL PRIMARY KEY`, and `WITHOUT ROWID`
/// (SQLite's clustered table) is dropped.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub statements: &'static [&'static str],
    /// A change of SQLite's storage layout only: PostgreSQL records the version and runs nothing.
    pub sqlite_only: bool,
}

/// An arbitrary key for PostgreSQL's advisory lock that serialises replicas' migrations.
const MIGRATION_LOCK: i64 = 0x6269_7473_6167_6531;

/// Applies the migrations that `table` does not list yet, in one transaction. On PostgreSQL an
/// advisory lock comes first: replicas starting at once would otherwise race on `CREATE TABLE`,
/// which fails in one of them even with `IF NOT EXISTS`.
pub async fn migrate(db: &Db, table: &str, migrations: &[Migration]) -> Result<()> {
    let postgres = db.is_postgres();
    let mut tx = db.begin().await?;
    if postgres {
        query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    query(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
    ))
    .execute(&mut *tx)
    .await?;
    let row = query(&format!(
        "SELECT COALESCE(MAX(version), 0) AS v FROM {table}"
    ))
    .fetch_one(&mut *tx)
    .await?;
    let current: i64 = row.try_get("v")?;
    for migration in migrations.iter().filter(|m| m.version > current) {
        if !(postgres && migration.sqlite_only) {
            for statement in migration.statements {
                let statement = match postgres {
                    true => for_postgres(statement),
                    false => statement.to_string(),
                };
                query(&statement).execute(&mut *tx).await?;
            }
        }
        query(&format!(
            "INSERT INTO {table} (version, name, applied_at) VALUES ($1, $2, $3)"
        ))
        .bind(migration.version)
        .bind(migration.name)
        .bind(unix_millis())
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            table,
            version = migration.version,
            name = migration.name,
            "schema migration applied"
        );
    }
    tx.commit().await
}

fn for_postgres(statement: &str) -> String {
    statement
        .replace(" BLOB", " BYTEA")
        .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
        .replace(" WITHOUT ROWID", "")
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Durability;

    const LIST: &[Migration] = &[
        Migration {
            version: 1,
            name: "a table",
            statements: &["CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB)"],
            sqlite_only: false,
        },
        Migration {
            version: 2,
            name: "a row",
            statements: &["INSERT INTO t (b) VALUES (x'01')"],
            sqlite_only: false,
        },
    ];

    #[tokio::test]
    async fn migrations_apply_once_in_order_and_are_recorded() {
        let db = Db::connect("sqlite::memory:", Durability::Process)
            .await
            .unwrap();
        migrate(&db, "t_migrations", &LIST[..1]).await.unwrap();
        migrate(&db, "t_migrations", LIST).await.unwrap();
        migrate(&db, "t_migrations", LIST).await.unwrap();
        let rows = query("SELECT COUNT(*) AS n FROM t")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(rows.try_get::<i64>("n").unwrap(), 1, "version 2 ran once");
        let row = query("SELECT COUNT(*) AS n, MAX(version) AS v FROM t_migrations")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64>("n").unwrap(), 2);
        assert_eq!(row.try_get::<i64>("v").unwrap(), 2);
    }

    #[test]
    fn postgres_gets_its_own_words_for_sqlite_only_syntax() {
        assert_eq!(
            for_postgres(
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB) WITHOUT ROWID"
            ),
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, b BYTEA)"
        );
    }
}
