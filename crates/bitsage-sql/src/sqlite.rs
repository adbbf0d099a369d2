//! Statements on the embedded SQLite connection, run on the calling thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitsage_sqlite_vfs::CommitSync;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::value::{Kind, Row, Value};
use crate::{Durability, Error, Result};

/// Prepared statements kept per connection: the coordinator and the ledger use about 60.
const STATEMENT_CACHE: usize = 128;

/// WAL pages after which a commit copies the WAL into the database (SQLite's default is 1,000).
/// Each of those checkpoints syncs twice and writes every page it holds once, however often
/// it changed: a coordinator rewrites the same hot pages (the ledger's totals, the queue's
/// last pages) in every job, so a longer WAL (up to 16 MiB here) writes and syncs less per job.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 4096;

/// Opens `sqlite://PATH[?…]`, `sqlite:PATH` or `sqlite::memory:`; a file is created if missing.
/// Returns the file's path too (`None` in memory).
pub(crate) fn open(url: &str, durability: Durability) -> Result<(Connection, Option<PathBuf>)> {
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| Error::Url(url.to_string()))?;
    // Options after `?` were sqlx's (`mode=rwc`); a file is always created here.
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    let (conn, file) = if rest == ":memory:" || rest == "//:memory:" {
        (Connection::open_in_memory()?, None)
    } else {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(Error::Url(url.to_string()));
        }
        let vfs = bitsage_sqlite_vfs::register(match durability {
            Durability::Process => CommitSync::Flush,
            Durability::PowerLoss => CommitSync::Fsync,
        })?;
        let conn = Connection::open_with_flags_and_vfs(
            Path::new(path),
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            vfs,
        )?;
        (conn, Some(PathBuf::from(path)))
    };
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Savepoints and statements that may fail halfway keep the pages they change in a
    // sub-journal, a temporary file by default: `temp_store = MEMORY` keeps it in the heap,
    // where it is a copy instead of two writes per page.
    // One process owns the file: `EXCLUSIVE` takes the lock at the first transaction and keeps
    // it, so no transaction pays for file locks and the WAL index lives in the heap instead of
    // a shared-memory file. A second coordinator on the same file is refused below, where it
    // would otherwise have taken turns with the first, each unaware of the other's dispatcher.
    let in_use = |e: rusqlite::Error| match (e.sqlite_error_code(), &file) {
        (Some(rusqlite::ErrorCode::DatabaseBusy), Some(path)) => Error::InUse(path.clone()),
        _ => Error::Sqlite(e),
    };
    if file.is_some() {
        // The log's commits go out in one write each; what a commit's sync then does is the
        // durability's (see bitsage_sqlite_vfs).
        conn.execute_batch(bitsage_sqlite_vfs::REQUIRED_PRAGMAS)
            .map_err(in_use)?;
    }
    conn.execute_batch(&format!(
        "PRAGMA busy_timeout = 5000; PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};
         PRAGMA temp_store = MEMORY;"
    ))
    .map_err(in_use)?;
    // Takes the lock now rather than at the first request.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(in_use)?;
    Ok((conn, file))
}

/// Rolls back a transaction that a failed rollback left open, before the connection is used
/// outside a transaction or a new one begins: a statement would otherwise join it and be lost.
pub(crate) fn close_stray_transaction(conn: &Connection) -> Result<()> {
    if !conn.is_autocommit() {
        tracing::warn!("rolling back a transaction left open on the SQLite connection");
        conn.execute_batch("ROLLBACK")?;
    }
    Ok(())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null(_) => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

fn value(v: ValueRef<'_>, column: &str) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null(Kind::Text),
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Text(v) => Value::Text(
            std::str::from_utf8(v)
                .map_err(|e| Error::Decode {
                    column: column.to_string(),
                    message: e.to_string(),
                })?
                .to_string(),
        ),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
        ValueRef::Real(_) => {
            return Err(Error::Decode {
                column: column.to_string(),
                message: "real numbers are not used".into(),
            })
        }
    })
}

/// Prepares `sql` (cached) and binds `$N` to `args[N - 1]`, wherever and however often `$N`
/// appears: SQLite numbers named parameters by first appearance, not by their digits.
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[Value],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).unwrap_or("");
        let n: usize = name
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::Parameter(format!("`{name}` in {sql}: use $1, $2, …")))?;
        let arg = args
            .get(n.wrapping_sub(1))
            .ok_or_else(|| Error::Parameter(format!("${n} is not bound in {sql}")))?;
        stmt.raw_bind_parameter(i, arg)?;
    }
    Ok(stmt)
}

/// A statement without parameters or rows, kept prepared: `BEGIN`, `COMMIT` and `ROLLBACK` run
/// twice per request, and `execute_batch` parses them every time.
pub(crate) fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

pub(crate) fn execute(conn: &Connection, sql: &str, args: &[Value]) -> Result<u64> {
    let mut stmt = prepare(conn, sql, args)?;
    Ok(stmt.raw_execute()? as u64)
}

/// Every row: a statement is always stepped to its end, so a `RETURNING` statement's changes
/// are all made.
pub(crate) fn fetch(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
    let mut stmt = prepare(conn, sql, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    let mut columns: Option<Arc<[String]>> = None;
    while let Some(row) = rows.next()? {
        // Named after the first step: a cached statement prepared before a schema change is
        // compiled again by its first step, and only then names its columns as they are now.
        let columns = columns.get_or_insert_with(|| column_names(sql, row.as_ref()));
        let values = (0..columns.len())
            .map(|i| value(row.get_ref(i)?, &columns[i]))
            .collect::<Result<Vec<_>>>()?;
        out.push(Row {
            columns: columns.clone(),
            values,
        });
    }
    Ok(out)
}

/// A statement's column names, shared by its rows and kept per statement text: a job's row has
/// 26 columns, each a `String` to build on every read otherwise. A kept list is checked against
/// the statement (one text may name other columns after a schema change, or on another
/// database: `SELECT *`), which compares strings but allocates nothing.
fn column_names(sql: &str, stmt: &rusqlite::Statement<'_>) -> Arc<[String]> {
    /// Texts kept per thread; the store and the ledger use about 60.
    const KEPT: usize = 256;
    thread_local! {
        static NAMES: RefCell<HashMap<Box<str>, Arc<[String]>>> = RefCell::new(HashMap::new());
    }
    let same = |kept: &[String]| {
        kept.len() == stmt.column_count()
            && kept
                .iter()
                .enumerate()
                .all(|(i, name)| stmt.column_name(i).is_ok_and(|n| n == name))
    };
    NAMES.with_borrow_mut(|names| {
        if let Some(columns) = names.get(sql).filter(|kept| same(kept)) {
            return columns.clone();
        }
        let columns: Arc<[String]> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        if names.len() >= KEPT {
            names.clear();
        }
        names.insert(sql.into(), columns.clone());
        columns
    })
}
