//! The optional background task that removes expired records.

use std::time::{Duration, Instant};

use session_core::SessionStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Controls a background cleanup task started by a store's `spawn_cleanup`.
///
/// The task runs `delete_expired` once per interval, the first time one
/// interval after it starts, and logs failures with `tracing` (a failed run
/// is retried at the next interval). Dropping the handle stops the task
/// after its current run; [`shutdown`](Self::shutdown) does the same and
/// waits for it.
#[derive(Debug)]
#[must_use = "dropping the handle stops the cleanup task"]
pub struct CleanupHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl CleanupHandle {
    /// Stops the task and waits until it has ended. A run in progress is
    /// finished first (it deletes in batches of
    /// [`DELETE_BATCH`](crate::DELETE_BATCH) rows, each bounded by the
    /// store's timeout, so this is short even when the database is
    /// unreachable).
    pub async fn shutdown(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!("the session cleanup task panicked");
                }
            }
        }
    }

    /// `true` once the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for CleanupHandle {
    fn drop(&mut self) {
        // Dropping the sender wakes the task, which ends after its current run.
        self.stop.take();
    }
}

/// Spawns the cleanup loop for `store`. A zero interval is taken as 1 ms.
pub(crate) fn spawn<S: SessionStore>(store: S, interval: Duration) -> CleanupHandle {
    let interval = interval.max(Duration::from_millis(1));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                _ = ticks.tick() => {}
            }
            let started = Instant::now();
            match store.delete_expired().await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(
                    removed,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "removed expired sessions"
                ),
                Err(e) => tracing::warn!(
                    error = %session_core::error_chain(&e),
                    "session cleanup failed; retrying at the next interval"
                ),
            }
        }
    });
    CleanupHandle {
        stop: Some(stop),
        task: Some(task),
    }
}
