//! One request's session, loaded from the store only when a handler asks.

use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::cookies::{read_card, CardRead};
use super::{OnStoreError, SessionHandle, SessionState, Settings};
use crate::{Error, SessionId, SessionStore, Verified};

/// The not-yet-loaded session of one request.
///
/// An adapter makes one per request from the request's `Cookie` headers,
/// hands it to the handler side (request extensions), and calls
/// [`finish`](Self::finish) after the handler. Nothing touches the store
/// until [`load`](Self::load) is called, so a handler that never uses the
/// session costs no store round trip.
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn session_core::SessionStore>) -> Result<(), session_core::Error> {
/// use std::sync::Arc;
/// use session_core::adapter::{RequestSession, SessionHandle, Settings};
/// use session_core::SessionConfig;
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let settings = Arc::new(Settings::new(store, config));
/// // Per request: the raw values of its `Cookie` headers.
/// let request = RequestSession::new(Arc::clone(&settings), [&b"session=..."[..]]);
/// // In the handler:
/// let session: SessionHandle<session_core::Error> = request.load().await?;
/// session.insert("user_id", &42u64)?;
/// // After the handler: what to add to (or put in place of) the response.
/// let finish = request.finish().await;
/// assert!(finish.set_cookie.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RequestSession(pub(super) Arc<RequestInner>);

pub(super) struct RequestInner {
    pub(super) settings: Arc<Settings>,
    pub(super) card: Option<Verified>,
    /// A cookie of the session's name was sent (verified or not).
    pub(super) presented: bool,
    pub(super) loaded: OnceCell<Arc<Mutex<Loaded>>>,
}

pub(super) struct Loaded {
    pub(super) state: SessionState,
    /// The store failed at load and `OnStoreError::ContinueEmpty` is in force:
    /// the session is read-only and empty, and must not be written back.
    pub(super) degraded: bool,
}

impl RequestSession {
    /// The session of a request whose `Cookie` headers have these raw
    /// values (as bytes: browsers send UTF-8 in cookie values). The session
    /// cookie is read and its tag checked here; the store is not asked.
    pub fn new<'a>(
        settings: Arc<Settings>,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        let read = read_card(
            cookie_headers,
            settings.config.session_cookie(),
            &settings.cards,
        );
        Self::from_read(settings, read)
    }

    /// Like [`new`](Self::new), from a cookie already read.
    pub fn from_read(settings: Arc<Settings>, read: CardRead) -> Self {
        Self(Arc::new(RequestInner {
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
    /// at `warn` with its storage key; [`finish`](Self::finish) then clears
    /// the cookie.
    ///
    /// `E` is the adapter's error type, the one the handle's methods return.
    ///
    /// # Errors
    ///
    /// A store failure, unless the settings say
    /// [`OnStoreError::ContinueEmpty`].
    pub async fn load<E: From<Error>>(&self) -> Result<SessionHandle<E>, E> {
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
                            OnStoreError::FailClosed => Err(err),
                            OnStoreError::ContinueEmpty => Ok(Arc::new(Mutex::new(Loaded {
                                state: SessionState::new(max),
                                degraded: true,
                            }))),
                        }
                    }
                }
            })
            .await?;
        Ok(SessionHandle::new(
            Arc::clone(loaded),
            Arc::clone(&inner.settings),
        ))
    }

    /// `true` once [`load`](Self::load) succeeded.
    pub fn is_loaded(&self) -> bool {
        self.0.loaded.initialized()
    }
}

/// `true` for a load error that means the stored bytes do not decode: a
/// damaged record, not a store failure.
pub(super) fn is_damage(err: &Error) -> bool {
    matches!(err, Error::Envelope { .. } | Error::Decode(_))
}

/// Deletes a damaged record (unreadable, so nobody can ever load it again;
/// gone, it no longer locks the browser out) and logs it once at `warn` by
/// storage key. A failed delete is logged too and otherwise ignored: the
/// request goes on without a session either way, and the cookie is cleared.
pub(super) async fn drop_damaged(store: &dyn SessionStore, id: &SessionId, err: &Error) {
    crate::telemetry::damaged_record(store);
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

impl fmt::Debug for RequestSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSession")
            .field("has_card", &self.0.card.is_some())
            .field("presented", &self.0.presented)
            .field("loaded", &self.0.loaded.initialized())
            .finish()
    }
}
