//! What the session-cookie benches share: the stores they run on.

use std::sync::Arc;

use session_cookie::{MemoryStore, SessionStore};

/// The memory store and, with the `redis` feature, Redis at `REDIS_URL`
/// (default `redis://127.0.0.1:6379`) under a key prefix of this run's own,
/// `bench-NAME-PID:`. A Redis that does not answer fails the bench.
pub(crate) fn stores(
    rt: &tokio::runtime::Runtime,
    name: &str,
) -> Vec<(&'static str, Arc<dyn SessionStore>)> {
    #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
    let mut stores: Vec<(&str, Arc<dyn SessionStore>)> =
        vec![("memory", Arc::new(MemoryStore::new()))];
    #[cfg(feature = "redis")]
    {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let store = rt.block_on(
            session_cookie::RedisStore::builder()
                .key_prefix(format!("bench-{name}-{}:", std::process::id()))
                .connect(url.as_str()),
        );
        match store {
            Ok(store) => stores.push(("redis", Arc::new(store))),
            Err(e) => panic!("Redis at {url} is needed for the redis bench: {e}"),
        }
    }
    #[cfg(not(feature = "redis"))]
    let _ = (rt, name);
    stores
}
