//! The stores of keycard-sessions by cargo feature, [`connect`] to pick one
//! by URL, and the settings an application configures them with.
//!
//! The HTTP adapters (`session-cookie` for tower and axum, `session-actix`
//! for actix-web) re-export everything here (except [`connect`] and
//! [`Error`], which each wraps in its own) and turn the features on by the
//! same names, so an application adds only its adapter:
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `memory` | yes | `MemoryStore`, in-process, for one machine and tests |
//! | `redis` | | `RedisStore` on Redis, Redis Sentinel or Redis Cluster, and `redis` (the driver) |
//! | `postgres`, `sqlite`, `mysql` | | `PostgresStore`, `SqliteStore`, `MySqlStore`, `CleanupHandle`, and `sqlx` (the driver) |
//! | `tls` | | TLS to the backends that are on (rustls with ring, the platform's trust roots; no OpenSSL) |

#![cfg_attr(docsrs, feature(doc_cfg))]

mod connect;
mod error;

pub use connect::connect;
pub use error::Error;

#[doc(inline)]
pub use session_core::adapter::{ConflictRetry, OnStoreError, SessionHandle};
#[doc(inline)]
pub use session_core::{
    error_chain, Expiry, Renewal, SameSite, Secret, SessionConfig, SessionConfigBuilder,
    SessionStore,
};

/// The framework-free core: store trait, records, IDs, codec, conformance suite.
pub use session_core as core;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
#[doc(inline)]
pub use session_memory::MemoryStore;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(inline)]
pub use session_redis::{redis, RedisStore};

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql")))
)]
#[doc(inline)]
pub use session_sqlx::{sqlx, CleanupHandle};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[doc(inline)]
pub use session_sqlx::PostgresStore;

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[doc(inline)]
pub use session_sqlx::SqliteStore;

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
#[doc(inline)]
pub use session_sqlx::MySqlStore;
