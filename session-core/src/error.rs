//! The one error type of the session stack.

use std::time::Duration;

/// A boxed error from a storage backend, kept as the [`source`](std::error::Error::source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a session store, the codec or the configuration.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a
/// wildcard arm. Underlying causes are kept as [`source`](std::error::Error::source)
/// and are not repeated in the `Display` text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`create`](crate::SessionStore::create) found a record under the same ID.
    /// The existing record was left untouched.
    #[error("a session with this ID already exists")]
    Conflict,

    /// [`save`](crate::SessionStore::save) or [`touch`](crate::SessionStore::touch)
    /// found no live record: it expired or was deleted while the request ran.
    /// Nothing was written; the record was not resurrected.
    #[error("the session record is gone (expired or deleted meanwhile)")]
    Vanished,

    /// [`save`](crate::SessionStore::save) found the record at another
    /// version than the one the caller loaded: a concurrent request saved
    /// first. Nothing was written; reload, re-apply and save again.
    #[error("the session was changed by a concurrent request")]
    VersionConflict,

    /// A value could not be encoded with MessagePack. The source is the
    /// serialiser's error, boxed so that the codec's crate is not part of
    /// this API.
    #[error("could not encode a session value")]
    Encode(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A stored value could not be decoded into the requested type. The
    /// source is the deserialiser's error, boxed like [`Error::Encode`]'s.
    #[error("could not decode a session value")]
    Decode(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The stored bytes are not a session envelope this version understands.
    #[error("unreadable session envelope: {reason}")]
    Envelope {
        /// What is wrong with the bytes.
        reason: &'static str,
    },

    /// A value or the whole session is larger than the configured limit.
    #[error("session data too large: {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// The size that was attempted, in bytes.
        size: usize,
        /// The configured limit, in bytes.
        limit: usize,
    },

    /// The configuration makes no sense. The message names the field and the fix.
    #[error("invalid session configuration: `{field}`: {fix}")]
    Config {
        /// The configuration field (or environment variable) at fault.
        field: &'static str,
        /// What is wrong and how to fix it.
        fix: String,
    },

    /// The backend did not answer within the configured time.
    #[error("the session store did not answer within {0:?}")]
    Timeout(Duration),

    /// The backend failed (connection refused, I/O error, server error, ...).
    #[error("the session store backend failed")]
    Backend(#[source] BoxError),

    /// The store does not support this operation.
    #[error("the session store does not support {0}")]
    Unsupported(&'static str),
}

impl Error {
    /// Wraps any backend error, keeping it as the source.
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }

    /// Builds a [`Error::Config`] error.
    pub fn config(field: &'static str, fix: impl Into<String>) -> Self {
        Self::Config {
            field,
            fix: fix.into(),
        }
    }

    /// `true` for errors that mean the backend is unavailable (failed or timed
    /// out), as opposed to a problem with the session itself.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Backend(_) | Self::Timeout(_))
    }

    /// The HTTP status the adapters answer this error with, when a handler
    /// returns it: 413 for data over the size limit, 503 for an
    /// unavailable store, 501 for a per-user call on a store without a
    /// per-user index, 500 for the rest.
    ///
    /// ```
    /// use session_core::Error;
    ///
    /// assert_eq!(Error::TooLarge { size: 2, limit: 1 }.status_code(), 413);
    /// assert_eq!(Error::backend(std::io::Error::other("down")).status_code(), 503);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            e if e.is_unavailable() => 503,
            Self::Unsupported(_) => 501,
            _ => 500,
        }
    }

    /// The plain-text body the adapters answer this error with: a fixed
    /// text per status, so that no cause, key or value reaches the client,
    /// except for 501, which names what the store does not support.
    pub fn response_text(&self) -> std::borrow::Cow<'static, str> {
        match self.status_code() {
            413 => "session data too large".into(),
            503 => "session store unavailable".into(),
            501 => self.to_string().into(),
            _ => "session error".into(),
        }
    }
}

/// An error and its [`source`](std::error::Error::source)s on one line,
/// `error: cause: cause`, for logs and for what `main` prints.
///
/// [`Error`]'s `Display` does not repeat its source, so printing only
/// `{err}` hides the cause; print this instead. A cause whose text the line
/// already ends with (drivers often print their source in their own
/// message) is not repeated.
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = session_core::Error::backend(io);
/// assert_eq!(
///     session_core::error_chain(&err),
///     "the session store backend failed: refused"
/// );
/// ```
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Shorthand for `Result<T, session_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn backend_keeps_its_source_and_does_not_repeat_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer");
        let err = Error::backend(io);
        assert!(err.is_unavailable());
        assert!(!err.to_string().contains("refused by peer"));
        assert_eq!(err.source().unwrap().to_string(), "refused by peer");
    }

    #[test]
    fn error_chain_shows_every_cause_once() {
        #[derive(Debug)]
        struct Driver(std::io::Error);
        impl std::fmt::Display for Driver {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "driver: {}", self.0)
            }
        }
        impl std::error::Error for Driver {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::other("refused");
        let err = Error::backend(Driver(io));
        assert_eq!(
            error_chain(&err),
            "the session store backend failed: driver: refused"
        );
    }

    #[test]
    fn statuses_and_texts() {
        let too_large = Error::TooLarge { size: 2, limit: 1 };
        assert_eq!(
            (too_large.status_code(), &*too_large.response_text()),
            (413, "session data too large")
        );
        let late = Error::Timeout(Duration::from_secs(1));
        assert_eq!(
            (late.status_code(), &*late.response_text()),
            (503, "session store unavailable")
        );
        let unsupported = Error::Unsupported("per-user listing");
        assert_eq!(unsupported.status_code(), 501);
        assert!(unsupported.response_text().contains("per-user listing"));
        let decode = Error::Envelope {
            reason: "secret detail",
        };
        assert_eq!(
            (decode.status_code(), &*decode.response_text()),
            (500, "session error")
        );
    }

    #[test]
    fn config_error_names_field_and_fix() {
        let err = Error::config("max_age", "must be at least 1 second");
        assert_eq!(
            err.to_string(),
            "invalid session configuration: `max_age`: must be at least 1 second"
        );
    }
}
