//! Picking a store by URL, as the `SESSION_STORE` setting does.

use std::sync::Arc;

use session_core::SessionStore;

use crate::Error;

/// Opens the store named by `url` (`memory`, `redis://…`,
/// `redis+cluster://…`, `redis+sentinel://…`, `postgres://…`, `sqlite://…`,
/// `mysql://…`, and the TLS forms), migrated and ready, for settings like
/// `SESSION_STORE`; the URLs, their parameters and the features they need
/// are listed at [`session_stores::connect`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = session_actix::connect("memory").await.unwrap();
/// let err = session_actix::connect("ftp://nope").await.unwrap_err();
/// assert!(err.to_string().contains("unknown session store"));
/// # let _ = store; }
/// ```
///
/// # Errors
///
/// [`Error::Store`] for a backend that is not compiled in, an unknown URL,
/// and the backend's connection or migration error.
pub async fn connect(url: &str) -> Result<Arc<dyn SessionStore>, Error> {
    // Boxed: the drivers' connect futures nest deep enough already.
    Box::pin(session_stores::connect(url))
        .await
        .map_err(Error::Store)
}
