//! The write path's side of a near cache's change channel: a store whose
//! writes announce themselves hands each announcement to a task that sends
//! them in batches, instead of having the database's trigger send one per
//! row inside the writing transaction.
//!
//! Why: PostgreSQL serialises the commits of every transaction that sent a
//! `NOTIFY` (a lock held until the commit record is flushed), so a trigger
//! notifying each write makes every save wait out the commits before it,
//! one fsync at a time. A store with the cache on instead marks its inserts
//! and updates (they set the dialect's `ANNOUNCED` column; the trigger then
//! stays silent, see `postgres/notify.rs`) and passes the same message to
//! its [`Announcer`] once the write has committed. The announcer's task
//! (`postgres/announce.rs`) sends whatever has queued up as one statement
//! on a connection of its own, with `synchronous_commit` off: the
//! notifications are not data, so nothing waits for a flush.
//!
//! While the task has no working connection, [`Announcer::ready`] is
//! `false` and the store writes unmarked, so the trigger announces its
//! writes as before: a write is never left unannounced because the task is
//! down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// The sending side, held by the store (and by the feed, for its
/// heartbeats). `pub` only because the crate-private `Dialect` returns it;
/// nothing outside the crate can name it.
#[derive(Debug, Clone)]
pub struct Announcer {
    tx: UnboundedSender<String>,
    ready: Arc<AtomicBool>,
    /// Raised by the feed once the table has what the marked statements
    /// write (PostgreSQL: the `announced` column and the triggers).
    installed: Arc<AtomicBool>,
}

/// The task's side: the queued messages and the flag it raises while its
/// connection works.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct Queue {
    pub(crate) rx: UnboundedReceiver<String>,
    pub(crate) ready: Arc<AtomicBool>,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Announcer {
    /// An announcer whose task is not running yet (not ready), and the
    /// queue that task reads.
    pub(crate) fn new() -> (Self, Queue) {
        let (tx, rx) = unbounded_channel();
        let ready = Arc::new(AtomicBool::new(false));
        let queue = Queue {
            rx,
            ready: Arc::clone(&ready),
        };
        let installed = Arc::new(AtomicBool::new(false));
        (
            Self {
                tx,
                ready,
                installed,
            },
            queue,
        )
    }

    /// `true` once the table is set up for announced writes and while the
    /// task's connection works: a write may then leave its announcement to
    /// this announcer.
    pub(crate) fn ready(&self) -> bool {
        self.installed.load(Ordering::Acquire) && self.ready.load(Ordering::Acquire)
    }

    /// Says that the table is set up for announced writes (it stays so).
    pub(crate) fn installed(&self) {
        self.installed.store(true, Ordering::Release);
    }

    /// Queues a message for the channel (dropped if the task has ended).
    pub(crate) fn send(&self, message: String) {
        let _ = self.tx.send(message);
    }

    /// Announces that the row under `key` is now at `version` (the
    /// column's value) with expiry `expires_at` (ms): the message the
    /// trigger sends for an insert or update.
    pub(crate) fn written(&self, key: &str, version: i64, expires_at: i64) {
        self.send(write_message(key, version, expires_at));
    }
}

/// The payload of a write: `w <key> <version> <expires_at ms>`.
pub(crate) fn write_message(key: &str, version: i64, expires_at: i64) -> String {
    format!("w {key} {version} {expires_at}")
}
