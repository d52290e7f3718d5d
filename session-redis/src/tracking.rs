//! The near cache's invalidation feed: Redis server-assisted client-side
//! caching (`CLIENT TRACKING`, RESP3) on the store's own data connection.
//!
//! The feed enables `CLIENT TRACKING ON BCAST PREFIX <key prefix> NOLOOP`
//! on the connection the store's commands go to. From then on Redis pushes
//! an `invalidate` message to it for every key under the prefix that any
//! *other* connection changes (a write, a delete, a change inside a Lua
//! script, an expiry, an eviction; `FLUSHALL`/`FLUSHDB` as a nil key list).
//! This process's own writes go over the same connection, so `NOLOOP`
//! leaves them out: the cache updates itself for those. Except that Redis
//! 7.0 does report the keys this connection's own Lua scripts changed (the
//! save script), right after the script's reply: for a key whose cached
//! record this process wrote (or is writing), the feed reads the record's
//! version and expiry back (`GETRANGE` of the envelope's header, in one
//! pipeline per batch of invalidations) and keeps the entry if it is that
//! new, instead of dropping it, so a read-modify-write still finds its
//! record cached.
//!
//! BCAST rather than the default tracking mode because the default mode
//! only reports keys this connection *read*, and the cache also holds the
//! records this process wrote without reading them back.
//!
//! The channel is down (the cache flushed and bypassed) from the moment the
//! driver reports the connection closed (its `Disconnection` push), or a
//! heartbeat finds that the store's commands no longer reach the tracked
//! connection (a new `CLIENT ID`, an error, no answer within the command
//! timeout), until tracking answered `OK` on the current connection again.
//!
//! On a Redis Cluster the store's connection is one connection per node,
//! and the same holds per primary: tracking is enabled on each primary's
//! connection (the same three commands, pipelined to that node by address),
//! the driver passes every node's pushes on one channel, and the heartbeat
//! sends `CLIENT ID` to all primaries: a different set of (address, id)
//! pairs (a node's connection replaced, a primary added or gone after a
//! failover or resharding) takes the channel down, and tracking is enabled
//! again on all of them. A session's keys live in one slot, on one node,
//! so the ordering arguments above hold per node. The store reads from
//! primaries only (no replica reads), so tracking primaries is enough.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{PushInfo, PushKind, Value};
use session_core::codec;
use session_core::near_cache::{Invalidations, Stamp};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::store::Conn;

/// How often the feed checks that the store's commands still reach the
/// tracked connection. Bounds how long a connection that died without the
/// driver noticing (or a switch to a new connection the driver did not
/// report) goes unnoticed, on top of the command timeout.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// The first wait between attempts to enable tracking; it doubles.
const RETRY_MIN: Duration = Duration::from_millis(10);
/// The cap on the wait between attempts to enable tracking.
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The connections tracking is on: (node address, `CLIENT ID`) pairs,
/// sorted by address; one pair with an empty address for a standalone
/// Redis or Sentinel master, one per primary for a Cluster.
pub(crate) type Connections = Vec<(String, u64)>;

/// The connections tracking is on now (empty: none).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackedId(Arc<Mutex<Connections>>);

impl TrackedId {
    /// The first connection's id, if tracking is on now.
    pub(crate) fn get(&self) -> Option<u64> {
        self.all().first().map(|&(_, id)| id)
    }

    /// Every tracked connection, if tracking is on now.
    pub(crate) fn all(&self) -> Connections {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, connections: Connections) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = connections;
    }
}

/// The feed: the store's connection, the driver's push messages for it and
/// the cache's handle.
pub(crate) struct Feed {
    pub(crate) conn: Conn,
    pub(crate) pushes: UnboundedReceiver<PushInfo>,
    pub(crate) invalidations: Invalidations,
    pub(crate) prefix: Arc<str>,
    pub(crate) command_timeout: Duration,
    pub(crate) tracked: TrackedId,
}

/// Why listening stopped.
enum Stop {
    /// The channel is lost: flush, bypass, enable again.
    Down,
    /// The cache is gone (or the driver's push channel closed): end the task.
    Closed,
}

impl Feed {
    /// Runs the feed on the current Tokio runtime until the cache is dropped.
    pub(crate) fn spawn(self) {
        tokio::spawn(self.run());
    }

    async fn run(mut self) {
        loop {
            let Some(connections) = self.enable().await else {
                return;
            };
            self.tracked.set(connections.clone());
            self.invalidations.channel_up();
            let stop = self.listen(connections).await;
            self.tracked.set(Vec::new());
            self.invalidations.channel_down();
            if matches!(stop, Stop::Closed) {
                return;
            }
        }
    }

    /// Enables tracking on the connection the store's commands go to now,
    /// retrying with backoff; the connections' `CLIENT ID`s, or `None`
    /// once the cache is gone.
    async fn enable(&mut self) -> Option<Connections> {
        let mut wait = RETRY_MIN;
        loop {
            if self.invalidations.is_closed() {
                return None;
            }
            // Whatever was pushed before this attempt is about a connection
            // or a tracking session that is over; channel_up flushes anyway.
            while self.pushes.try_recv().is_ok() {}
            let attempt = match &self.conn {
                Conn::Cluster(cluster) => self.track_cluster(cluster.clone()).await,
                _ => self.track().await.map(|id| vec![(String::new(), id)]),
            };
            match attempt {
                Ok(connections) => return Some(connections),
                Err(e) => {
                    tracing::debug!(error = %e, "enabling Redis client tracking failed; retrying")
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    /// One attempt: `CLIENT TRACKING OFF` (a re-enable with the same prefix
    /// on a connection that still tracks would be refused as overlapping),
    /// `CLIENT TRACKING ON BCAST PREFIX <prefix> NOLOOP` and `CLIENT ID`, in
    /// one pipeline, so all three reach the same connection.
    async fn track(&self) -> Result<u64, String> {
        let mut conn = self.conn.clone();
        let pipe = self.tracking_pipeline();
        let call = pipe.query_async::<(Value, Value, u64)>(&mut conn);
        match tokio::time::timeout(self.command_timeout, call).await {
            Ok(Ok((_, Value::Okay, id))) => Ok(id),
            Ok(Ok((_, other, _))) => Err(format!("CLIENT TRACKING answered {other:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_elapsed) => Err(format!("no answer within {:?}", self.command_timeout)),
        }
    }

    /// `CLIENT TRACKING OFF`, `CLIENT TRACKING ON BCAST PREFIX <prefix>
    /// NOLOOP`, `CLIENT ID`.
    fn tracking_pipeline(&self) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.cmd("CLIENT").arg("TRACKING").arg("OFF");
        pipe.cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(&*self.prefix)
            .arg("NOLOOP");
        pipe.cmd("CLIENT").arg("ID");
        pipe
    }

    /// [`track`](Self::track) on a Cluster: the primaries (from `CLIENT ID`
    /// sent to all of them), then the same pipeline to each primary's
    /// connection by address, so its three commands reach one connection.
    /// A primary that appears meanwhile is found by the next heartbeat.
    async fn track_cluster(&self, mut conn: ClusterConnection) -> Result<Connections, String> {
        let attempt = async {
            let primaries = primary_ids(&mut conn).await?;
            let mut connections = Vec::with_capacity(primaries.len());
            for (address, _) in primaries {
                let (host, port) = address
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
                    .ok_or_else(|| format!("unexpected node address {address:?}"))?;
                let route = SingleNodeRoutingInfo::ByAddress { host, port };
                let values = conn
                    .route_pipeline(self.tracking_pipeline(), 0, 3, route)
                    .await
                    .map_err(|e| format!("{address}: {e}"))?;
                match values.as_slice() {
                    [_, Value::Okay, Value::Int(id)] => {
                        let id = u64::try_from(*id).map_err(|e| e.to_string())?;
                        connections.push((address, id));
                    }
                    other => return Err(format!("{address}: CLIENT TRACKING answered {other:?}")),
                }
            }
            connections.sort();
            Ok(connections)
        };
        match tokio::time::timeout(self.command_timeout, attempt).await {
            Ok(result) => result,
            Err(_elapsed) => Err(format!("no answer within {:?}", self.command_timeout)),
        }
    }

    /// Applies pushes until the channel is lost or the cache is gone.
    async fn listen(&mut self, connections: Connections) -> Stop {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut beat: Option<JoinHandle<bool>> = None;
        loop {
            tokio::select! {
                push = self.pushes.recv() => match push {
                    None => return Stop::Closed,
                    Some(push) => {
                        let mut echoes = Vec::new();
                        if !self.apply(push, &mut echoes) {
                            return Stop::Down;
                        }
                        // The rest of the batch, so one pipeline checks it.
                        while let Ok(push) = self.pushes.try_recv() {
                            if !self.apply(push, &mut echoes) {
                                return Stop::Down;
                            }
                        }
                        if !echoes.is_empty() {
                            self.check_stamps(echoes).await;
                        }
                    }
                },
                alive = joined(&mut beat), if beat.is_some() => {
                    beat = None;
                    if !alive {
                        tracing::warn!("Redis client tracking lost (heartbeat failed or the connection changed)");
                        return Stop::Down;
                    }
                }
                _ = tick.tick(), if beat.is_none() => {
                    if self.invalidations.is_closed() {
                        return Stop::Closed;
                    }
                    beat = Some(tokio::spawn(heartbeat(self.conn.clone(), self.command_timeout, connections.clone())));
                }
            }
        }
    }

    /// Applies one push; `false` when it says the connection is gone. Keys
    /// whose cached record this process wrote go to `echoes` instead, for
    /// [`check_stamps`](Self::check_stamps).
    fn apply(&self, push: PushInfo, echoes: &mut Vec<String>) -> bool {
        match push.kind {
            PushKind::Invalidate => {
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            let Some(storage_key) = self.storage_key(key) else {
                                continue;
                            };
                            if self.invalidations.needs_stamp(storage_key) {
                                echoes.push(storage_key.to_owned());
                            } else {
                                self.invalidations.invalidate(storage_key, None);
                            }
                        }
                    }
                    // FLUSHALL / FLUSHDB: no key list.
                    Some(Value::Nil) | None => self.invalidations.flush(),
                    Some(_) => {}
                }
                true
            }
            PushKind::Disconnection => {
                tracing::warn!("Redis connection lost: near cache bypassed until tracking is back");
                false
            }
            _ => true,
        }
    }

    /// Reads the version and expiry of the records under `storage_keys`
    /// (one pipeline of `GETRANGE key 0 16`: the format byte, expiry and
    /// version of the envelope) and invalidates each with them: a cached
    /// record this process wrote that is as new stays. A key that is gone
    /// or unreadable, or a pipeline that fails, drops the entries.
    ///
    /// On a Cluster the keys of a batch live on different nodes, so each
    /// `GETRANGE` goes on its own (concurrently), to its key's node: the
    /// connection the invalidation came from.
    async fn check_stamps(&self, storage_keys: Vec<String>) {
        let getrange = |key: &str| {
            let mut cmd = redis::cmd("GETRANGE");
            cmd.arg(format!("{}{key}", self.prefix))
                .arg(0)
                .arg(codec::VERSION_OFFSET + 7);
            cmd
        };
        let heads = match &self.conn {
            Conn::Cluster(_) => {
                let reads: Vec<_> = storage_keys
                    .iter()
                    .map(|key| {
                        let (cmd, mut conn) = (getrange(key), self.conn.clone());
                        let timeout = self.command_timeout;
                        tokio::spawn(async move {
                            tokio::time::timeout(timeout, cmd.query_async::<Vec<u8>>(&mut conn))
                                .await
                                .ok()
                                .and_then(Result::ok)
                        })
                    })
                    .collect();
                let mut heads = Vec::with_capacity(reads.len());
                for read in reads {
                    heads.push(read.await.ok().flatten().unwrap_or_default());
                }
                heads
            }
            _ => {
                let mut pipe = redis::pipe();
                for key in &storage_keys {
                    pipe.add_command(getrange(key));
                }
                let mut conn = self.conn.clone();
                let call = pipe.query_async::<Vec<Vec<u8>>>(&mut conn);
                match tokio::time::timeout(self.command_timeout, call).await {
                    Ok(Ok(heads)) if heads.len() == storage_keys.len() => heads,
                    _ => Vec::new(),
                }
            }
        };
        for (i, key) in storage_keys.iter().enumerate() {
            let stamp = heads.get(i).and_then(|head| {
                Some(Stamp {
                    version: codec::read_version(head)?,
                    expires_at_ms: codec::read_expiry(head)?,
                })
            });
            self.invalidations.invalidate(key, stamp);
        }
    }

    /// The storage key in an invalidated Redis key, if it is a record's
    /// key (the user indexes share the prefix and are skipped).
    fn storage_key<'a>(&self, key: &'a Value) -> Option<&'a str> {
        let bytes = match key {
            Value::BulkString(bytes) => bytes.as_slice(),
            Value::SimpleString(s) => s.as_bytes(),
            _ => return None,
        };
        let rest = bytes.strip_prefix(self.prefix.as_bytes())?;
        let rest = std::str::from_utf8(rest).ok()?;
        (!rest.contains(':')).then_some(rest)
    }
}

/// The heartbeat task's verdict, or `false` if it could not finish.
async fn joined(beat: &mut Option<JoinHandle<bool>>) -> bool {
    match beat {
        Some(handle) => handle.await.unwrap_or(false),
        None => std::future::pending().await,
    }
}

/// `true` when the store's commands still reach the tracked connections
/// and they answer within `timeout`: the same `CLIENT ID`; on a Cluster,
/// the same primaries with the same ids.
async fn heartbeat(mut conn: Conn, timeout: Duration, tracked: Connections) -> bool {
    let now = async {
        match &mut conn {
            Conn::Cluster(cluster) => primary_ids(cluster).await,
            _ => {
                let mut cmd = redis::cmd("CLIENT");
                cmd.arg("ID");
                let id = cmd.query_async::<u64>(&mut conn).await;
                id.map(|id| vec![(String::new(), id)])
                    .map_err(|e| e.to_string())
            }
        }
    };
    matches!(tokio::time::timeout(timeout, now).await, Ok(Ok(now)) if now == tracked)
}

/// `CLIENT ID` of every primary's connection, sorted by address.
async fn primary_ids(conn: &mut ClusterConnection) -> Result<Connections, String> {
    let mut cmd = redis::cmd("CLIENT");
    cmd.arg("ID");
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let answers = match conn.route_command(cmd, routing).await {
        Ok(Value::Map(answers)) => answers,
        Ok(other) => return Err(format!("CLIENT ID to all primaries answered {other:?}")),
        Err(e) => return Err(e.to_string()),
    };
    let mut ids = answers
        .into_iter()
        .map(|answer| match answer {
            (Value::BulkString(address), Value::Int(id)) => Ok((
                String::from_utf8(address).map_err(|e| e.to_string())?,
                u64::try_from(id).map_err(|e| e.to_string())?,
            )),
            other => Err(format!("CLIENT ID answered {other:?}")),
        })
        .collect::<Result<Connections, String>>()?;
    if ids.is_empty() {
        return Err("no primary answered CLIENT ID".to_owned());
    }
    ids.sort();
    Ok(ids)
}
