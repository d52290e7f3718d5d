//! The HTTP suite on MariaDB/MySQL (`MYSQL_URL`), each test in its own table.

use std::sync::Arc;

use session_cookie::{MySqlStore, SessionStore};
use session_tests::damage::{Corrupt, RawRows};
use session_tests::servers::{must_connect, mysql_url, unique_name};

async fn table(name: &str) -> MySqlStore {
    let url = mysql_url();
    let pool = must_connect(MySqlStore::connect_pool(&url).await, "MariaDB/MySQL", &url);
    let store = MySqlStore::builder(pool)
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
    let update = format!("UPDATE `{name}` SET data = ? WHERE id = ?");
    let raw = RawRows::new(store.pool().clone(), update);
    (Arc::new(store), Arc::new(raw))
}

session_tests::damaged_record_suite!(damageable());

/// `SESSION_STORE=mysql://…` opens a working, migrated store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&mysql_url()).await;
}

/// The store's URL parameters are read at connect time; a misspelt one is
/// refused.
#[tokio::test]
async fn connect_with_url_parameters() {
    session_tests::servers::connect_with_url_parameters(&mysql_url()).await;
}
