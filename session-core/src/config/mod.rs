//! `SessionConfig`: the session settings, validated once at start-up.

use std::time::Duration;

use serde::Deserialize;

mod builder;
mod options;
#[cfg(test)]
mod tests;
mod validate;

pub use builder::SessionConfigBuilder;
pub use options::{Renewal, SameSite};
use validate::{cookie_prefix, RawConfig};

use crate::{duration, Error, Secret};

/// Longest accepted cookie name (`session_cookie`), in bytes.
///
/// Browsers keep name and value within 4096 bytes together; a signed ID is
/// 65 bytes, and no sensible name comes near this bound (`__Host-` plus a
/// 57-character name still fits). A longer name is a configuration mistake,
/// refused at start-up.
pub const MAX_COOKIE_NAME_LEN: usize = 64;
/// Longest accepted `max_age`: 400 days, where browsers cap cookie lifetimes.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(400 * 24 * 3600);

/// Session settings (secret, cookie name and attributes, lifetimes).
///
/// | field | default |
/// |---|---|
/// | `secret_key` | required, at least 32 bytes |
/// | `fallback_secret_keys` | none (older keys that still verify) |
/// | `session_cookie` | `"session"`: an RFC 6265 token of at most [`MAX_COOKIE_NAME_LEN`] bytes; a `__Host-` / `__Secure-` prefix, in any letter case, gets the browser's prefix rules |
/// | `max_age` | 14400 s (4 h): idle lifetime, cookie `Max-Age` and store TTL; `none` for a browser-session cookie (no `Max-Age`/`Expires`) |
/// | `browser_session_ttl` | 14400 s (4 h): idle lifetime in the store of a browser-session cookie's record (`max_age = none` or [`Expiry::BrowserSession`](crate::Expiry)) |
/// | `renewal` | `on_use`: renew only on requests whose handler uses the session; `every_request` renews (once per `refresh_after` window) on every request carrying a valid cookie |
/// | `same_site` | `lax` |
/// | `https_only` | `false` (sets `Secure`) |
/// | `path` | `"/"` |
/// | `domain` | none |
/// | `http_only` | `true` |
/// | `absolute_max_age` | none (a cap on renewals, counted from creation or the last `cycle_id`, i.e. login) |
/// | `refresh_after` | `0.25`: a request whose handler uses the session (reads or writes it) renews the expiry once this fraction of the session's idle lifetime has passed since the last renewal; a handler that never extracts it renews nothing unless `renewal = every_request` |
/// | `max_data_size` | 65536 bytes of encoded session data |
///
/// A value of this type is always valid: the builder, [`Deserialize`] and
/// [`from_env`](Self::from_env) all validate.
///
/// In settings files and the environment, `max_age`, `browser_session_ttl`
/// and `absolute_max_age` take whole seconds (`14400`) or a number with a unit `s`,
/// `m`, `h` or `d` (`"30m"`, `"4h"`, `"1d"`, `"1h30m"`). Reading a TOML
/// file needs the [`toml`](https://docs.rs/toml) crate in your own
/// `Cargo.toml` (`toml::from_str::<SessionConfig>(&text)?`); any serde
/// format works the same way. `max_age` also takes `"none"` (or a null,
/// in formats that have one): the cookie
/// then lives until the browser closes, and the record until
/// `browser_session_ttl` passes without use.
///
/// ```
/// use std::time::Duration;
/// use session_core::{SameSite, SessionConfig};
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!")
///     .session_cookie("session_id")
///     .max_age(Duration::from_secs(3600))
///     .same_site(SameSite::Strict)
///     .https_only(true)
///     .build()?;
/// assert_eq!(config.session_cookie(), "session_id");
/// assert!(!format!("{config:?}").contains("a-secret"));
///
/// // Mistakes are caught at start-up, naming the field and the fix:
/// let err = SessionConfig::builder("too short").build().unwrap_err();
/// assert!(err.to_string().contains("`secret_key`"));
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct SessionConfig {
    secret_key: Secret,
    fallback_secret_keys: Vec<Secret>,
    session_cookie: String,
    max_age: Option<Duration>,
    browser_session_ttl: Duration,
    renewal: Renewal,
    same_site: SameSite,
    https_only: bool,
    path: String,
    domain: Option<String>,
    http_only: bool,
    absolute_max_age: Option<Duration>,
    refresh_after: f64,
    max_data_size: usize,
}

impl SessionConfig {
    /// Starts a builder with every default and the given secret.
    pub fn builder(secret_key: impl Into<Secret>) -> SessionConfigBuilder {
        SessionConfigBuilder(RawConfig {
            secret_key: Some(secret_key.into()),
            ..RawConfig::default()
        })
    }

    /// Reads the configuration from `SESSION_*` environment variables.
    ///
    /// | variable | field |
    /// |---|---|
    /// | `SESSION_SECRET` (required) | `secret_key` |
    /// | `SESSION_FALLBACK_SECRET_KEYS` (comma-separated) | `fallback_secret_keys` |
    /// | `SESSION_COOKIE` | `session_cookie` |
    /// | `SESSION_MAX_AGE` (`14400`, `30m`, `4h`, `1d`, or `none` for a browser-session cookie) | `max_age` |
    /// | `SESSION_BROWSER_SESSION_TTL` (as `SESSION_MAX_AGE`, without `none`) | `browser_session_ttl` |
    /// | `SESSION_RENEWAL` (`on_use`/`every_request`) | `renewal` |
    /// | `SESSION_SAME_SITE` | `same_site` |
    /// | `SESSION_HTTPS_ONLY` (`true`/`false`) | `https_only` |
    /// | `SESSION_PATH`, `SESSION_DOMAIN` | `path`, `domain` |
    /// | `SESSION_HTTP_ONLY` | `http_only` |
    /// | `SESSION_ABSOLUTE_MAX_AGE` (as `SESSION_MAX_AGE`) | `absolute_max_age` |
    /// | `SESSION_REFRESH_AFTER` (fraction) | `refresh_after` |
    /// | `SESSION_MAX_DATA_SIZE` (bytes) | `max_data_size` |
    ///
    /// `SESSION_FALLBACK_SECRETS`, the name before 0.1, is still read when
    /// `SESSION_FALLBACK_SECRET_KEYS` is unset (deprecated).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable's field for a missing secret, an
    /// unparsable number or boolean, or any validation failure.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        fn parse<T: std::str::FromStr>(
            field: &'static str,
            var: &str,
            value: String,
        ) -> Result<T, Error> {
            value
                .trim()
                .parse()
                .map_err(|_| Error::config(field, format!("{var}={value:?} does not parse")))
        }
        fn parse_duration(field: &'static str, var: &str, value: &str) -> Result<u64, Error> {
            duration::parse_secs(value).map_err(|fix| Error::config(field, format!("{var}={fix}")))
        }
        let mut raw = RawConfig {
            secret_key: lookup("SESSION_SECRET").map(Secret::from),
            ..RawConfig::default()
        };
        if raw.secret_key.is_none() {
            return Err(Error::config(
                "secret_key",
                "SESSION_SECRET is not set; set it to at least 32 random bytes",
            ));
        }
        let fallback =
            lookup("SESSION_FALLBACK_SECRET_KEYS").or_else(|| lookup("SESSION_FALLBACK_SECRETS"));
        if let Some(v) = fallback {
            raw.fallback_secret_keys = v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(Secret::from)
                .collect();
        }
        if let Some(v) = lookup("SESSION_COOKIE") {
            raw.session_cookie = v;
        }
        if let Some(v) = lookup("SESSION_MAX_AGE") {
            raw.max_age = if v.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(parse_duration("max_age", "SESSION_MAX_AGE", &v)?)
            };
        }
        if let Some(v) = lookup("SESSION_BROWSER_SESSION_TTL") {
            raw.browser_session_ttl =
                parse_duration("browser_session_ttl", "SESSION_BROWSER_SESSION_TTL", &v)?;
        }
        if let Some(v) = lookup("SESSION_RENEWAL") {
            raw.renewal = v.parse()?;
        }
        if let Some(v) = lookup("SESSION_SAME_SITE") {
            raw.same_site = v.parse()?;
        }
        if let Some(v) = lookup("SESSION_HTTPS_ONLY") {
            raw.https_only = parse("https_only", "SESSION_HTTPS_ONLY", v)?;
        }
        if let Some(v) = lookup("SESSION_PATH") {
            raw.path = v;
        }
        if let Some(v) = lookup("SESSION_DOMAIN") {
            raw.domain = Some(v);
        }
        if let Some(v) = lookup("SESSION_HTTP_ONLY") {
            raw.http_only = parse("http_only", "SESSION_HTTP_ONLY", v)?;
        }
        if let Some(v) = lookup("SESSION_ABSOLUTE_MAX_AGE") {
            raw.absolute_max_age = Some(parse_duration(
                "absolute_max_age",
                "SESSION_ABSOLUTE_MAX_AGE",
                &v,
            )?);
        }
        if let Some(v) = lookup("SESSION_REFRESH_AFTER") {
            raw.refresh_after = parse("refresh_after", "SESSION_REFRESH_AFTER", v)?;
        }
        if let Some(v) = lookup("SESSION_MAX_DATA_SIZE") {
            raw.max_data_size = parse("max_data_size", "SESSION_MAX_DATA_SIZE", v)?;
        }
        raw.try_into()
    }

    /// The current signing secret.
    pub fn secret_key(&self) -> &Secret {
        &self.secret_key
    }
    /// Older secrets that still verify cookies (which are then re-issued).
    pub fn fallback_secret_keys(&self) -> &[Secret] {
        &self.fallback_secret_keys
    }
    /// The cookie name.
    pub fn session_cookie(&self) -> &str {
        &self.session_cookie
    }
    /// The default idle lifetime of a persistent cookie: cookie `Max-Age`
    /// and store TTL. `None`: sessions get a browser-session cookie (no
    /// `Max-Age`/`Expires`) whose record lives
    /// [`browser_session_ttl`](Self::browser_session_ttl) without use. A
    /// session's own [`Expiry`](crate::Expiry) overrides it.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }
    /// The idle lifetime in the store of a browser-session cookie's record
    /// (the cookie itself has no expiry): never forever.
    pub fn browser_session_ttl(&self) -> Duration {
        self.browser_session_ttl
    }
    /// When sessions are renewed: on use (the default) or on every request.
    pub fn renewal(&self) -> Renewal {
        self.renewal
    }
    /// The `SameSite` attribute.
    pub fn same_site(&self) -> SameSite {
        self.same_site
    }
    /// Whether `https_only` was set.
    pub fn https_only(&self) -> bool {
        self.https_only
    }
    /// Whether the cookie carries `Secure`: `https_only`, or a `__Host-`/`__Secure-` name
    /// (in any letter case).
    pub fn secure(&self) -> bool {
        // Browsers match the prefixes in any letter case.
        self.https_only || cookie_prefix(&self.session_cookie).is_some()
    }
    /// The cookie `Path`.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The cookie `Domain`, if any.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }
    /// Whether the cookie carries `HttpOnly`.
    pub fn http_only(&self) -> bool {
        self.http_only
    }
    /// Cap on the total lifetime, counted from creation or the last
    /// `cycle_id` (login), if any.
    pub fn absolute_max_age(&self) -> Option<Duration> {
        self.absolute_max_age
    }
    /// Fraction of a session's idle lifetime after which a read-only request
    /// renews the expiry.
    pub fn refresh_after(&self) -> f64 {
        self.refresh_after
    }
    /// Largest accepted encoded session, in bytes.
    pub fn max_data_size(&self) -> usize {
        self.max_data_size
    }
}
