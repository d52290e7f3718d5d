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
/// `cleanup_interval` (default `5m`, or `off`), `near_cache`, durations with a unit
/// (`250ms`, `2s`, `5m`); an unknown parameter is an error naming the
/// accepted ones. For example
/// `postgres://app:pw@db/app?sslmode=verify-full&max_connections=20&timeout=2s`.
/// A `sqlite://` URL without a `mode=` parameter gets `mode=rwc`, so a
/// missing database file is created (give `?mode=rw` to refuse that). A
/// scheme whose feature is not compiled in is a clear error naming the
/// feature.
///
/// `near_cache=1` (or `on`, `true`) on a `redis://`, `rediss://`,
/// `redis+cluster://`, `redis+sentinel://` or `postgres://` URL turns on
/// the store's near cache with its default limits
/// (`session_core::near_cache`: loads answered from memory, kept coherent
/// by the backend); on any other store it is an error.
///
/// Use `connect` when the store is a setting (one binary, several
/// deployments); construct a store type directly (`RedisStore::connect`,
/// `PostgresStore::connect` + `migrate`, ...) when you need its own settings
/// in code (key prefix, table name, a pool of your own) or its type.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = session_stores::connect("memory").await.unwrap();
/// let err = session_stores::connect("ftp://nope").await.unwrap_err();
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
    let (url, near_cache) = take_near_cache(url)?;
    let url = url.as_str();
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    if near_cache
        && !matches!(
            scheme,
            "redis"
                | "rediss"
                | "redis+cluster"
                | "rediss+cluster"
                | "redis+sentinel"
                | "rediss+sentinel"
                | "postgres"
                | "postgresql"
        )
    {
        return Err(session_core::Error::config(
            "near_cache",
            format!("a `{scheme}` store has no near cache: it is for `redis://` (standalone, Sentinel or Cluster) and `postgres://` stores"),
        )
        .into());
    }
    #[cfg(feature = "redis")]
    let near = near_cache.then(session_core::near_cache::NearCacheConfig::new);
    #[allow(unused_variables)]
    let disabled = |feature| Error::FeatureDisabled {
        scheme: scheme.to_owned(),
        feature,
    };
    match scheme {
        #[cfg(feature = "memory")]
        "memory" => Ok(Arc::new(session_memory::MemoryStore::new())),
        #[cfg(not(feature = "memory"))]
        "memory" => Err(disabled("memory")),

        #[cfg(feature = "redis")]
        "redis" | "rediss" => Ok(Arc::new(redis_builder(near).connect(url).await?)),
        #[cfg(feature = "redis")]
        "redis+cluster" | "rediss+cluster" => Ok(Arc::new(
            redis_builder(near)
                .connect_cluster(cluster_nodes(url))
                .await?,
        )),
        #[cfg(feature = "redis")]
        "redis+sentinel" | "rediss+sentinel" => Ok(Arc::new(
            redis_builder(near).connect_sentinel_url(url).await?,
        )),
        #[cfg(not(feature = "redis"))]
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" | "redis+sentinel"
        | "rediss+sentinel" => Err(disabled("redis")),

        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            // session-sqlx reads `near_cache` from the URL itself.
            let url = if near_cache {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}near_cache=on")
            } else {
                url.to_owned()
            };
            let store = session_sqlx::PostgresStore::connect(&url).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => Err(disabled("postgres")),

        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let store = session_sqlx::SqliteStore::connect(&create_if_missing(url)).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err(disabled("sqlite")),

        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => {
            let store = session_sqlx::MySqlStore::connect(url).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "mysql"))]
        "mysql" | "mariadb" => Err(disabled("mysql")),

        _ => Err(Error::UnknownStore(scheme.to_owned())),
    }
}

/// A Redis store builder, with the near cache when `near` says so.
#[cfg(feature = "redis")]
fn redis_builder(
    near: Option<session_core::near_cache::NearCacheConfig>,
) -> session_redis::RedisStoreBuilder {
    let builder = session_redis::RedisStore::builder();
    match near {
        Some(config) => builder.near_cache(config),
        None => builder,
    }
}

/// Takes the `near_cache` query parameter out of `url`: the URL without it,
/// and whether it asked for the near cache (`1`, `true`, `on`; `0`,
/// `false`, `off`, or no parameter: off).
fn take_near_cache(url: &str) -> Result<(String, bool), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), false));
    };
    let mut on = false;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("near_cache", value)) => {
                on = match value {
                    "1" | "true" | "on" => true,
                    "0" | "false" | "off" => false,
                    other => {
                        return Err(session_core::Error::config(
                            "near_cache",
                            format!("`near_cache={other}` is not 1/true/on or 0/false/off"),
                        )
                        .into())
                    }
                }
            }
            _ if pair == "near_cache" => on = true,
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, on))
}

/// `url` with `mode=rwc` added unless it already says a `mode`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn create_if_missing(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q);
    if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("mode="))) {
        url.to_owned()
    } else if query.is_some() {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// `redis+cluster://a:1,b:2` -> `["redis://a:1", "redis://b:2"]`
/// (`rediss+cluster://` -> `rediss://`).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
fn cluster_nodes(url: &str) -> Vec<String> {
    let (scheme, nodes) = match url.strip_prefix("rediss+cluster://") {
        Some(nodes) => ("rediss", nodes),
        None => ("redis", url.trim_start_matches("redis+cluster://")),
    };
    nodes
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| format!("{scheme}://{n}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_cache_is_taken_out_of_the_url() {
        let took = |u: &str| take_near_cache(u).unwrap();
        assert_eq!(took("redis://h:1"), ("redis://h:1".into(), false));
        assert_eq!(
            took("redis://h:1?near_cache=1"),
            ("redis://h:1".into(), true)
        );
        assert_eq!(
            took("postgres://h/db?sslmode=require&near_cache=on&timeout=2s"),
            ("postgres://h/db?sslmode=require&timeout=2s".into(), true)
        );
        assert_eq!(
            took("redis://h?near_cache=off"),
            ("redis://h".into(), false)
        );
        let err = take_near_cache("redis://h?near_cache=maybe").unwrap_err();
        assert!(err.to_string().contains("near_cache"), "{err}");
    }

    /// `near_cache=1` reaches the Redis and PostgreSQL stores (their
    /// `Debug` shows the cache) and is refused elsewhere.
    #[cfg(all(feature = "redis", feature = "postgres", feature = "memory"))]
    #[tokio::test]
    async fn near_cache_in_the_url_turns_the_cache_on() {
        use session_core::{Data, Record, SessionId};
        use std::time::{Duration, SystemTime};

        let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let pg = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        for url in [redis.clone(), pg.clone()] {
            let sep = if url.contains('?') { '&' } else { '?' };
            let store = connect(&format!("{url}{sep}near_cache=1")).await.unwrap();
            assert!(format!("{store:?}").contains("NearCache"), "{store:?}");
            let record = Record::new(
                SessionId::generate(),
                Data::new(),
                SystemTime::now() + Duration::from_secs(60),
            );
            store.create(&record).await.unwrap();
            assert_eq!(store.load(&record.id).await.unwrap(), Some(record.clone()));
            store.delete(&record.id).await.unwrap();
            let plain = connect(&url).await.unwrap();
            assert!(!format!("{plain:?}").contains("NearCache"), "{plain:?}");
        }
        let err = connect("memory?near_cache=1").await.unwrap_err();
        assert!(err.to_string().contains("near_cache"), "{err}");
    }

    #[test]
    fn cluster_urls_list_every_node() {
        assert_eq!(
            cluster_nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001,"),
            ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://a:7000,b:7001"),
            ["rediss://a:7000", "rediss://b:7001"]
        );
    }

    /// `redis+sentinel://` asks the sentinels (here: none listening) and
    /// says so.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn sentinel_urls_go_to_the_sentinels() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Err(err) = connect(&format!("redis+sentinel://127.0.0.1:{port}/mymaster")).await else {
            panic!("no sentinel listens there");
        };
        let msg = session_core::error_chain(&err);
        assert!(
            msg.contains(&format!(
                "redis://127.0.0.1:{port}/0 (sentinels, master mymaster)"
            )),
            "{msg}"
        );
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn the_memory_store_is_bounded() {
        use session_core::{Data, Record, SessionId};
        use session_memory::DEFAULT_MAX_BYTES;
        use std::time::{Duration, SystemTime};

        // Sessions of 64 KiB (the default max_data_size), twice the bound.
        let size = 64 * 1024;
        let sessions = 2 * DEFAULT_MAX_BYTES / size;
        let store = connect("memory").await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..sessions {
            let expires_at = SystemTime::now() + Duration::from_secs(600);
            let mut data = Data::new();
            data.insert("blob".into(), vec![7; size - 4]);
            let record = Record::new(SessionId::generate(), data, expires_at);
            store.create(&record).await.unwrap();
            ids.push(record.id);
        }
        let mut live = 0;
        for id in &ids {
            live += usize::from(store.load(id).await.unwrap().is_some());
        }
        assert!(
            live > 0 && live * size <= DEFAULT_MAX_BYTES,
            "connect(\"memory\") is not bounded: {live} of {sessions} sessions of 64 KiB held"
        );
    }

    #[test]
    fn sqlite_urls_create_the_file_unless_they_say_a_mode() {
        assert_eq!(create_if_missing("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            create_if_missing("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            create_if_missing("sqlite://a.db?mode=rw"),
            "sqlite://a.db?mode=rw"
        );
    }

    /// `connect` creates a missing SQLite file; `mode=rw` refuses, with an
    /// error naming the fix.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_creates_a_missing_file_or_names_mode_rwc() {
        let dir = std::env::temp_dir().join(format!(
            "keycard-connect-{}-{}",
            std::process::id(),
            session_core::SessionId::generate().storage_key()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("other.db");
        let store = connect(&format!("sqlite://{}", path.display())).await;
        assert!(store.is_ok(), "{:?}", store.err().map(|e| e.to_string()));
        assert!(path.exists());

        let missing = dir.join("missing.db");
        let Err(err) = connect(&format!("sqlite://{}?mode=rw", missing.display())).await else {
            panic!("mode=rw must not create the file");
        };
        let err = session_core::error_chain(&err);
        assert!(
            err.contains("could not connect to the SQLite session database")
                && err.contains("add `?mode=rwc` to the URL"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_backend_that_is_not_compiled_in_names_its_feature() {
        #[cfg(not(feature = "redis"))]
        {
            let err = connect("redis://127.0.0.1:6379").await.unwrap_err();
            assert!(err.to_string().contains("--features redis"), "{err}");
        }
        let err = connect("ftp://example").await.unwrap_err();
        assert!(
            matches!(err, Error::UnknownStore(ref s) if s == "ftp"),
            "{err}"
        );
    }
}
