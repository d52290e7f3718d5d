//! The axum extractor.

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::{Error, LazySession, Session};

/// Extracts the request's [`Session`], loading it from the store.
///
/// Rejects with [`Error::MissingLayer`] (500, with a message saying to add
/// the layer) when no [`SessionLayer`](crate::SessionLayer) wraps the route,
/// and with 503 when the store is unavailable (unless the layer continues
/// with an empty session).
///
/// ```
/// use axum::{routing::get, Router};
/// use session_cookie::{MemoryStore, Session, SessionConfig, SessionLayer};
///
/// async fn visits(session: Session) -> Result<String, session_cookie::Error> {
///     let n = session.get::<u64>("visits")?.unwrap_or(0) + 1;
///     session.insert("visits", &n)?;
///     Ok(format!("visit number {n}"))
/// }
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let app: Router = Router::new()
///     .route("/visits", get(visits))
///     .layer(SessionLayer::new(MemoryStore::new(), config));
/// # Ok::<(), session_cookie::Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let lazy = parts
            .extensions
            .get::<LazySession>()
            .ok_or(Error::MissingLayer)?
            .clone();
        lazy.load().await
    }
}
