//! The MySQL/MariaDB store against a real server: `MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`. An unreachable server fails the
//! tests; nothing is skipped.
#![cfg(feature = "mysql")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use session_core::{Error, SessionStore};
use session_sqlx::sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use session_sqlx::sqlx::{self, AssertSqlSafe};
use session_sqlx::{ConnectError, MySqlStore};

fn url() -> String {
    Server::MariaDb.url()
}

/// A small pool on the test server, or a failure saying how to start one.
async fn pool() -> MySqlPool {
    let url = url();
    let pool = MySqlPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| Server::MariaDb.unreachable(&url, e));
    if first_call() {
        sweep_stale_tables(&pool).await;
    }
    pool
}

async fn sweep_stale_tables(pool: &MySqlPool) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name LIKE 'ssx\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for name in names.iter().filter(|n| is_stale_table(n)) {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS `{name}`")))
            .execute(pool)
            .await;
    }
}

async fn drop_table(store: &MySqlStore) {
    sqlx::query(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS `{0}`, `{0}_migrations`",
        store.table()
    )))
    .execute(store.pool())
    .await
    .unwrap();
}

/// A migrated store on a fresh table.
async fn fresh() -> MySqlStore {
    let store = MySqlStore::builder(pool().await)
        .table(table_name())
        .build()
        .unwrap();
    store.migrate().await.expect("migrate");
    store
}

session_core::store_conformance!(fresh());

#[tokio::test]
async fn eight_concurrent_migrations_of_a_fresh_table() {
    let table = table_name();
    let mut stores = Vec::new();
    for _ in 0..8 {
        // One pool each, like eight app instances starting together.
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&url())
            .await
            .unwrap();
        stores.push(MySqlStore::builder(pool).table(&table).build().unwrap());
    }
    migrate_concurrently(&stores, |s| Box::pin(async move { s.migrate().await })).await;
    stores[0].migrate().await.expect("migrate again");
    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM `{table}_migrations` ORDER BY version"
    )))
    .fetch_all(stores[0].pool())
    .await
    .unwrap();
    migrated_once(&stores, &versions).await;
    drop_table(&stores[0]).await;
}

#[tokio::test]
async fn keys_are_hashes_and_compared_case_sensitively() {
    let store = fresh().await;
    let r = live_record(1);
    store.create(&r).await.unwrap();
    let keys: Vec<String> =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT id FROM `{}`", store.table())))
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(keys, [r.id.storage_key()], "rows are filed under the hash");
    // A key differing only in case is another row (binary collation).
    let flipped: String =
        r.id.storage_key()
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{}` WHERE id = ?",
        store.table()
    )))
    .bind(flipped)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(n, 0);
    drop_table(&store).await;
}

/// With sqlx's `CLIENT_FOUND_ROWS`, a write of unchanged values still counts
/// as a row found: a touch to the same expiry, or a save whose only change
/// is the version, is no `Vanished`.
#[tokio::test]
async fn unchanged_writes_are_not_vanished() {
    let store = fresh().await;
    let r = live_record(1);
    store.create(&r).await.unwrap();
    store
        .touch(&r.id, r.expires_at)
        .await
        .expect("touch to the same expiry");
    store
        .touch(&r.id, r.expires_at)
        .await
        .expect("the same touch again");
    let mut next = r.clone();
    next.version = 2;
    store.save(&next).await.expect("save of unchanged data");
    drop_table(&store).await;
}

#[tokio::test]
async fn table_names_with_sql_in_them_are_rejected() {
    let pool = pool().await;
    for bad in [
        "sessions; DROP TABLE users; --",
        "s`; DROP TABLE x; --",
        "a.b",
        "",
    ] {
        assert_bad_name(
            MySqlStore::builder(pool.clone()).table(bad).build(),
            "table",
        );
    }
}

#[tokio::test]
async fn an_unmigrated_table_says_to_call_migrate() {
    let store = MySqlStore::builder(pool().await)
        .table(table_name())
        .build()
        .unwrap();
    let r = live_record(1);
    assert_not_migrated(store.load(&r.id).await, "load");
    assert_not_migrated(store.create(&r).await, "create");
    assert_not_migrated(store.save(&r).await, "save");
    assert_not_migrated(store.touch(&r.id, r.expires_at).await, "touch");
    assert_not_migrated(store.delete(&r.id).await, "delete");
    assert_not_migrated(store.delete_expired().await, "delete_expired");
}

#[tokio::test]
async fn a_database_that_does_not_exist_is_a_clear_error() {
    pool().await; // the server itself must be up
    let base = url();
    let (server, _) = base.rsplit_once('/').unwrap();
    let missing = format!("{server}/session_sqlx_no_such_database");
    let err = MySqlStore::connect(&missing).await.unwrap_err();
    let Error::Backend(source) = &err else {
        panic!("want Error::Backend, got {err:?}")
    };
    let connect = source
        .downcast_ref::<ConnectError>()
        .unwrap_or_else(|| panic!("the source must be a ConnectError: {source:?}"));
    let text = error_chain(&err);
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains("session_sqlx_no_such_database"), "{text}");
    assert!(matches!(connect.driver_error(), sqlx::Error::Database(_)));

    let err = MySqlStore::connect("mysql://u:secret@127.0.0.1:1/x")
        .await
        .unwrap_err();
    let text = error_chain(&err);
    assert!(!text.contains("secret"), "the password leaked: {text}");
    assert!(text.contains("running"), "{text}");

    let err = MySqlStore::connect("postgres://127.0.0.1/x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { field: "url", .. }), "{err:?}");
}

#[tokio::test]
async fn cleanup_task_removes_100k_expired_rows_while_sessions_are_served() {
    let store = fresh().await;
    let table = store.table().to_owned();
    let started = Instant::now();
    for sql in expired_rows_inserts(&format!("`{table}`"), "x'01'") {
        sqlx::query(AssertSqlSafe(sql))
            .execute(store.pool())
            .await
            .unwrap();
    }
    eprintln!(
        "mysql: bulk-inserted {EXPIRED_ROWS} expired rows in {:?}",
        started.elapsed()
    );
    let live: Vec<_> = (0..100).map(live_record).collect();
    for r in &live {
        store.create(r).await.unwrap();
    }
    let count_sql = format!("SELECT COUNT(*) FROM `{table}`");
    let pool = store.pool().clone();
    let run = cleanup_under_load(
        store.clone(),
        live,
        |s| s.spawn_cleanup(Duration::from_millis(50)),
        |h| h.shutdown(),
        || {
            let (pool, sql) = (pool.clone(), count_sql.clone());
            async move {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    eprintln!(
        "mysql: the cleanup task removed {EXPIRED_ROWS} expired rows in {:?} \
         (first run 50 ms after start); {} loads served meanwhile, slowest {:?}",
        run.elapsed, run.loads, run.slowest_load
    );
    drop_table(&store).await;
}

/// Why `create` is not one `INSERT … ON DUPLICATE KEY UPDATE` here: sqlx
/// connects with `CLIENT_FOUND_ROWS`, so an insert and an unchanged
/// duplicate (a conflict) both report 1 row affected.
#[tokio::test]
async fn on_duplicate_key_update_cannot_tell_a_conflict_from_an_insert() {
    let store = fresh().await;
    let sql = format!(
        "INSERT INTO `{}` (id, data, expires_at, created_at, version) VALUES ('k', x'00', ?, 0, 1) \
         ON DUPLICATE KEY UPDATE data = IF(expires_at <= 0, VALUES(data), data), \
         expires_at = IF(expires_at <= 0, VALUES(expires_at), expires_at)",
        store.table()
    );
    let mut affected = Vec::new();
    for _ in 0..2 {
        let done = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(i64::MAX)
            .execute(store.pool())
            .await
            .unwrap();
        affected.push(done.rows_affected());
    }
    assert_eq!(affected, [1, 1], "insert, then an unchanged duplicate");
    drop_table(&store).await;
}

#[tokio::test]
async fn concurrent_creates_over_an_expired_record_have_one_winner() {
    let store = fresh().await;
    race_creates_over_an_expired_record(store.clone()).await;
    drop_table(&store).await;
}

#[tokio::test]
async fn cleanup_never_deletes_a_record_recreated_over_an_expired_one() {
    let store = fresh().await;
    cleanup_never_deletes_a_recreated_record(store.clone()).await;
    drop_table(&store).await;
}

/// The table and bookkeeping exactly as version 1 of the migrations left
/// them, holding one session bound to "alice" (in its envelope only).
async fn version_1_table(pool: &MySqlPool, table: &str) -> session_core::Record {
    for sql in [
        format!(
            "CREATE TABLE `{table}` (id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
             data LONGBLOB NOT NULL, expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL, \
             version BIGINT NOT NULL, PRIMARY KEY (id), KEY `{table}_expires_idx` (expires_at)\
             ) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE `{table}_migrations` (version BIGINT NOT NULL PRIMARY KEY, \
             description VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL) ENGINE=InnoDB"
        ),
        format!(
            "INSERT INTO `{table}_migrations` VALUES \
             (1, 'create the session table and its expiry index', 0)"
        ),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
    let (old, envelope) = old_bound_row("alice");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO `{table}` VALUES (?, ?, ?, ?, 1)"
    )))
    .bind(old.id.storage_key())
    .bind(envelope)
    .bind(i64::try_from(old.expires_at_ms()).unwrap())
    .bind(i64::try_from(session_core::record::unix_ms(old.created_at)).unwrap())
    .execute(pool)
    .await
    .unwrap();
    old
}

async fn versions(store: &MySqlStore) -> Vec<i64> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM `{}_migrations` ORDER BY version",
        store.table()
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn eight_concurrent_upgrades_of_a_version_1_table_keep_its_sessions() {
    let table = table_name();
    let old = version_1_table(&pool().await, &table).await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&url())
            .await
            .unwrap();
        stores.push(MySqlStore::builder(pool).table(&table).build().unwrap());
    }
    migrate_concurrently(&stores, |s| Box::pin(async move { s.migrate().await })).await;
    assert_eq!(
        versions(&stores[0]).await,
        [1, 2],
        "version 2 is recorded once"
    );
    check_upgraded_table(&stores[2], &old).await;
    drop_table(&stores[0]).await;
}

/// MySQL commits each DDL statement at once: a migration that stopped
/// after adding the column but before the index (or before recording the
/// version) is finished by the next `migrate`.
#[tokio::test]
async fn a_version_2_upgrade_that_stopped_half_way_is_finished() {
    let pool = pool().await;
    let table = table_name();
    let old = version_1_table(&pool, &table).await;
    sqlx::query(AssertSqlSafe(format!(
        "ALTER TABLE `{table}` ADD COLUMN user_id VARBINARY(255) NULL"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let store = MySqlStore::builder(pool.clone())
        .table(&table)
        .build()
        .unwrap();
    store
        .migrate()
        .await
        .expect("migrate over the half-done upgrade");
    assert_eq!(versions(&store).await, [1, 2]);
    let indexed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?",
    )
    .bind(&table)
    .bind(format!("{table}_user_idx"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(indexed, 2, "the (user_id, expires_at) index exists");
    check_upgraded_table(&store, &old).await;

    // Both steps done, version not recorded: also finished.
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM `{table}_migrations` WHERE version = 2"
    )))
    .execute(&pool)
    .await
    .unwrap();
    store
        .migrate()
        .await
        .expect("migrate over the unrecorded upgrade");
    assert_eq!(versions(&store).await, [1, 2]);
    drop_table(&store).await;
}

#[tokio::test]
async fn users_are_matched_exactly_and_long_ones_rejected() {
    let store = fresh().await;
    users_match_exactly_and_long_ones_are_rejected(&store).await;
    drop_table(&store).await;
}

#[tokio::test]
async fn connect_applies_the_url_parameters() {
    let report = |s: &MySqlStore| {
        let pool = s.pool().options();
        (
            pool.get_max_connections(),
            pool.get_acquire_timeout(),
            s.timeout(),
            s.runs_cleanup(),
        )
    };
    let tuned = MySqlStore::connect(&with_params(&url(), TUNED))
        .await
        .unwrap();
    let plain = MySqlStore::connect(&with_params(&url(), "cleanup_interval=off"))
        .await
        .unwrap();
    assert_tuned(report(&tuned), report(&plain));
}

#[tokio::test]
async fn the_near_cache_is_refused_with_a_reason() {
    let built = MySqlStore::builder(pool().await)
        .near_cache(session_core::near_cache::NearCacheConfig::new())
        .build();
    let err = common::assert_config_error(built, "near_cache");
    assert!(err.to_string().contains("only on PostgreSQL"), "{err}");
}
