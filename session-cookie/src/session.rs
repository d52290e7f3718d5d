//! The session handle handlers use, loaded lazily from the store.

use std::fmt;
use std::ops::Deref;

use session_core::adapter::{RequestSession, SessionHandle};

use crate::Error;

/// The not-yet-loaded session of one request, put in the request extensions
/// by [`SessionLayer`](crate::SessionLayer).
///
/// Nothing touches the store until [`load`](Self::load) is called (the axum
/// [`Session`] extractor calls it), so a handler that never uses the session
/// costs no store round trip. Plain tower users take it from the request
/// extensions and call `load` themselves.
#[derive(Clone)]
pub struct LazySession(pub(crate) RequestSession);

impl LazySession {
    /// Loads the session (once per request; later calls share the result).
    ///
    /// A request without a valid cookie, or whose cookie's record is missing,
    /// expired or damaged, gets a fresh empty session. A damaged record
    /// (stored bytes that do not decode: [`Error::Envelope`] or
    /// [`Error::Decode`] from the store's `load`) is deleted and logged once
    /// at `warn` with its storage key; the layer then clears the cookie.
    ///
    /// [`Error::Envelope`]: session_core::Error::Envelope
    /// [`Error::Decode`]: session_core::Error::Decode
    ///
    /// # Errors
    ///
    /// A store failure, unless the layer was configured with
    /// [`OnStoreError::ContinueEmpty`](crate::OnStoreError::ContinueEmpty).
    pub async fn load(&self) -> Result<Session, Error> {
        self.0.load().await.map(Session)
    }
}

impl fmt::Debug for LazySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LazySession").field(&self.0).finish()
    }
}

/// A request's session: its data, read and written like a map.
///
/// Values are any serde type. Changes are written back once, after the
/// handler: nothing changed means no store write and no `Set-Cookie`. The
/// methods (`get`, `insert`, `update`, `remove`, `clear`, `cycle_id`,
/// `destroy`, `set_user`, `set_expiry`, `user_sessions`,
/// `end_other_sessions` …) are those of the [`SessionHandle`] it derefs to,
/// shared with the actix-web adapter; their errors are this crate's
/// [`Error`], so `?` in a handler answers 413, 503 or 500 as documented
/// there.
///
/// Taking `Session` as an axum handler argument needs the `axum` feature
/// (on by default). With `default-features = false` and without `axum` in
/// the feature list, `Session` is not an extractor and axum reports that
/// the handler function does not implement `Handler<_, _>`: add `"axum"` to
/// the features of `session-cookie`.
///
/// ```
/// # async fn demo(session: session_cookie::Session) -> Result<(), session_cookie::Error> {
/// session.insert("user_id", &42u64)?;
/// let id: Option<u64> = session.get("user_id")?;
/// session.cycle_id(); // at login: new cookie, same data
/// session.destroy(); // at logout: the record is deleted, the cookie removed
/// # let _ = id; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session(SessionHandle<Error>);

impl Deref for Session {
    type Target = SessionHandle<Error>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
