//! The framework-free heart of server-side HTTP sessions.
//!
//! The browser holds only an opaque, signed session ID; the
//! data lives server-side in a [`SessionStore`]; logging out deletes the
//! record, so a copied cookie stops working on the server.
//!
//! This crate has no HTTP framework and no backend inside. It provides:
//!
//! * [`SessionStore`] and [`Record`]: the contract every backend keeps;
//! * [`SessionId`]: 128 random bits, redacted in `Debug`;
//! * [`IdSigner`]: HMAC-SHA256 signing of IDs with key rotation;
//! * [`SessionConfig`]: the session settings, validated at start-up;
//! * [`codec`]: the versioned MessagePack envelope;
//! * [`telemetry`]: spans around every store call and, with the feature
//!   `metrics`, counters and latency histograms through the `metrics` facade;
//! * `conformance` (feature `conformance`): the suite every store passes;
//! * [`adapter`]: what the HTTP adapters share (the request's session, its
//!   load, the handle handlers use, the write-back and cookie decision),
//!   for adapter authors only.
//!
//! Applications add an adapter crate instead (`session-cookie` for tower
//! and axum, `session-actix` for actix-web), which re-exports what they
//! need.

#![cfg_attr(docsrs, feature(doc_cfg))]
pub mod adapter;
pub mod codec;
mod config;
mod duration;
mod error;
mod expiry;
mod id;
mod info;
mod merge;
pub mod near_cache;
pub mod record;
mod redact;
mod secret;
mod signing;
mod store;
pub mod telemetry;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

pub use async_trait::async_trait;
pub use config::{
    Renewal, SameSite, SessionConfig, SessionConfigBuilder, MAX_COOKIE_NAME_LEN, MAX_MAX_AGE,
};
pub use error::{error_chain, BoxError, Error, Result};
pub use expiry::{Expiry, Lifetime};
pub use id::{SessionId, ID_BYTES, ID_WIRE_LEN};
pub use info::SessionInfo;
pub use record::{Data, Record};
pub use redact::redact_url;
pub use secret::{Secret, GENERATED_SECRET_LEN, MIN_SECRET_DISTINCT_BYTES, MIN_SECRET_LEN};
pub use signing::{IdSigner, Verified, SIGNED_ID_LEN};
pub use store::SessionStore;
