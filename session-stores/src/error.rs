//! The error of picking a store by URL.

/// Errors of [`connect`](crate::connect).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed to connect or to migrate.
    #[error(transparent)]
    Session(#[from] session_core::Error),

    /// The URL names a backend whose cargo feature is not enabled.
    #[error("the session store URL `{scheme}://…` needs the `{feature}` feature: build with `--features {feature}`")]
    FeatureDisabled {
        /// The URL scheme that was asked for.
        scheme: String,
        /// The cargo feature that provides it.
        feature: &'static str,
    },

    /// The URL is not one of a known backend.
    #[error("unknown session store `{0}`: use `memory`, `redis://…`, `redis+cluster://…`, `postgres://…`, `sqlite://…` or `mysql://…`")]
    UnknownStore(String),
}
