//! The HTTP suite on Redis (`REDIS_URL`), each test under its own key prefix.

use std::sync::Arc;

use session_cookie::core::SessionId;
use session_cookie::{RedisStore, SessionStore};
use session_tests::damage::Corrupt;
use session_tests::servers::{must_connect, redis_url, unique_name};

session_tests::http_suite!(session_tests::servers::redis_store("http"));

/// Overwrites a record's value in place (`SET … KEEPTTL`), keeping its
/// expiry and its user's index.
struct RawRedis {
    store: RedisStore,
    conn: session_cookie::redis::aio::MultiplexedConnection,
}

#[session_cookie::core::async_trait]
impl Corrupt for RawRedis {
    async fn overwrite(&self, id: &SessionId, bytes: &[u8]) {
        let mut conn = self.conn.clone();
        let _: () = session_cookie::redis::cmd("SET")
            .arg(self.store.redis_key(id))
            .arg(bytes)
            .arg("KEEPTTL")
            .query_async(&mut conn)
            .await
            .expect("SET … KEEPTTL");
    }
}

async fn damageable() -> (Arc<dyn SessionStore>, Arc<dyn Corrupt>) {
    let url = redis_url();
    let store = RedisStore::builder()
        .key_prefix(format!("{}:", unique_name("damaged")))
        .connect(url.as_str())
        .await;
    let store = must_connect(store, "Redis", &url);
    let client = session_cookie::redis::Client::open(url.as_str()).expect("a Redis URL");
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("a raw Redis connection");
    let raw = RawRedis {
        store: store.clone(),
        conn,
    };
    (Arc::new(store), Arc::new(raw))
}

session_tests::damaged_record_suite!(damageable());

/// `SESSION_STORE=redis://…` opens a working store.
#[tokio::test]
async fn connect_by_url() {
    session_tests::servers::round_trip_by_url(&redis_url()).await;
}
