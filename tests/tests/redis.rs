//! The HTTP suite on Redis (`REDIS_URL`), each test under its own key prefix.

use std::sync::Arc;

use session_cookie::{RedisStore, SessionStore};
use session_tests::servers::{must_connect, redis_url, unique_name};

async fn store() -> Arc<dyn SessionStore> {
    let url = redis_url();
    let store = RedisStore::builder()
        .key_prefix(format!("{}:", unique_name("http")))
        .connect(url.as_str())
        .await;
    Arc::new(must_connect(store, "Redis", &url))
}

session_tests::http_suite!(store());

/// `SESSION_STORE=redis://…` opens a working store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&redis_url()).await;
}
