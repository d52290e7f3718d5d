//! The near cache on a standalone Redis (`REDIS_URL`): the conformance
//! suite with the cache on ([`conformance`]), two stores ("processes")
//! sharing one Redis seeing each other's writes, logouts and revocations
//! ([`coherence`]), and what happens when the invalidation channel is lost
//! or a key changes inside a Lua script ([`channel`]); the same on a Redis
//! Cluster ([`cluster`]).

mod channel;
mod cluster;
mod coherence;
#[path = "../common/mod.rs"]
mod common;
mod config;
mod conformance;

use std::time::{Duration, Instant, SystemTime};

use session_core::codec::encode_value;
use session_core::near_cache::NearCacheConfig;
use session_core::{Data, Record, SessionId};
use session_redis::RedisStore;
use session_test_support::{redis_url, Server};

/// How long a new store's feed may take to enable tracking.
const COHERENT_WITHIN: Duration = Duration::from_secs(2);

/// A store on the test Redis with the near cache on, under `prefix`,
/// once its cache is coherent (tracking enabled).
async fn near_store(prefix: &str) -> RedisStore {
    near_store_at(&redis_url(), prefix).await
}

/// [`near_store`] on the Redis at `url`.
async fn near_store_at(url: &str, prefix: &str) -> RedisStore {
    let store = RedisStore::builder()
        .key_prefix(prefix)
        .command_timeout(common::TEST_COMMAND_TIMEOUT)
        .near_cache(NearCacheConfig::new())
        .connect(url)
        .await
        .unwrap_or_else(|e| Server::Redis.unreachable(url, session_core::error_chain(&e)));
    wait_coherent(&store, true).await;
    store
}

/// Polls until the store's cache is (or is not) coherent; fails the test
/// after [`COHERENT_WITHIN`].
async fn wait_coherent(store: &RedisStore, coherent: bool) {
    let cache = store.near_cache().expect("near cache on");
    let start = Instant::now();
    while cache.stats().coherent != coherent {
        assert!(
            start.elapsed() < COHERENT_WITHIN,
            "the near cache did not turn coherent={coherent} within {COHERENT_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A record holding `n` under "n", optionally bound to `user`.
fn record(n: u64, user: Option<&str>) -> Record {
    let mut data = Data::new();
    data.insert("n".into(), encode_value(&n).unwrap());
    let mut record = Record::new(
        SessionId::generate(),
        data,
        SystemTime::now() + Duration::from_secs(600),
    );
    record.user = user.map(str::to_owned);
    record
}

/// The next version of `record`, holding `n`.
fn next(record: &Record, n: u64) -> Record {
    let mut changed = record.clone();
    changed.data.insert("n".into(), encode_value(&n).unwrap());
    changed.version += 1;
    changed
}
