//! [`SessionConfigBuilder`]: the settings in code, validated by `build`.

use std::fmt;
use std::time::Duration;

use super::validate::RawConfig;
use super::{Renewal, SameSite, SessionConfig};
use crate::{Error, Secret};

/// Builder for [`SessionConfig`]; see [`SessionConfig::builder`].
#[derive(Debug)]
#[must_use]
pub struct SessionConfigBuilder(pub(super) RawConfig);

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
