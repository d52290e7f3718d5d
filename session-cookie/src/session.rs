//! The session handle handlers use, loaded lazily from the store.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;

use session_core::{
    Error as CoreError, Expiry, SessionId, SessionInfo, SessionState, SessionStore, Verified,
};
use tokio::sync::OnceCell;

use crate::cookies::CardRead;
use crate::settings::{OnStoreError, Settings};
use crate::Error;

/// The not-yet-loaded session of one request, put in the request extensions
/// by [`SessionLayer`](crate::SessionLayer).
///
/// Nothing touches the store until [`load`](Self::load) is called (the axum
/// [`Session`] extractor calls it), so a handler that never uses the session
/// costs no store round trip. Plain tower users take it from the request
/// extensions and call `load` themselves.
#[derive(Clone)]
pub struct LazySession(pub(crate) Arc<LazyInner>);

pub(crate) struct LazyInner {
    pub(crate) settings: Arc<Settings>,
    pub(crate) card: Option<Verified>,
    /// A cookie of the session's name was sent (verified or not).
    pub(crate) presented: bool,
    pub(crate) loaded: OnceCell<Arc<Mutex<Loaded>>>,
}

pub(crate) struct Loaded {
    pub(crate) state: SessionState,
    /// The store failed at load and `OnStoreError::ContinueEmpty` is in force:
    /// the session is read-only and empty, and must not be written back.
    pub(crate) degraded: bool,
}

impl LazySession {
    pub(crate) fn new(settings: Arc<Settings>, read: CardRead) -> Self {
        Self(Arc::new(LazyInner {
            settings,
            card: read.card,
            presented: read.presented,
            loaded: OnceCell::new(),
        }))
    }

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
    /// [`OnStoreError::ContinueEmpty`].
    pub async fn load(&self) -> Result<Session, Error> {
        let inner = &self.0;
        let loaded = inner
            .loaded
            .get_or_try_init(|| async {
                let max = inner.settings.config.max_data_size();
                let Some(card) = &inner.card else {
                    return Ok(Loaded::fresh(SessionState::new(max)));
                };
                let store = &inner.settings.store;
                match store.load(&card.id).await {
                    Ok(Some(record)) => Ok(Loaded::fresh(SessionState::from_record(record, max))),
                    Ok(None) => Ok(Loaded::fresh(SessionState::new(max))),
                    Err(err) if is_damage(&err) => {
                        drop_damaged(store.as_ref(), &card.id, &err).await;
                        Ok(Loaded::fresh(SessionState::new(max)))
                    }
                    Err(err) => {
                        tracing::error!(
                            key = %card.id.storage_key(),
                            error = &err as &(dyn std::error::Error + 'static),
                            "session store failed to load a session"
                        );
                        match inner.settings.on_store_error {
                            OnStoreError::FailClosed => Err(Error::from(err)),
                            OnStoreError::ContinueEmpty => Ok(Arc::new(Mutex::new(Loaded {
                                state: SessionState::new(max),
                                degraded: true,
                            }))),
                        }
                    }
                }
            })
            .await?;
        Ok(Session {
            loaded: Arc::clone(loaded),
            settings: Arc::clone(&inner.settings),
        })
    }
}

/// `true` for a load error that means the stored bytes do not decode: a
/// damaged record, not a store failure.
pub(crate) fn is_damage(err: &CoreError) -> bool {
    matches!(err, CoreError::Envelope { .. } | CoreError::Decode(_))
}

/// Deletes a damaged record (unreadable, so nobody can ever load it again;
/// gone, it no longer locks the browser out) and logs it once at `warn` by
/// storage key. A failed delete is logged too and otherwise ignored: the
/// request goes on without a session either way, and the cookie is cleared.
pub(crate) async fn drop_damaged(store: &dyn SessionStore, id: &SessionId, err: &CoreError) {
    session_core::telemetry::damaged_record(store);
    let deleted = store.delete(id).await;
    tracing::warn!(
        key = %id.storage_key(),
        error = err as &(dyn std::error::Error + 'static),
        deleted = deleted.is_ok(),
        "damaged session record (its stored bytes do not decode): the request goes on without a session"
    );
    if let Err(e) = deleted {
        tracing::error!(
            key = %id.storage_key(),
            error = &e as &(dyn std::error::Error + 'static),
            "session store failed to delete a damaged session record"
        );
    }
}

impl Loaded {
    fn fresh(state: SessionState) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            state,
            degraded: false,
        }))
    }
}

impl fmt::Debug for LazySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySession")
            .field("has_card", &self.0.card.is_some())
            .field("presented", &self.0.presented)
            .field("loaded", &self.0.loaded.initialized())
            .finish()
    }
}

/// A request's session: its data, read and written like a map.
///
/// Values are any serde type. Changes are written back once, after the
/// handler: nothing changed means no store write and no `Set-Cookie`.
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
pub struct Session {
    loaded: Arc<Mutex<Loaded>>,
    settings: Arc<Settings>,
}

impl Session {
    fn state(&self) -> MutexGuard<'_, Loaded> {
        // The lock is never held across an await or user code, so poisoning
        // cannot leave the state half-changed; recover instead of panicking.
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `key` as a `T`; `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// When the stored value is not a `T` (a decode error, answered as 500).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        Ok(self.state().state.get(key)?)
    }

    /// Stores `value` under `key`. An equal value already there is not a change.
    ///
    /// # Errors
    ///
    /// When the value cannot be serialised, or the session would exceed
    /// `max_data_size` (answered as 413). The session is left as it was.
    pub fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        Ok(self.state().state.insert(key, value)?)
    }

    /// Read-modify-write of one key: stores `f(current value)` and returns it.
    ///
    /// Concurrent `update`s of one key compose: if another request of this
    /// session saves first, `f` re-runs on the fresh value before this
    /// request saves, so no increment is lost. `f` may run more than once.
    ///
    /// ```
    /// # async fn demo(session: session_cookie::Session) -> Result<(), session_cookie::Error> {
    /// let visits: u64 = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    /// # let _ = visits; Ok(()) }
    /// ```
    ///
    /// # Why `Fn + Send + Sync + 'static`
    ///
    /// The closure is kept with the session and re-run by the layer *after
    /// the handler has returned*, once per lost race (see
    /// [`ConflictRetry`](crate::ConflictRetry)), possibly on another thread.
    /// So it must own what it uses (`'static`: `move` it in; a borrow of a
    /// handler's local would not live long enough, E0373), must be callable
    /// more than once (`Fn`: clone a captured value inside instead of
    /// moving it out, E0507), and must be `Send + Sync` to cross threads.
    /// To use request data, move an owned copy in and clone it inside:
    ///
    /// ```
    /// # async fn demo(session: session_cookie::Session, email: String) -> Result<(), session_cookie::Error> {
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
    pub fn update<T, F>(&self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync + 'static,
    {
        Ok(self.state().state.update(key, f)?)
    }

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

    /// Chooses how this session expires ("remember me"): a
    /// browser-session cookie, a persistent one with its own idle lifetime,
    /// or `None` to follow the configuration. Stored with the record, so
    /// every later renewal keeps it, and kept by [`cycle_id`](Self::cycle_id);
    /// the cookie and the record are renewed by this request.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use session_cookie::{Expiry, Session};
    /// # async fn login(session: Session, remember: bool) -> Result<(), session_cookie::Error> {
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
    pub fn set_expiry(&self, expiry: Option<Expiry>) -> Result<(), Error> {
        Ok(self.state().state.set_expiry(expiry)?)
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

    /// The live sessions of the current user (empty when the session is not
    /// bound), with [`SessionInfo::current`] set on this one and
    /// [`SessionInfo::last_active`] worked out.
    ///
    /// # Errors
    ///
    /// 501 when the store keeps no per-user index, 503 when it is down.
    pub async fn user_sessions(&self) -> Result<Vec<SessionInfo>, Error> {
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
    pub async fn end_other_sessions(&self) -> Result<u64, Error> {
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
    pub async fn end_user_sessions(&self, user: &str) -> Result<u64, Error> {
        let ended = self
            .settings
            .store
            .delete_user_sessions(user, None)
            .await
            .inspect_err(|e| log_store_error(e, None, "revoke a user's sessions"))?;
        tracing::info!(ended, "revoked every session of a user");
        Ok(ended)
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
fn log_store_error(err: &CoreError, current: Option<&SessionId>, what: &str) {
    if !matches!(err, CoreError::Unsupported(_)) {
        tracing::error!(
            key = current.map(SessionId::storage_key).as_deref(),
            error = err as &(dyn std::error::Error + 'static),
            "session store failed to {what}"
        );
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.state();
        f.debug_struct("Session")
            .field("keys", &loaded.state.keys().collect::<Vec<_>>())
            .field("changed", &loaded.state.is_changed())
            .finish_non_exhaustive()
    }
}
