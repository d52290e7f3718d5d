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
//! # Operations
//!
//! Every operation is **one round trip**, a single command or a Lua script,
//! and atomic on the server:
//!
//! | method | command |
//! |---|---|
//! | `create` | `SET key value PXAT <expires_ms - 1> NX` (nil reply: [`Error::Conflict`]) |
//! | `load` | `GET key`, then the record's own expiry is checked again |
//! | `save` | `EVALSHA` of a Lua script: `GETRANGE` the first 28 bytes, compare the stored version with `record.version - 1`, and only if equal `SET key value PXAT <expires_ms - 1> XX` (missing key: [`Error::Vanished`]; other version: [`Error::VersionConflict`]) |
//! | `delete` | `DEL key` |
//! | `touch` | `EVALSHA` of a Lua script: if the key is live, `SETRANGE` the 8-byte expiry in place and `PEXPIREAT` (missing key: [`Error::Vanished`]) |
//! | `delete_expired` | nothing: Redis expires keys itself, so it returns `0` |
//!
//! The scripts run by `EVALSHA` (through [`redis::Script`]); when Redis does
//! not know a script yet, after a (re)start or a failover, the driver loads
//! it and retries, so the first `save` or `touch` then costs two extra
//! round trips.
//!
//! The `save` script reads the version without decoding the data: in the
//! current envelope format (2, see [`codec`]) it is the big-endian `u64` at
//! [`codec::VERSION_OFFSET`]. Format-1 values, which only pre-release builds
//! and the codec's test fixture wrote, have no fixed version field; the
//! script reads their version from the fixed-shape start of the MessagePack
//! body (array marker, `created_at`, `version`), so they are checked exactly
//! too, and the save rewrites them in format 2. A value too short or of an
//! unknown format is [`Error::Envelope`] and is left as it is.
//!
//! Records are filed under `<prefix><storage key>`, where the storage key is
//! [`SessionId::storage_key`] (a hash of the ID), so a dump of Redis holds no
//! usable cookie. The key's expiry is set from the record's `expires_at`
//! exactly, to the millisecond: Redis keeps a key through its `PXAT`
//! millisecond while a session is gone *at* its `expires_at`, so the key gets
//! `PXAT expires_ms - 1` and Redis drops it at the very instant the
//! [`SessionStore`] contract does. Because `touch` rewrites the expiry inside
//! the stored envelope as well, a plain `GET` always knows the current
//! expiry. No store method ever runs `KEYS`, `SCAN` or `FLUSHDB`.
//!
//! Requires Redis 6.2 or later (for `SET ... PXAT`).
//!
//! # What is atomic and what is not
//!
//! * **Each method** is atomic: Redis runs a command or a script without
//!   interleaving any other client's commands, so a `create` race has one
//!   winner, and a `save` compares the version and writes in one step: of
//!   concurrent saves from the same loaded version exactly one is written,
//!   the others get [`Error::VersionConflict`] and write nothing, across any
//!   number of application instances.
//! * **A request is not a transaction.** `load` and the later `save` are two
//!   round trips with no lock in between; the version makes this optimistic
//!   concurrency: a save that lost the race is reported, never silently
//!   applied, and the session layer reloads, re-applies its changes and saves
//!   again.
//! * `delete` is unconditional: a logout wins over concurrent saves, which
//!   then get [`Error::Vanished`] and do not resurrect the session. `touch`
//!   checks no version: it moves only the expiry and leaves data and version
//!   alone, so it composes with concurrent saves.
//! * **A timeout is not a "no".** An operation that fails with
//!   [`Error::Timeout`] (or a dropped connection) may still have been carried
//!   out by Redis; the application only knows that it did not hear back.
//! * **Durability is Redis's.** Without RDB or AOF persistence a restart
//!   loses every session (everyone is logged out, nothing worse). Replication
//!   is asynchronous: after a failover (a replica promoted, or a cluster
//!   master replaced) the last acknowledged writes may be missing. The store
//!   does not use `WAIT`.
//!
//! # Connections
//!
//! * **Standalone Redis** uses one [`ConnectionManager`]: a single
//!   multiplexed connection that every clone of the store shares and that
//!   pipelines concurrent commands. No pool is needed (and none to size):
//!   the store sends no blocking commands and no `MULTI` transactions, so
//!   commands of concurrent requests share the socket, pipelined, instead
//!   of waiting for a free connection.
//!   When the connection drops, the manager reconnects by itself, with two
//!   quick retries (10 ms backoff, doubling); a command issued while Redis
//!   refuses connections fails within tens of milliseconds with
//!   [`Error::Backend`], and the first command after Redis is back
//!   reconnects. The application never needs restarting.
//! * **Redis Cluster** uses the `cluster-async` connection, which keeps one
//!   multiplexed connection per node, follows `MOVED`/`ASK` redirects and
//!   refreshes the slot map itself.
//!
//! # Timeouts
//!
//! * The [connection timeout](RedisStoreBuilder::connection_timeout)
//!   (default 5 s) bounds [`connect`](RedisStoreBuilder::connect) /
//!   [`connect_cluster`](RedisStoreBuilder::connect_cluster) and each later
//!   reconnection attempt.
//! * The [command timeout](RedisStoreBuilder::command_timeout) (default 1 s)
//!   bounds each operation from start to reply, including waiting on a
//!   reconnection, a script load or a cluster redirect. Past it the
//!   operation fails with [`Error::Timeout`]: a Redis that is unreachable or
//!   silent (rather than refusing connections) costs at most this long per
//!   request.
//!
//! Connection and server failures are [`Error::Backend`] with the
//! [`redis::RedisError`] as the source. Both are
//! [unavailable](Error::is_unavailable) errors, which the session layer of
//! `session-cookie` answers with 503. No method panics.
//!
//! # Redis Cluster
//!
//! Pass the seed nodes (one reachable node is enough; the rest are
//! discovered):
//!
//! ```no_run
//! # async fn f() -> Result<(), session_core::Error> {
//! let store = session_redis::RedisStore::connect_cluster([
//!     "redis://127.0.0.1:7000",
//!     "redis://127.0.0.1:7001",
//!     "redis://127.0.0.1:7002",
//! ])
//! .await?;
//! # Ok(()) }
//! ```
//!
//! or, with [`RedisStore::builder`], `.connect_cluster(urls)`. Through
//! `session-cookie` (feature `redis`), `session_cookie::connect` and the
//! hotel example take the same list as
//! `SESSION_STORE=redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002`.
//!
//! Every operation touches exactly one key, and the scripts name it in
//! `KEYS`, so nothing is ever `CROSSSLOT` and each command goes straight to
//! the master owning the session's slot. Keep hash tags (`{...}`) out of the
//! [key prefix](RedisStoreBuilder::key_prefix), so that sessions spread over
//! all masters.
//!
//! [`ConnectionManager`]: redis::aio::ConnectionManager

mod builder;
mod scripts;
mod store;

use std::time::Duration;

/// The Redis driver this crate is built on, re-exported so applications can
/// name its types (for example [`redis::ConnectionInfo`]) without depending
/// on a matching version themselves.
pub use redis;

pub use builder::RedisStoreBuilder;
pub use store::RedisStore;

/// The default key prefix: records are filed under `session:<storage key>`.
pub const DEFAULT_KEY_PREFIX: &str = "session:";
/// The default bound on establishing a connection.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound on one command, from sending it to its reply.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
