//! The session handle handlers use, loaded lazily from the store.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;
use session_core::{SessionState, Verified};
use tokio::sync::OnceCell;

use crate::layer::Settings;
use crate::{Error, OnStoreError};

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
    pub(crate) loaded: OnceCell<Arc<Mutex<Loaded>>>,
}

pub(crate) struct Loaded {
    pub(crate) state: SessionState,
    /// The store failed at load and `OnStoreError::ContinueEmpty` is in force:
    /// the session is read-only and empty, and must not be written back.
    pub(crate) degraded: bool,
}

impl LazySession {
    pub(crate) fn new(settings: Arc<Settings>, card: Option<Verified>) -> Self {
        Self(Arc::new(LazyInner {
            settings,
            card,
            loaded: OnceCell::new(),
        }))
    }

    /// Loads the session (once per request; later calls share the result).
    ///
    /// A request without a valid card, or whose card's record is missing or
    /// expired, gets a fresh empty session.
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
                match inner.settings.store.load(&card.id).await {
                    Ok(Some(record)) => Ok(Loaded::fresh(SessionState::from_record(record, max))),
                    Ok(None) => Ok(Loaded::fresh(SessionState::new(max))),
                    Err(err) => {
                        tracing::error!(
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
        Ok(Session(Arc::clone(loaded)))
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
            .field("loaded", &self.0.loaded.initialized())
            .finish()
    }
}

/// A request's session, like Ravyn's `request.session`.
///
/// Values are any serde type. Changes are written back once, after the
/// handler: nothing changed means no store write and no `Set-Cookie`.
///
/// ```
/// # async fn demo(session: session_cookie::Session) -> Result<(), session_cookie::Error> {
/// session.insert("user_id", &42u64)?;
/// let id: Option<u64> = session.get("user_id")?;
/// session.cycle_id(); // at login: new card, same data
/// session.destroy(); // at logout: the record is deleted, the cookie removed
/// # let _ = id; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session(pub(crate) Arc<Mutex<Loaded>>);

impl Session {
    fn state(&self) -> MutexGuard<'_, Loaded> {
        // The lock is never held across an await or user code, so poisoning
        // cannot leave the state half-changed; recover instead of panicking.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// prevent session fixation). The old card stops working.
    pub fn cycle_id(&self) {
        self.state().state.cycle_id();
    }

    /// Ends the session: the record is deleted server-side and a removal
    /// cookie is sent, so a copied card finds nothing.
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
