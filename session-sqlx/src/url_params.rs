//! The store's own query parameters in a database URL, read and removed
//! before the rest of the URL goes to sqlx.
//!
//! | parameter | meaning | default |
//! |---|---|---|
//! | `max_connections` | the most pooled connections | 10 |
//! | `timeout` | the deadline on every store call (pool acquire + statement) | [`DEFAULT_TIMEOUT`] (1 s) |
//! | `connect_timeout` | the deadline on the first connection at start-up | [`DEFAULT_CONNECT_TIMEOUT`] (5 s) |
//! | `cleanup_interval` | how often `connect` removes expired rows; `off` for never | [`DEFAULT_CLEANUP_INTERVAL`] (5 min) |
//! | `near_cache` | `on` turns the near cache on with its default limits (`connect` only; PostgreSQL only) | `off` |
//!
//! Durations carry a unit: `250ms`, `2s`, `5m`, `1h`. Any other parameter
//! must be one the driver knows (for example `sslmode`); a misspelt one is a
//! clear error instead of being ignored.

use std::time::Duration;

use session_core::Error;

use crate::deadline::{check, DEFAULT_TIMEOUT};
use session_core::redact_url as redact;

/// How long `connect` waits for the first connection before it gives up.
///
/// The same as the Redis store's connection timeout
/// (`session_redis::DEFAULT_CONNECTION_TIMEOUT`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the cleanup task that a store's `connect` starts removes
/// expired rows.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(300);

/// The pool size unless `max_connections` says otherwise (sqlx's default).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The parameters this crate reads, in the order the errors list them.
pub(crate) const OURS: &[&str] = &[
    "max_connections",
    "timeout",
    "connect_timeout",
    "cleanup_interval",
    "near_cache",
];

/// The settings read from a URL, with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlSettings {
    pub(crate) max_connections: u32,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// `None`: `cleanup_interval=off`.
    pub(crate) cleanup_interval: Option<Duration>,
    /// `cleanup_interval` was in the URL.
    pub(crate) cleanup_set: bool,
    /// `near_cache=on`.
    pub(crate) near_cache: bool,
}

impl Default for UrlSettings {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            cleanup_set: false,
            near_cache: false,
        }
    }
}

/// Which other parameters a backend's driver accepts.
#[derive(Debug, Clone, Copy)]
pub enum Driver {
    /// Only these names (a name ending in `[` stands for `name[KEY]`).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    Known(&'static [&'static str]),
    /// Whatever the driver says (it refuses unknown ones itself).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Checks,
}

/// sqlx's PostgreSQL parameters.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: Driver = Driver::Known(&[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
    "options[",
]);

/// sqlx's MySQL parameters.
#[cfg(feature = "mysql")]
pub(crate) const MYSQL: Driver = Driver::Known(&[
    "sslmode",
    "ssl-mode",
    "sslca",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "charset",
    "collation",
    "statement-cache-capacity",
    "socket",
    "timezone",
    "time-zone",
]);

/// Splits `url` into the URL for sqlx (our parameters removed, the others
/// kept as written) and our settings.
///
/// # Errors
///
/// [`Error::Config`] (field `url`) for a value that does not parse, or a
/// parameter neither this crate nor the driver knows.
pub(crate) fn split(url: &str, driver: Driver) -> Result<(String, UrlSettings), Error> {
    let mut settings = UrlSettings::default();
    let (base, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let Some((path, query)) = base.split_once('?') else {
        return Ok((url.to_owned(), settings));
    };
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |what: String| {
            Error::config("url", format!("{}?…: `{key}={value}` {what}", redact(path)))
        };
        match key {
            "max_connections" => {
                settings.max_connections = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("must be a whole number of at least 1".into()))?;
            }
            "timeout" => settings.timeout = duration(value).map_err(bad)?,
            "connect_timeout" => settings.connect_timeout = duration(value).map_err(bad)?,
            "cleanup_interval" => {
                settings.cleanup_set = true;
                settings.cleanup_interval = match value {
                    "off" => None,
                    _ => Some(duration(value).map_err(bad)?),
                };
            }
            "near_cache" => {
                settings.near_cache = match value {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    _ => return Err(bad("must be `on` or `off`".into())),
                };
            }
            _ => {
                if let Driver::Known(names) = driver {
                    // `options[` stands for `options[NAME]`.
                    let known = names.iter().any(|n| {
                        if n.ends_with('[') {
                            key.strip_prefix(n)
                                .and_then(|rest| rest.strip_suffix(']'))
                                .is_some_and(|name| !name.is_empty())
                        } else {
                            *n == key
                        }
                    });
                    if !known {
                        // The value is not shown: it might be a secret.
                        return Err(Error::config(
                            "url",
                            format!(
                                "{}?…: `{key}` is not a parameter this store knows: use one \
                                 of {} (the session store's) or {} (the driver's)",
                                redact(path),
                                OURS.join(", "),
                                names.join(", ").replace('[', "[NAME]")
                            ),
                        ));
                    }
                }
                kept.push(pair);
            }
        }
    }
    let stripped = if kept.is_empty() {
        format!("{path}{fragment}")
    } else {
        format!("{path}?{}{fragment}", kept.join("&"))
    };
    Ok((stripped, settings))
}

/// `250ms`, `2s`, `5m`, `1h`: a positive whole number and a unit.
fn duration(value: &str) -> Result<Duration, String> {
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| "must be a duration such as 250ms, 2s, 5m or 1h".to_owned())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "" => return Err(format!("needs a unit: {n}ms, {n}s, {n}m or {n}h")),
        _ => return Err(format!("has an unknown unit `{unit}`: use ms, s, m or h")),
    };
    check("url", d).map_err(|_| "must be longer than zero".to_owned())?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: Driver = Driver::Known(&["sslmode", "options["]);

    #[test]
    fn our_parameters_are_read_and_removed() {
        let (url, s) = split(
            "postgres://u:pw@h/db?sslmode=verify-full&max_connections=4&timeout=250ms\
             &connect_timeout=2s&cleanup_interval=5m&near_cache=on&options[search_path]=x",
            PG,
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u:pw@h/db?sslmode=verify-full&options[search_path]=x"
        );
        assert_eq!(
            s,
            UrlSettings {
                max_connections: 4,
                timeout: Duration::from_millis(250),
                connect_timeout: Duration::from_secs(2),
                cleanup_interval: Some(Duration::from_secs(300)),
                cleanup_set: true,
                near_cache: true,
            }
        );
        let (_, s) = split("postgres://h/db?near_cache=off", PG).unwrap();
        assert!(!s.near_cache);
        let (url, s) = split("mysql://h/db?cleanup_interval=off&timeout=1h", PG).unwrap();
        assert_eq!(url, "mysql://h/db");
        assert_eq!(s.cleanup_interval, None);
        assert_eq!(s.timeout, Duration::from_secs(3600));
        let (url, s) = split("postgres://h/db", PG).unwrap();
        assert_eq!(url, "postgres://h/db");
        assert_eq!(s, UrlSettings::default());
    }

    #[test]
    fn bad_values_and_unknown_names_are_clear_errors_with_the_password_masked() {
        for (url, says) in [
            (
                "postgres://u:pw@h/db?timeout=5",
                "needs a unit: 5ms, 5s, 5m or 5h",
            ),
            ("postgres://u:pw@h/db?timeout=0s", "longer than zero"),
            ("postgres://u:pw@h/db?timeout=3d", "unknown unit `d`"),
            ("postgres://u:pw@h/db?max_connections=0", "at least 1"),
            ("postgres://u:pw@h/db?near_cache=yes", "`on` or `off`"),
            (
                "postgres://u:pw@h/db?cleanup_interval=never",
                "a duration such as",
            ),
            (
                "postgres://u:pw@h/db?max_connection=5",
                "`max_connection` is not a parameter",
            ),
            ("postgres://u:pw@h/db?options[=x", "is not a parameter"),
            ("postgres://u:pw@h/db?passwd=hunter2", "`passwd` is not"),
        ] {
            let err = split(url, PG).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::Config { field: "url", .. }), "{text}");
            assert!(text.contains(says), "{url}: {text}");
            assert!(text.contains("u:***@h") && !text.contains("pw@"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        let text = split("postgres://h/db?sslmod=require", PG)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(
                "max_connections, timeout, connect_timeout, cleanup_interval, near_cache"
            ) && text.contains("sslmode"),
            "{text}"
        );
        // A driver that checks its own parameters gets every other one.
        let (url, _) = split("sqlite://f.db?mode=rwc&timeout=2s", Driver::Checks).unwrap();
        assert_eq!(url, "sqlite://f.db?mode=rwc");
    }
}
