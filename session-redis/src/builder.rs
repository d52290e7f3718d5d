//! [`RedisStoreBuilder`]: settings and connecting.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, RedisResult};
use session_core::near_cache::{NearCache, NearCacheConfig};
use session_core::Error;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::durable::Durable;
use crate::error::{connect_error, shown};
use crate::per_runtime::PerRuntime;
use crate::store::{Conn, RedisStore};
use crate::tracking::{Feed, TrackedId};
use crate::{DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_KEY_PREFIX};

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
    pub(crate) connection_timeout: Duration,
    pub(crate) command_timeout: Duration,
    durable: Option<Durable>,
    near_cache: Option<NearCacheConfig>,
    /// The CA bundle and client certificate for `rediss://`, if any was
    /// given (its `Debug` redacts both).
    #[cfg(feature = "tls")]
    pub(crate) certificates: Option<redis::TlsCertificates>,
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
            durable: None,
            near_cache: None,
            #[cfg(feature = "tls")]
            certificates: None,
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

    /// Durable writes: after every write (`create`, `save`, `delete`,
    /// `touch`, `delete_user_sessions`) send `WAIT <replicas> <timeout>` and
    /// fail the operation with [`Error::Backend`] (a 503) when fewer than
    /// `replicas` replicas acknowledged it within `timeout`. Off by default.
    ///
    /// Redis replicates asynchronously, so without this a failover can lose
    /// the writes of the last moments before the master died (see
    /// [what a failover can lose](crate#what-a-failover-can-lose)). With it,
    /// a write reported as done is on the master and on `replicas`
    /// replicas, and Sentinel promotes one of those. It costs one more round
    /// trip per write and waits for the replica's acknowledgement, and while
    /// a `WAIT` waits Redis holds the shared connection's later commands
    /// (see the crate docs for the measured cost and what that queueing
    /// means). A failed wait does not undo the write on the master.
    ///
    /// `timeout` must be shorter than the [command
    /// timeout](Self::command_timeout), which bounds the `WAIT` too. For a
    /// standalone Redis with replicas or Sentinel; refused for a Cluster.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), session_core::Error> {
    /// use std::time::Duration;
    /// let store = session_redis::RedisStore::builder()
    ///     .wait_for_replicas(1, Duration::from_millis(200))
    ///     .connect_sentinel_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.durable = Some(Durable { replicas, timeout });
        self
    }

    /// Turns on the near cache: recently used records kept in this
    /// process's memory, within `config`'s limits, and kept coherent by
    /// Redis itself (client tracking on the store's connection; see
    /// [the near cache](crate#the-near-cache) for what it guarantees and
    /// costs). Off by default.
    ///
    /// For a standalone Redis ([`connect`](Self::connect),
    /// [`connect_lazy`](Self::connect_lazy)), Sentinel and a Cluster
    /// ([`connect_cluster`](Self::connect_cluster): tracking is on for
    /// every primary's connection, see
    /// [the near cache on a Cluster](crate#on-a-cluster)); it needs Redis 6
    /// or later (RESP3).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), session_core::Error> {
    /// use session_core::near_cache::NearCacheConfig;
    /// let store = session_redis::RedisStore::builder()
    ///     .near_cache(NearCacheConfig::new().max_entries(50_000))
    ///     .connect("redis://127.0.0.1:6379")
    ///     .await?;
    /// assert!(store.near_cache().is_some());
    /// # Ok(()) }
    /// ```
    pub fn near_cache(mut self, config: NearCacheConfig) -> Self {
        self.near_cache = Some(config);
        self
    }

    fn check(&self) -> Result<(), Error> {
        if let Some(config) = &self.near_cache {
            config.validate()?;
        }
        if let Some(durable) = &self.durable {
            durable.check(self.command_timeout)?;
        }
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

    /// The connection manager's settings, with a sender for its push
    /// messages when the near cache is on.
    fn manager_config(&self, pushes: Option<UnboundedSender<PushInfo>>) -> ConnectionManagerConfig {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connection_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        match pushes {
            Some(sender) => config.set_push_sender(sender),
            None => config,
        }
    }

    /// The channel the driver passes push messages (invalidations,
    /// disconnections) on, when the near cache is on.
    pub(crate) fn push_channel(
        &self,
    ) -> (
        Option<UnboundedSender<PushInfo>>,
        Option<UnboundedReceiver<PushInfo>>,
    ) {
        if self.near_cache.is_some() {
            let (tx, rx) = unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        }
    }

    /// A standalone store's connections per single-threaded runtime (see
    /// `per_runtime.rs`), unless the near cache is on: its client tracking
    /// is on the one shared connection, which must also carry this
    /// process's writes (`NOLOOP`), and most loads are answered from memory
    /// then anyway.
    fn per_runtime(&self, client: &redis::Client) -> Option<std::sync::Arc<PerRuntime>> {
        self.near_cache
            .is_none()
            .then(|| PerRuntime::new(client.clone(), self.manager_config(None)))
    }

    /// `true` when the near cache is on (its connections speak RESP3).
    pub(crate) fn wants_pushes(&self) -> bool {
        self.near_cache.is_some()
    }

    /// The store on `conn`; with the near cache on, the cache and its
    /// feed (reading `pushes`), which runs until the store and its clones
    /// are dropped.
    fn store(
        self,
        conn: Conn,
        pushes: Option<UnboundedReceiver<PushInfo>>,
    ) -> Result<RedisStore, Error> {
        let prefix: std::sync::Arc<str> = self.prefix.into();
        let near = match (self.near_cache, pushes) {
            (Some(config), Some(pushes)) => {
                let cache = NearCache::new(config, "redis")?;
                let tracked = TrackedId::default();
                Feed {
                    conn: conn.clone(),
                    pushes,
                    invalidations: cache.invalidations(),
                    prefix: prefix.clone(),
                    command_timeout: self.command_timeout,
                    tracked: tracked.clone(),
                }
                .spawn();
                Some((cache, tracked))
            }
            _ => None,
        };
        Ok(RedisStore::new(
            conn,
            prefix,
            self.command_timeout,
            self.durable,
            near,
        ))
    }

    /// Bounds a connection attempt to `shown` (the URL, password masked)
    /// by the connection timeout.
    async fn connecting<T>(
        &self,
        shown: String,
        attempt: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Error> {
        let timed_out = |shown: String| {
            if shown.starts_with("rediss://") {
                crate::tls::handshake_timeout(shown, self.connection_timeout)
            } else {
                Error::Timeout(self.connection_timeout)
            }
        };
        match tokio::time::timeout(self.connection_timeout, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) if e.is_timeout() => Err(timed_out(shown)),
            Ok(Err(e)) => Err(connect_error(shown, e)),
            Err(_elapsed) => Err(timed_out(shown)),
        }
    }

    /// Connects to a standalone Redis at `url` and waits until the
    /// connection is up.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a zero timeout or a URL the driver rejects,
    /// [`Error::Backend`] when Redis cannot be reached or refuses the
    /// handshake (for example a wrong password), with a
    /// [`ConnectError`](crate::ConnectError) naming the URL (password
    /// masked) and the likely fix as its source; [`Error::Timeout`] when
    /// connecting takes longer than the connection timeout.
    pub async fn connect(self, url: impl IntoConnectionInfo) -> Result<RedisStore, Error> {
        self.check()?;
        let client = self.open_client(url)?;
        let (sender, pushes) = self.push_channel();
        let per_runtime = self.per_runtime(&client);
        let manager = self
            .connecting(
                shown(client.get_connection_info()),
                ConnectionManager::new_with_config(client, self.manager_config(sender)),
            )
            .await?;
        Ok(self
            .store(Conn::Standalone(manager), pushes)?
            .with_per_runtime(per_runtime))
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
        let client = self.open_client(url)?;
        let (sender, pushes) = self.push_channel();
        let per_runtime = self.per_runtime(&client);
        let manager = ConnectionManager::new_lazy_with_config(client, self.manager_config(sender))
            .map_err(|e| Error::config("redis_url", e.to_string()))?;
        Ok(self
            .store(Conn::Standalone(manager), pushes)?
            .with_per_runtime(per_runtime))
    }

    /// Connects to a Redis Cluster, discovering it from the seed nodes in
    /// `urls` (one reachable node is enough), and waits until the slot map is
    /// loaded.
    ///
    /// With the [near cache](Self::near_cache) on, the connections speak
    /// RESP3 and client tracking is enabled on every primary's connection
    /// (see [the near cache on a Cluster](crate#on-a-cluster)).
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
        if self.durable.is_some() {
            return Err(Error::config(
                "wait_for_replicas",
                "durable writes are for a standalone Redis or Sentinel, not a Cluster",
            ));
        }
        let nodes = connection_infos(
            urls,
            "redis_cluster_urls",
            "give at least one node of the cluster, e.g. redis://127.0.0.1:7000",
        )?;
        let seeds = nodes.iter().map(shown).collect::<Vec<_>>().join(", ");
        let mut cluster = crate::tls::cluster_client(&self, nodes)?
            .connection_timeout(self.connection_timeout)
            .response_timeout(self.command_timeout);
        let (sender, pushes) = self.push_channel();
        if let Some(sender) = sender {
            // Client tracking's invalidations are RESP3 push messages; the
            // driver passes every node's on this one channel.
            cluster = cluster
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(sender);
        }
        let client = cluster
            .build()
            .map_err(|e| Error::config("redis_cluster_urls", e.to_string()))?;
        let conn = self
            .connecting(seeds, client.get_async_connection())
            .await?;
        self.store(Conn::Cluster(conn), pushes)
    }
}

impl RedisStoreBuilder {
    /// Connects to the master of a Redis Sentinel group: asks the
    /// `sentinels` (one reachable sentinel is enough) for the address of
    /// the master they monitor as `master`, connects to it and checks its
    /// `ROLE`. After a failover the store asks them again (see
    /// [Redis Sentinel](crate#redis-sentinel)): no restart needed.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), session_core::Error> {
    /// let store = session_redis::RedisStore::builder()
    ///     .connect_sentinel(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], "mymaster")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The master's password or database, and TLS: see
    /// [`connect_sentinel_url`](Self::connect_sentinel_url).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for no sentinel, an empty master name or a URL the
    /// driver rejects; [`Error::Backend`] (its source a
    /// [`ConnectError`](crate::ConnectError) naming the sentinels) when no
    /// sentinel names a reachable master; [`Error::Timeout`] past the
    /// connection timeout.
    pub async fn connect_sentinel<I>(self, sentinels: I, master: &str) -> Result<RedisStore, Error>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        self.sentinel(sentinels, master, None).await
    }

    /// [`connect_sentinel`](Self::connect_sentinel) from one URL:
    /// `redis+sentinel://[user:password@]host:port,host:port/<master name>[/<db>]`.
    /// The user, password and database are the master's (the sentinels are
    /// asked without credentials); `rediss+sentinel://` speaks TLS to the
    /// sentinels and the master, with the builder's TLS settings.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), session_core::Error> {
    /// let store = session_redis::RedisStore::builder()
    ///     .connect_sentinel_url("redis+sentinel://:secret@10.0.0.1:26379,10.0.0.2:26379/mymaster")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect_sentinel`](Self::connect_sentinel), and
    /// [`Error::Config`] for a URL not of that shape.
    pub async fn connect_sentinel_url(self, url: &str) -> Result<RedisStore, Error> {
        let url = crate::sentinel::SentinelUrl::parse(url)?;
        self.sentinel(
            url.sentinels.iter().map(String::as_str),
            &url.master,
            Some(&url.master_auth),
        )
        .await
    }

    async fn sentinel<I>(
        self,
        sentinels: I,
        master: &str,
        master_auth: Option<&str>,
    ) -> Result<RedisStore, Error>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        self.check()?;
        let (client, shown, db) = self.sentinel_client(sentinels, master, master_auth)?;
        let (sender, pushes) = self.push_channel();
        let conn = self.sentinel_conn(client, db, sender);
        let what = format!("{} (sentinels, master {master})", shown.join(", "));
        self.connecting(what, conn.connect_now()).await?;
        self.store(Conn::Sentinel(conn), pushes)
    }

    /// The driver client for `url`, with the TLS settings.
    fn open_client(&self, url: impl IntoConnectionInfo) -> Result<redis::Client, Error> {
        let mut info = url
            .into_connection_info()
            .map_err(crate::tls::url_error("redis_url"))?;
        if self.wants_pushes() {
            // Client tracking's invalidations are RESP3 push messages.
            let settings = info.redis_settings().clone();
            info = info.set_redis_settings(settings.set_protocol(ProtocolVersion::RESP3));
        }
        crate::tls::client(self, info)
    }
}

/// `urls` parsed; none at all is a configuration error naming `field`, with
/// `fix`.
pub(crate) fn connection_infos<I>(
    urls: I,
    field: &'static str,
    fix: &str,
) -> Result<Vec<redis::ConnectionInfo>, Error>
where
    I: IntoIterator,
    I::Item: IntoConnectionInfo,
{
    let infos = urls
        .into_iter()
        .map(IntoConnectionInfo::into_connection_info)
        .collect::<RedisResult<Vec<_>>>()
        .map_err(crate::tls::url_error(field))?;
    if infos.is_empty() {
        return Err(Error::config(field, fix));
    }
    Ok(infos)
}
