//! The task that sends a near-cached store's own write announcements (see
//! `announce.rs` at the crate's root for why they are not the trigger's).
//!
//! It holds a connection of its own, opened with the pool's connect options
//! plus `synchronous_commit=off`, and sends everything queued since its last
//! statement as one `SELECT pg_notify(channel, m) FROM unnest(payloads)`,
//! the messages packed one per line into as few payloads as fit: under
//! load, one notification carries the announcements of many writes, so
//! each listener receives one message per batch, not per write.
//!
//! A failed or late statement drops the connection and lowers
//! [`Announcer::ready`](crate::announce::Announcer::ready) (the store's
//! writes fall back to the trigger). The announcements that failed may
//! never have reached anyone, so the first statement on the next
//! connection is a flush (`f`), which empties every process's cache of the
//! table, instead of the lost batch.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::Connection;

use super::notify::pack;
use crate::announce::Queue;
use crate::batch::gather;

/// The most announcements in one statement.
const MAX_BATCH: usize = 512;

/// A statement (or a connect) not done within this long has failed.
const DEADLINE: Duration = super::feed::LAG_BOUND;

/// The first pause after a failed connect, doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// The longest pause between connects.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Starts the task on the current runtime; it ends once every
/// [`Announcer`](crate::announce::Announcer) of `queue` is dropped.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    pool: &PgPool,
    channel: String,
    queue: Queue,
) {
    let options = (*pool.connect_options())
        .clone()
        .options([("synchronous_commit", "off")]);
    runtime.spawn(run(options, channel, queue));
}

/// Connects, sends, and reconnects after a failure, until the queue closes.
async fn run(options: PgConnectOptions, channel: String, mut queue: Queue) {
    use std::sync::atomic::Ordering;

    let mut batch: Vec<String> = Vec::new();
    let mut backoff = MIN_BACKOFF;
    // Set by a failure: every connect but the first follows one.
    let mut lost = false;
    loop {
        let connect = tokio::time::timeout(DEADLINE, PgConnection::connect_with(&options)).await;
        let mut conn = match connect {
            Ok(Ok(conn)) => conn,
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::debug!(error = %e, "session near cache: the announcer cannot connect");
                }
                if queue.rx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        if lost {
            batch.clear();
            batch.push("f".to_owned());
        }
        queue.ready.store(true, Ordering::Release);
        loop {
            if !gather(&mut queue.rx, &mut batch, MAX_BATCH).await {
                return;
            }
            let sent = tokio::time::timeout(DEADLINE, send(&mut conn, &channel, &batch)).await;
            let why = match sent {
                Ok(Ok(())) => {
                    batch.clear();
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("not done within {DEADLINE:?}"),
            };
            queue.ready.store(false, Ordering::Release);
            lost = true;
            tracing::warn!(
                error = %why,
                "session near cache: announcements not sent; reconnecting, then flushing \
                 every cache of the table"
            );
            break;
        }
    }
}

/// One statement: every message of `batch` on `channel`, packed into as
/// few notifications as the payload limit allows.
async fn send(conn: &mut PgConnection, channel: &str, batch: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m")
        .bind(channel)
        .bind(pack(batch))
        .execute(conn)
        .await
        .map(drop)
}
