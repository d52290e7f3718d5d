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
