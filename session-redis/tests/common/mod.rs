//! What the session-redis test binaries share beyond
//! `session_test_support`: stores on the test servers (the standalone Redis
//! of `REDIS_URL`, the test cluster), each under a key prefix of its own.

#![allow(dead_code)]

use std::time::Duration;

use session_redis::RedisStore;
use session_test_support::{key_prefix, redis::cluster_urls, redis_url, Server};

/// The command timeout of the stores under test: generous, because the test
/// machine is small and shared; the default is tested separately.
pub(crate) const TEST_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// A store on the standalone Redis with a fresh key prefix. Fails the
/// test, saying how to start Redis, when it is not reachable.
pub(crate) async fn standalone_store() -> RedisStore {
    let url = redis_url();
    RedisStore::builder()
        .key_prefix(key_prefix())
        .command_timeout(TEST_COMMAND_TIMEOUT)
        .connect(url.as_str())
        .await
        .unwrap_or_else(|e| Server::Redis.unreachable(&url, session_core::error_chain(&e)))
}

/// A plain driver connection to the standalone Redis, to inspect keys.
pub(crate) async fn raw_standalone() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL parses");
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| Server::Redis.unreachable(&url, e))
}

/// A store on the test cluster ([`cluster_urls`]) with a fresh key prefix.
pub(crate) async fn cluster_store() -> RedisStore {
    let urls = cluster_urls();
    RedisStore::builder()
        .key_prefix(key_prefix())
        .command_timeout(TEST_COMMAND_TIMEOUT)
        .connect_cluster(urls.iter().map(String::as_str))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test cluster {urls:?}: {}",
                session_core::error_chain(&e)
            )
        })
}
