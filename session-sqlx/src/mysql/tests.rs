//! The per-user statements on a real server: every one goes through the
//! user index (`EXPLAIN`), and a revocation is one `DELETE` that reads and
//! deletes exactly one user's rows (the server's handler counters).

use std::collections::HashMap;

use session_core::SessionStore as _;
use sqlx::mysql::{MySqlPoolOptions, MySqlRow};
use sqlx::Row as _;

use super::*;
use crate::test_util::{self, Filled};

fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// `(type, key, rows)` of each row of an `EXPLAIN`.
fn plan(rows: &[MySqlRow]) -> Vec<(String, Option<String>, Option<i64>)> {
    rows.iter()
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
    let filled = Filled::new(test_util::pool::<MySql>(&url()).await, "mysql").await;
    let index = filled.user_index();
    let analyze = format!("ANALYZE TABLE {}", filled.store.inner.names.qualified);
    filled
        .check_plans(&analyze, "EXPLAIN", async |what, _, _, rows| {
            let plan = plan(&rows);
            eprintln!("mysql: {what}: {plan:?}");
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
        })
        .await;

    // The revocation through a store on one connection, so that the
    // session's counters are the store's. `SHOW STATUS` reads a temporary
    // table itself: its own share of the counters is measured first.
    let solo_pool = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&url())
        .await
        .unwrap();
    let solo = MySqlStore::builder(solo_pool.clone())
        .table(filled.store.table())
        .build()
        .unwrap();
    filled
        .check_revocations(async |victim| {
            let mut conn = solo_pool.acquire().await.unwrap();
            let s0 = status(&mut conn).await;
            let s1 = status(&mut conn).await;
            drop(conn);
            let deleted = solo.delete_user_sessions(victim, None).await.unwrap();
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
            assert_eq!(work("Com_delete"), 1, "one DELETE statement");
            assert_eq!(work("Handler_delete"), 3, "3 rows deleted");
            assert_eq!(work("Handler_read_rnd_next"), 0, "no table scan");
            assert!(
                work("Handler_read_next") <= 3,
                "more index entries read than the user's 3"
            );
            deleted
        })
        .await;
}
