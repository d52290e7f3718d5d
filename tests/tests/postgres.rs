//! The HTTP suite on PostgreSQL (`DATABASE_URL`), each test in its own table.

use std::sync::Arc;

use session_cookie::{PostgresStore, SessionStore};
use session_tests::damage::{Corrupt, RawRows};
use session_tests::servers::{database_url, must_connect, unique_name};

async fn table(name: &str) -> PostgresStore {
    let url = database_url();
    let pool = must_connect(PostgresStore::connect_pool(&url).await, "PostgreSQL", &url);
    let store = PostgresStore::builder(pool)
        .table(name)
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    store
}

async fn store() -> Arc<dyn SessionStore> {
    Arc::new(table(&unique_name("http")).await)
}

session_tests::http_suite!(store());

async fn damageable() -> (Arc<dyn SessionStore>, Arc<dyn Corrupt>) {
    let name = unique_name("damaged");
    let store = table(&name).await;
    let update = format!("UPDATE \"{name}\" SET data = $1 WHERE id = $2");
    let raw = RawRows::new(store.pool().clone(), update);
    (Arc::new(store), Arc::new(raw))
}

session_tests::damaged_record_suite!(damageable());

/// `SESSION_STORE=postgres://…` opens a working, migrated store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&database_url()).await;
}

/// The store's URL parameters are read at connect time; a misspelt one is
/// refused.
#[tokio::test]
async fn connect_with_url_parameters() {
    session_tests::servers::connect_with_url_parameters(&database_url()).await;
}
