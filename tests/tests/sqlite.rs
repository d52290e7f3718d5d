//! The HTTP suite on SQLite: a file database per test, in a temp dir.

use std::sync::Arc;

use session_cookie::{SessionStore, SqliteStore};
use session_tests::servers::unique_name;

async fn store() -> Arc<dyn SessionStore> {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("keycard_http")));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqliteStore::connect(&url)
        .await
        .expect("open a SQLite file");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

session_tests::http_suite!(store());
