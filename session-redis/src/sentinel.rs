//! Redis Sentinel: a connection to whichever server the sentinels name as
//! master, found again after a failover.
//!
//! The sentinels are asked for the master when the store connects and
//! whenever the current connection fails in a way that means the master may
//! have changed (the socket dropped, a timeout, `READONLY` from a demoted
//! master, `MASTERDOWN`). The command that saw the failure fails (the
//! session layer answers 503); the next command asks the sentinels again and
//! connects to the master they name, checking with `ROLE` that it is one.
//! So a failover costs the requests in flight while Redis is switching, and
//! no application restart.

use std::sync::{Arc, Mutex as SyncMutex};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, ProtocolVersion,
    PushInfo, PushKind, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};
use session_core::Error;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Mutex;

use crate::builder::RedisStoreBuilder;

/// A connection to the master of a Sentinel-monitored group; clones share
/// it.
#[derive(Clone)]
pub(crate) struct SentinelConn {
    shared: Arc<Shared>,
}

struct Shared {
    sentinels: Mutex<SentinelClient>,
    /// The connection to the master, if one is up, and a generation number
    /// that grows with every new connection.
    master: SyncMutex<(u64, Option<MultiplexedConnection>)>,
    config: AsyncConnectionConfig,
    db: i64,
    /// The near cache's push channel, if it is on: told when the store
    /// forgets a connection, since that one's invalidations stop.
    pushes: Option<UnboundedSender<PushInfo>>,
}

impl SentinelConn {
    /// The master's connection: the current one, or a new one to the master
    /// the sentinels name now.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let (generation, Some(conn)) = &*lock(&self.shared.master) {
            return Ok((*generation, conn.clone()));
        }
        // One resolution at a time; the others wait for it and reuse it.
        let mut sentinels = self.shared.sentinels.lock().await;
        if let (generation, Some(conn)) = &*lock(&self.shared.master) {
            return Ok((*generation, conn.clone()));
        }
        let client = sentinels.async_get_client().await?;
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.shared.config)
            .await?;
        let mut master = lock(&self.shared.master);
        master.0 += 1;
        master.1 = Some(conn.clone());
        Ok((master.0, conn))
    }

    /// Forgets connection `generation` after `err` if the error means the
    /// master may be gone or demoted, so that the next command asks the
    /// sentinels again.
    fn after_error(&self, generation: u64, err: &RedisError) {
        if master_may_have_changed(err) {
            let mut master = lock(&self.shared.master);
            if master.0 == generation && master.1.take().is_some() {
                if let Some(pushes) = &self.shared.pushes {
                    let _ = pushes.send(PushInfo {
                        kind: PushKind::Disconnection,
                        data: Vec::new(),
                    });
                }
            }
        }
    }

    /// Connects now, so that [`RedisStoreBuilder::connect_sentinel`] fails
    /// when no sentinel names a reachable master.
    pub(crate) async fn connect_now(&self) -> RedisResult<()> {
        self.connection().await.map(drop)
    }
}

fn lock<T>(m: &SyncMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `true` when `err` means the connection is not to a working master any
/// more.
fn master_may_have_changed(err: &RedisError) -> bool {
    if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_unrecoverable_error()
        || err.is_timeout()
        || matches!(err.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly))
    {
        return true;
    }
    let text = err.to_string();
    text.contains("READONLY") || text.contains("MASTERDOWN") || text.contains("LOADING")
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let reply = conn.req_packed_command(cmd).await;
            if let Err(e) = &reply {
                self.after_error(generation, e);
            }
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let reply = conn.req_packed_commands(pipeline, offset, count).await;
            if let Err(e) = &reply {
                self.after_error(generation, e);
            }
            reply
        })
    }

    fn get_db(&self) -> i64 {
        self.shared.db
    }
}

/// Where the sentinels and the master are, as `connect_sentinel_url` reads
/// `redis+sentinel://[user:password@]host:port,host:port/<master>[/<db>]`.
#[derive(Debug, PartialEq)]
pub(crate) struct SentinelUrl {
    pub(crate) sentinels: Vec<String>,
    pub(crate) master: String,
    /// `redis://[user:password@]<first sentinel>/<db>`: the master's
    /// credentials and database, in a form the driver parses (and decodes).
    pub(crate) master_auth: String,
}

impl SentinelUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::config(
                "redis_sentinel_url",
                format!(
                    "{why}: give redis+sentinel://[user:password@]host:port,host:port/<master name>[/<db>] \
                     (rediss+sentinel:// for TLS)"
                ),
            )
        };
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            ("redis", rest)
        } else if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
            ("rediss", rest)
        } else {
            return Err(bad("not a sentinel URL"));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
            None => (String::new(), authority),
        };
        let sentinels: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("{scheme}://{h}"))
            .collect();
        let Some(first) = hosts.split(',').find(|h| !h.is_empty()) else {
            return Err(bad("no sentinel address"));
        };
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let Some(master) = segments.next() else {
            return Err(bad("no master name"));
        };
        let db = segments.next().unwrap_or("0");
        Ok(Self {
            sentinels,
            master: master.to_owned(),
            master_auth: format!("{scheme}://{userinfo}{first}/{db}"),
        })
    }
}

impl RedisStoreBuilder {
    /// The driver's sentinel client for `sentinels` and `master`, with the
    /// master's credentials and database from `master_auth` (a URL) and the
    /// TLS settings.
    pub(crate) fn sentinel_client<I>(
        &self,
        sentinels: I,
        master: &str,
        master_auth: Option<&str>,
    ) -> Result<(SentinelClient, Vec<String>, i64), Error>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        let infos = crate::builder::connection_infos(
            sentinels,
            "redis_sentinel_urls",
            "give at least one sentinel, e.g. redis://127.0.0.1:26379",
        )?;
        if master.is_empty() {
            return Err(Error::config(
                "redis_sentinel_master",
                "give the master name the sentinels monitor (`sentinel monitor <name> ...`)",
            ));
        }
        let shown = infos.iter().map(crate::error::shown).collect();
        let tls = infos
            .iter()
            .any(|i| matches!(i.addr(), ConnectionAddr::TcpTls { .. }));
        for info in &infos {
            crate::tls::check(self, info)?;
        }
        let addrs = infos.iter().map(|i| i.addr().clone());
        let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
            .map_err(|e| Error::config("redis_sentinel_urls", e.to_string()))?;
        let mut db = 0;
        if let Some(auth) = master_auth {
            let info = auth
                .into_connection_info()
                .map_err(crate::tls::url_error("redis_sentinel_url"))?;
            let settings = info.redis_settings();
            db = settings.db();
            builder = builder.set_client_to_redis_db(db);
            if let Some(user) = settings.username() {
                builder = builder.set_client_to_redis_username(user);
            }
            if let Some(password) = settings.password() {
                builder = builder.set_client_to_redis_password(password);
            }
        }
        if tls {
            builder = crate::tls::sentinel_tls(self, builder)?;
        }
        if self.wants_pushes() {
            // Client tracking's invalidations are RESP3 push messages.
            builder = builder.set_client_to_redis_protocol(ProtocolVersion::RESP3);
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("redis_sentinel_urls", e.to_string()))?;
        Ok((client, shown, db))
    }

    /// The shared state of a sentinel connection.
    /// With `pushes`, every connection to a master passes its push
    /// messages there (the near cache's feed).
    pub(crate) fn sentinel_conn(
        &self,
        client: SentinelClient,
        db: i64,
        pushes: Option<UnboundedSender<PushInfo>>,
    ) -> SentinelConn {
        let mut config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connection_timeout))
            .set_response_timeout(Some(self.command_timeout));
        if let Some(sender) = &pushes {
            config = config.set_push_sender(sender.clone());
        }
        SentinelConn {
            shared: Arc::new(Shared {
                sentinels: Mutex::new(client),
                master: SyncMutex::new((0, None)),
                config,
                db,
                pushes,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_every_sentinel_the_master_and_its_credentials() {
        let url = SentinelUrl::parse(
            "redis+sentinel://app:s3cret@10.0.0.1:26379,10.0.0.2:26380/mymaster/2",
        )
        .unwrap();
        assert_eq!(
            url,
            SentinelUrl {
                sentinels: vec![
                    "redis://10.0.0.1:26379".to_owned(),
                    "redis://10.0.0.2:26380".to_owned()
                ],
                master: "mymaster".to_owned(),
                master_auth: "redis://app:s3cret@10.0.0.1:26379/2".to_owned(),
            }
        );
        let tls = SentinelUrl::parse("rediss+sentinel://h:1/m").unwrap();
        assert_eq!(tls.sentinels, ["rediss://h:1"]);
        assert_eq!(tls.master_auth, "rediss://h:1/0");
        for bad in [
            "redis+sentinel://h:1",
            "redis+sentinel:///m",
            "redis://h:1/m",
        ] {
            let err = SentinelUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("redis+sentinel://[user:password@]host:port"),
                "{bad}: {err}"
            );
        }
    }
}
