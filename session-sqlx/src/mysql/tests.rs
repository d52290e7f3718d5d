//! The per-user statements on a real server: every one goes through the
//! user index (`EXPLAIN`), and a revocation is one `DELETE` that reads and
//! deletes exactly one user's rows (the server's handler counters).

use std::collections::HashMap;
use std::time::Instant;

use sqlx::mysql::MySqlPoolOptions;

use super::*;
use crate::test_util::{fill, median, table_name, user, PER_USER, UNBOUND, USERS};

fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// `(type, key, rows)` of each row of `EXPLAIN sql`.
async fn explain(
    pool: &MySqlPool,
    sql: &str,
    user: &str,
    keep: Option<&str>,
) -> Vec<(String, Option<String>, Option<i64>)> {
    let mut q = sqlx::query(AssertSqlSafe(format!("EXPLAIN {sql}")))
        .bind(user.as_bytes())
        .bind(row::now_ms());
    if let Some(keep) = keep {
        q = q.bind(keep);
    }
    q.fetch_all(pool)
        .await
        .expect("EXPLAIN")
        .iter()
        .map(|r| {
            let text = |col: &str| -> Option<String> {
                r.try_get_unchecked::<Option<String>, _>(col).unwrap()
            };
            let rows = text("rows").and_then(|n| n.parse().ok());
            (text("type").unwrap_or_default(), text("key"), rows)
        })
        .collect()
}

/// The session's handler and command counters.
async fn status(conn: &mut MySqlConnection) -> HashMap<String, i64> {
    sqlx::query("SHOW SESSION STATUS WHERE Variable_name LIKE 'Handler\\_%' OR Variable_name = 'Com_delete'")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let name: String = r.try_get_unchecked(0).unwrap();
            let value: String = r.try_get_unchecked(1).unwrap();
            (name, value.parse().unwrap())
        })
        .collect()
}

fn delta(before: &HashMap<String, i64>, after: &HashMap<String, i64>, name: &str) -> i64 {
    after[name] - before[name]
}

#[tokio::test]
async fn user_statements_use_the_user_index_and_revoke_exactly_one_user() {
    let pool = MySqlPoolOptions::new()
        .max_connections(8)
        .connect(&url())
        .await
        .unwrap_or_else(|e| panic!("MariaDB/MySQL is not reachable at {} ({e})", url()));
    let store = MySqlStore::builder(pool.clone())
        .table(table_name())
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let ids = fill(&store, "mysql").await;
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
    for (analyzed, (what, sql, keep)) in [false, true]
        .into_iter()
        .flat_map(|a| statements.iter().map(move |s| (a, s)))
    {
        if analyzed && what == &"user_sessions" {
            sqlx::query(AssertSqlSafe(format!("ANALYZE TABLE {t}")))
                .execute(&pool)
                .await
                .unwrap();
        }
        let what = format!("{what} (analyzed: {analyzed})");
        let plan = explain(&pool, sql, &victim, *keep).await;
        eprintln!("mysql: {what}: {plan:?}");
        assert!(!plan.is_empty(), "{what}: no plan");
        for (access, key, rows) in &plan {
            assert!(
                key.as_deref() == Some(index.as_str())
                    && matches!(access.as_str(), "ref" | "range"),
                "{what}: want a ref/range lookup on {index}, got {plan:?}"
            );
            assert!(
                rows.is_some_and(|n| n <= 10),
                "{what}: estimate of rows read is not small: {plan:?}"
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

    // The revocation through a store on one connection, so that the
    // session's counters are the store's. `SHOW STATUS` reads a temporary
    // table itself: its own share of the counters is measured first.
    let solo_pool = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&url())
        .await
        .unwrap();
    let solo = MySqlStore::builder(solo_pool.clone())
        .table(store.table())
        .build()
        .unwrap();
    let mut conn = solo_pool.acquire().await.unwrap();
    let s0 = status(&mut conn).await;
    let s1 = status(&mut conn).await;
    drop(conn);
    let started = Instant::now();
    let deleted = solo.delete_user_sessions(&victim, None).await.unwrap();
    let revoke = started.elapsed();
    let mut conn = solo_pool.acquire().await.unwrap();
    let s2 = status(&mut conn).await;
    let work = |name: &str| delta(&s1, &s2, name) - delta(&s0, &s1, name);
    eprintln!(
        "mysql: the revocation: Com_delete {}, Handler_delete {}, Handler_read_key {}, \
         Handler_read_next {}, Handler_read_rnd_next {}",
        work("Com_delete"),
        work("Handler_delete"),
        work("Handler_read_key"),
        work("Handler_read_next"),
        work("Handler_read_rnd_next"),
    );
    assert_eq!(deleted, 3, "one statement deleting the user's 3 rows");
    assert_eq!(work("Com_delete"), 1, "one DELETE statement");
    assert_eq!(work("Handler_delete"), 3, "3 rows deleted");
    assert_eq!(work("Handler_read_rnd_next"), 0, "no table scan");
    assert!(
        work("Handler_read_next") <= 3,
        "more index entries read than the user's 3"
    );
    drop(conn);
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
        "mysql: on {all} rows: user_sessions {list:?}, count_user_sessions {count:?} \
         (medians of 21), delete_user_sessions {revoke:?}"
    );

    sqlx::query(AssertSqlSafe(format!(
        "DROP TABLE {t}, {}",
        store.inner.names.migrations
    )))
    .execute(&pool)
    .await
    .unwrap();
}
