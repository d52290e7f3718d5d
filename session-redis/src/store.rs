//! [`RedisStore`]: the connection, the key layout and the [`SessionStore`] methods.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, RedisError, RedisFuture, RedisResult, Value};
use session_core::near_cache::NearCache;
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};

use crate::builder::RedisStoreBuilder;
use crate::durable::Durable;
use crate::per_runtime::PerRuntime;
use crate::sentinel::SentinelConn;
use crate::tracking::TrackedId;

/// A session store on Redis or Redis Cluster.
///
/// Cloning is cheap: clones share the connection(s). Build one with
/// [`RedisStore::connect`], [`RedisStore::connect_cluster`] or
/// [`RedisStore::builder`]. See the [crate docs](crate) for the commands
/// each method sends.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) conn: Conn,
    /// Standalone: the connections of single-threaded runtimes other than
    /// the one the store connected on (see [`conn`](Self::conn)).
    per_runtime: Option<Arc<PerRuntime>>,
    prefix: Arc<str>,
    command_timeout: Duration,
    durable: Option<Durable>,
    /// The near cache, when on, and the id of the connection its
    /// invalidations arrive on.
    near: Option<(NearCache, TrackedId)>,
}

/// The connection behind a store: standalone or cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
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
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &match self.conn {
                    Conn::Standalone(_) => "standalone",
                    Conn::Cluster(_) => "cluster",
                    Conn::Sentinel(_) => "sentinel",
                },
            )
            .field("key_prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .field("durable", &self.durable)
            .field("near_cache", &self.near_cache())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub(crate) fn new(
        conn: Conn,
        prefix: Arc<str>,
        command_timeout: Duration,
        durable: Option<Durable>,
        near: Option<(NearCache, TrackedId)>,
    ) -> Self {
        Self {
            conn,
            per_runtime: None,
            prefix,
            command_timeout,
            durable,
            near,
        }
    }

    /// The near cache, when it is on (see
    /// [`RedisStoreBuilder::near_cache`]): its [`stats`](NearCache::stats)
    /// tell hits, misses and whether it is coherent now.
    pub fn near_cache(&self) -> Option<&NearCache> {
        self.near.as_ref().map(|(cache, _)| cache)
    }

    /// The Redis `CLIENT ID` of the connection the near cache's
    /// invalidations arrive on (the store's own connection), while client
    /// tracking is on: to find it in `CLIENT LIST`. On a Cluster, the first
    /// primary's (see [`near_cache_client_ids`](Self::near_cache_client_ids)). `None` when the near
    /// cache is off or its channel is down.
    pub fn near_cache_client_id(&self) -> Option<u64> {
        self.near.as_ref().and_then(|(_, id)| id.get())
    }

    /// The connections the near cache's invalidations arrive on, while
    /// client tracking is on: `(node address, CLIENT ID)` for each primary
    /// of a Cluster (sorted by address); for a standalone Redis or Sentinel
    /// one pair with an empty address. Empty when the near cache is off or
    /// its channel is down.
    pub fn near_cache_client_ids(&self) -> Vec<(String, u64)> {
        self.near
            .as_ref()
            .map(|(_, id)| id.all())
            .unwrap_or_default()
    }

    /// A standalone store that opens a connection per single-threaded
    /// runtime it is used from (`None`: one shared connection).
    pub(crate) fn with_per_runtime(mut self, per_runtime: Option<Arc<PerRuntime>>) -> Self {
        self.per_runtime = per_runtime;
        self
    }

    /// The durable-write setting, if on.
    pub(crate) fn durable(&self) -> Option<Durable> {
        self.durable
    }

    /// Connects to a standalone Redis with the default settings.
    ///
    /// `url` is anything the driver accepts as connection info, typically
    /// `redis://[user:password@]host[:port][/db]`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL the driver rejects, [`Error::Backend`]
    /// when Redis cannot be reached, [`Error::Timeout`] when connecting takes
    /// longer than [`DEFAULT_CONNECTION_TIMEOUT`](crate::DEFAULT_CONNECTION_TIMEOUT).
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
    /// [`DEFAULT_CONNECTION_TIMEOUT`](crate::DEFAULT_CONNECTION_TIMEOUT).
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
        self.key_of(&id.storage_key())
    }

    /// The Redis key of the record with this storage key.
    pub(crate) fn key_of(&self, storage_key: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + storage_key.len());
        key.push_str(&self.prefix);
        key.push_str(storage_key);
        key
    }

    /// A handle on the connection(s) for a command issued here: the
    /// store's shared one, except on a single-threaded runtime (an actix-web
    /// worker) other than the one a standalone store connected on, which
    /// gets its own, so that no command crosses threads (see
    /// `per_runtime.rs`).
    pub(crate) fn conn(&self) -> Conn {
        match self.per_runtime.as_ref().and_then(PerRuntime::connection) {
            Some(manager) => Conn::Standalone(manager),
            None => self.conn.clone(),
        }
    }

    /// A driver error as this crate reports it.
    pub(crate) fn redis_error(&self, e: RedisError) -> Error {
        if e.is_timeout() {
            Error::Timeout(self.command_timeout)
        } else {
            Error::backend(e)
        }
    }

    /// Runs one driver call, bounded by the command timeout.
    pub(crate) async fn bounded<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.command_timeout, call).await {
            Ok(result) => result.map_err(|e| self.redis_error(e)),
            Err(_elapsed) => Err(Error::Timeout(self.command_timeout)),
        }
    }

    pub(crate) async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let mut conn = self.conn();
        self.bounded(cmd.query_async(&mut conn)).await
    }
}

/// The user a record must be filed under: its user, if it has one and is
/// not already expired (an expired record is gone for every method, and
/// Redis does not even keep it).
pub(crate) fn indexed_user(record: &Record) -> Option<&str> {
    record
        .user
        .as_deref()
        .filter(|_| !record.is_expired_at(SystemTime::now()))
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
pub(crate) fn redis_expiry(expires_ms: u64) -> u64 {
    expires_ms.saturating_sub(1).max(1)
}

pub(crate) fn unexpected(command: &str, reply: &Value) -> Error {
    Error::backend(format!("unexpected reply to {command}: {reply:?}"))
}

impl RedisStore {
    /// Log out everywhere but `keep` (a storage key), through the near
    /// cache when it is on.
    async fn revoke_durably(&self, user: &str, keep: Option<&str>) -> Result<u64, Error> {
        let write = async {
            let revoked = self.revoke(user, keep).await?;
            self.replicated().await?;
            Ok(revoked)
        };
        match self.near_cache() {
            Some(cache) => cache.forget_user(user, keep, write).await,
            None => write.await,
        }
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        let write = async {
            self.create_record(record).await?;
            self.replicated().await
        };
        match self.near_cache() {
            Some(cache) => cache.write(record, write).await,
            None => write.await,
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        match self.near_cache() {
            Some(cache) => cache.load(id, self.load_record(id)).await,
            None => self.load_record(id).await,
        }
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        let write = async {
            self.save_record(record).await?;
            self.replicated().await
        };
        match self.near_cache() {
            Some(cache) => cache.write(record, write).await,
            None => write.await,
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let write = async {
            self.delete_record(id).await?;
            self.replicated().await
        };
        match self.near_cache() {
            Some(cache) => cache.forget(id, write).await,
            None => write.await,
        }
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let write = async {
            self.touch_record(id, expires_at).await?;
            self.replicated().await
        };
        match self.near_cache() {
            Some(cache) => cache.forget(id, write).await,
            None => write.await,
        }
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        Ok(0)
    }

    fn indexes_users(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        "redis"
    }

    /// A `SCAN` of the key prefix (every master of a cluster): for
    /// operators, not request paths.
    async fn count_sessions(&self) -> Result<u64, Error> {
        self.count_live().await
    }

    /// 0: Redis expires keys itself.
    async fn count_expired(&self) -> Result<u64, Error> {
        Ok(0)
    }

    /// 0: Redis expires keys itself.
    async fn delete_expired_batch(&self, _max: u32) -> Result<u64, Error> {
        Ok(0)
    }

    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        self.sessions_of(user).await
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        let keep = keep.map(SessionId::storage_key);
        self.revoke_durably(user, keep.as_deref()).await
    }

    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        self.revoke_durably(user, Some(keep_key)).await
    }
}
