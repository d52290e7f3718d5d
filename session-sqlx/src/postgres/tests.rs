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

/// Concurrent saves of many sessions share statements, and each keeps its
/// own answer: in the same batches, current saves are written, stale ones
/// conflict and those of deleted sessions have vanished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_share_statements_and_keep_their_own_answers() {
    use session_core::{Data, Error, Record, SessionId};
    use std::time::{Duration, SystemTime};

    let pool = test_util::pool::<Postgres>(&url()).await;
    let store = SqlStore::builder(pool)
        .table(test_util::table_name())
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let hour = SystemTime::now() + Duration::from_secs(3600);
    let mut saves = Vec::new();
    for n in 0..300u64 {
        let mut record = Record::new(SessionId::generate(), Data::new(), hour);
        store.create(&record).await.unwrap();
        // Current (version 2), stale (as if saved at 2 already), or deleted.
        record.version = if n % 3 == 1 { 3 } else { 2 };
        if n % 3 == 2 {
            store.delete(&record.id).await.unwrap();
        }
        record
            .data
            .insert("n".into(), session_core::codec::encode_value(&n).unwrap());
        saves.push(record);
    }
    let before = store
        .inner
        .batcher
        .as_ref()
        .expect("PostgreSQL batches saves")
        .sent();
    let tasks: Vec<_> = saves
        .iter()
        .map(|record| {
            let (store, record) = (store.clone(), record.clone());
            tokio::spawn(async move { store.save(&record).await })
        })
        .collect();
    for (n, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        match n % 3 {
            0 => assert!(result.is_ok(), "save {n}: {result:?}"),
            1 => assert!(
                matches!(result, Err(Error::VersionConflict)),
                "save {n}: {result:?}"
            ),
            _ => assert!(
                matches!(result, Err(Error::Vanished)),
                "save {n}: {result:?}"
            ),
        }
    }
    for (n, record) in saves.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let loaded = store.load(&record.id).await.unwrap().unwrap();
        assert_eq!(
            (loaded.version, &loaded.data),
            (2, &record.data),
            "save {n}"
        );
    }
    let after = store.inner.batcher.as_ref().unwrap().sent();
    let (statements, carried) = (after.0 - before.0, after.1 - before.1);
    eprintln!("300 concurrent saves: {statements} statements");
    assert_eq!(carried, 300, "every save goes through the batcher");
    assert!(
        statements < 300,
        "{statements} statements for 300 concurrent saves: no batch formed"
    );
}
