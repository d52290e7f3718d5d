//! One writer at a time per session, inside one process.
//!
//! Requests of one session that change it commit one after another: each
//! waits for its turn ([`Writers::turn`]), and one that loaded the session
//! before the previous writer saved it rebases its changes on what that
//! writer saved ([`Turn::rebase_on_last`]) instead of saving, conflicting,
//! sleeping in backoff and loading again. Versions still guard against
//! writers in other processes: their conflicts take the usual retry path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::Write;
use crate::{Record, SessionId};

/// What a session's queue remembers of its last writer, kept only while
/// others wait for their turn.
#[derive(Default)]
enum Last {
    #[default]
    Nothing,
    /// The record it saved.
    Saved(Record),
    /// Its write failed on an unavailable store: the writers queued behind
    /// it answer 503 at once instead of each waiting out the store's
    /// deadline in turn (which would stack the deadlines).
    Failed,
}

type Slot = Arc<AsyncMutex<Last>>;

/// The sessions that have writers in this process, each with its queue.
#[derive(Default)]
pub(crate) struct Writers {
    queues: Mutex<HashMap<SessionId, Slot>>,
}

/// A writer's turn: while it is held, no other request of this process
/// writes the session. Leaving the queue when dropped.
pub(crate) struct Turn<'a> {
    writers: &'a Writers,
    id: SessionId,
    slot: Option<Slot>,
    guard: Option<OwnedMutexGuard<Last>>,
}

impl Writers {
    /// Waits until no other request of this process writes session `id`.
    pub(crate) async fn turn(&self, id: &SessionId) -> Turn<'_> {
        let slot = {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(queues.entry(id.clone()).or_default())
        };
        let guard = Arc::clone(&slot).lock_owned().await;
        Turn {
            writers: self,
            id: id.clone(),
            slot: Some(slot),
            guard: Some(guard),
        }
    }

    /// Sessions with a queue (for tests: none is left behind).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Turn<'_> {
    /// The record the previous writer of this process saved, if it is newer
    /// than `loaded_version` (the version this request loaded): the
    /// request's changes must go on top of it.
    pub(crate) fn newer_than(&self, loaded_version: u64) -> Option<Record> {
        match self.guard.as_deref()? {
            Last::Saved(last) => (last.version > loaded_version).then(|| last.clone()),
            Last::Nothing | Last::Failed => None,
        }
    }

    /// `true` when the writer before this one failed on an unavailable
    /// store while this one waited.
    pub(crate) fn after_failure(&self) -> bool {
        matches!(self.guard.as_deref(), Some(Last::Failed))
    }

    /// Tells the writers waiting behind this one that the store failed.
    pub(crate) fn failed(&mut self) {
        if let Some(guard) = self.guard.as_mut() {
            **guard = Last::Failed;
        }
    }

    /// The session this turn is for.
    pub(crate) fn id(&self) -> &SessionId {
        &self.id
    }

    /// Remembers what `write` just wrote, for the writers waiting behind
    /// this one (a copy only when someone waits, and only of this session
    /// saved: after anything else they load as usual).
    pub(crate) fn saved(&mut self, write: &Write) {
        let record = match write {
            Write::Save(record) if record.id == self.id => Some(record),
            _ => None,
        };
        // The map, this turn and its guard hold the slot; anyone else waits.
        let waiting = self.slot.as_ref().is_some_and(|s| Arc::strong_count(s) > 3);
        if let Some(guard) = self.guard.as_mut() {
            **guard = match record.filter(|_| waiting) {
                Some(record) => Last::Saved(record.clone()),
                None => Last::Nothing,
            };
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Release the session first, then leave the queue; under the map's
        // lock, a count of 2 (the map and this turn) means nobody waits.
        drop(self.guard.take());
        let mut queues = self
            .writers
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = self.slot.take() {
            if Arc::strong_count(&slot) == 2 {
                queues.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::Data;

    fn saved_at(id: &SessionId, version: u64) -> Write {
        let mut record = Record::new(
            id.clone(),
            Data::new(),
            SystemTime::now() + Duration::from_secs(60),
        );
        record.version = version;
        Write::Save(record)
    }

    #[tokio::test]
    async fn one_writer_at_a_time_and_no_queue_left_behind() {
        let writers = Arc::new(Writers::default());
        let id = SessionId::generate();
        let first = writers.turn(&id).await;
        let second_has_it = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (writers, id, flag) =
                (Arc::clone(&writers), id.clone(), Arc::clone(&second_has_it));
            tokio::spawn(async move {
                let _turn = writers.turn(&id).await;
                flag.store(true, Ordering::SeqCst);
            })
        };
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!second_has_it.load(Ordering::SeqCst), "two writers at once");
        // Another session is not held up.
        drop(writers.turn(&SessionId::generate()).await);
        drop(first);
        waiter.await.unwrap();
        assert!(second_has_it.load(Ordering::SeqCst));
        assert_eq!(writers.len(), 0, "a queue outlived its writers");
    }

    #[tokio::test]
    async fn the_next_writer_gets_what_the_previous_saved_if_newer() {
        let writers = Arc::new(Writers::default());
        let id = SessionId::generate();
        let mut first = writers.turn(&id).await;
        let waiter = {
            let (writers, id) = (Arc::clone(&writers), id.clone());
            tokio::spawn(async move {
                let turn = writers.turn(&id).await;
                (
                    turn.newer_than(1).map(|r| r.version),
                    turn.newer_than(2).is_some(),
                )
            })
        };
        // Saved while someone waits: kept for the waiter.
        while Arc::strong_count(&writers.queues.lock().unwrap()[&id]) < 5 {
            tokio::task::yield_now().await;
        }
        first.saved(&saved_at(&id, 2));
        drop(first);
        assert_eq!(waiter.await.unwrap(), (Some(2), false));
        // Saved with nobody waiting: nothing kept.
        let mut alone = writers.turn(&id).await;
        alone.saved(&saved_at(&id, 3));
        drop(alone);
        assert!(writers.turn(&id).await.newer_than(0).is_none());
    }

    #[tokio::test]
    async fn a_failure_reaches_the_writers_queued_behind_it() {
        let writers = Arc::new(Writers::default());
        let id = SessionId::generate();
        let mut first = writers.turn(&id).await;
        let waiter = {
            let (writers, id) = (Arc::clone(&writers), id.clone());
            tokio::spawn(async move { writers.turn(&id).await.after_failure() })
        };
        while Arc::strong_count(&writers.queues.lock().unwrap()[&id]) < 5 {
            tokio::task::yield_now().await;
        }
        first.failed();
        drop(first);
        assert!(
            waiter.await.unwrap(),
            "the waiter did not hear of the failure"
        );
        // A writer arriving once the queue is gone starts afresh.
        assert!(!writers.turn(&id).await.after_failure());
    }
}
