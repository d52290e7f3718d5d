//! Finding the test servers: `REDIS_URL`, `DATABASE_URL`, `MYSQL_URL` at run
//! time, with the local defaults. A server that does not answer is a test
//! failure naming how to start it, never a skip.

/// `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`.
pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

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

/// A fresh lower-case name for a table or key prefix, unique per test.
pub fn unique_name(prefix: &str) -> String {
    let id = session_core::SessionId::generate().storage_key();
    let suffix: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{prefix}_{}", suffix.to_ascii_lowercase())
}

/// Unwraps a connection result, or fails the test saying how to start the server.
///
/// # Panics
///
/// When `result` is an error: that is the point.
pub fn must_connect<T>(result: Result<T, session_core::Error>, what: &str, url: &str) -> T {
    result.unwrap_or_else(|e| {
        panic!(
            "{what} at {url} is not reachable ({e}: {:?}). Start it with \
             `docker compose up -d --wait`, or run the whole suite with `scripts/test.sh`, \
             which starts throwaway servers from installed binaries.",
            std::error::Error::source(&e)
        )
    })
}

/// A loopback port nothing listens on right now (for throwaway servers).
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
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

/// `url` with `params` (`name=value&…`) added to its query.
pub fn with_params(url: &str, params: &str) -> String {
    let join = if url.contains('?') { '&' } else { '?' };
    format!("{url}{join}{params}")
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
