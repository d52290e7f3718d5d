//! The tower layer: reads the cookie before the handler, writes back after it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use session_core::adapter::{ConflictRetry, Finish, OnStoreError, RequestSession, Settings};
use session_core::{SessionConfig, SessionStore};
use tower_layer::Layer;
use tower_service::Service;

use crate::session::LazySession;

/// Adds server-side sessions to a tower service (an axum `Router`, a hyper 1
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
            settings: Arc::new(Settings::new(store, config)),
        }
    }

    /// Sets what happens when the store fails at load (default: 503).
    #[must_use]
    pub fn on_store_error(mut self, policy: OnStoreError) -> Self {
        Arc::make_mut(&mut self.settings).set_on_store_error(policy);
        self
    }

    /// Sets how saves that lose to a concurrent request are retried.
    #[must_use]
    pub fn conflict_retry(mut self, retry: ConflictRetry) -> Self {
        Arc::make_mut(&mut self.settings).set_conflict_retry(retry);
        self
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionLayer").field(&self.settings).finish()
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
        let cookies = req
            .headers()
            .get_all(COOKIE)
            .iter()
            .map(HeaderValue::as_bytes);
        let session = RequestSession::new(Arc::clone(&self.settings), cookies);
        req.extensions_mut().insert(LazySession(session.clone()));
        // The clone that was driven to readiness serves this request. It is
        // called here, so that the boxed future holds the inner future
        // rather than the service and the request as well.
        let clone = self.inner.clone();
        let handled = std::mem::replace(&mut self.inner, clone).call(req);
        Box::pin(async move {
            let response = handled.await?;
            Ok(apply(session.finish().await, response))
        })
    }
}

/// Puts what the session's write-back decided on the handler's response.
fn apply<B: From<&'static str>>(finish: Finish, mut response: Response<B>) -> Response<B> {
    if let Some((status, body)) = finish.failure {
        response = Response::new(B::from(body));
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let no_store = finish.no_store();
    let headers = response.headers_mut();
    // Every part of the cookie was validated by SessionConfig or is
    // base64url, so the value is always valid; a failure would only drop
    // the cookie, never panic.
    if let Some(value) = finish
        .set_cookie
        .and_then(|c| HeaderValue::try_from(c).ok())
    {
        headers.append(SET_COOKIE, value);
    }
    if no_store {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
