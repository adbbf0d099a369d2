//! A commit's frames reach the default VFS as one write, and a commit syncs only where asked.
//! One test in its own binary: the counters are the process's.

use bitsage_sqlite_vfs::{counters, register, CommitSync, Counters, REQUIRED_PRAGMAS};
use rusqlite::{params, Connection, OpenFlags};

fn delta(before: Counters) -> Counters {
    let now = counters();
    Counters {
        buffered: now.buffered - before.buffered,
        writes: now.writes - before.writes,
        syncs: now.syncs - before.syncs,
    }
}

#[test]
fn a_commit_is_one_write_and_syncs_only_with_fsync() {
    for (mode, syncs) in [(CommitSync::Flush, 0), (CommitSync::Fsync, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let vfs = register(mode).unwrap();
        let conn =
            Connection::open_with_flags_and_vfs(dir.path().join("db"), OpenFlags::default(), vfs)
                .unwrap();
        conn.execute_batch(REQUIRED_PRAGMAS).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE a (k INTEGER PRIMARY KEY, v BLOB);
             CREATE TABLE b (k INTEGER PRIMARY KEY, v BLOB);
             CREATE INDEX b_v ON b (v);",
        )
        .unwrap();
        for i in 0..5i64 {
            let before = counters();
            let tx = conn.unchecked_transaction().unwrap();
            tx.execute("INSERT INTO a VALUES (?1, ?2)", params![i, vec![1u8; 5000]])
                .unwrap();
            tx.execute("INSERT INTO b VALUES (?1, ?2)", params![i, vec![2u8; 300]])
                .unwrap();
            tx.commit().unwrap();
            let d = delta(before);
            // Two tables, an index and an overflow page: two calls per page from SQLite.
            assert!(d.buffered >= 8, "{mode:?}, commit {i}: {d:?}");
            assert_eq!(d.writes, 1, "{mode:?}, commit {i}: {d:?}");
            assert_eq!(d.syncs, syncs, "{mode:?}, commit {i}: {d:?}");
        }
        // A checkpoint's syncs reach the disk in both modes.
        let before = counters();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        assert!(delta(before).syncs >= 1, "{mode:?}: {:?}", delta(before));
    }
}
