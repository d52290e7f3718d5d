//! The tower layer: reads the card before the handler, writes back after it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::{Request, Response, StatusCode};
use session_core::{
    CookieAction, Error as CoreError, KeyCard, Record, SessionConfig, SessionId, SessionStore,
    Write,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::cookies::{read_card, remove_card, set_card};
use crate::session::{LazySession, Loaded};

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

pub(crate) struct Settings {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    pub(crate) cards: KeyCard,
    pub(crate) on_store_error: OnStoreError,
}

/// Adds key-card sessions to a tower service (an axum `Router`, a hyper 1
/// service, ...).
///
/// ```
/// use session_cookie::{MemoryStore, OnStoreError, SessionConfig, SessionLayer};
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let layer = SessionLayer::new(MemoryStore::new(), config)
///     .on_store_error(OnStoreError::FailClosed);
/// # let _ = layer;
/// # Ok::<(), session_cookie::Error>(())
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    settings: Arc<Settings>,
}

impl SessionLayer {
    /// Sessions kept in `store`, configured by `config`.
    pub fn new(store: impl SessionStore, config: SessionConfig) -> Self {
        Self::from_arc(Arc::new(store), config)
    }

    /// Like [`new`](Self::new) with an already shared store.
    pub fn from_arc(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self {
            settings: Arc::new(Settings {
                cards: KeyCard::from_config(&config),
                store,
                config,
                on_store_error: OnStoreError::default(),
            }),
        }
    }

    /// Sets what happens when the store fails at load (default: 503).
    #[must_use]
    pub fn on_store_error(self, policy: OnStoreError) -> Self {
        let s = &self.settings;
        Self {
            settings: Arc::new(Settings {
                store: Arc::clone(&s.store),
                config: s.config.clone(),
                cards: s.cards.clone(),
                on_store_error: policy,
            }),
        }
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.settings.config)
            .field("on_store_error", &self.settings.on_store_error)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service [`SessionLayer`] wraps around the inner service.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<&'static str> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let settings = Arc::clone(&self.settings);
        let card = read_card(
            req.headers(),
            settings.config.session_cookie(),
            &settings.cards,
        );
        let lazy = LazySession::new(settings, card);
        req.extensions_mut().insert(lazy.clone());
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await?;
            Ok(commit(&lazy, response).await)
        })
    }
}

/// Writes the session back after the handler and sets the cookie.
async fn commit<B: From<&'static str>>(
    lazy: &LazySession,
    mut response: Response<B>,
) -> Response<B> {
    let settings = &lazy.0.settings;
    let Some(loaded) = lazy.0.loaded.get() else {
        return response; // never loaded: no store call at all
    };
    let (plan, degraded, stored_expiry) = {
        let Loaded { state, degraded } = &*loaded.lock().unwrap_or_else(PoisonError::into_inner);
        (
            state.commit(&settings.config, SystemTime::now()),
            *degraded,
            state.expires_at().filter(|_| state.is_stored()),
        )
    };
    if degraded {
        if plan.write == Write::None && plan.delete.is_empty() {
            return response;
        }
        return failure(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable");
    }
    let store = &settings.store;
    for id in &plan.delete {
        if let Err(err) = store.delete(id).await {
            return store_failure(&err);
        }
    }
    let now = SystemTime::now();
    let headers = response.headers_mut();
    let written = match plan.write {
        Write::None => None,
        Write::Create(record) => match create_fresh(store.as_ref(), record).await {
            Ok(record) => Some((record.id, record.expires_at)),
            Err(err) => return store_failure(&err),
        },
        Write::Save(record) => match store.save(&record).await {
            Ok(()) => Some((record.id, record.expires_at)),
            Err(CoreError::Vanished) => {
                // Ended elsewhere (logout in another tab, expiry): the changes
                // cannot be kept, and the session is not resurrected.
                let mut r = failure(
                    StatusCode::CONFLICT,
                    "the session ended while this request ran",
                );
                remove_card(r.headers_mut(), &settings.config);
                return r;
            }
            Err(err) => return store_failure(&err),
        },
        Write::Touch(id, expires_at) => match store.touch(&id, expires_at).await {
            Ok(()) => Some((id, expires_at)),
            Err(CoreError::Vanished) => {
                remove_card(headers, &settings.config);
                return response;
            }
            Err(err) => return store_failure(&err),
        },
    };
    match (plan.cookie, written) {
        (CookieAction::Set, Some((id, expires_at))) => {
            set_card(
                headers,
                &settings.config,
                &settings.cards,
                &id,
                expires_at,
                now,
            );
        }
        (CookieAction::Remove, _) => remove_card(headers, &settings.config),
        (_, _) => {
            // A card verified by a fallback key is re-issued under the current one.
            if let (Some(card), Some(expires_at)) = (&lazy.0.card, stored_expiry) {
                if card.reissue {
                    set_card(
                        headers,
                        &settings.config,
                        &settings.cards,
                        &card.id,
                        expires_at,
                        now,
                    );
                }
            }
        }
    }
    response
}

/// Creates the record, drawing a new ID on the (astronomically unlikely) conflict.
async fn create_fresh(store: &dyn SessionStore, mut record: Record) -> Result<Record, CoreError> {
    for _ in 0..3 {
        match store.create(&record).await {
            Err(CoreError::Conflict) => record.id = SessionId::generate(),
            other => return other.map(|()| record),
        }
    }
    Err(CoreError::Conflict)
}

fn store_failure<B: From<&'static str>>(err: &CoreError) -> Response<B> {
    tracing::error!(
        error = err as &(dyn std::error::Error + 'static),
        "session store failed to write a session"
    );
    if err.is_unavailable() {
        failure(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
    } else {
        failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session could not be saved",
        )
    }
}

fn failure<B: From<&'static str>>(status: StatusCode, message: &'static str) -> Response<B> {
    let mut r = Response::new(B::from(message));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}
