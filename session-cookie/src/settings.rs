//! The layer's settings: the store, the configuration, and the policies for
//! store failures ([`OnStoreError`]) and lost save races ([`ConflictRetry`]).

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use session_core::{IdSigner, SessionConfig, SessionStore};

use crate::renewals::Renewals;

/// What the layer does when the store fails while loading a session.
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

/// How the layer retries a save that lost to a concurrent request of the
/// same session (see [Concurrent requests of one
/// session](crate#concurrent-requests-of-one-session) and
/// [`Session::update`](crate::Session::update) for what is merged).
///
/// Each retry reloads the record, re-applies this request's changes key by
/// key and saves again, after a jittered backoff. When `max_attempts` or
/// `max_time` is reached the response becomes `status` (409 by default),
/// never a silent loss. A store that fails or times out during a retry
/// (its reload or its save) answers 503 at once, as any store failure
/// does: the bounds are for contention, not for an unavailable store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConflictRetry {
    /// Most saves per request (default 200).
    pub max_attempts: u32,
    /// Longest time spent retrying (default 5 s).
    pub max_time: Duration,
    /// The answer once the bound is reached: 409 (default) or 503.
    pub status: StatusCode,
}

impl Default for ConflictRetry {
    fn default() -> Self {
        Self {
            max_attempts: 200,
            max_time: Duration::from_secs(5),
            status: StatusCode::CONFLICT,
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
    /// Sets the answer once the bound is reached.
    #[must_use]
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// What a [`SessionLayer`](crate::SessionLayer) was built with, shared by
/// its services and the sessions they hand out.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    pub(crate) cards: IdSigner,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) conflict_retry: ConflictRetry,
    /// When sessions expire, for [`Renewal::EveryRequest`].
    pub(crate) renewals: Arc<Renewals>,
}
