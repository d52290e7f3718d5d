//! Why connecting to Redis failed, in words that name the fix.

use std::fmt;

use redis::{ConnectionAddr, ConnectionInfo, ErrorKind, RedisError};
use session_core::Error;

/// Why [`RedisStoreBuilder::connect`](crate::RedisStoreBuilder::connect) or
/// [`connect_cluster`](crate::RedisStoreBuilder::connect_cluster) failed;
/// kept as the [`source`](std::error::Error::source) of [`Error::Backend`],
/// with the driver's error as its own source.
///
/// It reads like the SQL stores' connection errors: the backend, the URL
/// with its password masked, and a hint (nothing listening, wrong password,
/// database number out of range, unknown host, and for `rediss://` an
/// untrusted CA, a certificate for another host, a client certificate the
/// server requires, or a server that does not speak TLS there):
///
/// ```text
/// could not connect to the Redis session store at redis://:***@127.0.0.1:6379/0:
/// authentication failed: check the user name and password in the URL (redis://user:password@host:port)
/// ```
#[derive(Debug)]
pub struct ConnectError {
    url: String,
    hint: &'static str,
    source: RedisError,
}

impl ConnectError {
    /// The URL (or the comma-separated cluster seed URLs) that failed, with
    /// any password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The driver's error.
    pub fn driver_error(&self) -> &RedisError {
        &self.source
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not connect to the Redis session store at {}: {}",
            self.url, self.hint
        )
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Maps an error from connecting to `url` (as [`shown`]).
pub(crate) fn connect_error(url: String, err: RedisError) -> Error {
    let text = err.to_string();
    let hint = if let Some(hint) = crate::tls::hint(&err) {
        hint
    } else if err.is_connection_refusal() {
        "nothing accepts connections there: is Redis running at this host and port?"
    } else if err.kind() == ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
    {
        "authentication failed: check the user name and password in the URL \
         (redis://user:password@host:port, or redis://:password@host:port without ACL users)"
    } else if text.contains("DB index is out of range") || text.contains("switch database") {
        "the server refused the database number (the URL path, e.g. /0): it must be below \
         the server's `databases` setting (16 by default)"
    } else if text.contains("lookup address") || text.contains("Name or service not known") {
        "the host name does not resolve: fix the host in the URL"
    } else {
        "check the URL, the credentials and that Redis is reachable from here"
    };
    Error::backend(ConnectError {
        url,
        hint,
        source: err,
    })
}

/// How `info` is shown in messages: `redis://user:***@host:port/db`, the
/// password masked.
pub(crate) fn shown(info: &ConnectionInfo) -> String {
    let settings = info.redis_settings();
    let (scheme, addr) = match info.addr() {
        ConnectionAddr::TcpTls { .. } => ("rediss", info.addr().to_string()),
        ConnectionAddr::Unix(_) => ("unix", info.addr().to_string()),
        _ => ("redis", info.addr().to_string()),
    };
    let user = match (settings.username(), settings.password()) {
        (Some(user), Some(_)) => format!("{user}:***@"),
        (None, Some(_)) => ":***@".to_owned(),
        (Some(user), None) => format!("{user}@"),
        (None, None) => String::new(),
    };
    format!("{scheme}://{user}{addr}/{}", settings.db())
}
