use super::*;

async fn memory() -> Db {
    let db = Db::connect("sqlite::memory:", Durability::Process)
        .await
        .unwrap();
    query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, b BLOB)")
        .execute(&db)
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn placeholders_bind_by_their_number_wherever_they_appear() {
    let db = memory().await;
    // `$2` appears first and `$1` twice: SQLite would number them 1, 2 by appearance.
    query("INSERT INTO t (n, id, b) VALUES ($2, $1, CASE WHEN $1 = 'a' THEN $3 ELSE NULL END)")
        .bind("a")
        .bind(7i64)
        .bind(b"xyz".as_slice())
        .execute(&db)
        .await
        .unwrap();
    let row = query("SELECT id, n, b FROM t WHERE id = $1")
        .bind("a")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(row.try_get::<String>("id").unwrap(), "a");
    assert_eq!(row.try_get::<i64>("n").unwrap(), 7);
    assert_eq!(row.try_get::<Vec<u8>>("b").unwrap(), b"xyz");
    let unbound = query("SELECT id FROM t WHERE id = $2")
        .bind("a")
        .fetch_all(&db)
        .await;
    assert!(matches!(unbound, Err(Error::Parameter(_))), "{unbound:?}");
    let question = query("SELECT id FROM t WHERE id = ?").fetch_all(&db).await;
    assert!(matches!(question, Err(Error::Parameter(_))), "{question:?}");
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back_and_a_committed_one_stays() {
    let db = memory().await;
    {
        let mut tx = db.begin().await.unwrap();
        query("INSERT INTO t (id, n) VALUES ($1, NULL)")
            .bind("gone")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let mut tx = db.begin().await.unwrap();
    let done = query("INSERT INTO t (id, n) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind("kept")
        .bind(None::<i64>)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    tx.commit().await.unwrap();
    let rows = query("SELECT id, n FROM t ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].try_get::<String>("id").unwrap(), "kept");
    assert_eq!(rows[0].try_get::<Option<i64>>("n").unwrap(), None);
    assert!(matches!(
        query("SELECT id FROM t WHERE id = 'none'")
            .fetch_one(&db)
            .await,
        Err(Error::RowNotFound)
    ));
}

#[tokio::test]
async fn files_are_created_and_kept_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    let db = Db::connect(&url, Durability::PowerLoss).await.unwrap();
    query("CREATE TABLE k (v BIGINT)")
        .execute(&db)
        .await
        .unwrap();
    query("INSERT INTO k (v) VALUES ($1)")
        .bind(5i64)
        .execute(&db)
        .await
        .unwrap();
    drop(db);
    let db = Db::connect(&url, Durability::Process).await.unwrap();
    let row = query("SELECT v FROM k").fetch_one(&db).await.unwrap();
    assert_eq!(row.try_get::<i64>("v").unwrap(), 5);
    assert!(!db.is_postgres());
    for bad in ["mysql://x", "sqlite://", "file.db"] {
        assert!(matches!(
            Db::connect(bad, Durability::Process).await,
            Err(Error::Url(_))
        ));
    }
}

#[tokio::test]
async fn a_transaction_left_open_is_closed_before_the_connection_is_used_again() {
    let db = memory().await;
    // What a failed rollback would leave: a transaction nobody will commit.
    query("BEGIN").execute(&db).await.unwrap();
    query("INSERT INTO t (id) VALUES ('stray')")
        .execute(&db)
        .await
        .unwrap();
    let mut tx = db.begin().await.expect("a new transaction starts");
    let rows = query("SELECT id FROM t").fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        rows.len(),
        1,
        "the statement after the stray BEGIN was committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_commits_run_off_the_runtime_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let db = Db::connect(&url, Durability::PowerLoss).await.unwrap();
    query("CREATE TABLE k (v BIGINT)")
        .execute(&db)
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    query("INSERT INTO k (v) VALUES ($1)")
        .bind(9i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(db);
    let db = Db::connect(&url, Durability::Process).await.unwrap();
    let row = query("SELECT v FROM k").fetch_one(&db).await.unwrap();
    assert_eq!(row.try_get::<i64>("v").unwrap(), 9);
}

#[tokio::test]
async fn a_sqlite_file_serves_one_owner_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("one.db").display());
    let first = Db::connect(&url, Durability::Process).await.unwrap();
    query("CREATE TABLE k (v BIGINT)")
        .execute(&first)
        .await
        .unwrap();
    let second = Db::connect(&url, Durability::Process).await;
    match second {
        Err(e @ Error::InUse(_)) => assert!(e.to_string().contains("one.db"), "{e}"),
        other => panic!("a second owner was let in: {other:?}"),
    }
    drop(first);
    let again = Db::connect(&url, Durability::Process).await.unwrap();
    query("INSERT INTO k (v) VALUES (1)")
        .execute(&again)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_statement_text_reads_the_columns_it_names_now() {
    let db = memory().await;
    query("INSERT INTO t (id, n) VALUES ('a', 1)")
        .execute(&db)
        .await
        .unwrap();
    let row = query("SELECT * FROM t").fetch_one(&db).await.unwrap();
    assert!(row.try_get::<Option<String>>("extra").is_err());
    // The same text names one more column after the schema changes.
    query("ALTER TABLE t ADD COLUMN extra TEXT")
        .execute(&db)
        .await
        .unwrap();
    query("UPDATE t SET extra = 'x'")
        .execute(&db)
        .await
        .unwrap();
    let row = query("SELECT * FROM t").fetch_one(&db).await.unwrap();
    assert_eq!(row.try_get::<String>("extra").unwrap(), "x");
    assert_eq!(row.try_get::<i64>("n").unwrap(), 1);
}
