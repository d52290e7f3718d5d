//! The HTTP suite on MariaDB/MySQL (`MYSQL_URL`), each test in its own table.

use std::sync::Arc;

use session_cookie::{MySqlStore, SessionStore};
use session_tests::servers::{must_connect, mysql_url, unique_name};

async fn store() -> Arc<dyn SessionStore> {
    let url = mysql_url();
    let pool = must_connect(MySqlStore::connect_pool(&url).await, "MariaDB/MySQL", &url);
    let store = MySqlStore::builder(pool)
        .table(unique_name("http"))
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

session_tests::http_suite!(store());

/// `SESSION_STORE=mysql://…` opens a working, migrated store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&mysql_url()).await;
}
