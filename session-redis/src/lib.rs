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

use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, RedisFuture, RedisResult, Script, Value};
use session_core::record::unix_ms;
use session_core::{codec, Error, Record, SessionId, SessionStore};

/// The Redis driver this crate is built on, re-exported so applications can
/// name its types (for example [`redis::ConnectionInfo`]) without depending
/// on a matching version themselves.
pub use redis;

/// The default key prefix: records are filed under `session:<storage key>`.
pub const DEFAULT_KEY_PREFIX: &str = "session:";
/// The default bound on establishing a connection.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound on one command, from sending it to its reply.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Reconnection attempts after the first, per (re)connect of a standalone
/// connection. Few, so a command issued while Redis is down fails fast; the
/// next command starts a new reconnect.
const RECONNECT_RETRIES: usize = 2;
/// The first backoff between reconnection attempts (it doubles, with
/// jitter). Short, so that a reconnect against a Redis that refuses
/// connections gives up within tens of milliseconds: commands waiting on it
/// fail with [`Error::Backend`] well inside the command timeout instead of
/// running into it.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(10);
/// The cap on one backoff between reconnection attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(100);

/// `touch` in one step. KEYS[1]: the record's key. ARGV[1]: the new expiry as
/// 8 big-endian bytes, ARGV[2]: the key's new `PEXPIREAT` (see [`redis_expiry`]),
/// ARGV[3]: the byte offset of the expiry in the envelope.
///
/// Returns 1 when moved, 0 when there is no live record, -1 when the value is
/// too short to be an envelope.
const TOUCH_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local offset = tonumber(ARGV[3])
if redis.call('STRLEN', KEYS[1]) < offset + 8 then
  return -1
end
redis.call('SETRANGE', KEYS[1], offset, ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
";

static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(TOUCH_LUA));

/// How many leading bytes of a stored value [`SAVE_LUA`] reads: enough for
/// the version of either format (format 2: `VERSION_OFFSET + 8`; format 1:
/// the 9-byte header, a 1-byte array marker and two MessagePack `u64`s of
/// at most 9 bytes each).
const SAVE_HEAD_LEN: usize = 28;
const _: () = assert!(codec::VERSION_OFFSET + 8 <= SAVE_HEAD_LEN);

/// Versioned `save` in one step. KEYS[1]: the record's key. ARGV[1]: the
/// new envelope, ARGV[2]: the key's new `PXAT` (see [`redis_expiry`]),
/// ARGV[3]: the version the caller loaded (`record.version - 1`) as 8
/// big-endian bytes, ARGV[4]: the byte offset of the version in a format-2
/// envelope, ARGV[5]: how many leading bytes to read ([`SAVE_HEAD_LEN`]).
///
/// Reads the stored version without decoding the data: in format 2 it is
/// the 8 bytes at ARGV[4]; in format 1 (no fixed version field) it is the
/// second `u64` of the MessagePack body right after the 9-byte header,
/// widened here to 8 big-endian bytes. Then `SET ... PXAT ... XX` only if it
/// equals ARGV[3].
///
/// Returns 1 when written, 0 when there is no live record, -1 for a value
/// too short to hold a version, -2 on a version mismatch, -3 for an unknown
/// format number.
const SAVE_LUA: &str = r"
local head = redis.call('GETRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)
if head == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return -1
  end
  return 0
end
-- A MessagePack unsigned integer at position i of s, as 8 big-endian bytes,
-- and the position after it; nil if s holds none there.
local function uint_at(s, i)
  local tag = string.byte(s, i)
  if tag == nil then
    return nil
  end
  if tag < 0x80 then
    return string.rep('\0', 7) .. string.char(tag), i + 1
  end
  local len
  if tag == 0xcc then len = 1
  elseif tag == 0xcd then len = 2
  elseif tag == 0xce then len = 4
  elseif tag == 0xcf then len = 8
  else return nil end
  if string.len(s) < i + len then
    return nil
  end
  return string.rep('\0', 8 - len) .. string.sub(s, i + 1, i + len), i + 1 + len
end
local format = string.byte(head, 1)
local stored
if format == 2 then
  local offset = tonumber(ARGV[4])
  if string.len(head) < offset + 8 then
    return -1
  end
  stored = string.sub(head, offset + 1, offset + 8)
elseif format == 1 then
  if string.byte(head, 10) ~= 0x93 then
    return -1
  end
  local _, after_created = uint_at(head, 11)
  if after_created == nil then
    return -1
  end
  stored = uint_at(head, after_created)
  if stored == nil then
    return -1
  end
else
  return -3
end
if stored ~= ARGV[3] then
  return -2
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'XX')
return 1
";

static SAVE: LazyLock<Script> = LazyLock::new(|| Script::new(SAVE_LUA));

/// A session store on Redis or Redis Cluster.
///
/// Cloning is cheap: clones share the connection(s). Build one with
/// [`RedisStore::connect`], [`RedisStore::connect_cluster`] or
/// [`RedisStore::builder`]. See the [crate docs](crate) for the commands
/// each method sends.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: Arc<str>,
    command_timeout: Duration,
}

/// The connection behind a store: standalone or cluster.
#[derive(Clone)]
enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &if self.is_cluster() {
                    "cluster"
                } else {
                    "standalone"
                },
            )
            .field("key_prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to a standalone Redis with the default settings.
    ///
    /// `url` is anything the driver accepts as connection info, typically
    /// `redis://[user:password@]host[:port][/db]`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL the driver rejects, [`Error::Backend`]
    /// when Redis cannot be reached, [`Error::Timeout`] when connecting takes
    /// longer than [`DEFAULT_CONNECTION_TIMEOUT`].
    pub async fn connect(url: impl IntoConnectionInfo) -> Result<Self, Error> {
        Self::builder().connect(url).await
    }

    /// Connects to a Redis Cluster with the default settings, discovering
    /// the whole cluster from the seed nodes in `urls`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for no URL or a URL the driver rejects,
    /// [`Error::Backend`] when the cluster cannot be reached,
    /// [`Error::Timeout`] when connecting takes longer than
    /// [`DEFAULT_CONNECTION_TIMEOUT`].
    pub async fn connect_cluster<I>(urls: I) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        Self::builder().connect_cluster(urls).await
    }

    /// A builder for the key prefix and timeouts.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::new()
    }

    /// The prefix in front of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The bound on each command.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// `true` when the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// The Redis key the record for `id` is filed under: the prefix followed
    /// by [`SessionId::storage_key`] (never the ID itself).
    pub fn redis_key(&self, id: &SessionId) -> String {
        let storage_key = id.storage_key();
        let mut key = String::with_capacity(self.prefix.len() + storage_key.len());
        key.push_str(&self.prefix);
        key.push_str(&storage_key);
        key
    }

    /// Runs one driver call, bounded by the command timeout.
    async fn bounded<T>(&self, call: impl Future<Output = RedisResult<T>>) -> Result<T, Error> {
        match tokio::time::timeout(self.command_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if e.is_timeout() => Err(Error::Timeout(self.command_timeout)),
            Ok(Err(e)) => Err(Error::backend(e)),
            Err(_elapsed) => Err(Error::Timeout(self.command_timeout)),
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let mut conn = self.conn.clone();
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// `SET key value PXAT ms <condition>`: `true` when written, `false` on a nil reply.
    async fn set(&self, record: &Record, condition: &str) -> Result<bool, Error> {
        let bytes = codec::encode(record)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(&record.id))
            .arg(bytes)
            .arg("PXAT")
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(condition);
        match self.query::<Value>(&cmd).await? {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            other => Err(unexpected("SET", &other)),
        }
    }
}

/// The Redis expiry (`PXAT` / `PEXPIREAT`, ms since the epoch) for a record
/// expiring at `expires_ms`.
///
/// Redis keeps a key through its expiry millisecond (it deletes once
/// `now > when`), while a record is gone *at* its `expires_at` (exclusive:
/// live while `now < expires_at`, that is `now <= expires_at - 1`). One
/// millisecond earlier makes Redis drop the key exactly when the contract
/// does, so `create` at the expiry instant finds the ID free and `save`
/// finds it vanished. Redis needs a positive time; anything at or before the
/// epoch is long past anyway.
fn redis_expiry(expires_ms: u64) -> u64 {
    expires_ms.saturating_sub(1).max(1)
}

fn unexpected(command: &str, reply: &Value) -> Error {
    Error::backend(format!("unexpected reply to {command}: {reply:?}"))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        if self.set(record, "NX").await? {
            Ok(())
        } else {
            Err(Error::Conflict)
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(id));
        let Some(bytes) = self.query::<Option<Vec<u8>>>(&cmd).await? else {
            return Ok(None);
        };
        let record = codec::decode(id.clone(), &bytes)?;
        // Redis drops a key only once its expiry has passed; expiry here is
        // exclusive, and the app's clock has the last word.
        Ok((!record.is_expired_at(SystemTime::now())).then_some(record))
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        let bytes = codec::encode(record)?;
        // Version 0 is never stored (records start at 1), so a save stating
        // version 0 expects a version that cannot match: a conflict.
        let loaded_version = record.version.wrapping_sub(1);
        let mut invocation = SAVE.key(self.redis_key(&record.id));
        invocation
            .arg(bytes)
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(&loaded_version.to_be_bytes()[..])
            .arg(codec::VERSION_OFFSET)
            .arg(SAVE_HEAD_LEN);
        let mut conn = self.conn.clone();
        match self
            .bounded(invocation.invoke_async::<i64>(&mut conn))
            .await?
        {
            1 => Ok(()),
            0 => Err(Error::Vanished),
            -1 => Err(Error::Envelope {
                reason: "truncated header",
            }),
            -2 => Err(Error::VersionConflict),
            -3 => Err(Error::Envelope {
                reason: "unknown format number",
            }),
            other => Err(unexpected("the save script", &Value::Int(other))),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.redis_key(id));
        self.query::<()>(&cmd).await
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let ms = unix_ms(expires_at);
        let mut invocation = TOUCH.key(self.redis_key(id));
        invocation
            .arg(&ms.to_be_bytes()[..])
            .arg(redis_expiry(ms))
            .arg(codec::EXPIRY_OFFSET);
        let mut conn = self.conn.clone();
        match self
            .bounded(invocation.invoke_async::<i64>(&mut conn))
            .await?
        {
            1 => Ok(()),
            0 => Err(Error::Vanished),
            -1 => Err(Error::Envelope {
                reason: "truncated header",
            }),
            other => Err(unexpected("the touch script", &Value::Int(other))),
        }
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        Ok(0)
    }
}

/// Settings for a [`RedisStore`]; finish with [`connect`](Self::connect),
/// [`connect_lazy`](Self::connect_lazy) or [`connect_cluster`](Self::connect_cluster).
///
/// ```no_run
/// # async fn f() -> Result<(), session_core::Error> {
/// use std::time::Duration;
/// let store = session_redis::RedisStore::builder()
///     .key_prefix("shop:sess:")
///     .connection_timeout(Duration::from_secs(2))
///     .command_timeout(Duration::from_millis(250))
///     .connect_cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    connection_timeout: Duration,
    command_timeout: Duration,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RedisStoreBuilder {
    /// The defaults: prefix [`DEFAULT_KEY_PREFIX`], timeouts
    /// [`DEFAULT_CONNECTION_TIMEOUT`] and [`DEFAULT_COMMAND_TIMEOUT`].
    pub fn new() -> Self {
        Self {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// The prefix in front of every key (default `session:`).
    ///
    /// Give each application sharing a Redis its own prefix. On a cluster,
    /// keep hash tags (`{...}`) out of it: they would put every session in
    /// one slot, on one node.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bound on establishing a connection: on the whole of
    /// [`connect`](Self::connect) / [`connect_cluster`](Self::connect_cluster),
    /// and on each later (re)connection attempt. Default 5 s.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The bound on each store operation, from sending the command to its
    /// reply, including any reconnection or cluster redirect on the way.
    /// Past it the operation fails with [`Error::Timeout`]. Default 1 s.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.connection_timeout.is_zero() {
            return Err(Error::config(
                "connection_timeout",
                "must be longer than zero",
            ));
        }
        if self.command_timeout.is_zero() {
            return Err(Error::config("command_timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connection_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
    }

    fn store(self, conn: Conn) -> RedisStore {
        RedisStore {
            conn,
            prefix: self.prefix.into(),
            command_timeout: self.command_timeout,
        }
    }

    /// Bounds a connection attempt by the connection timeout.
    async fn connecting<T>(
        &self,
        attempt: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.connection_timeout, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) if e.is_timeout() => Err(Error::Timeout(self.connection_timeout)),
            Ok(Err(e)) => Err(Error::backend(e)),
            Err(_elapsed) => Err(Error::Timeout(self.connection_timeout)),
        }
    }

    /// Connects to a standalone Redis at `url` and waits until the
    /// connection is up.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a zero timeout or a URL the driver rejects,
    /// [`Error::Backend`] when Redis cannot be reached or refuses the
    /// handshake (for example a wrong password), [`Error::Timeout`] when
    /// connecting takes longer than the connection timeout.
    pub async fn connect(self, url: impl IntoConnectionInfo) -> Result<RedisStore, Error> {
        self.check()?;
        let client = open_client(url)?;
        let manager = self
            .connecting(ConnectionManager::new_with_config(
                client,
                self.manager_config(),
            ))
            .await?;
        Ok(self.store(Conn::Standalone(manager)))
    }

    /// Like [`connect`](Self::connect), but returns at once and connects on
    /// the first command, so an application can start while Redis is still
    /// coming up. Until Redis answers, commands fail with
    /// [`Error::Backend`] or [`Error::Timeout`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a zero timeout, a URL the driver rejects, or a
    /// call outside a Tokio runtime (the connection needs one).
    pub fn connect_lazy(self, url: impl IntoConnectionInfo) -> Result<RedisStore, Error> {
        self.check()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "connect_lazy",
                "call it inside a Tokio runtime (the connection runs on it)",
            ));
        }
        let client = open_client(url)?;
        let manager = ConnectionManager::new_lazy_with_config(client, self.manager_config())
            .map_err(|e| Error::config("redis_url", e.to_string()))?;
        Ok(self.store(Conn::Standalone(manager)))
    }

    /// Connects to a Redis Cluster, discovering it from the seed nodes in
    /// `urls` (one reachable node is enough), and waits until the slot map is
    /// loaded.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a zero timeout, no URL or a URL the driver
    /// rejects, [`Error::Backend`] when the cluster cannot be reached,
    /// [`Error::Timeout`] when connecting takes longer than the connection
    /// timeout.
    pub async fn connect_cluster<I>(self, urls: I) -> Result<RedisStore, Error>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        self.check()?;
        let nodes = urls
            .into_iter()
            .map(IntoConnectionInfo::into_connection_info)
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| Error::config("redis_cluster_urls", e.to_string()))?;
        if nodes.is_empty() {
            return Err(Error::config(
                "redis_cluster_urls",
                "give at least one node of the cluster, e.g. redis://127.0.0.1:7000",
            ));
        }
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.connection_timeout)
            .response_timeout(self.command_timeout)
            .build()
            .map_err(|e| Error::config("redis_cluster_urls", e.to_string()))?;
        let conn = self.connecting(client.get_async_connection()).await?;
        Ok(self.store(Conn::Cluster(conn)))
    }
}

fn open_client(url: impl IntoConnectionInfo) -> Result<redis::Client, Error> {
    redis::Client::open(url).map_err(|e| Error::config("redis_url", e.to_string()))
}
