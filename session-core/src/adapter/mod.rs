//! What HTTP adapters share: the request lifecycle, framework-free.
//!
//! Store authors need nothing here: the store contract is
//! [`SessionStore`](crate::SessionStore) and [`Record`](crate::Record).
//! This module is for the adapters (`session-cookie` for tower and axum,
//! `session-actix` for actix-web), which are thin translations of it: they
//! hand it the raw `Cookie` header values and get back strings and status
//! numbers, so it works with any version of any HTTP crate.
//!
//! # The lifecycle an adapter runs
//!
//! 1. Once, at start-up: [`Settings::new`] with the store and the
//!    [`SessionConfig`](crate::SessionConfig), plus the [`OnStoreError`] and
//!    [`ConflictRetry`] policies, kept in an `Arc`.
//! 2. Per request, before the handler: [`RequestSession::new`] with the
//!    values of the request's `Cookie` headers (it verifies the cookie's
//!    tag; no store call), made available to handlers.
//! 3. In the handler: the adapter's `Session` extractor calls
//!    [`RequestSession::load`] (one store `load`, shared by every extractor
//!    of the request) and derefs to the [`SessionHandle`] it returns. A
//!    load error becomes the adapter's error, answered by
//!    [`Error::status_code`](crate::Error::status_code).
//! 4. After the handler: [`RequestSession::finish`] writes the session back
//!    and returns a [`Finish`]: a failure to answer instead of the
//!    handler's response, and a `Set-Cookie` value to add; either means
//!    `Cache-Control: no-store` ([`Finish::no_store`]).
//!
//! Below that sit [`SessionState`], a request's typed view of a session,
//! and the [`Commit`] it implies; the adapters never use them directly.

mod cookies;
mod finish;
mod handle;
mod renewals;
mod request;
mod settings;
mod state;
mod writers;

pub use cookies::{read_card, CardRead};
pub use finish::Finish;
pub use handle::SessionHandle;
pub use request::RequestSession;
pub use settings::{ConflictRetry, OnStoreError, Settings};
pub use state::{max_age_at, next_expiry, Commit, CookieAction, SessionState, Write};

use crate::Error;

/// The status and plain-text body an adapter answers for its error `err`
/// (logged at `error` when it is a server error): by
/// [`Error::status_code`] and [`Error::response_text`] when it wraps the
/// core error `session`, else 500 and `err`'s own message (an adapter's
/// errors of its own, such as a missing middleware, name their fix).
///
/// ```
/// use session_core::{adapter::answer, Error};
///
/// let too_large = Error::TooLarge { size: 2, limit: 1 };
/// assert_eq!(answer(&too_large, Some(&too_large)), (413, "session data too large".into()));
/// ```
pub fn answer(err: &(dyn std::error::Error + 'static), session: Option<&Error>) -> (u16, String) {
    let (status, body) = match session {
        Some(e) => (e.status_code(), e.response_text().into_owned()),
        None => (500, err.to_string()),
    };
    if status >= 500 {
        tracing::error!(error = err, "session error");
    }
    (status, body)
}
