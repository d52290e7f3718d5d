//! The per-user statements on a real server: every one goes through the
//! user index (custom and generic plans), and a revocation deletes exactly
//! one user's rows.

use std::time::Instant;

use sqlx::postgres::PgPoolOptions;

use super::*;
use crate::test_util::{fill, json_values, median, table_name, user, PER_USER, UNBOUND, USERS};

fn url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The plan of `sql` (an `EXPLAIN` statement) as JSON text.
async fn explain(pool: &PgPool, sql: String, user: &str, keep: Option<&str>) -> String {
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(user)
        .bind(row::now_ms());
    if let Some(keep) = keep {
        q = q.bind(keep);
    }
    let plan = q.fetch_one(pool).await.expect("EXPLAIN");
    // `json` is text on the wire; sqlx's `String` only claims `text` types.
    plan.try_get_unchecked::<String, _>(0).unwrap()
}

/// The generic plan of `sql`, the one a prepared statement may switch to
/// after five executions, for which the user is an unknown parameter.
async fn explain_generic(pool: &PgPool, sql: &str, user: &str, keep: Option<&str>) -> String {
    let mut conn = pool.acquire().await.unwrap();
    let (types, args) = match keep {
        None => ("text, bigint", format!("'{user}', {}", row::now_ms())),
        Some(k) => (
            "text, bigint, text",
            format!("'{user}', {}, '{k}'", row::now_ms()),
        ),
    };
    for s in [
        format!("PREPARE ssx_generic ({types}) AS {sql}"),
        "SET plan_cache_mode = force_generic_plan".to_owned(),
    ] {
        sqlx::raw_sql(AssertSqlSafe(s))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let plan: String = sqlx::query(AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) EXECUTE ssx_generic ({args})"
    )))
    .fetch_one(&mut *conn)
    .await
    .unwrap()
    .try_get_unchecked(0)
    .unwrap();
    sqlx::raw_sql("DEALLOCATE ssx_generic; RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .unwrap();
    plan
}

/// Asserts the plan reads the table only through `index`, never by a scan.
fn assert_uses(plan: &str, index: &str, what: &str) {
    let nodes = json_values(plan, "Node Type");
    assert!(
        !nodes.contains(&"Seq Scan"),
        "{what}: sequential scan in {plan}"
    );
    let indexes = json_values(plan, "Index Name");
    assert!(
        !indexes.is_empty() && indexes.iter().all(|i| *i == index),
        "{what}: want only the index {index}, got {indexes:?} in {plan}"
    );
}

#[tokio::test]
async fn user_statements_use_the_user_index_and_revoke_exactly_one_user() {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {} ({e})", url()));
    let store = PostgresStore::builder(pool.clone())
        .table(table_name())
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let ids = fill(&store, "postgres").await;
    let t = store.inner.names.qualified.clone();
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
    // Before and after `ANALYZE` (autovacuum runs it on a busy table).
    for (analyzed, (what, sql, keep)) in [false, true]
        .into_iter()
        .flat_map(|a| statements.iter().map(move |s| (a, s)))
    {
        if analyzed && what == &"user_sessions" {
            sqlx::query(AssertSqlSafe(format!("ANALYZE {t}")))
                .execute(&pool)
                .await
                .unwrap();
        }
        let what = format!("{what} (analyzed: {analyzed})");
        let keep = *keep;
        let plan = explain(&pool, format!("EXPLAIN (FORMAT JSON) {sql}"), &victim, keep).await;
        assert_uses(&plan, &index, &what);
        eprintln!(
            "postgres: {what}: {:?} on {:?}",
            json_values(&plan, "Node Type"),
            json_values(&plan, "Index Name")
        );
        let generic = explain_generic(&pool, sql, &victim, keep).await;
        assert_uses(&generic, &index, &format!("{what}, generic plan"));
    }

    // The revocation, run for real but rolled back: the index hands it the
    // user's 3 rows and nothing else is read.
    let mut tx = pool.begin().await.unwrap();
    let analyzed: String = sqlx::query(AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {}",
        store.inner.delete_user_sessions
    )))
    .bind(&victim)
    .bind(row::now_ms())
    .fetch_one(&mut *tx)
    .await
    .unwrap()
    .try_get_unchecked(0)
    .unwrap();
    tx.rollback().await.unwrap();
    let actual = json_values(&analyzed, "Actual Rows");
    eprintln!(
        "postgres: EXPLAIN ANALYZE of the revocation: {:?}, actual rows {actual:?}",
        json_values(&analyzed, "Node Type")
    );
    assert!(
        actual.iter().all(|n| *n == "0" || *n == "3") && actual.contains(&"3"),
        "the delete must read exactly the user's 3 rows: {analyzed}"
    );
    assert!(
        json_values(&analyzed, "Rows Removed by Filter")
            .iter()
            .all(|n| *n == "0"),
        "rows were read and thrown away: {analyzed}"
    );

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
        "postgres: on {all} rows: user_sessions {list:?}, count_user_sessions {count:?} \
         (medians of 21), delete_user_sessions {revoke:?}"
    );

    for name in [t, store.inner.names.migrations.clone()] {
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&pool)
            .await
            .unwrap();
    }
}
