//! One writer at a time per session, inside one process.
//!
//! Requests of one session that change it commit one after another: each
//! waits for its turn ([`Writers::turn`]), and one that loaded the session
//! before the previous writer saved it rebases its changes on what that
//! writer saved ([`Turn::rebase_on_last`]) instead of saving, conflicting,
//! sleeping in backoff and loading again. Versions still guard against
//! writers in other processes: their conflicts take the usual retry path.
//!
//! Under contention the queue commits in groups: a writer whose turn comes
//! while others wait behind it does not save; it hands its changes on in a
//! [`Batch`] ([`Turn::hand_on`]) and waits for the outcome, and the next
//! writer joins it (its changes on top). The last writer of the queue saves
//! for the whole batch, carrying every writer's changes (so that a conflict
//! with another process re-applies them all on the fresh record), and each
//! writer of the batch gets that save's outcome: one store round trip for
//! the whole queue instead of one each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::{watch, Mutex as AsyncMutex, OwnedMutexGuard};

use super::{Finish, Write};
use crate::merge::Changes;
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
    /// Writers that handed their turn on: their changes, folded, not saved
    /// yet.
    Pending(Batch),
}

/// The changes of writers that handed their turn on: the record with them
/// applied, not saved yet, and the changes themselves. The writer after
/// them joins the batch and saves it (with its own changes on top, and
/// theirs re-applied if the save conflicts), then tells them the outcome.
///
/// Dropped unsaved (the writer that took it over was cancelled before
/// saving, or nobody came), its writers hear [`Outcome::Unsaved`] and save
/// their own changes: nothing was written, so nothing is applied twice.
pub(crate) struct Batch {
    /// The record with the batch's changes: `version` is the stored
    /// version plus one.
    folded: Record,
    /// The batch's changes, for a save that conflicts.
    changes: Changes,
    /// Where its writers wait for the outcome.
    done: watch::Sender<Option<Outcome>>,
    /// How many writers handed their changes on in it.
    writers: usize,
}

/// The most writers in one batch: the next one saves it even if others
/// wait, so that a session written without pause still gets saved.
const MAX_WRITERS: usize = 64;

/// What became of a batch's save, for the writers that handed it on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Saved: the ID and expiry the cookie carries.
    Saved(SessionId, SystemTime),
    /// Not saved: the answer the writer that saved it got.
    Failed(Finish),
    /// Never saved (see [`Batch`]): each writer saves its own changes.
    Unsaved,
}

/// A writer that handed its turn on, waiting for its batch's outcome.
pub(crate) struct Member(watch::Receiver<Option<Outcome>>);

impl Member {
    /// Waits for the batch's save.
    pub(crate) async fn outcome(mut self) -> Outcome {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Outcome::Unsaved),
            Err(_) => Outcome::Unsaved,
        }
    }
}

impl Batch {
    /// The record a joining writer goes on top of: the batch's changes
    /// applied, at the stored version, so that its save checks that one.
    pub(crate) fn base(&self) -> Record {
        let mut base = self.folded.clone();
        base.version -= 1;
        base
    }

    /// The batch's changes, for the writer joining it.
    pub(crate) fn changes(&self) -> Changes {
        self.changes.clone()
    }

    /// `true` when the batch has all the writers it may carry: the writer
    /// that takes it saves it.
    pub(crate) fn is_full(&self) -> bool {
        self.writers >= MAX_WRITERS
    }

    /// The ID and expiry of the batch's record.
    pub(crate) fn written(&self) -> (SessionId, SystemTime) {
        (self.folded.id.clone(), self.folded.expires_at)
    }

    /// Tells the batch's writers what became of their changes.
    pub(crate) fn tell(self, outcome: Outcome) {
        // Nobody left to tell is fine.
        let _ = self.done.send(Some(outcome));
    }
}

/// A session's queue: its last writer's news, behind the lock that makes
/// one writer at a time, and how many writers wait for that lock.
#[derive(Clone, Default)]
struct Slot {
    last: Arc<AsyncMutex<Last>>,
    waiting: Arc<AtomicUsize>,
}

/// A writer waiting for its turn, counted in [`Slot::waiting`] until it
/// has it or gives up (its request cancelled).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The sessions that have writers in this process, each with its queue.
#[derive(Default)]
pub(crate) struct Writers {
    queues: Mutex<HashMap<SessionId, Slot>>,
}

/// A writer's turn: while it is held, no other request of this process
/// writes the session. Leaving the queue when dropped.
pub(crate) struct Turn {
    writers: Arc<Writers>,
    id: SessionId,
    slot: Option<Slot>,
    guard: Option<OwnedMutexGuard<Last>>,
}

impl Writers {
    /// Waits until no other request of this process writes session `id`.
    pub(crate) async fn turn(self: &Arc<Self>, id: &SessionId) -> Turn {
        let slot = {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            queues.entry(id.clone()).or_default().clone()
        };
        let waiting = Waiting::new(&slot.waiting);
        let guard = Arc::clone(&slot.last).lock_owned().await;
        drop(waiting);
        Turn {
            writers: Arc::clone(self),
            id: id.clone(),
            slot: Some(slot),
            guard: Some(guard),
        }
    }

    /// How many turns of `id` are held or waited for (for tests).
    #[cfg(test)]
    pub(super) fn queued(&self, id: &SessionId) -> usize {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        // The map holds the lock once, and each turn twice (slot and guard)
        // once it has its turn.
        queues
            .get(id)
            .map_or(0, |slot| Arc::strong_count(&slot.last) - 1)
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

impl Turn {
    /// The record the previous writer of this process saved, if it is newer
    /// than `loaded_version` (the version this request loaded): the
    /// request's changes must go on top of it.
    pub(crate) fn newer_than(&self, loaded_version: u64) -> Option<Record> {
        match self.guard.as_deref()? {
            Last::Saved(last) => (last.version > loaded_version).then(|| last.clone()),
            Last::Nothing | Last::Failed | Last::Pending(_) => None,
        }
    }

    /// `true` when the writer before this one failed on an unavailable
    /// store while this one waited.
    pub(crate) fn after_failure(&self) -> bool {
        matches!(self.guard.as_deref(), Some(Last::Failed))
    }

    /// Takes the batch the writers before this one handed on, if any: this
    /// writer saves it, with its own changes folded in or before its own
    /// write.
    pub(crate) fn take_batch(&mut self) -> Option<Batch> {
        let guard = self.guard.as_mut()?;
        match std::mem::take(&mut **guard) {
            Last::Pending(batch) => Some(batch),
            other => {
                **guard = other;
                None
            }
        }
    }

    /// `true` when other writers of the session wait behind this one.
    pub(crate) fn waiting(&self) -> bool {
        // Counted explicitly: a writer that just ended its turn still holds
        // the slot for a moment, and is not waiting.
        self.slot
            .as_ref()
            .is_some_and(|s| s.waiting.load(Ordering::SeqCst) > 0)
    }

    /// Hands this writer's turn on without saving: `folded` (this writer's
    /// save, the batch's changes included) and `changes` (the batch's and
    /// this writer's) become the batch the next writer saves, and the
    /// returned [`Member`] hears the outcome. The turn ends when it is
    /// dropped, which the caller does at once.
    pub(crate) fn hand_on(
        &mut self,
        folded: Record,
        changes: Changes,
        batch: Option<Batch>,
    ) -> Member {
        let batch = match batch {
            Some(mut batch) => {
                (batch.folded, batch.changes) = (folded, changes);
                batch.writers += 1;
                batch
            }
            None => Batch {
                folded,
                changes,
                done: watch::channel(None).0,
                writers: 1,
            },
        };
        let member = Member(batch.done.subscribe());
        if let Some(guard) = self.guard.as_mut() {
            **guard = Last::Pending(batch);
        }
        member
    }

    /// Gives back a batch taken with [`take_batch`](Self::take_batch) that
    /// this writer cannot save (its own changes failed): the next writer
    /// saves it, or, if none comes, each of its writers saves on its own.
    pub(crate) fn hand_back(&mut self, batch: Batch) {
        if let Some(guard) = self.guard.as_mut() {
            **guard = Last::Pending(batch);
        }
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
        let waiting = self.waiting();
        if let Some(guard) = self.guard.as_mut() {
            **guard = match record.filter(|_| waiting) {
                Some(record) => Last::Saved(record.clone()),
                None => Last::Nothing,
            };
        }
    }
}

impl Drop for Turn {
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
            if Arc::strong_count(&slot.last) == 2 {
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

    /// Waits until `n` holds on `id`'s queue (see [`Writers::queued`]).
    async fn until_queued(writers: &Writers, id: &SessionId, n: usize) {
        while writers.queued(id) < n {
            tokio::task::yield_now().await;
        }
    }

    fn save_at(id: &SessionId, version: u64) -> Record {
        let mut record = Record::new(
            id.clone(),
            Data::new(),
            SystemTime::now() + Duration::from_secs(60),
        );
        record.version = version;
        record
    }

    fn saved_at(id: &SessionId, version: u64) -> Write {
        Write::Save(save_at(id, version))
    }

    #[tokio::test]
    async fn a_handed_on_batch_is_taken_by_the_next_writer() {
        let writers = Arc::new(Writers::default());
        let id = SessionId::generate();
        let mut first = writers.turn(&id).await;
        let next = {
            let (writers, id) = (Arc::clone(&writers), id.clone());
            tokio::spawn(async move {
                let mut turn = writers.turn(&id).await;
                let batch = turn.take_batch().expect("a batch was handed on");
                let version = (batch.base().version, batch.folded.version);
                batch.tell(Outcome::Saved(id, SystemTime::UNIX_EPOCH));
                version
            })
        };
        until_queued(&writers, &id, 3).await;
        assert!(first.waiting());
        let member = first.hand_on(save_at(&id, 8), Changes::default(), None);
        drop(first);
        // The base is at the stored version: the next save checks it.
        assert_eq!(next.await.unwrap(), (7, 8));
        assert_eq!(
            member.outcome().await,
            Outcome::Saved(id, SystemTime::UNIX_EPOCH)
        );
    }

    #[tokio::test]
    async fn a_batch_is_full_at_its_writer_cap() {
        let writers = Arc::new(Writers::default());
        let id = SessionId::generate();
        let mut turn = writers.turn(&id).await;
        let mut batch = None;
        for n in 1..=MAX_WRITERS {
            let _member = turn.hand_on(save_at(&id, 2), Changes::default(), batch.take());
            let taken = turn.take_batch().expect("the batch just handed on");
            assert_eq!(taken.is_full(), n == MAX_WRITERS, "{n} writers");
            batch = Some(taken);
        }
    }

    #[tokio::test]
    async fn a_batch_nobody_saves_tells_its_writers_so() {
        let writers = Arc::new(Writers::default());
        let id = SessionId::generate();
        let mut turn = writers.turn(&id).await;
        let member = turn.hand_on(save_at(&id, 2), Changes::default(), None);
        // Nobody waits: the queue goes, and the batch with it.
        drop(turn);
        assert_eq!(writers.len(), 0);
        assert_eq!(member.outcome().await, Outcome::Unsaved);
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
        while writers.queued(&id) < 4 {
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
        while writers.queued(&id) < 4 {
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
