//! Turning driver errors into clear [`session_core::Error`]s.

use std::fmt;
use std::time::Duration;

use session_core::{redact_url as redact, Error};
use sqlx::error::DatabaseError;

/// Why a store's `connect` or `connect_pool` failed; kept as the
/// [`source`](std::error::Error::source) of [`Error::Backend`], with the
/// driver's error as its own source.
///
/// The URL in the message has its password masked.
#[derive(Debug)]
pub struct ConnectError {
    backend: &'static str,
    url: String,
    hint: &'static str,
    source: sqlx::Error,
}

impl ConnectError {
    /// The database URL that failed, with any password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The driver's error.
    pub fn driver_error(&self) -> &sqlx::Error {
        &self.source
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not connect to the {} session database at {}: {}",
            self.backend, self.url, self.hint
        )
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Maps an error from building a pool out of `url`.
///
/// `missing_database` recognises the server's "database does not exist" error.
pub(crate) fn connect_error(
    backend: &'static str,
    url: &str,
    err: sqlx::Error,
    missing_database: fn(&dyn DatabaseError) -> bool,
) -> Error {
    let url = redact(url);
    let hint = match &err {
        sqlx::Error::Configuration(e) => {
            return Error::config(
                "url",
                format!("{url} is not a valid {backend} database URL: {e}"),
            )
        }
        sqlx::Error::Database(db) if missing_database(db.as_ref()) && backend == "SQLite" => {
            if url.contains("mode=rwc") {
                "the database file cannot be created: its directory does not exist or is not writable"
            } else {
                "the database file does not exist: add `?mode=rwc` to the URL to create it, or fix the path"
            }
        }
        sqlx::Error::Database(db) if missing_database(db.as_ref()) => {
            "the database does not exist: create it, or fix the database name in the URL"
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "is the server running and reachable at this host and port?"
        }
        _ => "check the URL, the credentials and that the database exists",
    };
    Error::backend(ConnectError {
        backend,
        url,
        hint,
        source: err,
    })
}

/// Maps an error from a statement on the session table.
///
/// A missing table (the database answered "no such table") becomes an
/// [`Error::Config`] telling the caller to run `migrate()`; a pool that
/// gave no connection in time becomes [`Error::Timeout`].
pub(crate) fn query_error(
    err: sqlx::Error,
    table: &str,
    acquire_timeout: Duration,
    missing_table: fn(&dyn DatabaseError) -> bool,
) -> Error {
    match err {
        sqlx::Error::Database(db) if missing_table(db.as_ref()) => Error::config(
            "table",
            format!(
                "the session table {table} does not exist in this database: call \
                 `store.migrate().await` once at start-up (the database said: {})",
                db.message()
            ),
        ),
        sqlx::Error::PoolTimedOut => Error::Timeout(acquire_timeout),
        other => Error::backend(other),
    }
}

/// Rejects a URL whose scheme is not one of `schemes` (sqlx would try a
/// local default server for any other).
pub(crate) fn check_scheme(backend: &str, url: &str, schemes: &[&str]) -> Result<(), Error> {
    if schemes.iter().any(|s| url.starts_with(s)) {
        return Ok(());
    }
    Err(Error::config(
        "url",
        format!(
            "{} is not a {backend} database URL: it must start with {}",
            redact(url),
            schemes.join(" or ")
        ),
    ))
}
