//! Saves gathered into one statement: a store whose dialect can update many
//! rows from arrays in one `UPDATE` (PostgreSQL) hands each save to a task
//! that sends whatever saves have queued up meanwhile as one statement.
//!
//! Why: the database's work per statement (parse, plan, the transaction,
//! its commit, the round trip) is most of what a one-row `UPDATE` costs.
//! While one batch is on its way the next gathers, so under load a batch
//! carries every save that arrived during the previous one, and when saves
//! are few each goes alone, as soon as it comes. Every row keeps its own
//! version check: a batch reports each save saved or not, and a save not
//! saved is told apart (conflict or vanished) by the store as before.
//!
//! A batch the database refused as a whole (an error, not a failed check)
//! changed nothing, being one statement: its saves are then made one by
//! one, so that each gets its own answer and error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::row::Columns;

/// Waits for the first item if `batch` is empty, then adds whatever else
/// is queued, up to `max` items: the batch the task sends next. `false`
/// when the queue is closed (every sender dropped) and nothing came.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) async fn gather<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    batch: &mut Vec<T>,
    max: usize,
) -> bool {
    if batch.is_empty() {
        match rx.recv().await {
            Some(item) => batch.push(item),
            None => return false,
        }
    }
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    true
}

/// The sending side, held by the store. `pub` only because the
/// crate-private `Dialect` returns it; nothing outside the crate can name it.
#[derive(Debug, Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
    /// Statements sent, and saves in them (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    sent: Arc<[AtomicU64; 2]>,
}

/// The task's side: the queued saves, and where it counts what it sent.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct Queue {
    pub(crate) jobs: mpsc::UnboundedReceiver<Job>,
    sent: Arc<[AtomicU64; 2]>,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Queue {
    /// Counts a statement that carried `saves` saves.
    pub(crate) fn sent(&self, saves: usize) {
        self.sent[0].fetch_add(1, Ordering::Relaxed);
        self.sent[1].fetch_add(saves as u64, Ordering::Relaxed);
    }
}

/// One save waiting for its batch.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct Job {
    /// The row to write.
    pub(crate) columns: Columns,
    /// The version the row must have.
    pub(crate) expected: i64,
    /// Write the announced column too (see `announce.rs`).
    pub(crate) marked: bool,
    /// Where the outcome goes.
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// What became of one save in its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) enum Outcome {
    /// Written.
    Saved,
    /// The row was not at the expected version, or not live.
    NotSaved,
    /// The batch failed as a whole, or its task is gone: nothing was
    /// written; make this save alone.
    Alone,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Batcher {
    /// A batcher and the queue its task reads.
    pub(crate) fn new() -> (Self, Queue) {
        let (tx, jobs) = mpsc::unbounded_channel();
        let sent = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let queue = Queue {
            jobs,
            sent: Arc::clone(&sent),
        };
        (Self { tx, sent }, queue)
    }

    /// Statements sent so far, and the saves they carried.
    #[cfg(test)]
    pub(crate) fn sent(&self) -> (u64, u64) {
        let [statements, saves] = &*self.sent;
        (
            statements.load(Ordering::Relaxed),
            saves.load(Ordering::Relaxed),
        )
    }

    /// Saves `columns` in the next batch, if the row is at version
    /// `expected`.
    pub(crate) async fn save(&self, columns: Columns, expected: i64, marked: bool) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            columns,
            expected,
            marked,
            reply,
        };
        if self.tx.send(job).is_err() {
            return Outcome::Alone;
        }
        // The task gone (its runtime stopped) wrote nothing.
        outcome.await.unwrap_or(Outcome::Alone)
    }
}
