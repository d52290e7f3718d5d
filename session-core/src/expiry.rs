//! Per-session expiry: a browser-session cookie or a persistent one, and the
//! idle lifetime that follows from it.

use std::time::{Duration, SystemTime};

use crate::record::truncate_ms;
use crate::{Error, SessionConfig, MAX_MAX_AGE};

/// How one session's cookie and record expire, chosen by a handler with
/// [`SessionState::set_expiry`](crate::adapter::SessionState::set_expiry) (for
/// example from a "remember me" box at login).
///
/// A session without a choice (`None`) follows the configuration:
/// [`max_age`](SessionConfig::max_age) when set, else a browser session
/// with [`browser_session_ttl`](SessionConfig::browser_session_ttl). The
/// choice is stored with the record, so every later renewal keeps it, and
/// it survives [`cycle_id`](crate::adapter::SessionState::cycle_id);
/// [`absolute_max_age`](SessionConfig::absolute_max_age) caps both kinds.
///
/// ```
/// use std::time::Duration;
/// use session_core::{Expiry, Lifetime, SessionConfig};
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let remembered = Lifetime::of(&config, Some(Expiry::Persistent(Duration::from_secs(86_400))));
/// assert!(remembered.persistent);
/// assert_eq!(remembered.idle, Duration::from_secs(86_400));
/// let browser = Lifetime::of(&config, Some(Expiry::BrowserSession));
/// assert!(!browser.persistent);
/// assert_eq!(browser.idle, config.browser_session_ttl());
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expiry {
    /// A cookie without `Max-Age`/`Expires`, which the browser drops when
    /// it closes; the record still expires after
    /// [`browser_session_ttl`](SessionConfig::browser_session_ttl) without
    /// use.
    BrowserSession,
    /// A persistent cookie: cookie `Max-Age` and record expire after this
    /// idle lifetime (whole seconds, from 1 second to 400 days).
    Persistent(Duration),
}

impl Expiry {
    /// Checks the choice: a persistent lifetime must be 1 s to 400 days.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `expiry` for a lifetime out of that range.
    pub fn validate(self) -> Result<Self, Error> {
        match self {
            Self::Persistent(idle) if idle.as_secs() == 0 || idle > MAX_MAX_AGE => {
                Err(Error::config(
                    "expiry",
                    "a persistent lifetime must be from 1 second to 400 days (where browsers cap cookies)",
                ))
            }
            other => Ok(other),
        }
    }

    /// The stored form: `0` for a browser session, else the persistent idle
    /// lifetime in whole seconds.
    pub fn to_code(self) -> u64 {
        match self {
            Self::BrowserSession => 0,
            Self::Persistent(idle) => idle.as_secs().max(1),
        }
    }

    /// Reads the stored form written by [`to_code`](Self::to_code).
    pub fn from_code(code: u64) -> Self {
        match code {
            0 => Self::BrowserSession,
            secs => Self::Persistent(Duration::from_secs(secs)),
        }
    }
}

/// The effective lifetime of one session: its idle lifetime and whether the
/// cookie is persistent (carries `Max-Age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// How long the record lives without use; the renewal window is
    /// [`refresh_after`](SessionConfig::refresh_after) of it.
    pub idle: Duration,
    /// `true` when the cookie carries `Max-Age`; `false` for a
    /// browser-session cookie.
    pub persistent: bool,
}

impl Lifetime {
    /// The lifetime of a session with the stored choice `expiry` (`None`:
    /// the configured default).
    pub fn of(config: &SessionConfig, expiry: Option<Expiry>) -> Self {
        match (expiry, config.max_age()) {
            (Some(Expiry::Persistent(idle)), _) | (None, Some(idle)) => Self {
                idle,
                persistent: true,
            },
            (Some(Expiry::BrowserSession), _) | (None, None) => Self {
                idle: config.browser_session_ttl(),
                persistent: false,
            },
        }
    }

    /// The expiry a write at `now` gives: `now + idle`, capped by
    /// `created_at + absolute_max_age`. Cookie `Max-Age` and store TTL both
    /// come from this one instant.
    pub fn next_expiry(
        self,
        config: &SessionConfig,
        created_at: SystemTime,
        now: SystemTime,
    ) -> SystemTime {
        let idle = now + self.idle;
        let expiry = match config.absolute_max_age() {
            Some(cap) => idle.min(created_at + cap),
            None => idle,
        };
        truncate_ms(expiry)
    }

    /// `true` when a record expiring at `current` is due for renewal at
    /// `now`: `refresh_after` of the idle lifetime has passed since the last
    /// renewal, and renewing would move the expiry (the absolute cap allows
    /// it).
    pub fn needs_renewal(
        self,
        config: &SessionConfig,
        current: SystemTime,
        next: SystemTime,
        now: SystemTime,
    ) -> bool {
        let left = current.duration_since(now).unwrap_or(Duration::ZERO);
        let renew_below = self.idle.mul_f64(1.0 - config.refresh_after());
        left < renew_below && next > current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_bad_lifetimes_are_refused() {
        for e in [
            Expiry::BrowserSession,
            Expiry::Persistent(Duration::from_secs(30 * 86_400)),
        ] {
            assert_eq!(Expiry::from_code(e.to_code()), e);
            assert_eq!(e.validate().unwrap(), e);
        }
        for bad in [Duration::ZERO, Duration::from_millis(999), MAX_MAX_AGE * 2] {
            assert!(Expiry::Persistent(bad).validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_choice_follows_the_configuration() {
        let secret = "0123456789abcdef0123456789abcdef";
        let persistent = SessionConfig::builder(secret).build().unwrap();
        assert_eq!(
            Lifetime::of(&persistent, None),
            Lifetime {
                idle: Duration::from_secs(14_400),
                persistent: true
            }
        );
        let browser = SessionConfig::builder(secret)
            .browser_session()
            .browser_session_ttl(Duration::from_secs(600))
            .build()
            .unwrap();
        assert_eq!(
            Lifetime::of(&browser, None),
            Lifetime {
                idle: Duration::from_secs(600),
                persistent: false
            }
        );
        let remembered = Some(Expiry::Persistent(Duration::from_secs(60)));
        assert!(Lifetime::of(&browser, remembered).persistent);
    }
}
