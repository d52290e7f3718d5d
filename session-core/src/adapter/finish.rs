//! After the handler: write the session back and decide the cookie.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::cookies::{removal_cookie, set_cookie};
use super::renewals::Known;
use super::request::{drop_damaged, is_damage, Loaded, RequestSession};
use super::writers::{Outcome, Turn};
use super::{Commit, CookieAction, SessionState, Settings, Write};
use crate::{Error, Record, Renewal, SessionId, SessionStore, Verified};

/// What the adapter does to the handler's response once the session is
/// written back: see [`RequestSession::finish`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Finish {
    /// Replace the handler's response by this status and plain-text body:
    /// the session could not be written (503 for an unavailable store, 409
    /// when it ended meanwhile or kept conflicting, 500 otherwise). A
    /// failed save is never reported as success.
    pub failure: Option<(u16, &'static str)>,
    /// A `Set-Cookie` header value to add: the session's cookie, or the
    /// removal of a dead one.
    pub set_cookie: Option<String>,
}

impl Finish {
    /// `true` when the response must carry `Cache-Control: no-store`: it
    /// sets a cookie or reports a failure.
    pub fn no_store(&self) -> bool {
        self.failure.is_some() || self.set_cookie.is_some()
    }

    fn fail(status: u16, body: &'static str) -> Self {
        Self {
            failure: Some((status, body)),
            set_cookie: None,
        }
    }

    fn cookie(value: String) -> Self {
        Self {
            failure: None,
            set_cookie: Some(value),
        }
    }
}

impl RequestSession {
    /// Writes the session back after the handler and says what the
    /// response needs (see the lifecycle in the [module docs](super)).
    ///
    /// Nothing loaded means no store call (unless the configuration renews
    /// on every request), but a cookie that failed verification is cleared.
    /// A changed session is written once: `create` for a new one (cookie
    /// set), `save` for a stored one (retried on conflicts within
    /// [`ConflictRetry`](super::ConflictRetry)), or a delete for an emptied
    /// or destroyed one (removal cookie).
    pub async fn finish(&self) -> Finish {
        let inner = &self.0;
        let settings = &*inner.settings;
        if inner.loaded.get().is_none() {
            if let Some(done) = self.finish_unloaded().await {
                return done;
            }
        }
        let Some(loaded) = inner.loaded.get() else {
            return Finish::default();
        };
        // The handler is done: the lock is only taken briefly here, never
        // across an await.
        let lock = || loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let (degraded, stored_expiry) = {
            let loaded = lock();
            let state = &loaded.state;
            (
                loaded.degraded,
                state.expires_at().filter(|_| state.is_stored()),
            )
        };
        if degraded {
            let mut plan = lock()
                .state
                .take_commit(&settings.config, SystemTime::now());
            lock().state.put_back(&mut plan);
            if plan.write == Write::None && plan.delete.is_empty() {
                return Finish::default();
            }
            return Finish::fail(503, "session store unavailable");
        }
        // A change to a stored session waits for its turn among this
        // process's writers of the session, and goes on top of what the
        // previous one saved if this request loaded an older version.
        let writing = {
            let loaded = lock();
            loaded.state.id().filter(|_| loaded.state.saves()).cloned()
        };
        let mut turn = match writing {
            Some(id) => Some(settings.writers.turn(&id).await),
            None => None,
        };
        if let Some(turn) = turn.as_mut().filter(|t| t.after_failure()) {
            // Queued behind a write the store failed: the same answer now,
            // not after another deadline.
            turn.failed();
            return Finish::fail(503, "session store unavailable");
        }
        // Writers before this one may have handed their changes on, unsaved:
        // this one joins them, and saves for them all unless it hands on too.
        let batch = turn.as_mut().and_then(Turn::take_batch);
        let joined = match &batch {
            Some(batch) => lock().state.join(batch.base(), batch.changes()),
            None => match turn
                .as_ref()
                .and_then(|t| t.newer_than(lock().state.version()))
            {
                Some(last) => lock().state.rebase(last),
                None => Ok(()),
            },
        };
        if let Err(err) = joined {
            if let (Some(turn), Some(batch)) = (turn.as_mut(), batch) {
                // The batch's writers lose nothing: the next writer (or
                // each of them, if none comes) saves their changes.
                turn.hand_back(batch);
            }
            return store_failure(&err, writing_id(&turn), None);
        }
        let now = SystemTime::now();
        // The data moves into the write and back after it: never copied.
        let mut plan = lock().state.take_commit(&settings.config, now);
        let room = batch.as_ref().is_none_or(|b| !b.is_full());
        let hand_on = turn.as_mut().filter(|t| room && t.waiting());
        if let Some((t, folded)) = hand_on.and_then(|t| plain_save(&plan, t.id()).map(|r| (t, r))) {
            // Others wait behind: hand this save on to them, and take the
            // outcome of the one save the last of them makes.
            let member = t.hand_on(folded.clone(), lock().state.changes(), batch);
            lock().state.put_back(&mut plan);
            drop(turn);
            let written = match member.outcome().await {
                Outcome::Saved(id, expires_at) => Ok((plan, Some((id, expires_at)), now)),
                Outcome::Failed(answer) => return answer,
                Outcome::Unsaved => {
                    // Nothing was written: save this request's own changes.
                    lock().state.leave();
                    Box::pin(retry(settings, loaded, plan, None)).await
                }
            };
            return self.conclude(written, stored_expiry);
        }
        let written = match batch {
            None => write(settings, loaded, plan, now, turn.as_mut()).await,
            // The last of a queue saves for the whole batch, on a task of
            // its own: cancelling this request must not leave the batch's
            // writers without an answer (they would save again, and apply
            // their changes twice).
            Some(batch) => {
                let (settings, loaded) = (Arc::clone(&inner.settings), Arc::clone(loaded));
                let task = tokio::spawn(async move {
                    let written = write(&settings, &loaded, plan, now, turn.as_mut()).await;
                    let outcome = match &written {
                        Ok((_, Some((id, expires_at)), _)) if Some(id) == writing_id(&turn) => {
                            Outcome::Saved(id.clone(), expires_at.to_owned())
                        }
                        // Ended or cycled after the batch's changes.
                        Ok(_) => {
                            let (id, expires_at) = batch.written();
                            Outcome::Saved(id, expires_at)
                        }
                        Err(answer) => Outcome::Failed(answer.clone()),
                    };
                    batch.tell(outcome);
                    written
                });
                match task.await {
                    Ok(written) => written,
                    Err(_) => Err(Finish::fail(500, "session could not be saved")),
                }
            }
        };
        self.conclude(written, stored_expiry)
    }

    /// The rest of [`finish`](Self::finish) once the plan was written (or
    /// failed): the cookie.
    fn conclude(
        &self,
        written: Result<Written, Finish>,
        stored_expiry: Option<SystemTime>,
    ) -> Finish {
        let inner = &self.0;
        let settings = &*inner.settings;
        let (plan, written, now) = match written {
            Ok(written) => written,
            Err(answer) => return answer,
        };
        log_outcome(&plan);
        if let Some(loaded) = inner.loaded.get() {
            if settings.config.renewal() == Renewal::EveryRequest {
                let loaded = loaded.lock().unwrap_or_else(PoisonError::into_inner);
                self.remember(&loaded.state, &plan, written.as_ref(), now);
            }
        }
        // The cookie's Max-Age counts from the write (`now`, when the plan
        // was made), like the store's expiry.
        let persistent = plan.lifetime.persistent;
        let cookie = match (plan.cookie, written) {
            (CookieAction::Set, Some((id, expires_at))) => Some(set_cookie(
                &settings.config,
                &settings.cards,
                &id,
                (expires_at, persistent),
                now,
            )),
            (CookieAction::Remove, _) => Some(removal_cookie(&settings.config)),
            // A renewal found the record gone (ended meanwhile): the cookie
            // is dead now.
            (CookieAction::Set, None) => inner.presented.then(|| removal_cookie(&settings.config)),
            (CookieAction::Keep, _) => match (&inner.card, stored_expiry) {
                // No session at the end of the request (the cookie was
                // forged, or its record expired, revoked, gone or damaged),
                // and none was created: the browser must stop sending the
                // dead cookie.
                (_, None) if inner.presented => Some(removal_cookie(&settings.config)),
                // A cookie verified by a fallback key is re-issued under the
                // current one.
                (Some(card), Some(expires_at)) if card.reissue => Some(set_cookie(
                    &settings.config,
                    &settings.cards,
                    &card.id,
                    (expires_at, persistent),
                    now,
                )),
                _ => None,
            },
        };
        cookie.map(Finish::cookie).unwrap_or_default()
    }

    /// [`finish`](Self::finish) for a request whose handler never loaded
    /// the session: no store call at all, except for
    /// [`Renewal::EveryRequest`], which may load it (`None`: finish it as a
    /// loaded one).
    async fn finish_unloaded(&self) -> Option<Finish> {
        let inner = &self.0;
        let settings = &*inner.settings;
        // A session cookie that did not verify is dead whatever the store
        // holds, so it is cleared; one that verified is only known dead
        // once a handler loads it.
        let Some(card) = &inner.card else {
            let removal = inner.presented.then(|| removal_cookie(&settings.config));
            return Some(removal.map(Finish::cookie).unwrap_or_default());
        };
        if settings.config.renewal() != Renewal::EveryRequest {
            return Some(Finish::default());
        }
        // Renewal on every request: from what this process knows of the
        // session, without a store call inside its refresh window; a
        // session it knows nothing of is loaded once.
        if let Some(known) = settings.renewals.get(&card.id) {
            return Some(renew_known(settings, card, known).await);
        }
        match self.load::<Error>().await {
            // Loaded now: finish it as any loaded session.
            Ok(_) => None,
            Err(err) => {
                // Logged by `load`; the handler's answer stands.
                tracing::debug!(
                    key = %card.id.storage_key(),
                    error = &err as &(dyn std::error::Error + 'static),
                    "no renewal: the session could not be loaded"
                );
                Some(Finish::default())
            }
        }
    }

    /// Records what this request learnt about when its session expires (for
    /// [`Renewal::EveryRequest`]), and forgets sessions it ended or cycled.
    fn remember(
        &self,
        state: &SessionState,
        plan: &Commit,
        written: Option<&(SessionId, SystemTime)>,
        now: SystemTime,
    ) {
        let renewals = &self.0.settings.renewals;
        for id in &plan.delete {
            renewals.forget(id);
        }
        let created_at = match &plan.write {
            Write::Create(record) | Write::Save(record) => Some(record.created_at),
            Write::Touch(..) | Write::None => state.created_at(),
        };
        let current = match (&plan.write, written) {
            (Write::None, _) => state.id().cloned().zip(state.expires_at()),
            (_, written) => written.cloned(),
        };
        match (current, created_at) {
            (Some((id, expires_at)), Some(created_at)) => renewals.put(
                &id,
                Known {
                    expires_at,
                    created_at,
                    lifetime: plan.lifetime,
                },
                now,
            ),
            // The presented cookie found nothing (gone, ended meanwhile).
            _ => {
                if let Some(card) = &self.0.card {
                    renewals.forget(&card.id);
                }
            }
        }
    }
}

/// [`Renewal::EveryRequest`] for a request whose handler never loaded the
/// session: renews from what this process knows, with one `touch` once the
/// refresh window has passed and no store call before.
async fn renew_known(settings: &Settings, card: &Verified, known: Known) -> Finish {
    let config = &settings.config;
    let now = SystemTime::now();
    let next = known.lifetime.next_expiry(config, known.created_at, now);
    let cookie = |expires_at| {
        let expiry = (expires_at, known.lifetime.persistent);
        Finish::cookie(set_cookie(config, &settings.cards, &card.id, expiry, now))
    };
    if !known
        .lifetime
        .needs_renewal(config, known.expires_at, next, now)
    {
        // A cookie verified by a fallback key is re-issued under the current one.
        return match card.reissue {
            true => cookie(known.expires_at),
            false => Finish::default(),
        };
    }
    match settings.store.touch(&card.id, next).await {
        Ok(()) => {
            let renewed = Known {
                expires_at: next,
                ..known
            };
            settings.renewals.put(&card.id, renewed, now);
            cookie(next)
        }
        Err(Error::Vanished) => {
            // Ended or expired meanwhile: the cookie is dead.
            settings.renewals.forget(&card.id);
            Finish::cookie(removal_cookie(config))
        }
        Err(err) => {
            // The handler's answer stands; the next request tries again.
            tracing::error!(
                key = %card.id.storage_key(),
                error = &err as &(dyn std::error::Error + 'static),
                "session store failed to renew a session"
            );
            Finish::default()
        }
    }
}

/// A written plan, what it wrote (the ID and expiry the cookie must carry)
/// and when it was planned.
type Written = (Commit, Option<(SessionId, SystemTime)>, SystemTime);

/// Writes `plan`: on a version conflict, retries as [`retry`] does.
async fn write(
    settings: &Settings,
    loaded: &Mutex<Loaded>,
    mut plan: Commit,
    now: SystemTime,
    mut turn: Option<&mut Turn>,
) -> Result<Written, Finish> {
    let result = execute(settings, &mut plan).await;
    if let (Ok(_), Some(turn)) = (&result, turn.as_deref_mut()) {
        turn.saved(&plan.write);
    }
    let lock = || loaded.lock().unwrap_or_else(PoisonError::into_inner);
    lock().state.put_back(&mut plan);
    match result {
        Ok(written) => Ok((plan, written, now)),
        // The rare path, boxed so that every request's future stays small.
        Err(Error::VersionConflict) => Box::pin(retry(settings, loaded, plan, turn)).await,
        Err(Error::Vanished) => Err(vanished(settings, plan_key(&plan))),
        Err(err) => Err(store_failure(&err, plan_key(&plan), turn)),
    }
}

/// After a version conflict: a concurrent request of this session saved
/// first, so reload, re-apply this request's changes and save again, with
/// backoff, within the [`ConflictRetry`](super::ConflictRetry) bounds.
async fn retry(
    settings: &Settings,
    loaded: &Mutex<Loaded>,
    mut plan: Commit,
    mut turn: Option<&mut Turn>,
) -> Result<Written, Finish> {
    let lock = || loaded.lock().unwrap_or_else(PoisonError::into_inner);
    let bounds = &settings.conflict_retry;
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        if attempt >= bounds.max_attempts || started.elapsed() >= bounds.max_time {
            crate::telemetry::conflict_given_up(settings.store.as_ref());
            tracing::warn!(
                key = plan_id(&plan).map(SessionId::storage_key).as_deref(),
                attempts = attempt,
                "session save kept conflicting with concurrent requests; giving up"
            );
            return Err(Finish::fail(
                bounds.answer(),
                "the session was changed by concurrent requests; try again",
            ));
        }
        crate::telemetry::conflict_retried(settings.store.as_ref());
        tokio::time::sleep(backoff(attempt)).await;
        let fresh = match plan_id(&plan).map(|id| settings.store.load(id)) {
            Some(load) => load.await,
            None => Ok(None),
        };
        match fresh {
            Ok(Some(fresh)) => {
                if let Err(err) = lock().state.rebase(fresh) {
                    return Err(store_failure(&err, plan_id(&plan), None));
                }
            }
            Ok(None) => return Err(vanished(settings, plan_id(&plan))),
            // Damaged since this request loaded it: ended, like a vanished one.
            Err(err) if is_damage(&err) => {
                if let Some(id) = plan_id(&plan) {
                    drop_damaged(settings.store.as_ref(), id, &err).await;
                }
                return Err(vanished(settings, plan_id(&plan)));
            }
            Err(err) => return Err(store_failure(&err, plan_id(&plan), turn.as_deref_mut())),
        }
        let now = SystemTime::now();
        plan = lock().state.take_commit(&settings.config, now);
        let result = execute(settings, &mut plan).await;
        if let (Ok(_), Some(turn)) = (&result, turn.as_deref_mut()) {
            turn.saved(&plan.write);
        }
        lock().state.put_back(&mut plan);
        match result {
            Ok(written) => return Ok((plan, written, now)),
            Err(Error::VersionConflict) => {}
            Err(Error::Vanished) => return Err(vanished(settings, plan_id(&plan))),
            Err(err) => return Err(store_failure(&err, plan_id(&plan), turn.as_deref_mut())),
        }
    }
}

/// Runs a commit plan: deletes, then the one write. Returns the ID and
/// expiry the cookie must carry, if a record was written.
async fn execute(
    settings: &Settings,
    plan: &mut Commit,
) -> Result<Option<(SessionId, SystemTime)>, Error> {
    let store = &settings.store;
    for id in &plan.delete {
        store.delete(id).await?;
    }
    match &mut plan.write {
        Write::None => Ok(None),
        Write::Create(record) => {
            create_fresh(store.as_ref(), record).await?;
            Ok(Some((record.id.clone(), record.expires_at)))
        }
        Write::Save(record) => {
            store.save(record).await?;
            Ok(Some((record.id.clone(), record.expires_at)))
        }
        Write::Touch(id, expires_at) => match store.touch(id, *expires_at).await {
            Ok(()) => Ok(Some((id.clone(), *expires_at))),
            // Ended meanwhile: nothing to renew, and a read-only request
            // still succeeded.
            Err(Error::Vanished) => Ok(None),
            Err(err) => Err(err),
        },
    }
}

/// The session a plan is about, for the log: the one written, else the
/// first one deleted.
fn plan_key(plan: &Commit) -> Option<&SessionId> {
    match &plan.write {
        Write::Create(record) | Write::Save(record) => Some(&record.id),
        Write::Touch(id, _) => Some(id),
        Write::None => plan.delete.first(),
    }
}

/// Logs the lifecycle events of a commit that was written, by storage key
/// only (never an ID, a cookie or data).
fn log_outcome(plan: &Commit) {
    if let Write::Create(record) = &plan.write {
        match plan.delete.first() {
            None => tracing::debug!(key = %record.id.storage_key(), "session created"),
            Some(old) => tracing::debug!(
                key = %record.id.storage_key(),
                old_key = %old.storage_key(),
                "session cycled: new ID, same data"
            ),
        }
    } else if plan.cookie == CookieAction::Remove {
        for id in &plan.delete {
            tracing::debug!(key = %id.storage_key(), "session destroyed");
        }
    }
}

/// The record `plan` saves, if it only saves session `id` (nothing
/// deleted): such a save can be handed on.
fn plain_save<'a>(plan: &'a Commit, id: &SessionId) -> Option<&'a Record> {
    match &plan.write {
        Write::Save(record) if record.id == *id && plan.delete.is_empty() => Some(record),
        _ => None,
    }
}

/// The ID a versioned save was for.
fn plan_id(plan: &Commit) -> Option<&SessionId> {
    match &plan.write {
        Write::Save(record) => Some(&record.id),
        _ => None,
    }
}

/// Full-jitter exponential backoff: up to 1 ms × 2^attempt, capped at 32 ms.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 1u64 << attempt.min(5);
    Duration::from_micros(rand::random_range(0..cap_ms * 1000))
}

/// The session ended (logout elsewhere, expiry) while this request ran: its
/// changes cannot be kept, and the session is not resurrected.
fn vanished(settings: &Settings, id: Option<&SessionId>) -> Finish {
    tracing::debug!(
        key = id.map(SessionId::storage_key).as_deref(),
        "the session ended while a request changing it ran; its changes are dropped"
    );
    Finish {
        failure: Some((409, "the session ended while this request ran")),
        set_cookie: Some(removal_cookie(&settings.config)),
    }
}

/// Creates the record, drawing a new ID on the (astronomically unlikely) conflict.
async fn create_fresh(store: &dyn SessionStore, record: &mut Record) -> Result<(), Error> {
    for _ in 0..3 {
        match store.create(record).await {
            Err(Error::Conflict) => record.id = SessionId::generate(),
            other => return other,
        }
    }
    Err(Error::Conflict)
}

fn store_failure(err: &Error, id: Option<&SessionId>, turn: Option<&mut Turn>) -> Finish {
    if let Some(turn) = turn.filter(|_| err.is_unavailable()) {
        turn.failed();
    }
    tracing::error!(
        key = id.map(SessionId::storage_key).as_deref(),
        error = err as &(dyn std::error::Error + 'static),
        "session store failed to write a session"
    );
    if err.is_unavailable() {
        Finish::fail(503, "session store unavailable")
    } else {
        Finish::fail(500, "session could not be saved")
    }
}

/// The session a writer's turn is for, for the log.
fn writing_id(turn: &Option<Turn>) -> Option<&SessionId> {
    turn.as_ref().map(Turn::id)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::{async_trait, Data, SessionConfig};

    /// One session's record; saves take 50 ms, check the version, and are
    /// counted when they start.
    #[derive(Debug, Default)]
    struct SlowStore {
        record: Mutex<Option<Record>>,
        saves_started: AtomicU64,
    }

    #[async_trait]
    impl SessionStore for SlowStore {
        async fn create(&self, record: &Record) -> Result<(), Error> {
            *self.record.lock().unwrap() = Some(record.clone());
            Ok(())
        }
        async fn load(&self, _: &SessionId) -> Result<Option<Record>, Error> {
            Ok(self.record.lock().unwrap().clone())
        }
        async fn save(&self, record: &Record) -> Result<(), Error> {
            self.saves_started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut stored = self.record.lock().unwrap();
            match stored.as_ref().map(|r| r.version + 1) {
                Some(next) if next == record.version => {
                    *stored = Some(record.clone());
                    Ok(())
                }
                Some(_) => Err(Error::VersionConflict),
                None => Err(Error::Vanished),
            }
        }
        async fn delete(&self, _: &SessionId) -> Result<(), Error> {
            *self.record.lock().unwrap() = None;
            Ok(())
        }
        async fn touch(&self, _: &SessionId, _: SystemTime) -> Result<(), Error> {
            Ok(())
        }
        async fn delete_expired(&self) -> Result<u64, Error> {
            Ok(0)
        }
    }

    /// One `/visits` request: load, count, finish.
    async fn visit(settings: Arc<Settings>, cookie: String) -> Finish {
        let request = RequestSession::new(settings, [cookie.as_bytes()]);
        let session = request.load::<Error>().await.expect("load");
        session
            .update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)
            .expect("update");
        request.finish().await
    }

    /// A session of `store`, the settings of an app on it, and its cookie.
    async fn app(store: &Arc<SlowStore>) -> (SessionId, Arc<Settings>, String) {
        let id = SessionId::generate();
        let hour = Duration::from_secs(3600);
        let record = Record::new(id.clone(), Data::new(), SystemTime::now() + hour);
        store.create(&record).await.unwrap();
        let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!")
            .build()
            .unwrap();
        let store = Arc::clone(store) as Arc<dyn SessionStore>;
        let settings = Arc::new(Settings::new(store, config));
        let cookie = format!("session={}", settings.cards.sign(&id));
        (id, settings, cookie)
    }

    impl SlowStore {
        async fn saves_started(&self, n: u64) {
            while self.saves_started.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        fn visits(&self) -> u64 {
            let stored = self.record.lock().unwrap().clone().unwrap();
            crate::codec::decode_value(&stored.data["visits"]).unwrap()
        }
    }

    /// Waits until `n` holds on `id`'s queue of writers.
    async fn queued(settings: &Settings, id: &SessionId, n: usize) {
        while settings.writers.queued(id) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    type Visit = tokio::task::JoinHandle<Finish>;

    /// Three `/visits` of one session, started so that the first saves
    /// alone and the second hands its change on to the third; returned once
    /// the third's save (for both) has started.
    async fn three_visits(store: &Arc<SlowStore>) -> [Visit; 3] {
        let (id, settings, cookie) = app(store).await;
        let visit = || tokio::spawn(visit(Arc::clone(&settings), cookie.clone()));
        let first = visit();
        store.saves_started(1).await;
        let second = visit();
        queued(&settings, &id, 3).await;
        let third = visit();
        queued(&settings, &id, 4).await;
        store.saves_started(2).await;
        [first, second, third]
    }

    /// Three writers of one session: the first saves alone, the second
    /// hands its change on to the third, whose request is cancelled in the
    /// middle of the save it makes for both. The save still completes and
    /// the second writer hears of it: all three visits are counted, with
    /// two saves.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_request_still_saves_for_the_writers_it_carries() {
        let store = Arc::new(SlowStore::default());
        let [first, second, third] = three_visits(&store).await;
        third.abort();
        assert_eq!(first.await.unwrap().failure, None);
        assert_eq!(second.await.unwrap().failure, None);
        assert_eq!(store.visits(), 3, "the cancelled request's save was lost");
        assert_eq!(store.saves_started.load(Ordering::SeqCst), 2);
    }

    /// The save a batch's last writer makes for it conflicts with another
    /// process's write: it re-applies every writer's change on the fresh
    /// record, not only its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conflicting_batch_save_reapplies_every_writers_changes() {
        let store = Arc::new(SlowStore::default());
        let visits = three_visits(&store).await;
        // Another process writes while the batch's save is on its way.
        {
            let mut stored = store.record.lock().unwrap();
            let stored = stored.as_mut().unwrap();
            stored.version += 1;
            let hundred = crate::codec::encode_value(&100u64).unwrap();
            stored.data.insert("visits".into(), hundred);
        }
        for request in visits {
            assert_eq!(request.await.unwrap().failure, None);
        }
        assert_eq!(
            store.visits(),
            102,
            "a batched change was lost in the retry"
        );
    }
}
