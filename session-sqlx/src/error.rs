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
    hint: String,
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
        _ if tls_hint(backend, &err).is_some() => tls_hint(backend, &err).unwrap_or_default(),
        sqlx::Error::Configuration(e) => {
            return Error::config(
                "url",
                format!("{url} is not a valid {backend} database URL: {e}"),
            )
        }
        sqlx::Error::Database(db) if missing_database(db.as_ref()) && backend == "SQLite" => {
            if url.contains("mode=rwc") {
                "the database file cannot be created: its directory does not exist or is not writable"
                    .into()
            } else {
                "the database file does not exist: add `?mode=rwc` to the URL to create it, or fix the path"
                    .into()
            }
        }
        sqlx::Error::Database(db) if missing_database(db.as_ref()) => {
            "the database does not exist: create it, or fix the database name in the URL".into()
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "is the server running and reachable at this host and port?".into()
        }
        _ => "check the URL, the credentials and that the database exists".into(),
    };
    Error::backend(ConnectError {
        backend,
        url,
        hint,
        source: err,
    })
}

/// The parameter names of `backend` for the TLS hints: the mode, the mode
/// that checks the CA only, and the root certificate.
fn tls_names(backend: &str) -> (&'static str, &'static str, &'static str) {
    if backend == "MySQL" {
        ("ssl-mode", "ssl-mode=VERIFY_CA", "ssl-ca")
    } else {
        ("sslmode", "sslmode=verify-ca", "sslrootcert")
    }
}

/// What went wrong with TLS, and the fix, if `err` is about TLS.
fn tls_hint(backend: &str, err: &sqlx::Error) -> Option<String> {
    let (mode, _verify_ca, _root) = tls_names(backend);
    if let sqlx::Error::Tls(e) = err {
        let text = e.to_string();
        if text.contains("without TLS support") {
            return Some(format!(
                "the URL asks for TLS ({mode}=…) but this build has no TLS support: enable \
                 the `tls` feature of session-cookie (or session-sqlx)"
            ));
        }
        if text.contains("does not support TLS") {
            return Some(format!(
                "the URL asks for TLS ({mode}=…) but the server does not offer it: turn TLS \
                 on at the server (PostgreSQL: ssl=on; MySQL/MariaDB: ssl_cert and ssl_key), \
                 or use {mode}=prefer or disable only on a network you trust"
            ));
        }
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = rustls_error(err) {
        use rustls::CertificateError as C;
        return Some(match tls {
            rustls::Error::InvalidCertificate(C::NotValidForName)
            | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => format!(
                "the server's TLS certificate is not valid for this host name: connect by a \
                 name the certificate lists, or check the CA only with {_verify_ca}"
            ),
            rustls::Error::InvalidCertificate(
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. },
            ) => "the server's TLS certificate has expired or is not valid yet: renew it, \
                  or check the clocks"
                .to_owned(),
            rustls::Error::InvalidCertificate(_) => format!(
                "the server's TLS certificate is not signed by a CA this client trusts: name \
                 the CA's certificate with {_root}=/path/to/ca.pem, or add it to the system's \
                 trust store (or the bundle SSL_CERT_FILE names)"
            ),
            other => format!(
                "the TLS handshake failed ({other}): check the server's TLS setup and {mode}"
            ),
        });
    }
    None
}

/// The rustls error behind a failed handshake, if any (sqlx wraps it in an
/// I/O error).
#[cfg(feature = "tls")]
fn rustls_error(err: &sqlx::Error) -> Option<&rustls::Error> {
    let inner: &(dyn std::error::Error + 'static) = match err {
        sqlx::Error::Io(io) => io.get_ref()?,
        sqlx::Error::Tls(e) => e.as_ref(),
        _ => return None,
    };
    let mut current = Some(inner);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(tls);
            }
        }
        current = e.source();
    }
    None
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
