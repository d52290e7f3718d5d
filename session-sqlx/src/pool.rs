//! Opening a pool from a database URL, for every backend's `connect` and
//! `connect_pool`.

use std::str::FromStr as _;

use session_core::Error;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection, Database, Pool};

use crate::error::{check_scheme, connect_error};
use crate::url_params::{split, Driver, UrlSettings};

/// What differs between the backends when opening a pool.
pub(crate) struct Backend<DB: Database> {
    /// `PostgreSQL`, `MySQL`, `SQLite`: for messages.
    pub(crate) name: &'static str,
    /// The URL schemes accepted (`postgres://`, ...).
    pub(crate) schemes: &'static [&'static str],
    /// Which other query parameters the driver accepts.
    pub(crate) driver: Driver,
    /// Recognises the server's "database does not exist" error.
    pub(crate) missing_database: fn(&dyn DatabaseError) -> bool,
    /// Adjusts the driver's options and the pool's for this backend.
    #[allow(clippy::type_complexity)]
    pub(crate) tune: fn(
        &str,
        <DB::Connection as Connection>::Options,
        PoolOptions<DB>,
    ) -> (<DB::Connection as Connection>::Options, PoolOptions<DB>),
}

/// Reads our parameters off `url`, connects once (bounded by
/// `connect_timeout`) to report an unreachable server or a missing database
/// at once (the pool alone would retry until its acquire timeout), then
/// opens the pool: at most `max_connections`, each acquire bounded by
/// `timeout`. With `pool_only` (for `connect_pool`), `cleanup_interval`
/// is refused: a pool alone has no cleanup task to start.
pub(crate) async fn open<DB: Database>(
    backend: &Backend<DB>,
    url: &str,
    pool_only: bool,
) -> Result<(Pool<DB>, UrlSettings), Error> {
    check_scheme(backend.name, url, backend.schemes)?;
    let (driver_url, settings) = split(url, backend.driver)?;
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
    let fail = |e| connect_error(backend.name, url, e, backend.missing_database);
    let options = <DB::Connection as Connection>::Options::from_str(&driver_url).map_err(fail)?;
    let pool = PoolOptions::<DB>::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.timeout);
    let (options, pool) = (backend.tune)(&driver_url, options, pool);
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
