//! [`RedisStore`]: the connection, the key layout and the [`SessionStore`] methods.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, RedisError, RedisFuture, RedisResult, Value};
use session_core::record::unix_ms;
use session_core::{codec, Error, Record, SessionId, SessionInfo, SessionStore};

use crate::builder::RedisStoreBuilder;
use crate::durable::Durable;
use crate::index::index_until;
use crate::scripts::{Call, Reply, CREATE, SAVE, TOUCH};
use crate::sentinel::SentinelConn;

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
    durable: Option<Durable>,
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
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub(crate) fn new(
        conn: Conn,
        prefix: Arc<str>,
        command_timeout: Duration,
        durable: Option<Durable>,
    ) -> Self {
        Self {
            conn,
            prefix,
            command_timeout,
            durable,
        }
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

    /// A handle on the shared connection(s).
    pub(crate) fn conn(&self) -> Conn {
        self.conn.clone()
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

    /// A bound `create` on a standalone Redis: the create script writes the
    /// record, then files it in `user`'s index. If filing fails (the record
    /// may then be written), the record is deleted and the error returned,
    /// as when the index script fails after a `SET`.
    async fn create_filed(&self, record: &Record, user: &str) -> Result<(), Error> {
        let bytes = codec::encode(record)?;
        let storage_key = record.id.storage_key();
        let key = self.key_of(&storage_key);
        let mut call = Call::new(&CREATE, &[&key, &self.index_key(user.as_bytes())]);
        call.arg(bytes)
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(&storage_key)
            .arg(record.version)
            .arg(index_until(record.expires_at_ms()));
        let mut conn = self.conn.clone();
        let reply: Result<Reply, Error> = self.bounded(call.invoke(&mut conn)).await;
        match reply {
            Ok(Reply { code: 1, .. }) => Ok(()),
            Ok(Reply { code: 0, .. }) => Err(Error::Conflict),
            Ok(other) => Err(unexpected("the create script", &Value::Int(other.code))),
            Err(e) => {
                // Perhaps written but not findable through its user's
                // index: take it back (see `create`). Only a failure before
                // the SET could leave someone else's session under this key,
                // and IDs are random, so none is there.
                let mut del = redis::cmd("DEL");
                del.arg(key);
                let _ = self.query::<()>(&del).await;
                Err(e)
            }
        }
    }

    /// The touch script: moves the expiry of the record under `key` to
    /// `expires_ms`.
    async fn touch_key(&self, key: String, expires_ms: u64) -> Result<Reply, Error> {
        let mut call = Call::new(&TOUCH, &[&key]);
        call.arg(&expires_ms.to_be_bytes()[..])
            .arg(redis_expiry(expires_ms));
        let mut conn = self.conn.clone();
        self.bounded(call.invoke(&mut conn)).await
    }
}

/// The user a record must be filed under: its user, if it has one and is
/// not already expired (an expired record is gone for every method, and
/// Redis does not even keep it).
fn indexed_user(record: &Record) -> Option<&str> {
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

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        self.create_record(record).await?;
        self.replicated().await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        self.load_record(id).await
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        self.save_record(record).await?;
        self.replicated().await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.delete_record(id).await?;
        self.replicated().await
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        self.touch_record(id, expires_at).await?;
        self.replicated().await
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
        let revoked = self.revoke(user, keep.as_deref()).await?;
        self.replicated().await?;
        Ok(revoked)
    }

    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        let revoked = self.revoke(user, Some(keep_key)).await?;
        self.replicated().await?;
        Ok(revoked)
    }
}

/// The single-record operations, each without the durable-write wait.
impl RedisStore {
    async fn create_record(&self, record: &Record) -> Result<(), Error> {
        let user = indexed_user(record);
        if let (Some(user), false) = (user, self.is_cluster()) {
            // Written, then filed, in one script: one round trip.
            return self.create_filed(record, user).await;
        }
        if !self.set(record, "NX").await? {
            return Err(Error::Conflict);
        }
        if let Some(user) = user {
            let storage_key = record.id.storage_key();
            // Filed after the write, so that a concurrent read of the index
            // never prunes the member before the record exists.
            let filed = self
                .index(
                    user.as_bytes(),
                    &storage_key,
                    record.version,
                    record.expires_at_ms(),
                )
                .await;
            if let Err(e) = filed {
                // Not findable through its user's index: take it back. The
                // caller gets the error and never hands out its ID, so even
                // if this fails too, nobody holds a cookie for it.
                let mut del = redis::cmd("DEL");
                del.arg(self.key_of(&storage_key));
                let _ = self.query::<()>(&del).await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn load_record(&self, id: &SessionId) -> Result<Option<Record>, Error> {
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

    async fn save_record(&self, record: &Record) -> Result<(), Error> {
        let bytes = codec::encode(record)?;
        let storage_key = record.id.storage_key();
        let user = indexed_user(record);
        // Filed before the write, at the version being written: if the save
        // then fails, the member is a harmless extra that the next read
        // prunes; if it succeeds, the session was findable from the instant
        // it was bound. (Nothing written yet if filing fails.) On a
        // standalone Redis the save script files it itself, in the same
        // round trip, after its version check and only if the stored value
        // is not already bound to this user; on a cluster the index is on
        // another slot, so the index script runs first, on its own.
        let file_in_script = match user {
            Some(user) if self.is_cluster() => {
                self.index(
                    user.as_bytes(),
                    &storage_key,
                    record.version,
                    record.expires_at_ms(),
                )
                .await?;
                None
            }
            other => other,
        };
        // Version 0 is never stored (records start at 1), so a save stating
        // version 0 expects a version that cannot match: a conflict.
        let loaded_version = record.version.wrapping_sub(1);
        let key = self.key_of(&storage_key);
        let mut call = match file_in_script {
            Some(user) => Call::new(&SAVE, &[&key, &self.index_key(user.as_bytes())]),
            None => Call::new(&SAVE, &[&key]),
        };
        call.arg(bytes)
            .arg(redis_expiry(record.expires_at_ms()))
            .arg(&loaded_version.to_be_bytes()[..]);
        if let Some(user) = user {
            call.arg(user);
        }
        if file_in_script.is_some() {
            call.arg(&storage_key)
                .arg(record.version)
                .arg(index_until(record.expires_at_ms()));
        }
        let mut conn = self.conn.clone();
        let reply = self.bounded(call.invoke(&mut conn)).await?;
        match reply.code {
            1 => {
                // The script names the old user only when the binding
                // changed (and the old one was a user).
                if let Some(old) = reply.bytes(0) {
                    // Unbound or re-bound: out of the old user's index,
                    // unless a later write filed it there again. Best
                    // effort: a member left behind is pruned by the next
                    // read of that index.
                    let _ = self.unindex(old, &[(storage_key, record.version)]).await;
                }
                Ok(())
            }
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

    async fn delete_record(&self, id: &SessionId) -> Result<(), Error> {
        let storage_key = id.storage_key();
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key_of(&storage_key));
        let old = self.query::<Option<Vec<u8>>>(&cmd).await?;
        let bound = old.and_then(|bytes| codec::decode(id.clone(), &bytes).ok());
        if let Some(Record {
            user: Some(user),
            version,
            ..
        }) = bound
        {
            // Best effort: the record is gone, and a member left behind is
            // pruned by the next read of the index.
            let _ = self
                .unindex(user.as_bytes(), &[(storage_key, version)])
                .await;
        }
        Ok(())
    }

    async fn touch_record(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let ms = unix_ms(expires_at);
        let storage_key = id.storage_key();
        let reply = self.touch_key(self.key_of(&storage_key), ms).await?;
        match reply.code {
            1 => {}
            0 => return Err(Error::Vanished),
            -1 => {
                return Err(Error::Envelope {
                    reason: "truncated header",
                })
            }
            -3 => {
                return Err(Error::Envelope {
                    reason: "unknown format number",
                })
            }
            other => return Err(unexpected("the touch script", &Value::Int(other))),
        }
        let (Some(user), Some(head)) = (reply.bytes(0), reply.bytes(1)) else {
            return Ok(());
        };
        if ms <= unix_ms(SystemTime::now()) {
            return Ok(());
        }
        let version = codec::read_version(head).unwrap_or(0);
        if let Err(e) = self.index(user, &storage_key, version, ms).await {
            // The index may now end before the session: move the expiry
            // back to where it was (still covered by the index), so that
            // revocation cannot miss it.
            if let Some(previous) = codec::read_expiry(head) {
                let _ = self.touch_key(self.key_of(&storage_key), previous).await;
            }
            return Err(e);
        }
        Ok(())
    }
}
