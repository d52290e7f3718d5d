//! `SessionConfig`: the session settings, validated once at start-up.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::duration;
use crate::secret::check_secret;
use crate::{Error, Secret};

/// Longest accepted cookie name (`session_cookie`), in bytes.
///
/// Browsers keep name and value within 4096 bytes together; a signed ID is
/// 65 bytes, and no sensible name comes near this bound (`__Host-` plus a
/// 57-character name still fits). A longer name is a configuration mistake,
/// refused at start-up.
pub const MAX_COOKIE_NAME_LEN: usize = 64;
/// Longest accepted `max_age`: 400 days, where browsers cap cookie lifetimes.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(400 * 24 * 3600);

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `https_only`.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

impl std::str::FromStr for SameSite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "lax" => Ok(Self::Lax),
            "none" => Ok(Self::None),
            _ => Err(Error::config(
                "same_site",
                format!("{s:?} is not one of \"strict\", \"lax\", \"none\""),
            )),
        }
    }
}

/// When the layer renews a session's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Renewal {
    /// Only on requests whose handler uses the session (the default): a
    /// handler that never extracts it costs no store call at all.
    #[default]
    OnUse,
    /// On every request that carries a valid cookie, extracted or not, like
    /// actix-session's `OnEveryRequest`; still at most one renewal per
    /// `refresh_after` window. The layer remembers, in process, when each
    /// session expires, so a request in the window costs no store call.
    EveryRequest,
}

impl std::str::FromStr for Renewal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "on_use" => Ok(Self::OnUse),
            "every_request" => Ok(Self::EveryRequest),
            _ => Err(Error::config(
                "renewal",
                format!("{s:?} is not one of \"on_use\", \"every_request\""),
            )),
        }
    }
}

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

/// The unvalidated form used by serde and the builder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    secret_key: Option<Secret>,
    fallback_secret_keys: Vec<Secret>,
    session_cookie: String,
    #[serde(deserialize_with = "duration::deserialize_secs_or_none")]
    max_age: Option<u64>,
    #[serde(deserialize_with = "duration::deserialize_secs")]
    browser_session_ttl: u64,
    renewal: Renewal,
    same_site: SameSite,
    https_only: bool,
    path: String,
    domain: Option<String>,
    http_only: bool,
    #[serde(deserialize_with = "duration::deserialize_opt_secs")]
    absolute_max_age: Option<u64>,
    refresh_after: f64,
    max_data_size: usize,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            fallback_secret_keys: Vec::new(),
            session_cookie: "session".into(),
            max_age: Some(14_400),
            browser_session_ttl: 14_400,
            renewal: Renewal::OnUse,
            same_site: SameSite::Lax,
            https_only: false,
            path: "/".into(),
            domain: None,
            http_only: true,
            absolute_max_age: None,
            refresh_after: 0.25,
            max_data_size: 64 * 1024,
        }
    }
}

impl TryFrom<RawConfig> for SessionConfig {
    type Error = Error;

    fn try_from(raw: RawConfig) -> Result<Self, Error> {
        let secret_key = raw.secret_key.ok_or_else(|| {
            Error::config(
                "secret_key",
                "is required; set it to at least 32 random bytes (e.g. `openssl rand -base64 32`)",
            )
        })?;
        check_secret("secret_key", &secret_key)?;
        for key in &raw.fallback_secret_keys {
            check_secret("fallback_secret_keys", key)?;
        }
        check_cookie_name(&raw.session_cookie)?;
        let max_age = raw
            .max_age
            .map(|secs| check_lifetime("max_age", secs))
            .transpose()?;
        let browser_session_ttl = check_lifetime("browser_session_ttl", raw.browser_session_ttl)?;
        if raw.same_site == SameSite::None && !raw.https_only {
            return Err(Error::config(
                "same_site",
                "\"none\" requires https_only = true (browsers reject SameSite=None without Secure)",
            ));
        }
        if !raw.path.starts_with('/') || !is_attr_value(&raw.path) {
            return Err(Error::config(
                "path",
                "must start with '/' and contain no ';', spaces or control characters",
            ));
        }
        if let Some(domain) = &raw.domain {
            if domain.is_empty() || !is_attr_value(domain) {
                return Err(Error::config(
                    "domain",
                    "must be a host name without ';', spaces or control characters; leave it unset for a host-only cookie",
                ));
            }
        }
        if cookie_prefix(&raw.session_cookie) == Some(Prefix::Host) {
            if raw.domain.is_some() {
                return Err(Error::config(
                    "domain",
                    "must be unset for a `__Host-` cookie name; remove the domain or rename the cookie",
                ));
            }
            if raw.path != "/" {
                return Err(Error::config(
                    "path",
                    "must be \"/\" for a `__Host-` cookie name; set path = \"/\" or rename the cookie",
                ));
            }
        }
        let absolute_max_age = match raw.absolute_max_age {
            Some(0) => {
                return Err(Error::config(
                    "absolute_max_age",
                    "must be at least 1 second, or unset for no cap",
                ))
            }
            other => other.map(Duration::from_secs),
        };
        if !(raw.refresh_after > 0.0 && raw.refresh_after <= 1.0) {
            return Err(Error::config(
                "refresh_after",
                "must be a fraction of the idle lifetime in (0, 1], e.g. 0.25",
            ));
        }
        if raw.max_data_size == 0 {
            return Err(Error::config("max_data_size", "must be at least 1 byte"));
        }
        let config = Self {
            secret_key,
            fallback_secret_keys: raw.fallback_secret_keys,
            session_cookie: raw.session_cookie,
            max_age,
            browser_session_ttl,
            renewal: raw.renewal,
            same_site: raw.same_site,
            https_only: raw.https_only,
            path: raw.path,
            domain: raw.domain,
            http_only: raw.http_only,
            absolute_max_age,
            refresh_after: raw.refresh_after,
            max_data_size: raw.max_data_size,
        };
        warn_if_risky(&config);
        Ok(config)
    }
}

/// Logs a warning for each accepted but risky setting.
fn warn_if_risky(config: &SessionConfig) {
    if !config.http_only {
        tracing::warn!(
            cookie = %config.session_cookie,
            "session config: http_only = false lets page scripts read the session cookie, \
             so one XSS bug leaks every session; keep http_only = true unless scripts must read it"
        );
    }
    if config.same_site == SameSite::None {
        tracing::warn!(
            cookie = %config.session_cookie,
            "session config: same_site = \"none\" sends the session cookie with cross-site \
             requests; protect state-changing routes against CSRF, or use \"lax\""
        );
    }
    if let (Some(domain), false) = (&config.domain, config.secure()) {
        tracing::warn!(
            cookie = %config.session_cookie,
            domain = %domain,
            "session config: a domain without https_only sends the session cookie in clear \
             text to every subdomain of it; set https_only = true"
        );
    }
}

/// A lifetime setting in whole seconds: 1 s to 400 days.
fn check_lifetime(field: &'static str, secs: u64) -> Result<Duration, Error> {
    if secs == 0 {
        return Err(Error::config(field, "must be at least 1 second"));
    }
    let lifetime = Duration::from_secs(secs);
    if lifetime > MAX_MAX_AGE {
        return Err(Error::config(
            field,
            "must be at most 34560000 seconds (400 days), where browsers cap cookies",
        ));
    }
    Ok(lifetime)
}

fn check_cookie_name(name: &str) -> Result<(), Error> {
    // RFC 6265 cookie-name = token (RFC 7230 tchar).
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(tchar) {
        return Err(Error::config(
            "session_cookie",
            format!("{name:?} is not a valid cookie name; use letters, digits and `-_.` only"),
        ));
    }
    if name.len() > MAX_COOKIE_NAME_LEN {
        return Err(Error::config(
            "session_cookie",
            format!(
                "is {} bytes long; use a name of at most {MAX_COOKIE_NAME_LEN} bytes, such as \"session\"",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// A cookie name prefix that browsers enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// `__Host-`: `Secure`, `Path=/`, no `Domain`.
    Host,
    /// `__Secure-`: `Secure`.
    Secure,
}

/// The prefix of a cookie name, matched without regard to letter case as
/// browsers do (`__HOST-sid` gets the `__Host-` rules).
fn cookie_prefix(name: &str) -> Option<Prefix> {
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    if starts("__Host-") {
        Some(Prefix::Host)
    } else if starts("__Secure-") {
        Some(Prefix::Secure)
    } else {
        None
    }
}

fn is_attr_value(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_graphic() && c != ';')
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

/// Builder for [`SessionConfig`]; see [`SessionConfig::builder`].
#[derive(Debug)]
#[must_use]
pub struct SessionConfigBuilder(RawConfig);

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConfig")
            .field("session_cookie", &self.session_cookie)
            .finish_non_exhaustive()
    }
}

impl SessionConfigBuilder {
    /// Adds older secrets that still verify cookies (which are then
    /// re-issued under `secret_key`): rotate by moving the current secret
    /// here and setting a new `secret_key`.
    pub fn fallback_secret_keys<K: Into<Secret>>(
        mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        self.0
            .fallback_secret_keys
            .extend(keys.into_iter().map(Into::into));
        self
    }
    /// Adds one older secret; the same as `fallback_secret_keys([key])`.
    #[deprecated(
        since = "0.1.0",
        note = "use `fallback_secret_keys([key])`, named like the setting"
    )]
    pub fn fallback_secret_key(self, key: impl Into<Secret>) -> Self {
        self.fallback_secret_keys([key])
    }
    /// Sets the cookie name (default `"session"`).
    pub fn session_cookie(mut self, name: impl Into<String>) -> Self {
        self.0.session_cookie = name.into();
        self
    }
    /// Sets the idle lifetime of a persistent cookie (default 4 hours);
    /// whole seconds count.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.0.max_age = Some(max_age.as_secs());
        self
    }
    /// Gives sessions a browser-session cookie (`max_age = none`): no
    /// `Max-Age`/`Expires`, so the browser drops it when it closes; the
    /// record lives [`browser_session_ttl`](Self::browser_session_ttl)
    /// without use.
    pub fn browser_session(mut self) -> Self {
        self.0.max_age = None;
        self
    }
    /// Sets the store's idle lifetime for browser-session cookies (default
    /// 4 hours); whole seconds count.
    pub fn browser_session_ttl(mut self, ttl: Duration) -> Self {
        self.0.browser_session_ttl = ttl.as_secs();
        self
    }
    /// Sets when sessions are renewed (default [`Renewal::OnUse`]).
    pub fn renewal(mut self, renewal: Renewal) -> Self {
        self.0.renewal = renewal;
        self
    }
    /// Sets `SameSite` (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.0.same_site = same_site;
        self
    }
    /// Sets `https_only`, which adds `Secure` (default `false`).
    pub fn https_only(mut self, https_only: bool) -> Self {
        self.0.https_only = https_only;
        self
    }
    /// Sets the cookie path (default `"/"`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.0.path = path.into();
        self
    }
    /// Sets the cookie domain (default: host-only).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.0.domain = Some(domain.into());
        self
    }
    /// Sets `HttpOnly` (default `true`).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.0.http_only = http_only;
        self
    }
    /// Caps the total lifetime from creation or the last `cycle_id` (login),
    /// however active the session is.
    pub fn absolute_max_age(mut self, cap: Duration) -> Self {
        self.0.absolute_max_age = Some(cap.as_secs());
        self
    }
    /// Sets the renewal fraction of the idle lifetime (default `0.25`).
    pub fn refresh_after(mut self, fraction: f64) -> Self {
        self.0.refresh_after = fraction;
        self
    }
    /// Sets the largest accepted encoded session in bytes (default 64 KiB).
    pub fn max_data_size(mut self, bytes: usize) -> Self {
        self.0.max_data_size = bytes;
        self
    }
    /// Validates and builds the configuration.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field and the fix.
    pub fn build(self) -> Result<SessionConfig, Error> {
        self.0.try_into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn field_of(err: Error) -> &'static str {
        match err {
            Error::Config { field, .. } => field,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn defaults_match_ravyn() {
        let c = SessionConfig::builder(SECRET).build().unwrap();
        assert_eq!(c.session_cookie(), "session");
        assert_eq!(c.max_age(), Some(Duration::from_secs(14_400)));
        assert_eq!(c.same_site(), SameSite::Lax);
        assert!(!c.https_only() && !c.secure());
        assert!(c.http_only());
        assert_eq!(c.path(), "/");
        assert_eq!(c.domain(), None);
    }

    #[test]
    fn nonsense_is_refused_with_the_field_named() {
        let b = || SessionConfig::builder(SECRET);
        let cases = [
            (SessionConfig::builder("short").build(), "secret_key"),
            (
                b().fallback_secret_keys(["old"]).build(),
                "fallback_secret_keys",
            ),
            (b().max_age(Duration::ZERO).build(), "max_age"),
            (b().same_site(SameSite::None).build(), "same_site"),
            (
                b().session_cookie("__Host-s")
                    .domain("example.com")
                    .https_only(true)
                    .build(),
                "domain",
            ),
            (
                b().session_cookie("__Host-s")
                    .path("/app")
                    .https_only(true)
                    .build(),
                "path",
            ),
            (b().session_cookie("bad name").build(), "session_cookie"),
            (b().path("no-slash").build(), "path"),
            (b().refresh_after(0.0).build(), "refresh_after"),
        ];
        for (result, field) in cases {
            assert_eq!(field_of(result.unwrap_err()), field);
        }
        assert!(b()
            .same_site(SameSite::None)
            .https_only(true)
            .build()
            .is_ok());
        assert!(b().session_cookie("__Host-s").build().unwrap().secure());
    }

    /// Issue 14.3: browsers match `__Host-` / `__Secure-` in any letter
    /// case, so the prefix rules do too.
    #[test]
    fn cookie_prefixes_apply_in_any_letter_case() {
        let b = || SessionConfig::builder(SECRET);
        for name in ["__Host-s", "__HOST-s", "__host-s", "__hOsT-s"] {
            let with_domain = b().session_cookie(name).domain("example.com").build();
            assert_eq!(field_of(with_domain.unwrap_err()), "domain", "{name}");
            let with_path = b().session_cookie(name).path("/app").build();
            assert_eq!(field_of(with_path.unwrap_err()), "path", "{name}");
            assert!(b().session_cookie(name).build().unwrap().secure(), "{name}");
        }
        for name in ["__Secure-s", "__SECURE-s", "__secure-s"] {
            let config = b().session_cookie(name).domain("example.com").build();
            assert!(config.unwrap().secure(), "{name}");
        }
        for name in ["_Host-s", "__Hosts", "session", "Host-s"] {
            assert!(
                !b().session_cookie(name).build().unwrap().secure(),
                "{name}"
            );
        }
    }

    /// Builds `builder` under a subscriber that keeps every event's text.
    fn warnings_of(builder: SessionConfigBuilder) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Level, Metadata, Subscriber};

        #[derive(Default)]
        struct Capture(Arc<Mutex<Vec<String>>>);
        struct Text<'a>(&'a mut String);
        impl Visit for Text<'_> {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        impl Subscriber for Capture {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut text = String::new();
                if *event.metadata().level() == Level::WARN {
                    text.push_str("WARN");
                }
                event.record(&mut Text(&mut text));
                self.0.lock().unwrap().push(text);
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }
        let capture = Capture::default();
        let lines = Arc::clone(&capture.0);
        tracing::subscriber::with_default(capture, || builder.build().unwrap());
        let lines = lines.lock().unwrap().clone();
        lines
    }

    #[test]
    fn risky_settings_warn_at_build_time() {
        let b = || SessionConfig::builder(SECRET);
        assert_eq!(warnings_of(b()), Vec::<String>::new(), "the defaults warn");
        assert_eq!(
            warnings_of(b().https_only(true).domain("example.com")).len(),
            0
        );
        for (builder, says) in [
            (b().http_only(false), "http_only = false"),
            (
                b().same_site(SameSite::None).https_only(true),
                "same_site = \"none\"",
            ),
            (b().domain("example.com"), "a domain without https_only"),
        ] {
            let warnings = warnings_of(builder);
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].starts_with("WARN"), "{warnings:?}");
            assert!(warnings[0].contains(says), "{warnings:?}");
            assert!(
                !warnings[0].contains(SECRET),
                "a warning printed the secret"
            );
        }
    }

    /// Issue 14.3: names outside RFC 6265 token syntax, or over the bound,
    /// are refused naming `session_cookie`.
    #[test]
    fn cookie_names_must_be_short_tokens() {
        let b = || SessionConfig::builder(SECRET);
        let longest = "s".repeat(MAX_COOKIE_NAME_LEN);
        assert!(b().session_cookie(longest.as_str()).build().is_ok());
        let too_long = "s".repeat(MAX_COOKIE_NAME_LEN + 1);
        let err = b().session_cookie(too_long).build().unwrap_err();
        assert!(err.to_string().contains("at most 64 bytes"), "{err}");
        assert_eq!(field_of(err), "session_cookie");
        for bad in [
            "", "a b", "a;b", "a=b", "a,b", "(s)", "s\"", "a/b", "a\\b", "[s]", "{s}", "a?b",
            "a@b", "a:b", "Zürich", "s\t", "s\u{7f}",
        ] {
            let err = b().session_cookie(bad).build().unwrap_err();
            assert_eq!(field_of(err), "session_cookie", "{bad:?}");
        }
        let env = |k: &str| match k {
            "SESSION_SECRET" => Some(SECRET.to_string()),
            "SESSION_COOKIE" => Some("x".repeat(65)),
            _ => None,
        };
        assert_eq!(
            field_of(SessionConfig::from_lookup(env).unwrap_err()),
            "session_cookie"
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = SessionConfig::builder(SECRET)
            .fallback_secret_keys(["fedcba9876543210fedcba9876543210"])
            .build()
            .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains(SECRET) && !debug.contains("fedcba"));
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn from_settings_file() {
        let c: SessionConfig = toml::from_str(&format!(
            "secret_key = \"{SECRET}\"\nsession_cookie = \"sid\"\nmax_age = 3600\nsame_site = \"strict\"\nhttps_only = true\n"
        ))
        .unwrap();
        assert_eq!(c.session_cookie(), "sid");
        assert_eq!(c.max_age(), Some(Duration::from_secs(3600)));
        assert_eq!(c.same_site(), SameSite::Strict);
        let err = toml::from_str::<SessionConfig>("secret_key = \"x\"").unwrap_err();
        assert!(err.to_string().contains("secret_key"), "{err}");
    }

    #[test]
    fn from_environment() {
        let env = |k: &str| match k {
            "SESSION_SECRET" => Some(SECRET.to_string()),
            "SESSION_MAX_AGE" => Some("60".into()),
            "SESSION_SAME_SITE" => Some("Strict".into()),
            _ => None,
        };
        let c = SessionConfig::from_lookup(env).unwrap();
        assert_eq!(c.max_age(), Some(Duration::from_secs(60)));
        assert_eq!(c.same_site(), SameSite::Strict);
        assert_eq!(
            field_of(SessionConfig::from_lookup(|_| None).unwrap_err()),
            "secret_key"
        );
        let bad = |k: &str| match k {
            "SESSION_SECRET" => Some(SECRET.to_string()),
            "SESSION_MAX_AGE" => Some("soon".into()),
            _ => None,
        };
        assert_eq!(
            field_of(SessionConfig::from_lookup(bad).unwrap_err()),
            "max_age"
        );
    }

    fn env_with(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| match k {
            "SESSION_SECRET" => Some(SECRET.to_string()),
            _ => extra
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string()),
        }
    }

    #[test]
    fn durations_take_units_in_the_environment() {
        let c = SessionConfig::from_lookup(env_with(&[
            ("SESSION_MAX_AGE", "30m"),
            ("SESSION_ABSOLUTE_MAX_AGE", "1d"),
        ]))
        .unwrap();
        assert_eq!(c.max_age(), Some(Duration::from_secs(1_800)));
        assert_eq!(c.absolute_max_age(), Some(Duration::from_secs(86_400)));
        let err = SessionConfig::from_lookup(env_with(&[("SESSION_MAX_AGE", "30 minutes")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid session configuration: `max_age`: SESSION_MAX_AGE=\"30 minutes\" is not a \
             duration; use whole seconds (`14400`) or a number with a unit s, m, h or d (`30m`, \
             `4h`, `1d`, `1h30m`)"
        );
    }

    #[test]
    fn durations_take_units_in_settings_files() {
        let file = |body: &str| {
            toml::from_str::<SessionConfig>(&format!("secret_key = \"{SECRET}\"\n{body}"))
        };
        let c = file("max_age = \"4h\"\nabsolute_max_age = \"1d\"").unwrap();
        assert_eq!(c.max_age(), Some(Duration::from_secs(14_400)));
        assert_eq!(c.absolute_max_age(), Some(Duration::from_secs(86_400)));
        assert_eq!(
            file("max_age = 60").unwrap().max_age(),
            Some(Duration::from_secs(60))
        );
        let err = file("max_age = \"4 hours\"").unwrap_err().to_string();
        assert!(err.contains("max_age") && err.contains("`4h`"), "{err}");
        let err = file("max_age = -5").unwrap_err().to_string();
        assert!(err.contains("negative") && err.contains("`4h`"), "{err}");
    }

    /// Issue 16: `max_age = none`, the browser-session
    /// TTL and the renewal policy, from every source.
    #[test]
    fn browser_sessions_and_renewal_from_every_source() {
        let c = SessionConfig::builder(SECRET).build().unwrap();
        assert_eq!(c.browser_session_ttl(), Duration::from_secs(14_400));
        assert_eq!(c.renewal(), Renewal::OnUse);
        let c = SessionConfig::builder(SECRET)
            .browser_session()
            .browser_session_ttl(Duration::from_secs(600))
            .renewal(Renewal::EveryRequest)
            .build()
            .unwrap();
        assert_eq!(c.max_age(), None);
        assert_eq!(c.browser_session_ttl(), Duration::from_secs(600));
        assert_eq!(c.renewal(), Renewal::EveryRequest);
        let file = |body: &str| {
            toml::from_str::<SessionConfig>(&format!("secret_key = \"{SECRET}\"\n{body}"))
        };
        let c =
            file("max_age = \"none\"\nbrowser_session_ttl = \"2h\"\nrenewal = \"every_request\"")
                .unwrap();
        assert_eq!(c.max_age(), None);
        assert_eq!(c.browser_session_ttl(), Duration::from_secs(7_200));
        assert_eq!(c.renewal(), Renewal::EveryRequest);
        let json: SessionConfig = serde_json::from_str(&format!(
            "{{\"secret_key\": \"{SECRET}\", \"max_age\": null}}"
        ))
        .unwrap();
        assert_eq!(json.max_age(), None);
        let c = SessionConfig::from_lookup(env_with(&[
            ("SESSION_MAX_AGE", "None"),
            ("SESSION_BROWSER_SESSION_TTL", "30m"),
            ("SESSION_RENEWAL", "every_request"),
        ]))
        .unwrap();
        assert_eq!(c.max_age(), None);
        assert_eq!(c.browser_session_ttl(), Duration::from_secs(1_800));
        assert_eq!(c.renewal(), Renewal::EveryRequest);
        for (env, field) in [
            (
                &[("SESSION_BROWSER_SESSION_TTL", "0")][..],
                "browser_session_ttl",
            ),
            (
                &[("SESSION_BROWSER_SESSION_TTL", "none")],
                "browser_session_ttl",
            ),
            (&[("SESSION_RENEWAL", "always")], "renewal"),
        ] {
            let env: &'static [(&'static str, &'static str)] = env;
            assert_eq!(
                field_of(SessionConfig::from_lookup(env_with(env)).unwrap_err()),
                field
            );
        }
        assert!(file("browser_session_ttl = \"none\"").is_err());
        assert!(file("renewal = \"sometimes\"").is_err());
    }

    #[test]
    fn fallback_secret_keys_have_one_name_and_an_old_alias() {
        const OLD: &str = "fedcba9876543210fedcba9876543210";
        for var in ["SESSION_FALLBACK_SECRET_KEYS", "SESSION_FALLBACK_SECRETS"] {
            let env = move |k: &str| match k {
                "SESSION_SECRET" => Some(SECRET.to_string()),
                k if k == var => Some(format!("{OLD},")),
                _ => None,
            };
            let c = SessionConfig::from_lookup(env).unwrap();
            assert_eq!(c.fallback_secret_keys(), [Secret::from(OLD)], "{var}");
        }
        let c: SessionConfig = toml::from_str(&format!(
            "secret_key = \"{SECRET}\"\nfallback_secret_keys = [\"{OLD}\"]"
        ))
        .unwrap();
        assert_eq!(c.fallback_secret_keys(), [Secret::from(OLD)]);
        #[allow(deprecated)]
        let c = SessionConfig::builder(SECRET)
            .fallback_secret_key(OLD)
            .build()
            .unwrap();
        assert_eq!(c.fallback_secret_keys(), [Secret::from(OLD)]);
    }
}
