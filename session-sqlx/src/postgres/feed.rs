//! The near cache's invalidation feed on PostgreSQL: a task that listens on
//! the table's channel (see `notify.rs`) and tells the cache what changed,
//! and a heartbeat that tells it whether it can trust what it hears.
//!
//! * A *reader* task owns a [`PgListener`] on a connection of its own (a
//!   one-connection pool with the store pool's connect options, so TLS and
//!   `application_name` carry over) and turns each change message into
//!   [`Invalidations::invalidate`] at once.
//! * A *supervisor* task installs the triggers if they are missing, starts the
//!   reader, and every [`HEARTBEAT`] sends `pg_notify(channel, 'p <feed>
//!   <n>')` through the store's announcer (`announce.rs`), or through the
//!   store's pool while the announcer has no connection. Its return on the
//!   listener proves that the channel is listening and lags less than
//!   [`LAG_BOUND`]: the first one after a start or a loss calls
//!   [`Invalidations::channel_up`]. A lost connection (the listener
//!   reconnects and says so) calls [`Invalidations::channel_down`] at once;
//!   so does a ping not back within [`LAG_BOUND`], and after [`MISSES`] such
//!   pings in a row the listener is replaced (a half-open connection never
//!   reports itself lost).
//!
//! Both tasks end once the cache is dropped ([`Invalidations::is_closed`]).

use std::time::Duration;

use session_core::near_cache::Invalidations;
use session_core::{Error, SessionId};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::notify::{channel, parse, Message, Trigger, ANNOUNCED};
use crate::announce::Announcer;
use crate::sql::Names;

/// How often the supervisor sends a ping (when none is outstanding).
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(250);

/// A ping not back within this long means the channel is lost or lagging:
/// the cache is flushed and bypassed until a ping comes back in time.
pub(crate) const LAG_BOUND: Duration = Duration::from_secs(1);

/// Pings missed in a row before the listener's connection is replaced.
const MISSES: u32 = 3;

/// The longest wait between attempts to (re)start the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The first wait after a failed start.
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// What the reader tells the supervisor.
#[derive(Debug)]
enum Event {
    /// One of this feed's pings is back.
    Pong(u64),
    /// The connection was lost (and re-established, listening again):
    /// messages may have been missed.
    Lost,
    /// The listener failed; the reader has ended.
    Failed(sqlx::Error),
}

/// What the feed needs, none of it holding the cache.
struct Feed {
    pool: PgPool,
    channel: String,
    trigger: Trigger,
    /// This feed's ID in its pings.
    id: String,
    invalidations: Invalidations,
    /// Sends the pings while its connection works (else the pool does).
    announcer: Announcer,
}

/// Starts the feed of the table `n` for the cache behind `invalidations`,
/// and the announcer of the store's own writes.
///
/// # Errors
///
/// [`Error::Config`] outside a tokio runtime.
pub(crate) fn spawn(
    pool: &PgPool,
    n: &Names,
    invalidations: Invalidations,
) -> Result<Announcer, Error> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::config(
            "near_cache",
            "the near cache's feed is a tokio task: build the store inside a tokio runtime",
        )
    })?;
    let channel = channel(n);
    let id: String = SessionId::generate().as_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (announcer, queue) = Announcer::new();
    super::announce::spawn(&runtime, pool, channel.clone(), queue);
    let feed = Feed {
        pool: pool.clone(),
        trigger: Trigger::new(n, &channel),
        channel,
        id,
        invalidations,
        announcer: announcer.clone(),
    };
    runtime.spawn(supervise(feed));
    Ok(announcer)
}

/// (Re)starts the listener until the cache is dropped, with a growing
/// pause after each failure.
async fn supervise(feed: Feed) {
    let mut backoff = MIN_BACKOFF;
    while !feed.invalidations.is_closed() {
        let started = Instant::now();
        match listen(&feed).await {
            Ok(listener) => watch(&feed, listener).await,
            Err(e) => tracing::warn!(
                channel = %feed.channel,
                error = %e,
                "session near cache: cannot listen for changes; the cache stays bypassed"
            ),
        }
        feed.invalidations.channel_down();
        if started.elapsed() > MAX_BACKOFF * 2 {
            backoff = MIN_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Installs the trigger if needed and returns a listener on the channel.
async fn listen(feed: &Feed) -> Result<PgListener, Error> {
    ensure_trigger(&feed.pool, &feed.trigger).await?;
    feed.announcer.installed();
    // A pool of its own, of one connection, with the store pool's options
    // (TLS, application_name, …): PgListener reconnects through it.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(LAG_BOUND * 5)
        .connect_lazy_with((*feed.pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own)
        .await
        .map_err(Error::backend)?;
    listener.eager_reconnect(true);
    listener
        .listen(&feed.channel)
        .await
        .map_err(Error::backend)?;
    Ok(listener)
}

/// Installs (or brings up to date) the near cache's column and triggers on
/// the table, under the lock `migrate` takes, unless they are already there
/// as this version writes them.
async fn ensure_trigger(pool: &PgPool, t: &Trigger) -> Result<(), Error> {
    let check = "SELECT (SELECT COUNT(*) FROM pg_trigger tr JOIN pg_proc p ON p.oid = tr.tgfoid \
                 WHERE tr.tgrelid = to_regclass($1) AND tr.tgname = ANY($2) \
                 AND tr.tgenabled <> 'D' AND p.prosrc = $3) \
                 + (SELECT COUNT(*) FROM pg_attribute WHERE attrelid = to_regclass($1) \
                 AND attname = $4 AND NOT attisdropped)";
    let found = sqlx::query_scalar::<_, i64>(check)
        .bind(&t.table)
        .bind(&t.names)
        .bind(&t.body)
        .bind(ANNOUNCED)
        .fetch_one(pool)
        .await
        .map_err(Error::backend)?;
    if usize::try_from(found).ok() == Some(t.names.len() + 1) {
        return Ok(());
    }
    let mut tx = pool.begin().await.map_err(Error::backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(&t.lock)
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?;
    for statement in &t.install {
        sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                crate::error::query_error(
                    e,
                    &t.table,
                    LAG_BOUND,
                    <sqlx::Postgres as crate::dialect::Dialect>::is_missing_table,
                )
            })?;
    }
    tx.commit().await.map_err(Error::backend)?;
    tracing::info!(table = %t.table, triggers = ?t.names, "installed the session near cache's triggers");
    Ok(())
}

/// Runs the reader and the heartbeat until the listener fails, misses
/// [`MISSES`] pings in a row, or the cache is dropped.
async fn watch(feed: &Feed, listener: PgListener) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read(
        listener,
        feed.invalidations.clone(),
        feed.id.clone(),
        tx,
    ));
    let _stop = AbortOnDrop(reader);
    let inv = &feed.invalidations;
    let mut up = false;
    let mut seq = 0_u64;
    let mut outstanding: Option<(u64, Instant)> = None;
    let mut misses = 0;
    let mut next_tick = Instant::now();
    loop {
        match tokio::time::timeout_at(next_tick, rx.recv()).await {
            Ok(Some(Event::Pong(n))) => {
                if outstanding.is_some_and(|(sent, _)| sent == n) {
                    outstanding = None;
                    misses = 0;
                    if !up {
                        inv.channel_up();
                        up = true;
                    }
                }
            }
            Ok(Some(Event::Lost)) => {
                tracing::warn!(channel = %feed.channel, "session near cache: the listener's connection was lost");
                inv.channel_down();
                up = false;
                outstanding = None;
            }
            Ok(Some(Event::Failed(e))) => {
                tracing::warn!(channel = %feed.channel, error = %e, "session near cache: the listener failed");
                return;
            }
            Ok(None) => return,
            Err(_tick) => {
                next_tick += HEARTBEAT;
                if inv.is_closed() {
                    return;
                }
                if let Some((_, sent)) = outstanding {
                    if sent.elapsed() < LAG_BOUND {
                        continue;
                    }
                    misses += 1;
                    if up {
                        tracing::warn!(channel = %feed.channel, bound = ?LAG_BOUND, "session near cache: a heartbeat is late; bypassing the cache");
                        inv.channel_down();
                        up = false;
                    }
                    if misses >= MISSES {
                        return;
                    }
                }
                seq += 1;
                outstanding = Some((seq, Instant::now()));
                let payload = format!("p {} {seq}", feed.id);
                if feed.announcer.ready() {
                    feed.announcer.send(payload);
                } else {
                    tokio::spawn(ping(feed.pool.clone(), feed.channel.clone(), payload));
                }
            }
        }
    }
}

/// Sends one ping; a failure shows as a ping that does not come back.
async fn ping(pool: PgPool, channel: String, payload: String) {
    let send = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(&pool);
    if let Ok(Err(e)) = tokio::time::timeout(LAG_BOUND, send).await {
        tracing::debug!(error = %e, "session near cache: heartbeat not sent");
    }
}

/// Receives the channel's messages: changes go to the cache at once,
/// this feed's pings and the connection's state to the supervisor.
async fn read(
    mut listener: PgListener,
    inv: Invalidations,
    id: String,
    tx: mpsc::UnboundedSender<Event>,
) {
    loop {
        let events = match listener.try_recv().await {
            // An announcer packs several messages into one payload.
            Ok(Some(note)) => note
                .payload()
                .split('\n')
                .filter_map(|message| apply(message, &inv, &id))
                .collect(),
            Ok(None) => vec![Event::Lost],
            Err(e) => {
                let _ = tx.send(Event::Failed(e));
                return;
            }
        };
        for event in events {
            if tx.send(event).is_err() {
                return;
            }
        }
    }
}

/// Applies one message to the cache; a ping of this feed (`id`) is an
/// event for the supervisor.
fn apply(message: &str, inv: &Invalidations, id: &str) -> Option<Event> {
    match parse(message) {
        Message::Write(key, stamp) => {
            inv.invalidate(key, Some(stamp));
            None
        }
        Message::Delete(key) => {
            inv.invalidate(key, None);
            None
        }
        Message::Flush | Message::Unknown => {
            inv.flush();
            None
        }
        Message::Ping(feed, n) => (feed == id).then_some(Event::Pong(n)),
    }
}

/// Stops the reader when the supervisor leaves `watch`.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
