//! Picking a store by URL, as the `SESSION_STORE` setting does.

use std::sync::Arc;

use session_core::SessionStore;

use crate::Error;

/// Opens the store named by `url`, for settings like `SESSION_STORE`:
///
/// | URL | store | feature |
/// |---|---|---|
/// | `memory` | `MemoryStore::new()`: at most about `session_memory::DEFAULT_MAX_BYTES` (128 MiB) of sessions, evicting the soonest to expire | `memory` |
/// | `redis://host:port` | `RedisStore` | `redis` |
/// | `rediss://host:port` | `RedisStore` over TLS (platform trust roots, or `SSL_CERT_FILE`) | `redis` + `tls` |
/// | `redis+cluster://host:port,host:port,…` | `RedisStore` on Redis Cluster (`rediss+cluster://` for TLS) | `redis` |
/// | `redis+sentinel://[user:pass@]host:port,…/<master>[/<db>]` | `RedisStore` on the master the Sentinels name (`rediss+sentinel://` for TLS) | `redis` |
/// | `postgres://…` | `PostgresStore` (migrated) | `postgres` |
/// | `sqlite://path` | `SqliteStore` (migrated; the file is created if missing) | `sqlite` |
/// | `mysql://…` | `MySqlStore` (migrated) | `mysql` |
///
/// SQL stores are migrated here (`migrate()` is idempotent and safe to run
/// from several instances at once) and come with their expired-row cleanup
/// task running, which stops when the store is dropped. Their URLs take the
/// store's own query parameters besides the driver's (`sslmode=…`):
/// `max_connections` (pool size, default 10), `timeout` (the deadline on
/// every store call, default 1 s), `connect_timeout` (default 5 s) and
/// `cleanup_interval` (default `5m`, or `off`), durations with a unit
/// (`250ms`, `2s`, `5m`); an unknown parameter is an error naming the
/// accepted ones. For example
/// `postgres://app:pw@db/app?sslmode=verify-full&max_connections=20&timeout=2s`.
/// A `sqlite://` URL without a `mode=` parameter gets `mode=rwc`, so a
/// missing database file is created (give `?mode=rw` to refuse that). A
/// scheme whose feature is not compiled in is a clear error naming the
/// feature.
///
/// Use `connect` when the store is a setting (one binary, several
/// deployments); construct a store type directly (`RedisStore::connect`,
/// `PostgresStore::connect` + `migrate`, ...) when you need its own settings
/// in code (key prefix, table name, a pool of your own) or its type.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = session_cookie::connect("memory").await.unwrap();
/// let err = session_cookie::connect("ftp://nope").await.unwrap_err();
/// assert!(err.to_string().contains("unknown session store"));
/// # let _ = store; }
/// ```
///
/// # Errors
///
/// [`Error::FeatureDisabled`] for a backend that is not compiled in,
/// [`Error::UnknownStore`] for anything else, and the backend's connection
/// or migration error.
pub async fn connect(url: &str) -> Result<Arc<dyn SessionStore>, Error> {
    // Boxed: the drivers' connect futures nest deep enough already.
    Ok(Box::pin(session_stores::connect(url)).await?)
}

impl From<session_stores::Error> for Error {
    fn from(err: session_stores::Error) -> Self {
        match err {
            session_stores::Error::FeatureDisabled { scheme, feature } => {
                Self::FeatureDisabled { scheme, feature }
            }
            session_stores::Error::UnknownStore(scheme) => Self::UnknownStore(scheme),
            session_stores::Error::Session(err) => Self::Session(err),
            // A variant added later: its message and cause stay readable.
            other => Self::Session(session_core::Error::backend(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store errors keep their variants, and the feature message names
    /// this crate.
    #[tokio::test]
    async fn store_errors_keep_their_variants() {
        let err = connect("ftp://example").await.unwrap_err();
        assert!(
            matches!(err, Error::UnknownStore(ref s) if s == "ftp"),
            "{err}"
        );
        let err = Error::from(session_stores::Error::FeatureDisabled {
            scheme: "redis".into(),
            feature: "redis",
        });
        assert_eq!(
            err.to_string(),
            "the session store URL `redis://…` needs the `redis` feature of session-cookie: \
             build with `--features redis`"
        );
    }
}
