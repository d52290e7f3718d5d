//! The session handle handlers use: what every adapter's `Session` derefs to.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::request::Loaded;
use super::Settings;
use crate::{Error, Expiry, SessionId, SessionInfo};

/// A request's session: its data, read and written like a map.
///
/// Values are any serde type. Changes are written back once, after the
/// handler: nothing changed means no store write and no `Set-Cookie`.
///
/// `E` is the adapter's error type (`session_cookie::Error`,
/// `session_actix::Error`), so that `?` in a handler gives the adapter's
/// answer: 413 for data over `max_data_size`, 503 for an unavailable
/// store, 501 for a per-user call on a store without a per-user index, 500
/// for the rest (see [`Error::status_code`]). Handlers see it through their
/// adapter's `Session`, which derefs to it.
///
/// ```
/// # async fn demo(session: session_core::adapter::SessionHandle<session_core::Error>) -> Result<(), session_core::Error> {
/// session.insert("user_id", &42u64)?;
/// let id: Option<u64> = session.get("user_id")?;
/// session.cycle_id(); // at login: new cookie, same data
/// session.destroy(); // at logout: the record is deleted, the cookie removed
/// # let _ = id; Ok(()) }
/// ```
pub struct SessionHandle<E = Error> {
    loaded: Arc<Mutex<Loaded>>,
    settings: Arc<Settings>,
    error: PhantomData<fn() -> E>,
}

impl<E> Clone for SessionHandle<E> {
    fn clone(&self) -> Self {
        Self {
            loaded: Arc::clone(&self.loaded),
            settings: Arc::clone(&self.settings),
            error: PhantomData,
        }
    }
}

impl<E> SessionHandle<E> {
    pub(super) fn new(loaded: Arc<Mutex<Loaded>>, settings: Arc<Settings>) -> Self {
        Self {
            loaded,
            settings,
            error: PhantomData,
        }
    }

    fn state(&self) -> MutexGuard<'_, Loaded> {
        // The lock is never held across an await or user code, so poisoning
        // cannot leave the state half-changed; recover instead of panicking.
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<E: From<Error>> SessionHandle<E> {
    /// Reads `key` as a `T`; `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// When the stored value is not a `T` (a decode error, answered as 500).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, E> {
        Ok(self.state().state.get(key)?)
    }

    /// Stores `value` under `key`. An equal value already there is not a change.
    ///
    /// # Errors
    ///
    /// When the value cannot be serialised, or the session would exceed
    /// `max_data_size` (answered as 413). The session is left as it was.
    pub fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), E> {
        Ok(self.state().state.insert(key, value)?)
    }

    /// Read-modify-write of one key: stores `f(current value)` and returns it.
    ///
    /// Concurrent `update`s of one key compose: if another request of this
    /// session saves first, `f` re-runs on the fresh value before this
    /// request saves, so no increment is lost. `f` may run more than once.
    ///
    /// ```
    /// # async fn demo(session: session_core::adapter::SessionHandle) -> Result<(), session_core::Error> {
    /// let visits: u64 = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    /// # let _ = visits; Ok(()) }
    /// ```
    ///
    /// # Why `Fn + Send + Sync + 'static`
    ///
    /// The closure is kept with the session and re-run by the adapter
    /// *after the handler has returned*, once per lost race (see
    /// [`ConflictRetry`](super::ConflictRetry)), possibly on another thread.
    /// So it must own what it uses (`'static`: `move` it in; a borrow of a
    /// handler's local would not live long enough, E0373), must be callable
    /// more than once (`Fn`: clone a captured value inside instead of
    /// moving it out, E0507), and must be `Send + Sync` to cross threads.
    /// To use request data, move an owned copy in and clone it inside:
    ///
    /// ```
    /// # async fn demo(session: session_core::adapter::SessionHandle, email: String) -> Result<(), session_core::Error> {
    /// // `email` comes from the request (a String owned by the handler).
    /// let emails: Vec<String> = session.update("emails", move |list: Option<Vec<String>>| {
    ///     let mut list = list.unwrap_or_default();
    ///     if !list.contains(&email) {
    ///         list.push(email.clone()); // clone: the closure may run again
    ///     }
    ///     list
    /// })?;
    /// # let _ = emails; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the current value is not a `T`, or as [`insert`](Self::insert).
    pub fn update<T, F>(&self, key: &str, f: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync + 'static,
    {
        Ok(self.state().state.update(key, f)?)
    }

    /// Chooses how this session expires ("remember me"): a
    /// browser-session cookie, a persistent one with its own idle lifetime,
    /// or `None` to follow the configuration. Stored with the record, so
    /// every later renewal keeps it, and kept by [`cycle_id`](Self::cycle_id);
    /// the cookie and the record are renewed by this request.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use session_core::{adapter::SessionHandle, Expiry};
    /// # async fn login(session: SessionHandle, remember: bool) -> Result<(), session_core::Error> {
    /// session.cycle_id();
    /// session.set_expiry(Some(if remember {
    ///     Expiry::Persistent(Duration::from_secs(30 * 86_400))
    /// } else {
    ///     Expiry::BrowserSession
    /// }))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A persistent lifetime outside 1 s to 400 days (answered as 500).
    pub fn set_expiry(&self, expiry: Option<Expiry>) -> Result<(), E> {
        Ok(self.state().state.set_expiry(expiry)?)
    }

    /// The live sessions of the current user (empty when the session is not
    /// bound), with [`SessionInfo::current`] set on this one and
    /// [`SessionInfo::last_active`] worked out.
    ///
    /// # Errors
    ///
    /// 501 when the store keeps no per-user index, 503 when it is down.
    pub async fn user_sessions(&self) -> Result<Vec<SessionInfo>, E> {
        let (user, current) = self.user_and_id();
        let Some(user) = user else {
            return Ok(Vec::new());
        };
        let config = &self.settings.config;
        let list = self
            .settings
            .store
            .user_sessions(&user)
            .await
            .inspect_err(|e| log_store_error(e, current.as_ref(), "list a user's sessions"))?;
        Ok(list
            .into_iter()
            .map(|info| info.seen_from(current.as_ref(), config))
            .collect())
    }

    /// Ends every other session of the current user, keeping this one (log
    /// out everywhere else, e.g. after a password change). Returns how many
    /// ended; their cookies find nothing afterwards.
    ///
    /// # Errors
    ///
    /// 501 when the store keeps no per-user index, 503 when it is down.
    pub async fn end_other_sessions(&self) -> Result<u64, E> {
        let (user, current) = self.user_and_id();
        let Some(user) = user else { return Ok(0) };
        let ended = self
            .settings
            .store
            .delete_user_sessions(&user, current.as_ref())
            .await
            .inspect_err(|e| log_store_error(e, current.as_ref(), "revoke a user's sessions"))?;
        // Never the user: an app may bind sessions to an e-mail address.
        tracing::info!(
            key = current.as_ref().map(SessionId::storage_key).as_deref(),
            ended,
            "revoked the user's other sessions"
        );
        Ok(ended)
    }

    /// Ends every session of `user` (for admin tools: a compromised
    /// account). Returns how many ended.
    ///
    /// # Errors
    ///
    /// 501 when the store keeps no per-user index, 503 when it is down.
    pub async fn end_user_sessions(&self, user: &str) -> Result<u64, E> {
        let ended = self
            .settings
            .store
            .delete_user_sessions(user, None)
            .await
            .inspect_err(|e| log_store_error(e, None, "revoke a user's sessions"))?;
        tracing::info!(ended, "revoked every session of a user");
        Ok(ended)
    }
}

impl<E> SessionHandle<E> {
    /// Removes `key`, returning whether it was there.
    pub fn remove(&self, key: &str) -> bool {
        self.state().state.remove(key)
    }

    /// Removes every key; an emptied session is deleted from the store and
    /// its cookie removed.
    pub fn clear(&self) {
        self.state().state.clear();
    }

    /// Gives the session a new ID, keeping its data (call it at login, to
    /// prevent session fixation). The old cookie stops working, and the
    /// `absolute_max_age` cap counts from now (from login).
    pub fn cycle_id(&self) {
        self.state().state.cycle_id();
    }

    /// Ends the session: the record is deleted server-side and a removal
    /// cookie is sent, so a copied cookie finds nothing.
    pub fn destroy(&self) {
        self.state().state.destroy();
    }

    /// `true` when the session holds no keys.
    pub fn is_empty(&self) -> bool {
        self.state().state.is_empty()
    }

    /// The session's keys.
    pub fn keys(&self) -> Vec<String> {
        self.state().state.keys().map(str::to_owned).collect()
    }

    /// Binds the session to a user identity (call it at login, after
    /// [`cycle_id`](Self::cycle_id)), or unbinds it with `None`. Stores with
    /// a per-user index can then list and revoke the user's sessions.
    pub fn set_user(&self, user: Option<&str>) {
        self.state().state.set_user(user);
    }

    /// The session's own expiry choice; `None` when it follows the
    /// configuration.
    pub fn expiry(&self) -> Option<Expiry> {
        self.state().state.expiry()
    }

    /// The user the session is bound to, if any.
    pub fn user(&self) -> Option<String> {
        self.state().state.user().map(str::to_owned)
    }

    fn user_and_id(&self) -> (Option<String>, Option<SessionId>) {
        let loaded = self.state();
        (
            loaded.state.user().map(str::to_owned),
            loaded.state.id().cloned(),
        )
    }
}

/// Logs a store failure of a per-user call with this session's storage key
/// (never the user: an app may bind sessions to an e-mail address). A store
/// without a per-user index is not a failure.
fn log_store_error(err: &Error, current: Option<&SessionId>, what: &str) {
    if !matches!(err, Error::Unsupported(_)) {
        tracing::error!(
            key = current.map(SessionId::storage_key).as_deref(),
            error = err as &(dyn std::error::Error + 'static),
            "session store failed to {what}"
        );
    }
}

/// Shows the keys and whether anything changed, never values, the ID or
/// the user.
impl<E> fmt::Debug for SessionHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.state();
        f.debug_struct("Session")
            .field("keys", &loaded.state.keys().collect::<Vec<_>>())
            .field("changed", &loaded.state.is_changed())
            .finish_non_exhaustive()
    }
}
