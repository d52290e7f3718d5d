//! The error type of the HTTP layer.

use http::StatusCode;

/// Errors of the session layer, extractor and store selection.
///
/// With the `axum` feature it implements `IntoResponse`, so handlers can use
/// `?` on session calls: a value over the size limit answers 413, an
/// unavailable store 503, anything else 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A store, codec or configuration error from `session-core`.
    #[error(transparent)]
    Session(#[from] session_core::Error),

    /// The handler asked for a session but no [`SessionLayer`](crate::SessionLayer) ran.
    #[error(
        "no session layer on this route: add `.layer(SessionLayer::new(store, config))` \
         to the router (after the routes that use `Session`)"
    )]
    MissingLayer,

    /// `SESSION_STORE` names a backend whose cargo feature is not enabled.
    #[error("the session store URL `{scheme}://…` needs the `{feature}` feature of session-cookie: build with `--features {feature}`")]
    FeatureDisabled {
        /// The URL scheme that was asked for.
        scheme: String,
        /// The cargo feature that provides it.
        feature: &'static str,
    },

    /// `SESSION_STORE` is not a URL of a known backend.
    #[error("unknown session store `{0}`: use `memory`, `redis://…`, `redis+cluster://…`, `postgres://…`, `sqlite://…` or `mysql://…`")]
    UnknownStore(String),
}

impl Error {
    /// The HTTP status this error answers with (see
    /// [`session_core::Error::status_code`]).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Session(e) => StatusCode::from_u16(e.status_code()),
            _ => Ok(StatusCode::INTERNAL_SERVER_ERROR),
        }
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        let session = match &self {
            Self::Session(e) => Some(e),
            _ => None,
        };
        let (_, body) = session_core::adapter::answer(&self, session);
        (self.status(), body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let too_large = Error::from(session_core::Error::TooLarge { size: 2, limit: 1 });
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let down = Error::from(session_core::Error::backend(std::io::Error::other("down")));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            Error::MissingLayer.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(Error::MissingLayer
            .to_string()
            .contains("SessionLayer::new"));
    }
}
