//! The error type of the actix-web adapter.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Errors of the session middleware, extractor and store selection.
///
/// It implements [`ResponseError`], so handlers can use `?` on session
/// calls, returning either this type or `actix_web::Error`: a value over
/// the size limit answers 413, an unavailable store 503, anything else 500
/// (see [`session_core::Error::status_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The handler asked for a session but no [`SessionMiddleware`](crate::SessionMiddleware) ran.
    #[error(
        "no session middleware on this route: add `.wrap(SessionMiddleware::new(store, config))` \
         to the App (or to the scope that serves the route)"
    )]
    MissingMiddleware,

    /// [`connect`](crate::connect) could not open the store: an unknown
    /// URL, a backend whose cargo feature is off, or the backend's error.
    #[error(transparent)]
    Store(#[from] session_stores::Error),

    /// A store, codec or configuration error from `session-core`.
    #[error(transparent)]
    Session(#[from] session_core::Error),
}

impl Error {
    /// The core error this is, if any.
    fn core(&self) -> Option<&session_core::Error> {
        if let Self::Session(e) = self {
            Some(e)
        } else {
            None
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        let status = self.core().map_or(500, session_core::Error::status_code);
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let (_, body) = session_core::adapter::answer(self, self.core());
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_status_with_a_fixed_text() {
        let cases = [
            (
                session_core::Error::TooLarge { size: 2, limit: 1 }.into(),
                413,
            ),
            (
                session_core::Error::backend(std::io::Error::other("down")).into(),
                503,
            ),
            (Error::MissingMiddleware, 500),
        ];
        for (error, status) in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{error}");
            let content_type = response.headers().get("content-type");
            assert_eq!(content_type.unwrap(), "text/plain; charset=utf-8");
        }
        assert!(Error::MissingMiddleware
            .to_string()
            .contains("SessionMiddleware::new"));
    }
}
