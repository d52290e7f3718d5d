//! Near cache settings the builder refuses.

use session_core::near_cache::NearCacheConfig;
use session_core::Error;
use session_redis::RedisStore;

/// The near cache is accepted for a Cluster now: the settings pass and
/// connecting is what fails (nothing listens on port 1).
#[tokio::test]
async fn a_cluster_with_the_near_cache_is_accepted() {
    let err = RedisStore::builder()
        .near_cache(NearCacheConfig::new())
        .connection_timeout(std::time::Duration::from_millis(500))
        .connect_cluster(["redis://127.0.0.1:1"])
        .await
        .unwrap_err();
    assert!(!matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn a_cluster_with_bad_near_cache_limits_is_a_config_error() {
    let err = RedisStore::builder()
        .near_cache(NearCacheConfig::new().max_entries(0))
        .connect_cluster(["redis://127.0.0.1:1"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn limits_that_make_no_sense_are_a_config_error() {
    let err = RedisStore::builder()
        .near_cache(NearCacheConfig::new().max_entries(0))
        .connect("redis://127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}
