//! Opening a pool from a database URL, for every backend's `connect` and
//! `connect_pool`.

use std::str::FromStr as _;

use session_core::Error;
use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection, Pool};

use crate::dialect::Dialect;
use crate::error::{check_scheme, connect_error};
use crate::url_params::{split, UrlSettings};

/// Reads our parameters off `url`, connects once (bounded by
/// `connect_timeout`) to report an unreachable server or a missing database
/// at once (the pool alone would retry until its acquire timeout), then
/// opens the pool: at most `max_connections`, each acquire bounded by
/// `timeout`. With `pool_only` (for `connect_pool`), `cleanup_interval`
/// and `near_cache` are refused: a pool alone has no cleanup task to start
/// and no cache to hold.
pub(crate) async fn open<DB: Dialect>(
    url: &str,
    pool_only: bool,
) -> Result<(Pool<DB>, UrlSettings), Error> {
    check_scheme(DB::NAME, url, DB::SCHEMES)?;
    let (driver_url, settings) = split(url, DB::URL_PARAMS)?;
    if pool_only && settings.cleanup_set {
        return Err(Error::config(
            "url",
            format!(
                "{}: `cleanup_interval` is read by `connect`, not by `connect_pool`: \
                 remove it and call `store.spawn_cleanup(interval)` on the store you build",
                session_core::redact_url(url)
            ),
        ));
    }
    if pool_only && settings.near_cache {
        return Err(Error::config(
            "url",
            format!(
                "{}: `near_cache` is read by `connect`, not by `connect_pool`: remove it \
                 and call `.near_cache(NearCacheConfig::new())` on the store's builder",
                session_core::redact_url(url)
            ),
        ));
    }
    let fail = |e| connect_error(DB::NAME, url, e, DB::is_missing_database);
    let options = <DB::Connection as Connection>::Options::from_str(&driver_url).map_err(fail)?;
    let pool = PoolOptions::<DB>::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.timeout);
    let (options, pool) = DB::tune(&driver_url, options, pool);
    let probe = tokio::time::timeout(settings.connect_timeout, options.connect())
        .await
        .map_err(|_elapsed| {
            fail(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection within the connect timeout ({:?})",
                    settings.connect_timeout
                ),
            )))
        })?
        .map_err(fail)?;
    let _ = probe.close().await;
    let pool = pool.connect_with(options).await.map_err(fail)?;
    Ok((pool, settings))
}
