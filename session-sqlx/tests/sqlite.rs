//! The SQLite store, on temporary files and in memory.
#![cfg(feature = "sqlite")]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use session_core::{Error, SessionStore};
use session_sqlx::sqlx::{self, AssertSqlSafe};
use session_sqlx::{ConnectError, SqliteStore};

/// Where the test databases go; files older than an hour are removed.
fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join("session-sqlx-tests");
    std::fs::create_dir_all(&dir).unwrap();
    if first_call() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age.as_secs() > STALE_AFTER_SECS);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    dir
}

fn file_url() -> String {
    let path = dir().join(format!("{}.db", table_name()));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A migrated store on a fresh database file.
async fn fresh_file() -> SqliteStore {
    let pool = SqliteStore::connect_pool(&file_url()).await.unwrap();
    let store = SqliteStore::builder(pool)
        .table(table_name())
        .build()
        .unwrap();
    store.migrate().await.expect("migrate");
    store
}

/// A migrated store on a fresh in-memory database.
async fn fresh_memory() -> SqliteStore {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.expect("migrate");
    store
}

mod file {
    session_core::store_conformance!(super::fresh_file());
}

mod memory {
    session_core::store_conformance!(super::fresh_memory());
}

#[tokio::test]
async fn in_memory_databases_are_separate_and_outlive_idle_time() {
    let a = fresh_memory().await;
    let b = fresh_memory().await;
    let r = live_record(1);
    a.create(&r).await.unwrap();
    assert!(
        b.load(&r.id).await.unwrap().is_none(),
        "two stores, two databases"
    );
    // Sessions stay: the pool never closes its one connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(a.load(&r.id).await.unwrap().is_some());
}

#[tokio::test]
async fn eight_concurrent_migrations_of_a_fresh_table() {
    let url = file_url();
    let table = table_name();
    let mut stores = Vec::new();
    for _ in 0..8 {
        // One pool each, like eight processes starting together.
        let pool = SqliteStore::connect_pool(&url).await.unwrap();
        stores.push(SqliteStore::builder(pool).table(&table).build().unwrap());
    }
    migrate_concurrently(&stores, |s| Box::pin(async move { s.migrate().await })).await;
    stores[0].migrate().await.expect("migrate again");
    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM \"{table}_migrations\" ORDER BY version"
    )))
    .fetch_all(stores[0].pool())
    .await
    .unwrap();
    migrated_once(&stores, &versions).await;
}

#[tokio::test]
async fn table_names_with_sql_in_them_are_rejected() {
    let pool = SqliteStore::connect_pool("sqlite::memory:").await.unwrap();
    for bad in [
        "sessions; DROP TABLE users; --",
        "s\"; DROP TABLE x; --",
        "main.sessions",
        "",
        "sqlite_sessions",
    ] {
        assert_bad_name(
            SqliteStore::builder(pool.clone()).table(bad).build(),
            "table",
        );
    }
    // Reserved words and case survive, being quoted.
    let store = SqliteStore::builder(pool).table("Order").build().unwrap();
    store.migrate().await.unwrap();
    let r = live_record(1);
    store.create(&r).await.unwrap();
    assert!(store.load(&r.id).await.unwrap().is_some());
}

#[tokio::test]
async fn an_unmigrated_table_says_to_call_migrate() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
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
    let missing = dir().join("no-such-dir").join("sessions.db");
    for (url, fix) in [
        (format!("sqlite://{}", missing.display()), "add `?mode=rwc`"),
        (
            format!("sqlite://{}?mode=rwc", missing.display()),
            "its directory does not exist or is not writable",
        ),
        (
            format!("sqlite://{}", dir().join("no-such-file.db").display()),
            "add `?mode=rwc` to the URL to create it",
        ),
    ] {
        let err = SqliteStore::connect(&url).await.unwrap_err();
        let Error::Backend(source) = &err else {
            panic!("{url}: want Error::Backend, got {err:?}")
        };
        assert!(
            source.downcast_ref::<ConnectError>().is_some(),
            "{url}: the source must be a ConnectError: {source:?}"
        );
        let text = error_chain(&err);
        assert!(
            text.contains("does not exist") && text.contains(fix),
            "{text}"
        );
    }
    let err = SqliteStore::connect("postgres://x/y").await.unwrap_err();
    assert!(matches!(err, Error::Config { field: "url", .. }), "{err:?}");
}

#[tokio::test]
async fn dropping_the_cleanup_handle_stops_the_task() {
    let store = fresh_memory().await;
    let mut dying = live_record(1);
    dying.expires_at = SystemTime::now() + Duration::from_millis(20);
    let handle = store.spawn_cleanup(Duration::from_millis(10));
    store.create(&dying).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    assert_eq!(count().await, 0, "the running task removed the expired row");
    assert!(!handle.is_finished());
    drop(handle);
    let mut again = live_record(2);
    again.expires_at = SystemTime::now() + Duration::from_millis(20);
    store.create(&again).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count().await, 1, "a dropped handle's task must not run");

    let handle = store.spawn_cleanup(Duration::from_millis(10));
    let started = Instant::now();
    handle.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn cleanup_task_removes_100k_expired_rows_while_sessions_are_served() {
    let store = fresh_file().await;
    let table = store.table().to_owned();
    let started = Instant::now();
    let mut tx = store.pool().begin().await.unwrap();
    for sql in expired_rows_inserts(&format!("\"{table}\""), "x'01'") {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    eprintln!(
        "sqlite: bulk-inserted {EXPIRED_ROWS} expired rows in {:?}",
        started.elapsed()
    );
    let live: Vec<_> = (0..100).map(live_record).collect();
    for r in &live {
        store.create(r).await.unwrap();
    }
    let count_sql = format!("SELECT COUNT(*) FROM \"{table}\"");
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
        "sqlite: the cleanup task removed {EXPIRED_ROWS} expired rows in {:?} \
         (first run 50 ms after start); {} loads served meanwhile, slowest {:?}",
        run.elapsed, run.loads, run.slowest_load
    );
}

#[tokio::test]
async fn concurrent_creates_over_an_expired_record_have_one_winner() {
    race_creates_over_an_expired_record(fresh_file().await).await;
    race_creates_over_an_expired_record(fresh_memory().await).await;
}

#[tokio::test]
async fn cleanup_never_deletes_a_record_recreated_over_an_expired_one() {
    cleanup_never_deletes_a_recreated_record(fresh_file().await).await;
}

/// The table and bookkeeping exactly as version 1 of the migrations left
/// them, holding one session bound to "alice" (in its envelope only).
async fn version_1_table(pool: &sqlx::SqlitePool, table: &str) -> session_core::Record {
    for sql in [
        format!(
            "CREATE TABLE \"{table}\" (id TEXT NOT NULL PRIMARY KEY, data BLOB NOT NULL, \
             expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, version INTEGER NOT NULL)"
        ),
        format!("CREATE INDEX \"{table}_expires_idx\" ON \"{table}\" (expires_at)"),
        format!(
            "CREATE TABLE \"{table}_migrations\" (version INTEGER NOT NULL PRIMARY KEY, \
             description TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        ),
        format!(
            "INSERT INTO \"{table}_migrations\" VALUES \
             (1, 'create the session table and its expiry index', 0)"
        ),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
    let (old, envelope) = old_bound_row("alice");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{table}\" VALUES (?1, ?2, ?3, ?4, 1)"
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

#[tokio::test]
async fn eight_concurrent_upgrades_of_a_version_1_table_keep_its_sessions() {
    let url = file_url();
    let table = table_name();
    let old = version_1_table(&SqliteStore::connect_pool(&url).await.unwrap(), &table).await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        let pool = SqliteStore::connect_pool(&url).await.unwrap();
        stores.push(SqliteStore::builder(pool).table(&table).build().unwrap());
    }
    migrate_concurrently(&stores, |s| Box::pin(async move { s.migrate().await })).await;
    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM \"{table}_migrations\" ORDER BY version"
    )))
    .fetch_all(stores[0].pool())
    .await
    .unwrap();
    assert_eq!(versions, [1, 2], "version 2 is recorded once");
    check_upgraded_table(&stores[2], &old).await;
}

#[tokio::test]
async fn users_are_matched_exactly_and_long_ones_rejected() {
    users_match_exactly_and_long_ones_are_rejected(&fresh_file().await).await;
}

#[tokio::test]
async fn the_near_cache_is_refused_with_a_reason() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let built = SqliteStore::builder(store.pool().clone())
        .near_cache(session_core::near_cache::NearCacheConfig::new())
        .build();
    let err = common::assert_config_error(built, "near_cache");
    assert!(err.to_string().contains("only on PostgreSQL"), "{err}");
    let connected = SqliteStore::connect("sqlite::memory:?near_cache=on").await;
    common::assert_config_error(connected, "near_cache");
}
