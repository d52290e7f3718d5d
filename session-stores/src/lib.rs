//! The stores of keycard-sessions by cargo feature, and [`connect`] to pick
//! one by URL.
//!
//! The HTTP adapters (`session-cookie` for tower and axum, `session-actix`
//! for actix-web) re-export everything here and turn the features on by
//! the same names, so an application adds only its adapter:
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
