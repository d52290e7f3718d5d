//! An adapter's settings: the store, the configuration, and the policies for
//! store failures ([`OnStoreError`]) and lost save races ([`ConflictRetry`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::renewals::Renewals;
use super::writers::Writers;
use crate::{IdSigner, SessionConfig, SessionStore};

/// What the adapter does when the store fails while loading a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnStoreError {
    /// Answer 503 Service Unavailable (the default).
    #[default]
    FailClosed,
    /// Continue with an empty, read-only session; a handler that then
    /// changes it gets a 503 instead of a silently lost write.
    ContinueEmpty,
}

/// How the adapter retries a save that lost to a concurrent request of the
/// same session (see [`SessionHandle::update`](super::SessionHandle::update)
/// for what is merged).
///
/// Each retry reloads the record, re-applies this request's changes key by
/// key and saves again, after a jittered backoff. When `max_attempts` or
/// `max_time` is reached the response becomes `status` (409 by default),
/// never a silent loss. A store that fails or times out during a retry
/// (its reload or its save) answers 503 at once, as any store failure
/// does: the bounds are for contention, not for an unavailable store.
///
/// ```
/// use std::time::Duration;
/// use session_core::adapter::ConflictRetry;
///
/// let retry = ConflictRetry::default()
///     .max_attempts(50)
///     .max_time(Duration::from_secs(2))
///     .status(503u16);
/// assert_eq!(retry.status, 503);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConflictRetry {
    /// Most saves per request (default 200).
    pub max_attempts: u32,
    /// Longest time spent retrying (default 5 s).
    pub max_time: Duration,
    /// The HTTP status once the bound is reached: 409 (default) or 503. A
    /// number that is no HTTP status answers 409.
    pub status: u16,
}

impl Default for ConflictRetry {
    fn default() -> Self {
        Self {
            max_attempts: 200,
            max_time: Duration::from_secs(5),
            status: 409,
        }
    }
}

impl ConflictRetry {
    /// Sets the most saves per request.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// Sets the longest time spent retrying.
    #[must_use]
    pub fn max_time(mut self, time: Duration) -> Self {
        self.max_time = time;
        self
    }
    /// Sets the answer once the bound is reached: a number or any
    /// framework's `StatusCode` (`http`'s converts into `u16`).
    #[must_use]
    pub fn status(mut self, status: impl Into<u16>) -> Self {
        self.status = status.into();
        self
    }

    /// [`status`](Self::status), or 409 when it is no HTTP status.
    pub(crate) fn answer(&self) -> u16 {
        if (100..=999).contains(&self.status) {
            self.status
        } else {
            409
        }
    }
}

/// What an adapter's middleware was built with, shared by its requests and
/// the sessions they hand out: the store, the configuration, the cookie
/// signer and the two policies.
///
/// An adapter keeps one in an `Arc` and starts every request with
/// [`RequestSession::new`](super::RequestSession::new).
///
/// ```
/// # use std::sync::Arc;
/// use session_core::adapter::{OnStoreError, Settings};
/// use session_core::SessionConfig;
/// # fn demo(store: Arc<dyn session_core::SessionStore>) -> Result<(), session_core::Error> {
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let mut settings = Settings::new(store, config);
/// settings.set_on_store_error(OnStoreError::ContinueEmpty);
/// assert_eq!(settings.on_store_error(), OnStoreError::ContinueEmpty);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Settings {
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) config: SessionConfig,
    pub(super) cards: IdSigner,
    pub(super) on_store_error: OnStoreError,
    pub(super) conflict_retry: ConflictRetry,
    /// When sessions expire, for [`Renewal::EveryRequest`](crate::Renewal::EveryRequest).
    pub(super) renewals: Arc<Renewals>,
    /// One writer at a time per session in this process.
    pub(super) writers: Arc<Writers>,
}

impl Settings {
    /// Sessions kept in `store`, configured by `config`, with the default
    /// policies.
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self {
            cards: IdSigner::from_config(&config),
            // Spans (and, with the `metrics` feature, metrics) around every
            // store call.
            store: Arc::new(crate::telemetry::Instrumented::new(store)),
            config,
            on_store_error: OnStoreError::default(),
            conflict_retry: ConflictRetry::default(),
            renewals: Arc::default(),
            writers: Arc::default(),
        }
    }

    /// Sets what happens when the store fails at load (default: 503).
    pub fn set_on_store_error(&mut self, policy: OnStoreError) {
        self.on_store_error = policy;
    }

    /// Sets how saves that lose to a concurrent request are retried.
    pub fn set_conflict_retry(&mut self, retry: ConflictRetry) {
        self.conflict_retry = retry;
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// What happens when the store fails at load.
    pub fn on_store_error(&self) -> OnStoreError {
        self.on_store_error
    }

    /// How saves that lose to a concurrent request are retried.
    pub fn conflict_retry(&self) -> ConflictRetry {
        self.conflict_retry
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("config", &self.config)
            .field("on_store_error", &self.on_store_error)
            .field("conflict_retry", &self.conflict_retry)
            .finish_non_exhaustive()
    }
}
