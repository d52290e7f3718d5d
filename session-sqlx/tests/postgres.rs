//! The PostgreSQL store against a real server: `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`. An unreachable server fails
//! the tests; nothing is skipped.
#![cfg(feature = "postgres")]

#[path = "postgres/announce.rs"]
mod announce;
mod common;
#[path = "postgres/near_cache.rs"]
mod near_cache;

use std::time::{Duration, Instant};

use common::*;
use session_core::{Error, SessionStore};
use session_sqlx::sqlx::postgres::{PgPool, PgPoolOptions};
use session_sqlx::sqlx::{self, AssertSqlSafe};
use session_sqlx::{ConnectError, PostgresStore};

/// `DATABASE_URL`, in plaintext unless it says otherwise: these are the
/// plaintext tests (TLS has its own, on a server of its own, in
/// `tests/tests/postgres_tls.rs`). With the `tls` feature, sqlx's default
/// `sslmode=prefer` would switch to TLS on a server that offers it (with
/// whatever certificate it has), and sqlx 0.9's pool is much slower over
/// PostgreSQL TLS (see the README's Production section).
fn url() -> String {
    let url = Server::Postgres.url();
    if url.contains("sslmode=") {
        url
    } else {
        with_params(&url, "sslmode=disable")
    }
}

/// A small pool on the test server, or a failure saying how to start one.
async fn pool() -> PgPool {
    let url = url();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| Server::Postgres.unreachable(&url, e));
    if first_call() {
        sweep_stale_tables(&pool).await;
    }
    pool
}

async fn sweep_stale_tables(pool: &PgPool) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name LIKE 'ssx\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for name in names.iter().filter(|n| is_stale_table(n)) {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\"")))
            .execute(pool)
            .await;
    }
    // The near cache trigger's functions (a dropped table leaves them).
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT proname::text FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace \
         WHERE nspname = 'public' AND proname LIKE 'ssx\\_%\\_near\\_cache'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for name in functions.iter().filter(|n| is_stale_table(n)) {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP FUNCTION IF EXISTS \"{name}\"()"
        )))
        .execute(pool)
        .await;
    }
}

async fn drop_table(store: &PostgresStore) {
    for t in [
        store.table().to_owned(),
        format!("{}_migrations", store.table()),
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{}\".\"{t}\"",
            store.schema()
        )))
        .execute(store.pool())
        .await
        .unwrap();
    }
}

/// A migrated store on a fresh table.
async fn fresh() -> PostgresStore {
    let store = PostgresStore::builder(pool().await)
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
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url())
            .await
            .unwrap();
        stores.push(PostgresStore::builder(pool).table(&table).build().unwrap());
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
    drop_table(&stores[0]).await;
}

#[tokio::test]
async fn a_schema_of_its_own_is_created_and_used() {
    let schema = table_name();
    let store = PostgresStore::builder(pool().await)
        .schema(&schema)
        .table("Mixed_Case_user")
        .build()
        .unwrap();
    store.migrate().await.expect("migrate creates the schema");
    store.migrate().await.expect("migrate is idempotent");
    let r = live_record(7);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap().unwrap().data, r.data);
    let keys: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM \"{schema}\".\"Mixed_Case_user\""
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(keys, [r.id.storage_key()], "rows are filed under the hash");
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn table_and_schema_names_with_sql_in_them_are_rejected() {
    let pool = pool().await;
    for bad in [
        "sessions; DROP TABLE users; --",
        "s\"; DROP TABLE x; --",
        "a.b",
        "",
        "1st",
    ] {
        assert_bad_name(
            PostgresStore::builder(pool.clone()).table(bad).build(),
            "table",
        );
        assert_bad_name(
            PostgresStore::builder(pool.clone()).schema(bad).build(),
            "schema",
        );
    }
    assert_bad_name(
        PostgresStore::builder(pool.clone())
            .schema("pg_catalog")
            .build(),
        "schema",
    );
    assert_bad_name(
        PostgresStore::builder(pool)
            .table("x".repeat(session_sqlx::MAX_NAME_LEN + 1))
            .build(),
        "table",
    );
}

#[tokio::test]
async fn an_unmigrated_table_says_to_call_migrate() {
    let store = PostgresStore::builder(pool().await)
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
    let missing_schema = PostgresStore::builder(store.pool().clone())
        .schema(table_name())
        .build()
        .unwrap();
    assert_not_migrated(missing_schema.load(&r.id).await, "load, missing schema");
}

#[tokio::test]
async fn a_database_that_does_not_exist_is_a_clear_error() {
    pool().await; // the server itself must be up
    let base = url();
    let (server, _) = base.rsplit_once('/').unwrap();
    let missing = format!("{server}/session_sqlx_no_such_database");
    let err = PostgresStore::connect(&missing).await.unwrap_err();
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

    let err = PostgresStore::connect("postgres://u:secret@127.0.0.1:1/x")
        .await
        .unwrap_err();
    let text = error_chain(&err);
    assert!(!text.contains("secret"), "the password leaked: {text}");
    assert!(text.contains("running"), "{text}");

    let err = PostgresStore::connect("nonsense://").await.unwrap_err();
    assert!(
        matches!(err, Error::Config { field: "url", .. }),
        "{err:?} / {}",
        error_chain(&err)
    );
}

#[tokio::test]
async fn cleanup_task_removes_100k_expired_rows_while_sessions_are_served() {
    let store = fresh().await;
    let table = store.table().to_owned();
    let started = Instant::now();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{table}\" (id, data, expires_at, created_at, version) \
         SELECT 'expired-' || g, '\\x01'::bytea, $1 - g, $1 - 3600000, 1 \
         FROM generate_series(1, $2) AS g"
    )))
    .bind(i64::try_from(unix_secs() * 1000).unwrap())
    .bind(i64::try_from(EXPIRED_ROWS).unwrap())
    .execute(store.pool())
    .await
    .unwrap();
    eprintln!(
        "postgres: bulk-inserted {EXPIRED_ROWS} expired rows in {:?}",
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
        "postgres: the cleanup task removed {EXPIRED_ROWS} expired rows in {:?} \
         (first run 50 ms after start); {} loads served meanwhile, slowest {:?}",
        run.elapsed, run.loads, run.slowest_load
    );
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
async fn version_1_table(pool: &PgPool, table: &str) -> session_core::Record {
    for sql in [
        format!(
            "CREATE TABLE \"{table}\" (id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, \
             data BYTEA NOT NULL, expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL, \
             version BIGINT NOT NULL)"
        ),
        format!("CREATE INDEX \"{table}_expires_idx\" ON \"{table}\" (expires_at)"),
        format!(
            "CREATE TABLE \"{table}_migrations\" (version BIGINT NOT NULL PRIMARY KEY, \
             description TEXT NOT NULL, applied_at BIGINT NOT NULL)"
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
        "INSERT INTO \"{table}\" VALUES ($1, $2, $3, $4, 1)"
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
    let table = table_name();
    let old = version_1_table(&pool().await, &table).await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url())
            .await
            .unwrap();
        stores.push(PostgresStore::builder(pool).table(&table).build().unwrap());
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
    drop_table(&stores[0]).await;
}

#[tokio::test]
async fn users_are_matched_exactly_and_long_ones_rejected() {
    let store = fresh().await;
    users_match_exactly_and_long_ones_are_rejected(&store).await;
    drop_table(&store).await;
}

#[tokio::test]
async fn connect_applies_the_url_parameters() {
    let report = |s: &PostgresStore| {
        let pool = s.pool().options();
        (
            pool.get_max_connections(),
            pool.get_acquire_timeout(),
            s.timeout(),
            s.runs_cleanup(),
        )
    };
    let tuned = PostgresStore::connect(&with_params(&url(), TUNED))
        .await
        .unwrap();
    let plain = PostgresStore::connect(&with_params(&url(), "cleanup_interval=off"))
        .await
        .unwrap();
    assert_tuned(report(&tuned), report(&plain));
}
