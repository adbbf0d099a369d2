//! What a connection through the VFS commits is in its files when the commit returns, and
//! spills, rollbacks and checkpoints leave the same database as plain SQLite would.

use std::collections::BTreeMap;
use std::path::Path;

use bitsage_sqlite_vfs::{register, CommitSync, REQUIRED_PRAGMAS};
use rusqlite::{params, Connection, OpenFlags};

fn open(path: &Path, mode: CommitSync) -> Connection {
    let vfs = register(mode).unwrap();
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs).unwrap();
    conn.execute_batch(REQUIRED_PRAGMAS).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn
}

/// The database as a process killed now would leave it: its files copied and opened with
/// plain SQLite, which replays the copied log.
fn as_left_by_a_crash(path: &Path, into: &Path) -> Connection {
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", path.display());
        let to = format!("{}{suffix}", into.display());
        if Path::new(&from).exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    Connection::open(into).unwrap()
}

fn rows(conn: &Connection) -> BTreeMap<i64, Vec<u8>> {
    let mut stmt = conn.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

#[test]
fn every_commit_is_in_the_files_when_it_returns() {
    for mode in [CommitSync::Flush, CommitSync::Fsync] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = open(&path, mode);
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let mut expected = BTreeMap::new();
        for i in 0..40i64 {
            let tx = conn.unchecked_transaction().unwrap();
            // Several pages per commit: a row of 3 KiB and its neighbours.
            let value = vec![i as u8; 3000];
            tx.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", params![i, value])
                .unwrap();
            tx.commit().unwrap();
            expected.insert(i, value);
            let copy = dir.path().join(format!("crash-{i}"));
            assert_eq!(
                rows(&as_left_by_a_crash(&path, &copy)),
                expected,
                "{mode:?}: commit {i} is not in the files it returned from"
            );
        }
    }
}

/// A tiny page cache spills uncommitted pages into the log mid-transaction, where SQLite reads
/// them back; rolled back transactions leave frames that the next commit overwrites; a small
/// checkpoint interval restarts the log from its start again and again.
#[test]
fn spills_rollbacks_and_checkpoints_keep_the_database_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let conn = open(&path, CommitSync::Flush);
    conn.execute_batch(
        "PRAGMA cache_size = 8; PRAGMA wal_autocheckpoint = 20;
         CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)",
    )
    .unwrap();
    let mut expected = BTreeMap::new();
    // A fixed generator: the same run every time.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for round in 0..120 {
        let tx = conn.unchecked_transaction().unwrap();
        let mut changed = expected.clone();
        for _ in 0..1 + next(60) {
            let k = next(400) as i64;
            if next(4) == 0 {
                tx.execute("DELETE FROM t WHERE k = ?1", params![k])
                    .unwrap();
                changed.remove(&k);
            } else {
                let v = vec![next(256) as u8; 200 + next(3000) as usize];
                tx.execute(
                    "INSERT INTO t (k, v) VALUES (?1, ?2)
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    params![k, v],
                )
                .unwrap();
                changed.insert(k, v);
            }
        }
        // Reads inside the transaction see its own spilled pages.
        assert_eq!(rows(&tx), changed, "round {round}, before the end");
        if round % 5 == 4 {
            tx.rollback().unwrap();
        } else {
            tx.commit().unwrap();
            expected = changed;
        }
        assert_eq!(rows(&conn), expected, "round {round}");
    }
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(
        rows(&as_left_by_a_crash(&path, &dir.path().join("crash"))),
        expected
    );
    drop(conn);
    assert_eq!(rows(&Connection::open(&path).unwrap()), expected);
}
