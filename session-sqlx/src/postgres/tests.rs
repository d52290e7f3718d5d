//! The per-user statements on a real server: every one goes through the
//! user index (custom and generic plans), and a revocation deletes exactly
//! one user's rows.

use session_core::SessionStore as _;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row as _};

use super::*;
use crate::row;
use crate::test_util::{self, json_values, Filled};

fn url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A plan in JSON, the first column of the row of `EXPLAIN (FORMAT JSON)`.
fn json(rows: &[PgRow]) -> String {
    // `json` is text on the wire; sqlx's `String` only claims `text` types.
    rows[0].try_get_unchecked::<String, _>(0).unwrap()
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
    let pool = test_util::pool::<Postgres>(&url()).await;
    let filled = Filled::new(pool.clone(), "postgres").await;
    let index = filled.user_index();
    let victim = &filled.victim;
    // Before and after `ANALYZE` (autovacuum runs it on a busy table).
    let analyze = format!("ANALYZE {}", filled.store.inner.names.qualified);
    let explain = "EXPLAIN (FORMAT JSON)";
    filled
        .check_plans(&analyze, explain, async |what, sql, keep, rows| {
            let plan = json(&rows);
            assert_uses(&plan, &index, what);
            eprintln!(
                "postgres: {what}: {:?} on {:?}",
                json_values(&plan, "Node Type"),
                json_values(&plan, "Index Name")
            );
            let generic = explain_generic(&pool, sql, victim, keep).await;
            assert_uses(&generic, &index, &format!("{what}, generic plan"));
        })
        .await;

    // The revocation, run for real but rolled back: the index hands it the
    // user's 3 rows and nothing else is read.
    let mut tx = pool.begin().await.unwrap();
    let analyzed: String = sqlx::query(AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {}",
        filled.store.inner.sql.delete_user_sessions
    )))
    .bind(victim)
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

    let store = filled.store.clone();
    filled
        .check_revocations(async |victim| store.delete_user_sessions(victim, None).await.unwrap())
        .await;
}
