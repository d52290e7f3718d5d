//! Picking a store by URL, as the `SESSION_STORE` setting does.

use std::sync::Arc;

use session_core::SessionStore;

use crate::Error;

/// Opens the store named by `url`, for settings like `SESSION_STORE`:
///
/// | URL | store | feature |
/// |---|---|---|
/// | `memory` | `MemoryStore` | `memory` |
///
/// Each backend's feature adds its schemes; a scheme whose feature is not
/// compiled in is a clear error naming the feature.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = session_cookie::connect("memory").await.unwrap();
/// let err = session_cookie::connect("ftp://nope").await.unwrap_err();
/// assert!(err.to_string().contains("unknown session store"));
/// # let _ = store; }
/// ```
///
/// # Errors
///
/// [`Error::FeatureDisabled`] for a backend that is not compiled in,
/// [`Error::UnknownStore`] for anything else, and the backend's connection
/// error.
pub async fn connect(url: &str) -> Result<Arc<dyn SessionStore>, Error> {
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    let disabled = |feature| Error::FeatureDisabled {
        scheme: scheme.to_owned(),
        feature,
    };
    match scheme {
        #[cfg(feature = "memory")]
        "memory" => Ok(Arc::new(session_memory::MemoryStore::new())),
        #[cfg(not(feature = "memory"))]
        "memory" => Err(disabled("memory")),
        "redis" | "rediss" | "redis+cluster" => Err(disabled("redis")),
        "postgres" | "postgresql" => Err(disabled("postgres")),
        "sqlite" => Err(disabled("sqlite")),
        "mysql" | "mariadb" => Err(disabled("mysql")),
        _ => Err(Error::UnknownStore(
            url.split("://").next().unwrap_or_default().to_owned(),
        )),
    }
}
