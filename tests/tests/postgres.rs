//! The HTTP suite on PostgreSQL (`DATABASE_URL`), each test in its own table.

use std::sync::Arc;

use session_cookie::{PostgresStore, SessionStore};
use session_tests::servers::{database_url, must_connect, unique_name};

async fn store() -> Arc<dyn SessionStore> {
    let url = database_url();
    let pool = must_connect(PostgresStore::connect_pool(&url).await, "PostgreSQL", &url);
    let store = PostgresStore::builder(pool)
        .table(unique_name("http"))
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

session_tests::http_suite!(store());

/// `SESSION_STORE=postgres://…` opens a working, migrated store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&database_url()).await;
}
