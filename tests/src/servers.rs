//! The stores of the HTTP suite on the test servers, and connection checks
//! by URL. Finding the servers (`REDIS_URL`, `DATABASE_URL`, `MYSQL_URL`
//! at run time, with the local defaults) and unique names come from
//! `session_test_support`, re-exported here. A server that does not answer
//! is a test failure naming how to start it, never a skip.

pub use session_test_support::{
    database_url, free_port, mysql_url, redis_url, unique_name, with_params,
};

/// The Redis store at [`redis_url`] under a key prefix of its own (from
/// `label`), so each test is isolated on a shared server.
///
/// # Panics
///
/// When Redis does not answer (naming how to start it).
#[cfg(feature = "redis")]
pub async fn redis_store(label: &str) -> std::sync::Arc<dyn session_cookie::SessionStore> {
    let url = redis_url();
    let store = session_cookie::RedisStore::builder()
        .key_prefix(format!("{}:", unique_name(label)))
        .connect(url.as_str())
        .await;
    std::sync::Arc::new(must_connect(store, "Redis", &url))
}

/// Unwraps a connection result, or fails the test saying how to start the server.
///
/// # Panics
///
/// When `result` is an error: that is the point.
pub fn must_connect<T>(result: Result<T, session_core::Error>, what: &str, url: &str) -> T {
    result.unwrap_or_else(|e| {
        panic!(
            "{what} at {url} is not reachable ({}). Start it with \
             `docker compose up -d --wait`, or run the whole suite with `scripts/test.sh`, \
             which starts throwaway servers from installed binaries.",
            session_core::error_chain(&e)
        )
    })
}

/// A browser-like client: its own cookie jar, and a timeout well above any
/// server-side bound so that a hanging request shows as slow, not as lost.
///
/// # Panics
///
/// When the HTTP client cannot be built.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .expect("an HTTP client")
}

/// Opens `url` with `session_cookie::connect` (what `SESSION_STORE` does)
/// and checks a create + load round trip through it.
///
/// # Panics
///
/// When the store cannot be opened or does not round-trip.
pub async fn round_trip_by_url(url: &str) {
    use std::time::{Duration, SystemTime};

    use session_core::{Data, Record, SessionId};

    let store = must_connect(
        session_cookie::connect(url).await.map_err(|e| match e {
            session_cookie::Error::Session(e) => e,
            other => panic!("{other}"),
        }),
        "the store",
        url,
    );
    let record = Record::new(
        SessionId::generate(),
        Data::new(),
        SystemTime::now() + Duration::from_secs(60),
    );
    store
        .create(&record)
        .await
        .expect("create through connect()");
    assert!(store.load(&record.id).await.expect("load").is_some());
    store.delete(&record.id).await.expect("delete");
}

/// Opens `url` with `session_cookie::connect` and the store's own URL
/// parameters (pool size, deadline, cleanup interval) and checks a round
/// trip; then checks that a misspelt parameter is refused at connect time
/// with an error naming it and the accepted ones, and the password masked.
///
/// # Panics
///
/// When either does not hold.
pub async fn connect_with_url_parameters(url: &str) {
    let tuned = with_params(
        url,
        "max_connections=3&timeout=2s&connect_timeout=3s&cleanup_interval=1m",
    );
    round_trip_by_url(&tuned).await;
    let typo = with_params(url, "max_conections=3");
    let err = session_cookie::connect(&typo)
        .await
        .expect_err("a misspelt parameter must be refused");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            session_cookie::Error::Session(session_core::Error::Config { field: "url", .. })
        ),
        "{text}"
    );
    assert!(
        text.contains("`max_conections` is not a parameter")
            && text.contains("max_connections, timeout, connect_timeout, cleanup_interval"),
        "{text}"
    );
}
