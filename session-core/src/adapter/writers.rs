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
//! while others wait behind it does not save; it folds its changes into a
//! [`Batch`] ([`Turn::hand_on`]) and waits for the outcome, and the next
//! one folds its own on top. The last writer of the queue saves the folded
//! record once ([`Batch::save`]) and every writer of the batch gets that
//! save's outcome: one store round trip for the whole queue instead of one
//! each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::{watch, Mutex as AsyncMutex, OwnedMutexGuard};

use super::Write;
use crate::{Error, Record, SessionId, SessionStore};

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

/// The changes of writers that handed their turn on, folded into one record
/// that the writer after them saves (with its own changes on top, or before
/// its own write when that is not a plain save).
///
/// Dropped unsaved (the writer that took it over was cancelled, or nobody
/// came), its writers hear nothing and save on their own
/// ([`Outcome::Unsaved`]): nothing was written, so nothing is applied twice.
pub(crate) struct Batch {
    /// The folded record: `version` is the stored version plus one.
    record: Record,
    /// Where its writers wait for the outcome.
    done: watch::Sender<Option<Outcome>>,
}

/// What became of a batch's save, for the writers folded into it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Saved: the ID and expiry the cookie carries.
    Saved(SessionId, SystemTime),
    /// Another process saved the session first: each writer retries on its
    /// own (reload, re-apply its changes, save).
    Conflict,
    /// The session ended meanwhile.
    Vanished,
    /// The store was unavailable (logged by the writer that saved).
    Unavailable,
    /// The store failed otherwise (logged by the writer that saved).
    Failed,
    /// Never saved (see [`Batch`]): each writer saves on its own.
    Unsaved,
}

/// A writer folded into a batch, waiting for its outcome.
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
    /// The folded record as the base a writer re-applies its changes on:
    /// at the stored version, so that its save checks that one.
    pub(crate) fn base(&self) -> Record {
        let mut base = self.record.clone();
        base.version -= 1;
        base
    }

    /// Saves `record` (the folded changes plus the saving writer's own,
    /// or `None` to save the batch as folded) and tells every writer of
    /// the batch the outcome. The save runs on its own task, so that it
    /// completes and is reported even if the request that started it is
    /// cancelled (a writer told nothing would save again and apply its
    /// changes twice). Returns the record saved and the save's result.
    pub(crate) async fn save(
        self,
        store: Arc<dyn SessionStore>,
        record: Option<Record>,
    ) -> (Record, Result<(), Error>) {
        let Self {
            record: folded,
            done,
        } = self;
        let record = record.unwrap_or(folded);
        let id = record.id.clone();
        let task = tokio::spawn(async move {
            let result = store.save(&record).await;
            let outcome = match &result {
                Ok(()) => Outcome::Saved(record.id.clone(), record.expires_at),
                Err(Error::VersionConflict) => Outcome::Conflict,
                Err(Error::Vanished) => Outcome::Vanished,
                Err(err) if err.is_unavailable() => Outcome::Unavailable,
                Err(_) => Outcome::Failed,
            };
            // Nobody left to tell is fine.
            let _ = done.send(Some(outcome));
            (record, result)
        });
        match task.await {
            Ok(saved) => saved,
            // The store panicked (its writers were told nothing: the
            // sender went down with the task) or the runtime is stopping.
            Err(err) => {
                let stub = Record::new(id, crate::Data::new(), SystemTime::UNIX_EPOCH);
                (stub, Err(Error::Backend(Box::new(err))))
            }
        }
    }
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
        // The map, this turn and its guard hold the slot; anyone else waits.
        self.slot.as_ref().is_some_and(|s| Arc::strong_count(s) > 3)
    }

    /// Hands this writer's turn on without saving: `record` (this writer's
    /// save, the changes of `batch` included) becomes the batch the next
    /// writer saves, and the returned [`Member`] hears the outcome. The
    /// turn ends when it is dropped, which the caller does at once.
    pub(crate) fn hand_on(&mut self, record: Record, batch: Option<Batch>) -> Member {
        let batch = match batch {
            Some(batch) => Batch { record, ..batch },
            None => Batch {
                record,
                done: watch::channel(None).0,
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
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{async_trait, Data};

    /// A store whose saves take 50 ms and are counted (the rest is unused).
    #[derive(Debug, Default)]
    struct SlowSaves {
        saves: AtomicU64,
    }

    #[async_trait]
    impl SessionStore for SlowSaves {
        async fn create(&self, _: &Record) -> Result<(), Error> {
            Ok(())
        }
        async fn load(&self, _: &SessionId) -> Result<Option<Record>, Error> {
            Ok(None)
        }
        async fn save(&self, _: &Record) -> Result<(), Error> {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.saves.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn delete(&self, _: &SessionId) -> Result<(), Error> {
            Ok(())
        }
        async fn touch(&self, _: &SessionId, _: SystemTime) -> Result<(), Error> {
            Ok(())
        }
        async fn delete_expired(&self) -> Result<u64, Error> {
            Ok(0)
        }
    }

    /// Waits until `n` turns of `id` are taken or waited for.
    async fn until_queued(writers: &Writers, id: &SessionId, n: usize) {
        // The map holds the slot once, and each turn twice (slot and guard)
        // or once while it waits.
        while Arc::strong_count(&writers.queues.lock().unwrap()[id]) < 1 + n {
            tokio::task::yield_now().await;
        }
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
                turn.take_batch()
                    .map(|b| (b.base().version, b.record.version))
            })
        };
        until_queued(&writers, &id, 3).await;
        assert!(first.waiting());
        let Write::Save(record) = saved_at(&id, 8) else {
            unreachable!()
        };
        let _member = first.hand_on(record, None);
        drop(first);
        // The base is at the stored version: the next save checks it.
        assert_eq!(next.await.unwrap(), Some((7, 8)));
    }

    #[tokio::test]
    async fn a_batch_nobody_saves_tells_its_writers_so() {
        let writers = Writers::default();
        let id = SessionId::generate();
        let mut turn = writers.turn(&id).await;
        let Write::Save(record) = saved_at(&id, 2) else {
            unreachable!()
        };
        let member = turn.hand_on(record, None);
        // Nobody waits: the queue goes, and the batch with it.
        drop(turn);
        assert_eq!(writers.len(), 0);
        assert_eq!(member.outcome().await, Outcome::Unsaved);
    }

    #[tokio::test]
    async fn a_batch_is_saved_and_reported_even_if_its_saver_is_cancelled() {
        let store = Arc::new(SlowSaves::default());
        let writers = Writers::default();
        let id = SessionId::generate();
        let mut turn = writers.turn(&id).await;
        let Write::Save(record) = saved_at(&id, 2) else {
            unreachable!()
        };
        let member = turn.hand_on(record, None);
        let batch = turn.take_batch().expect("the batch just handed on");
        let expires_at = batch.record.expires_at;
        let saving = batch.save(Arc::clone(&store) as Arc<dyn SessionStore>, None);
        // The request saving it goes away mid-save.
        let cancelled = tokio::time::timeout(Duration::from_millis(5), saving).await;
        assert!(cancelled.is_err());
        assert_eq!(member.outcome().await, Outcome::Saved(id, expires_at));
        assert_eq!(store.saves.load(Ordering::SeqCst), 1);
    }

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
