//! Tests of the conformance suite itself: each store here is a
//! `MemoryStore` with one rule of the contract broken, and the suite must
//! fail on it. The same wrapper without a flaw passes, so what fails is the
//! flaw, not the wrapper.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use session_core::conformance::{self, block_on};
use session_core::record::truncate_ms;
use session_core::{async_trait, Error, Record, SessionId, SessionInfo, SessionStore};
use session_memory::MemoryStore;

/// The one rule a [`Broken`] store breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// None: the control.
    None,
    /// (a) The per-user index forgets a session saved without a user change.
    IndexForgetsSaves,
    /// (b) `load` drops `Record::user`.
    LoadDropsUser,
    /// (c) `touch` revives an expired record that is not swept yet.
    TouchRevives,
    /// (d) `delete_expired` also deletes records with under 10 s to live.
    SweepsShortLived,
    /// (e) `count_sessions` counts expired records not swept yet.
    CountsExpired,
    /// (f) `delete_expired_batch` ignores its bound.
    UnboundedBatch,
}

#[derive(Debug)]
struct Broken {
    inner: MemoryStore,
    flaw: Flaw,
    /// Every record written and not deleted, expired or not: what a broken
    /// store sees past the contract.
    written: Mutex<HashMap<SessionId, Record>>,
    /// Sessions the index has forgotten (flaw (a)).
    forgotten: Mutex<HashSet<String>>,
}

impl Broken {
    fn new(flaw: Flaw) -> Self {
        Self {
            // No sweeper: expired records stay in the store until swept by hand.
            inner: MemoryStore::builder().unbounded().no_sweeper().build(),
            flaw,
            written: Mutex::default(),
            forgotten: Mutex::default(),
        }
    }

    fn written(&self) -> MutexGuard<'_, HashMap<SessionId, Record>> {
        self.written.lock().unwrap()
    }

    fn forgotten(&self) -> MutexGuard<'_, HashSet<String>> {
        self.forgotten.lock().unwrap()
    }
}

#[async_trait]
impl SessionStore for Broken {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        self.inner.create(record).await?;
        self.written().insert(record.id.clone(), record.clone());
        self.forgotten().remove(&record.id.storage_key());
        Ok(())
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let mut loaded = self.inner.load(id).await?;
        if self.flaw == Flaw::LoadDropsUser {
            if let Some(r) = &mut loaded {
                r.user = None;
            }
        }
        Ok(loaded)
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        self.inner.save(record).await?;
        let old = self.written().insert(record.id.clone(), record.clone());
        let same_user = old.is_some_and(|old| old.user == record.user);
        if self.flaw == Flaw::IndexForgetsSaves && same_user {
            self.forgotten().insert(record.id.storage_key());
        }
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.written().remove(id);
        self.inner.delete(id).await
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let expires_at = truncate_ms(expires_at);
        match self.inner.touch(id, expires_at).await {
            Err(Error::Vanished) if self.flaw == Flaw::TouchRevives => {
                let found = self.written().get(id).cloned();
                let Some(record) = found else {
                    return Err(Error::Vanished);
                };
                let revived = Record {
                    expires_at,
                    ..record
                };
                self.inner.create(&revived).await?;
                self.written().insert(id.clone(), revived);
                Ok(())
            }
            Ok(()) => {
                if let Some(r) = self.written().get_mut(id) {
                    r.expires_at = expires_at;
                }
                Ok(())
            }
            other => other,
        }
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        let mut removed = self.inner.delete_expired().await?;
        if self.flaw == Flaw::SweepsShortLived {
            let soon = SystemTime::now() + Duration::from_secs(10);
            let ids: Vec<SessionId> = self.written().keys().cloned().collect();
            for id in ids {
                let live = self.inner.load(&id).await?;
                if live.is_some_and(|r| r.expires_at < soon) {
                    self.delete(&id).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn indexes_users(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn count_sessions(&self) -> Result<u64, Error> {
        let live = self.inner.count_sessions().await?;
        if self.flaw == Flaw::CountsExpired {
            return Ok(live + self.inner.count_expired().await?);
        }
        Ok(live)
    }

    async fn count_expired(&self) -> Result<u64, Error> {
        self.inner.count_expired().await
    }

    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        if self.flaw == Flaw::UnboundedBatch {
            return self.inner.delete_expired().await;
        }
        self.inner.delete_expired_batch(max).await
    }

    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let mut listed = self.inner.user_sessions(user).await?;
        let forgotten = self.forgotten();
        listed.retain(|info| !forgotten.contains(&info.key));
        Ok(listed)
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        let listed = self.user_sessions(user).await?;
        let ids: Vec<SessionId> = self
            .written()
            .keys()
            .filter(|id| Some(*id) != keep && listed.iter().any(|info| info.is(id)))
            .cloned()
            .collect();
        for id in &ids {
            self.delete(id).await?;
        }
        Ok(ids.len() as u64)
    }
}

/// Runs `check` on a fresh store with `flaw`; the panic message if it failed.
fn failure_of<F, Fut>(flaw: Flaw, check: F) -> Option<String>
where
    F: FnOnce(Arc<Broken>) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = Arc::new(Broken::new(flaw));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| block_on(check(store))));
    outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// The whole suite fails on `flaw`, and so does `check`, the check written
/// for it, with a message containing `says`; the control passes `check`.
fn caught<F, Fut>(flaw: Flaw, check: F, says: &str)
where
    F: Fn(Arc<Broken>) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(message) = failure_of(Flaw::None, &check) {
        panic!("the faithful wrapper failed the check: {message}");
    }
    let message = failure_of(flaw, &check)
        .unwrap_or_else(|| panic!("the check passed a store with flaw {flaw:?}"));
    assert!(
        message.contains(says),
        "{flaw:?} failed the check for another reason: {message}"
    );
    let suite = failure_of(flaw, |_| {
        conformance::run_all(move || async move { Broken::new(flaw) })
    });
    assert!(suite.is_some(), "run_all passed a store with flaw {flaw:?}");
}

#[test]
fn the_faithful_wrapper_passes_the_whole_suite() {
    assert_eq!(
        failure_of(Flaw::None, |_| conformance::run_all(|| async {
            Broken::new(Flaw::None)
        })),
        None
    );
}

#[test]
fn an_index_that_forgets_saved_sessions_is_caught() {
    caught(
        Flaw::IndexForgetsSaves,
        |s| async move { conformance::user_index_keeps_sessions_saved_without_a_user_change(&s).await },
        "saved without a user change left its user's index",
    );
}

#[test]
fn a_load_that_drops_the_user_is_caught() {
    caught(
        Flaw::LoadDropsUser,
        |s| async move { conformance::user_survives_load_and_save(&s).await },
        "load dropped or changed Record::user",
    );
}

#[test]
fn a_touch_that_revives_an_expired_record_is_caught() {
    caught(
        Flaw::TouchRevives,
        |s| async move { conformance::touch_never_revives_an_expired_record(&s).await },
        "touch of an expired record must be Err(Vanished)",
    );
}

#[test]
fn a_sweep_that_deletes_short_lived_records_is_caught() {
    caught(
        Flaw::SweepsShortLived,
        |s| async move { conformance::delete_expired_keeps_short_lived_records(&s).await },
        "ms to live, after delete_expired: load returned None",
    );
}

#[test]
fn a_count_that_includes_expired_records_is_caught() {
    caught(
        Flaw::CountsExpired,
        |s| async move { conformance::counts_live_and_expired_sessions(&s).await },
        "count_sessions: 3 live and 2 expired sessions held",
    );
}

#[test]
fn a_batch_that_ignores_its_bound_is_caught() {
    caught(
        Flaw::UnboundedBatch,
        |s| async move { conformance::delete_expired_batch_keeps_to_its_bound(&s).await },
        "delete_expired_batch(2) removed 5 records",
    );
}
