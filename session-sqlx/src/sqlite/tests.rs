//! The per-user statements: every one goes through the user index
//! (`EXPLAIN QUERY PLAN`), and a revocation deletes exactly one user's rows.

use std::time::Instant;

use super::*;
use crate::test_util::{fill, median, table_name, user, PER_USER, UNBOUND, USERS};

/// The `detail` lines of `EXPLAIN QUERY PLAN sql`.
async fn query_plan(pool: &SqlitePool, sql: &str, user: &str, keep: Option<&str>) -> Vec<String> {
    let mut q = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
        .bind(user)
        .bind(row::now_ms());
    if let Some(keep) = keep {
        q = q.bind(keep);
    }
    q.fetch_all(pool)
        .await
        .expect("EXPLAIN QUERY PLAN")
        .iter()
        .map(|r| r.try_get::<String, _>("detail").unwrap())
        .collect()
}

#[tokio::test]
async fn user_statements_use_the_user_index_and_revoke_exactly_one_user() {
    let pool = SqliteStore::connect_pool("sqlite::memory:").await.unwrap();
    let store = SqliteStore::builder(pool.clone())
        .table(table_name())
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let ids = fill(&store, "sqlite").await;
    let t = store.inner.names.quoted.clone();
    let index = format!("{}_user_idx", store.table());
    let victim = user(500);
    let keep = ids[7][0].storage_key();
    let statements = [
        ("user_sessions", &store.inner.user_sessions, None),
        (
            "count_user_sessions",
            &store.inner.count_user_sessions,
            None,
        ),
        (
            "delete_user_sessions",
            &store.inner.delete_user_sessions,
            None,
        ),
        (
            "delete_user_sessions (keep one)",
            &store.inner.delete_user_sessions_but,
            Some(keep.as_str()),
        ),
    ];
    // Before and after `ANALYZE`: most SQLite files never see one.
    for (analyzed, (what, sql, keep)) in [false, true]
        .into_iter()
        .flat_map(|a| statements.iter().map(move |s| (a, s)))
    {
        if analyzed && what == &"user_sessions" {
            sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        }
        let what = format!("{what} (analyzed: {analyzed})");
        let plan = query_plan(&pool, sql, &victim, *keep).await;
        eprintln!("sqlite: {what}: {plan:?}");
        assert!(!plan.is_empty(), "{what}: no plan");
        for step in &plan {
            let via_index = step.starts_with("SEARCH ")
                && (step.contains(&format!("USING INDEX {index} "))
                    || step.contains(&format!("USING COVERING INDEX {index} ")));
            assert!(
                via_index && step.contains("user_id=?"),
                "{what}: want a SEARCH on {index} by user_id, got {plan:?}"
            );
        }
    }

    let total = || async {
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let all = i64::try_from(USERS * PER_USER + UNBOUND).unwrap();
    assert_eq!(total().await, all);
    let list = median(21, |i| {
        let store = store.clone();
        async move { store.user_sessions(&user(i)).await.unwrap() }
    })
    .await;
    let count = median(21, |i| {
        let store = store.clone();
        async move { store.count_user_sessions(&user(i)).await.unwrap() }
    })
    .await;
    assert_eq!(store.user_sessions(&victim).await.unwrap().len(), PER_USER);
    assert_eq!(store.count_user_sessions(&victim).await.unwrap(), 3);

    let started = Instant::now();
    let deleted = store.delete_user_sessions(&victim, None).await.unwrap();
    let revoke = started.elapsed();
    assert_eq!(deleted, 3, "one statement deleting the user's 3 rows");
    assert_eq!(total().await, all - 3, "exactly 3 rows left the table");
    assert_eq!(store.count_user_sessions(&victim).await.unwrap(), 0);
    for id in &ids[500] {
        assert!(store.load(id).await.unwrap().is_none());
    }
    for neighbour in [499, 501] {
        assert_eq!(
            store.count_user_sessions(&user(neighbour)).await.unwrap(),
            3
        );
    }
    let deleted = store
        .delete_user_sessions(&user(7), Some(&ids[7][0]))
        .await
        .unwrap();
    assert_eq!(deleted, 2, "all but the kept session");
    assert_eq!(total().await, all - 5);
    let left = store.user_sessions(&user(7)).await.unwrap();
    assert!(left.len() == 1 && left[0].is(&ids[7][0]), "{left:?}");
    eprintln!(
        "sqlite: on {all} rows: user_sessions {list:?}, count_user_sessions {count:?} \
         (medians of 21), delete_user_sessions {revoke:?}"
    );
}
