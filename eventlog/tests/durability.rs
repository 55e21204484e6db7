//! What each kind of commit promises about the disk.
#![allow(clippy::unwrap_used)]

use eventlog::{testing::TestDatabase, EventLog};

/// SQLite commits a projection's rows without waiting for the disk; the writer connection is
/// durable again (`synchronous = FULL`) for whoever uses it next, such as an append or the
/// webhook inbox storing a delivery. (A pragma is read when its statement is prepared: the
/// reads here are not kept prepared.)
#[tokio::test]
async fn after_a_transaction_of_derived_rows_the_sqlite_writer_commits_durably_again() {
    let db = TestDatabase::sqlite();
    let log = db.log().await;
    let EventLog::Sqlite(lite) = &log else {
        unreachable!()
    };
    let synchronous = || async {
        sqlx::query_scalar::<_, i64>("PRAGMA synchronous")
            .persistent(false)
            .fetch_one(lite.writer())
            .await
            .unwrap()
    };
    const NORMAL: i64 = 1;
    const FULL: i64 = 2;
    assert_eq!(synchronous().await, FULL);

    let mut tx = log.begin_derived().await.unwrap();
    assert_eq!(
        synchronous_in(&mut tx).await,
        NORMAL,
        "the derived transaction does not wait for the disk"
    );
    tx.commit().await.unwrap();
    assert_eq!(synchronous().await, FULL, "after a commit");

    let tx = log.begin_derived().await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(synchronous().await, FULL, "after a rollback");

    let tx = log.begin().await.unwrap();
    drop(tx);
    let mut tx = log.begin().await.unwrap();
    assert_eq!(
        synchronous_in(&mut tx).await,
        FULL,
        "an ordinary transaction waits for the disk"
    );
}

/// The `synchronous` setting inside `tx`.
async fn synchronous_in(tx: &mut eventlog::LogTransaction) -> i64 {
    eventlog::on_tx!(tx, |conn, _time| sqlx::query_scalar("PRAGMA synchronous")
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .unwrap())
}
