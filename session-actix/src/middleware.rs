//! The actix-web middleware: reads the cookie before the handler, writes
//! back after it.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpResponse};
use session_core::adapter::{ConflictRetry, Finish, OnStoreError, RequestSession, Settings};
use session_core::{SessionConfig, SessionStore};

/// Adds server-side sessions to an actix-web `App` (or a scope, or a
/// resource): `.wrap(SessionMiddleware::new(store, config))`.
///
/// It is cheap to clone (the settings are shared), so build it once,
/// outside the `HttpServer::new` closure, and clone it into each worker's
/// `App`: every worker then shares one store (and one memory store).
///
/// ```
/// use actix_web::{web, App, HttpServer};
/// use session_actix::{MemoryStore, OnStoreError, SessionConfig, SessionMiddleware};
///
/// # fn demo() -> std::io::Result<()> {
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!")
///     .build()
///     .expect("valid settings");
/// let sessions = SessionMiddleware::new(MemoryStore::new(), config)
///     .on_store_error(OnStoreError::FailClosed);
/// let server = HttpServer::new(move || App::new().wrap(sessions.clone()))
///     .bind(("127.0.0.1", 8080))?;
/// # let _ = server; Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionMiddleware {
    settings: Arc<Settings>,
}

impl SessionMiddleware {
    /// Sessions kept in `store`, configured by `config`.
    pub fn new(store: impl SessionStore, config: SessionConfig) -> Self {
        Self::from_arc(Arc::new(store), config)
    }

    /// Like [`new`](Self::new) with an already shared store (as
    /// [`connect`](crate::connect) returns it).
    pub fn from_arc(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self::from(Settings::new(store, config))
    }

    /// Sets what happens when the store fails at load (default: 503).
    #[must_use]
    pub fn on_store_error(self, policy: OnStoreError) -> Self {
        self.with(|settings| settings.set_on_store_error(policy))
    }

    /// Sets how saves that lose to a concurrent request are retried.
    #[must_use]
    pub fn conflict_retry(self, retry: ConflictRetry) -> Self {
        self.with(|settings| settings.set_conflict_retry(retry))
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.settings));
        self
    }
}

/// The middleware for settings built by hand.
impl From<Settings> for SessionMiddleware {
    fn from(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }
}

impl fmt::Debug for SessionMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionMiddleware")
            .field(&self.settings)
            .finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionMiddlewareService {
            service: Rc::new(service),
            settings: Arc::clone(&self.settings),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around the inner service.
pub struct SessionMiddlewareService<S> {
    service: Rc<S>,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for SessionMiddlewareService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMiddlewareService")
            .finish_non_exhaustive()
    }
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for SessionMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Answer<B>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let cookies = req.headers().get_all(COOKIE).map(HeaderValue::as_bytes);
        let session = RequestSession::new(Arc::clone(&self.settings), cookies);
        req.extensions_mut().insert(session.clone());
        let handled = self.service.call(req);
        Box::pin(async move {
            let response = handled.await?;
            Ok(apply(session.finish().await, response))
        })
    }
}

/// Puts what the session's write-back decided on the handler's response.
fn apply<B>(finish: Finish, response: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let mut response = match finish.failure {
        None => response.map_into_left_body(),
        Some((status, body)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response
                .into_response(HttpResponse::build(status).body(body))
                .map_into_right_body()
        }
    };
    // Always a valid header value (see `Finish::set_cookie`); a failure
    // would only drop the cookie, never panic.
    if let Some(Ok(cookie)) = finish.set_cookie.as_deref().map(HeaderValue::from_str) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    if finish.no_store() {
        let no_store = HeaderValue::from_static("no-store");
        response.headers_mut().insert(CACHE_CONTROL, no_store);
    }
    response
}
