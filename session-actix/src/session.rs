//! The `Session` extractor.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use session_core::adapter::{RequestSession, SessionHandle};

use crate::Error;

/// A request's session: its data, read and written like a map.
///
/// Take it as a handler argument under a
/// [`SessionMiddleware`](crate::SessionMiddleware). The store is asked only
/// when a handler takes it (once per request, however many extractors),
/// and changes are written back once, after the handler: nothing changed
/// means no store write and no `Set-Cookie`. The methods (`get`, `insert`,
/// `update`, `remove`, `clear`, `cycle_id`, `destroy`, `set_user`,
/// `set_expiry`, `user_sessions`, `end_other_sessions` …) are those of the
/// [`SessionHandle`] it derefs to, shared with the tower/axum adapter;
/// their errors are this crate's [`Error`], so `?` in a handler answers
/// 413, 503 or 500 as documented there.
///
/// Without the middleware the extractor fails with
/// [`Error::MissingMiddleware`] (500, naming the fix); with the store down
/// it fails with 503 (unless the middleware continues with an empty
/// session).
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use session_actix::{MemoryStore, Session, SessionConfig, SessionMiddleware};
///
/// async fn visits(session: Session) -> Result<HttpResponse, session_actix::Error> {
///     let n: u64 = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
///     Ok(HttpResponse::Ok().body(format!("visit number {n}")))
/// }
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let middleware = SessionMiddleware::new(MemoryStore::new(), config);
/// let app = move || {
///     App::new()
///         .wrap(middleware.clone())
///         .route("/visits", web::get().to(visits))
/// };
/// # let _ = app;
/// # Ok::<(), session_actix::Error>(())
/// ```
#[derive(Clone)]
pub struct Session {
    handle: SessionHandle<Error>,
}

impl Deref for Session {
    type Target = SessionHandle<Error>;

    fn deref(&self) -> &SessionHandle<Error> {
        &self.handle
    }
}

impl FromRequest for Session {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = req.extensions().get::<RequestSession>().cloned();
        Box::pin(async move {
            let handle = request.ok_or(Error::MissingMiddleware)?.load().await?;
            Ok(Self { handle })
        })
    }
}

/// Shows the keys and whether anything changed, never values, the ID or
/// the user.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.handle, f)
    }
}
