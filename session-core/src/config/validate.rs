//! The unvalidated settings (`RawConfig`, as serde and the builder fill them)
//! and their validation into a [`SessionConfig`].

use std::time::Duration;

use serde::Deserialize;

use super::{Renewal, SameSite, SessionConfig, MAX_COOKIE_NAME_LEN, MAX_MAX_AGE};
use crate::duration;
use crate::secret::check_secret;
use crate::{Error, Secret};

/// The unvalidated form used by serde and the builder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) secret_key: Option<Secret>,
    pub(super) fallback_secret_keys: Vec<Secret>,
    pub(super) session_cookie: String,
    #[serde(deserialize_with = "duration::deserialize_secs_or_none")]
    pub(super) max_age: Option<u64>,
    #[serde(deserialize_with = "duration::deserialize_secs")]
    pub(super) browser_session_ttl: u64,
    pub(super) renewal: Renewal,
    pub(super) same_site: SameSite,
    pub(super) https_only: bool,
    pub(super) path: String,
    pub(super) domain: Option<String>,
    pub(super) http_only: bool,
    #[serde(deserialize_with = "duration::deserialize_opt_secs")]
    pub(super) absolute_max_age: Option<u64>,
    pub(super) refresh_after: f64,
    pub(super) max_data_size: usize,
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
pub(super) fn warn_if_risky(config: &SessionConfig) {
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
pub(super) fn check_lifetime(field: &'static str, secs: u64) -> Result<Duration, Error> {
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

pub(super) fn check_cookie_name(name: &str) -> Result<(), Error> {
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
pub(super) enum Prefix {
    /// `__Host-`: `Secure`, `Path=/`, no `Domain`.
    Host,
    /// `__Secure-`: `Secure`.
    Secure,
}

/// The prefix of a cookie name, matched without regard to letter case as
/// browsers do (`__HOST-sid` gets the `__Host-` rules).
pub(super) fn cookie_prefix(name: &str) -> Option<Prefix> {
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

pub(super) fn is_attr_value(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_graphic() && c != ';')
}
