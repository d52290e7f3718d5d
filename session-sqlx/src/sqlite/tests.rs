//! The per-user statements: every one goes through the user index
//! (`EXPLAIN QUERY PLAN`), and a revocation deletes exactly one user's rows.

use std::sync::Arc;
use std::time::Instant;

use session_core::{Error, SessionId, SessionStore as _};
use sqlx::{AssertSqlSafe, Row as _};

use super::*;
use crate::test_util::{assert_config_error, table_name, Filled};

#[tokio::test]
async fn user_statements_use_the_user_index_and_revoke_exactly_one_user() {
    let pool = SqliteStore::connect_pool("sqlite::memory:").await.unwrap();
    let filled = Filled::new(pool, "sqlite").await;
    let index = filled.user_index();
    // Before and after `ANALYZE`: most SQLite files never see one.
    filled
        .check_plans("ANALYZE", "EXPLAIN QUERY PLAN", async |what, _, _, rows| {
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap())
                .collect();
            eprintln!("sqlite: {what}: {plan:?}");
            for step in &plan {
                let via_index = step.starts_with("SEARCH ")
                    && (step.contains(&format!("USING INDEX {index} "))
                        || step.contains(&format!("USING COVERING INDEX {index} ")));
                assert!(
                    via_index && step.contains("user_id=?"),
                    "{what}: want a SEARCH on {index} by user_id, got {plan:?}"
                );
            }
        })
        .await;
    let store = filled.store.clone();
    filled
        .check_revocations(async |victim| store.delete_user_sessions(victim, None).await.unwrap())
        .await;
}

#[tokio::test]
async fn connect_reads_the_url_parameters_and_holds_a_cleanup_task() {
    let store = SqliteStore::connect("sqlite::memory:?timeout=250ms&cleanup_interval=20ms")
        .await
        .unwrap();
    assert_eq!(store.timeout(), Duration::from_millis(250));
    assert!(store.runs_cleanup());
    store.migrate().await.unwrap();
    // An expired row goes without anyone calling delete_expired.
    let expired = SessionId::generate();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (id, data, expires_at, created_at, version) VALUES (?1, x'00', 1, 1, 1)",
        store.inner.names.qualified
    )))
    .bind(expired.storage_key())
    .execute(&store.pool)
    .await
    .unwrap();
    let count = || {
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            store.inner.names.qualified
        )))
        .fetch_one(&store.pool)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while count().await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the cleanup never removed the expired row"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Off: no task; the defaults otherwise.
    let quiet = SqliteStore::connect("sqlite::memory:?cleanup_interval=off")
        .await
        .unwrap();
    assert!(!quiet.runs_cleanup());
    assert_eq!(quiet.timeout(), crate::DEFAULT_TIMEOUT);
}

#[tokio::test]
async fn the_cleanup_task_ends_when_the_last_clone_of_its_store_is_dropped() {
    let store = SqliteStore::connect("sqlite::memory:?cleanup_interval=10ms")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let clone = store.clone();
    let inner = Arc::downgrade(&store.inner);
    drop(store);
    // A clone keeps the task (and the store's state) alive.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(clone.runs_cleanup());
    drop(clone);
    // The task held a clone of its own: once it has stopped, nothing
    // holds the store's state any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while inner.upgrade().is_some() {
        assert!(
            Instant::now() < deadline,
            "the cleanup task outlived every clone of its store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connect_pool_refuses_cleanup_interval_and_sizes_the_pool() {
    let err = SqliteStore::connect_pool("sqlite::memory:?cleanup_interval=1m")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { field: "url", .. }), "{err}");
    assert!(err.to_string().contains("spawn_cleanup"), "{err}");
    let dir = std::env::temp_dir().join(table_name());
    let url = format!("sqlite://{}?mode=rwc&max_connections=3", dir.display());
    let pool = SqliteStore::connect_pool(&url).await.unwrap();
    assert_eq!(pool.options().get_max_connections(), 3);
    pool.close().await;
    let _ = std::fs::remove_file(&dir);
}

#[tokio::test]
async fn a_call_that_cannot_get_a_connection_in_time_is_a_timeout() {
    // One connection, taken away from the store: every call waits for it.
    // The pool itself would wait a minute for it: the store's deadline
    // must end the wait.
    let pool = SqliteStore::connect_pool("sqlite::memory:?timeout=60s")
        .await
        .unwrap();
    let store = SqliteStore::builder(pool.clone())
        .table(table_name())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let record = crate::test_util::live_record();
    let held = pool.acquire().await.unwrap();
    let want = Duration::from_millis(100);
    // A guard against a hang, far above the deadline (not a speed check).
    let guard = Duration::from_secs(20);
    macro_rules! times_out {
        ($call:expr, $what:literal) => {
            let r = tokio::time::timeout(guard, $call)
                .await
                .unwrap_or_else(|_| panic!("{}: no answer within {guard:?}", $what))
                .map(drop);
            assert!(
                matches!(r, Err(Error::Timeout(t)) if t == want),
                "{}: {r:?}",
                $what
            );
        };
    }
    times_out!(store.create(&record), "create");
    times_out!(store.load(&record.id), "load");
    times_out!(store.save(&record), "save");
    times_out!(store.delete(&record.id), "delete");
    times_out!(store.delete_expired(), "delete_expired");
    times_out!(store.count_user_sessions("u"), "count");
    drop(held);
    store.create(&record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_some());
    let err = SqliteStore::builder(pool)
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_config_error(&err, "timeout");
}
