//! One SQL interface over the two databases the coordinator and the ledger run on.
//!
//! - **SQLite**, the embedded default: one `rusqlite` connection behind an async mutex, and each
//!   statement runs right on the calling task. SQLite answers a statement on this small schema in
//!   microseconds; sqlx's SQLite driver ran every statement on a thread of its own, and the
//!   hand-offs between that thread and tokio's cost more CPU than SQLite itself (profiled for the
//!   coordinator bench: a third of its time in the scheduler). The mutex serialises
//!   transactions, which SQLite's single writer would do anyway.
//! - **PostgreSQL**, for several coordinator replicas on one queue: sqlx's pool.
//!
//! The API follows the part of sqlx's that the ledger and the coordinator use, so one SQL text
//! serves both: `$N` placeholders, `query(sql).bind(v).fetch_one(&db)`, or `(&mut *tx)` inside
//! a transaction. A query is one statement, and `$N` stands alone (SQLite reads `$1::BIGINT` as
//! a parameter named so).
//!
//! On SQLite, with [`Durability::PowerLoss`], a transaction's commit (which fsyncs) runs under
//! `block_in_place`, so the runtime's other tasks move to another thread meanwhile. A single
//! statement outside a transaction, and a WAL checkpoint (every thousand pages), still run on the
//! task.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

mod migrate;
mod postgres;
mod sqlite;
mod value;

pub use migrate::{migrate, Migration};
pub use value::{Decode, Encode, Kind, Row, Value};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("SQLite VFS: {0}")]
    Vfs(#[from] bitsage_sqlite_vfs::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("the statement returned no row")]
    RowNotFound,
    #[error("column `{column}`: {message}")]
    Decode { column: String, message: String },
    #[error("statement parameters: {0}")]
    Parameter(String),
    #[error(
        "the SQLite database {} is in use by another process: one SQLite file serves one \
         coordinator (use PostgreSQL for several)",
        .0.display()
    )]
    InUse(PathBuf),
    #[error("unsupported database URL `{0}`: use sqlite://PATH, sqlite::memory: or postgres://…")]
    Url(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a committed SQLite transaction survives. PostgreSQL is always `PowerLoss`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// A crash or `kill -9` of the process loses nothing; a power loss or an OS crash may roll
    /// back the last transactions (what SQLite's WAL gives with `synchronous = NORMAL`: each
    /// commit is written out, in one call through `bitsage_sqlite_vfs`, and not synced).
    #[default]
    Process,
    /// Every commit is on disk before it returns (`synchronous = FULL`: one write and one
    /// `fsync` each).
    PowerLoss,
}

/// A database: SQLite (one connection) or a PostgreSQL pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db(Arc<Backend>);

#[derive(Debug)]
enum Backend {
    Sqlite(
        Arc<Mutex<rusqlite::Connection>>,
        Durability,
        Option<PathBuf>,
    ),
    Postgres(sqlx::PgPool),
}

impl Db {
    /// Opens `sqlite://PATH` (created if missing), `sqlite::memory:` or `postgres://…`.
    pub async fn connect(url: &str, durability: Durability) -> Result<Self> {
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await?;
            Backend::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let (conn, path) = sqlite::open(url, durability)?;
            Backend::Sqlite(Arc::new(Mutex::new(conn)), durability, path)
        } else {
            return Err(Error::Url(url.to_string()));
        };
        Ok(Self(Arc::new(backend)))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(*self.0, Backend::Postgres(_))
    }

    /// The database file of a SQLite database and what its commits survive; `None` for an
    /// in-memory one and for PostgreSQL.
    pub fn sqlite_file(&self) -> Option<(&Path, Durability)> {
        match &*self.0 {
            Backend::Sqlite(_, durability, Some(path)) => Some((path, *durability)),
            _ => None,
        }
    }

    /// Starts a transaction. On SQLite it holds the connection (and the write lock) until it
    /// ends; dropped without [`Tx::commit`], it rolls back.
    pub async fn begin(&self) -> Result<Tx> {
        let conn = match &*self.0 {
            Backend::Sqlite(conn, durability, _) => {
                let guard = conn.clone().lock_owned().await;
                sqlite::close_stray_transaction(&guard)?;
                sqlite::run(&guard, "BEGIN IMMEDIATE")?;
                Inner::Sqlite {
                    guard,
                    open: true,
                    durability: *durability,
                }
            }
            Backend::Postgres(pool) => Inner::Postgres(Some(pool.begin().await?)),
        };
        Ok(Tx { conn: Conn(conn) })
    }
}

/// A connection inside a transaction: what statements in a [`Tx`] run on.
#[derive(Debug)]
pub struct Conn(Inner);

enum Inner {
    Sqlite {
        guard: OwnedMutexGuard<rusqlite::Connection>,
        open: bool,
        durability: Durability,
    },
    Postgres(Option<sqlx::Transaction<'static, sqlx::Postgres>>),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Inner::Sqlite { .. } => "Sqlite",
            Inner::Postgres(_) => "Postgres",
        })
    }
}

/// A transaction; statements run on it through `&mut *tx`.
#[derive(Debug)]
pub struct Tx {
    conn: Conn,
}

impl Tx {
    pub async fn commit(mut self) -> Result<()> {
        match &mut self.conn.0 {
            Inner::Sqlite {
                guard,
                open,
                durability,
            } => {
                let commit = || sqlite::run(guard, "COMMIT");
                let blocks = *durability == Durability::PowerLoss
                    && tokio::runtime::Handle::current().runtime_flavor()
                        == tokio::runtime::RuntimeFlavor::MultiThread;
                if blocks {
                    tokio::task::block_in_place(commit)?;
                } else {
                    commit()?;
                }
                *open = false;
            }
            Inner::Postgres(tx) => {
                if let Some(tx) = tx.take() {
                    tx.commit().await?;
                }
            }
        }
        Ok(())
    }
}

impl Tx {
    /// Marks a point that [`Tx::rollback_to`] returns to, undoing only what came after it.
    pub async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        query(&format!("SAVEPOINT {name}"))
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Undoes what ran since [`Tx::savepoint`] `name`; the transaction goes on (on PostgreSQL
    /// also after a failed statement).
    pub async fn rollback_to(&mut self, name: &'static str) -> Result<()> {
        query(&format!("ROLLBACK TO SAVEPOINT {name}"))
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // PostgreSQL's transaction rolls itself back when dropped.
        if let Inner::Sqlite {
            guard, open: true, ..
        } = &mut self.conn.0
        {
            // A failed rollback leaves the transaction open and the next `BEGIN` fails with a
            // clear error; nothing more can be done from `drop`.
            if let Err(e) = sqlite::run(guard, "ROLLBACK") {
                tracing::warn!(error = %e, "SQLite rollback failed");
            }
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// Where a statement runs: `&Db` (on its own) or `&mut Conn` (inside a transaction).
pub trait Executor<'e> {
    #[doc(hidden)]
    fn target(self) -> Target<'e>;
}

#[doc(hidden)]
#[derive(Debug)]
pub enum Target<'e> {
    Db(&'e Db),
    Conn(&'e mut Conn),
}

impl<'e> Executor<'e> for &'e Db {
    fn target(self) -> Target<'e> {
        Target::Db(self)
    }
}

impl<'e> Executor<'e> for &'e mut Conn {
    fn target(self) -> Target<'e> {
        Target::Conn(self)
    }
}

/// What a statement changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A statement with its parameters; `$1` is the first [`Query::bind`].
#[derive(Debug)]
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Value>,
}

pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

impl Query<'_> {
    pub fn bind(mut self, value: impl Encode) -> Self {
        self.args.push(value.encode());
        self
    }

    pub async fn execute<'e>(self, on: impl Executor<'e>) -> Result<Done> {
        let rows_affected = match on.target() {
            Target::Db(db) => match &*db.0 {
                Backend::Sqlite(conn, ..) => {
                    let conn = conn.lock().await;
                    sqlite::close_stray_transaction(&conn)?;
                    sqlite::execute(&conn, self.sql, &self.args)?
                }
                Backend::Postgres(pool) => postgres::query(self.sql, &self.args)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            },
            Target::Conn(conn) => match &mut conn.0 {
                Inner::Sqlite { guard, .. } => sqlite::execute(guard, self.sql, &self.args)?,
                Inner::Postgres(tx) => postgres::query(self.sql, &self.args)
                    .execute(&mut **tx.as_mut().expect("an open transaction"))
                    .await?
                    .rows_affected(),
            },
        };
        Ok(Done { rows_affected })
    }

    pub async fn fetch_all<'e>(self, on: impl Executor<'e>) -> Result<Vec<Row>> {
        match on.target() {
            Target::Db(db) => match &*db.0 {
                Backend::Sqlite(conn, ..) => {
                    let conn = conn.lock().await;
                    sqlite::close_stray_transaction(&conn)?;
                    sqlite::fetch(&conn, self.sql, &self.args)
                }
                Backend::Postgres(pool) => postgres::rows(
                    postgres::query(self.sql, &self.args)
                        .fetch_all(pool)
                        .await?,
                ),
            },
            Target::Conn(conn) => match &mut conn.0 {
                Inner::Sqlite { guard, .. } => sqlite::fetch(guard, self.sql, &self.args),
                Inner::Postgres(tx) => postgres::rows(
                    postgres::query(self.sql, &self.args)
                        .fetch_all(&mut **tx.as_mut().expect("an open transaction"))
                        .await?,
                ),
            },
        }
    }

    /// The first row, if any.
    pub async fn fetch_optional<'e>(self, on: impl Executor<'e>) -> Result<Option<Row>> {
        Ok(self.fetch_all(on).await?.into_iter().next())
    }

    pub async fn fetch_one<'e>(self, on: impl Executor<'e>) -> Result<Row> {
        self.fetch_optional(on).await?.ok_or(Error::RowNotFound)
    }
}

#[cfg(test)]
mod tests;
