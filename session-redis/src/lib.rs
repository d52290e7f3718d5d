//! A [`SessionStore`] on Redis or Redis Cluster, built on the [`redis`] crate
//! with Tokio.
//!
//! One public type, [`RedisStore`], talks to either deployment (see
//! [Connections](#connections) and [Redis Cluster](#redis-cluster)).
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use session_core::{Data, Record, SessionId, SessionStore};
//! use session_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::Error> {
//! let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
//! let store = RedisStore::builder()
//!     .key_prefix("myapp:session:")
//!     .command_timeout(Duration::from_millis(500))
//!     .connect(url.as_str())
//!     .await?;
//!
//! let record = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + Duration::from_secs(3600));
//! store.create(&record).await?;
//! assert!(store.load(&record.id).await?.is_some());
//! store.delete(&record.id).await?;
//! # Ok(()) }
//! ```
//!
// The rest of the crate page (operations and their cost, the per-user
// index, connections, Redis Cluster, durability) lives in `docs.md`.
#![doc = include_str!("../docs.md")]

mod builder;
mod count;
mod durable;
mod error;
mod index;
mod per_runtime;
mod records;
mod scripts;
mod sentinel;
mod store;
mod tls;
mod tracking;

use std::time::Duration;

#[cfg(doc)]
use session_core::{codec, Error, Record, SessionId, SessionStore};

/// The Redis driver this crate is built on, re-exported so applications can
/// name its types (for example [`redis::ConnectionInfo`]) without depending
/// on a matching version themselves.
pub use redis;

pub use builder::RedisStoreBuilder;
pub use error::ConnectError;
pub use store::RedisStore;

/// The default key prefix: records are filed under `session:<storage key>`.
pub const DEFAULT_KEY_PREFIX: &str = "session:";
/// The default bound on establishing a connection.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound on one command, from sending it to its reply.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
