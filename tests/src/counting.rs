//! A store wrapper that counts calls and can be told to fail.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use session_core::{async_trait, Error, Record, SessionId, SessionInfo, SessionStore};

/// Per-method call counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    /// `create` calls.
    pub create: u64,
    /// `load` calls.
    pub load: u64,
    /// `save` calls.
    pub save: u64,
    /// `delete` calls.
    pub delete: u64,
    /// `touch` calls.
    pub touch: u64,
}

impl Calls {
    /// All calls that write.
    pub fn writes(&self) -> u64 {
        self.create + self.save + self.delete + self.touch
    }
    /// All calls.
    pub fn total(&self) -> u64 {
        self.writes() + self.load
    }
}

/// Wraps a store, counting calls; `fail_all` / `fail_writes` make calls fail
/// with a backend error as a down server would, `conflict_saves` makes
/// every save lose to a concurrent one, and [`damage`](Self::damage) makes a
/// record read as damaged bytes do.
pub struct CountingStore {
    inner: Arc<dyn SessionStore>,
    counts: [AtomicU64; 5],
    /// Every call fails.
    pub fail_all: AtomicBool,
    /// Writes fail, loads succeed.
    pub fail_writes: AtomicBool,
    /// Every save answers `Error::VersionConflict`.
    pub conflict_saves: AtomicBool,
    /// Every touch answers `Error::Vanished`, as if the record ended
    /// between the load and the renewal.
    pub vanish_touches: AtomicBool,
    /// Every load answers `Error::Timeout`, as an SQL or Redis store does
    /// when its server does not answer within the deadline.
    pub time_out_loads: AtomicBool,
    /// Milliseconds every save waits before it reaches the store, as a
    /// distant or busy server would (0: none).
    pub slow_saves_ms: AtomicU64,
    /// Storage keys whose `load` answers `Error::Envelope` until deleted.
    damaged: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingStore")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl CountingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            counts: Default::default(),
            fail_all: AtomicBool::new(false),
            fail_writes: AtomicBool::new(false),
            conflict_saves: AtomicBool::new(false),
            vanish_touches: AtomicBool::new(false),
            time_out_loads: AtomicBool::new(false),
            slow_saves_ms: AtomicU64::new(0),
            damaged: Mutex::new(HashSet::new()),
        })
    }

    /// From now on `load` of `id` answers `Error::Envelope`, as a store
    /// does for stored bytes that do not decode, until `id` is deleted.
    pub fn damage(&self, id: &SessionId) {
        self.damaged.lock().unwrap().insert(id.storage_key());
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn SessionStore> {
        &self.inner
    }

    /// Calls so far.
    pub fn calls(&self) -> Calls {
        let c = |i: usize| self.counts[i].load(Ordering::SeqCst);
        Calls {
            create: c(0),
            load: c(1),
            save: c(2),
            delete: c(3),
            touch: c(4),
        }
    }

    fn count(&self, i: usize, write: bool) -> Result<(), Error> {
        self.counts[i].fetch_add(1, Ordering::SeqCst);
        if self.fail_all.load(Ordering::SeqCst)
            || (write && self.fail_writes.load(Ordering::SeqCst))
        {
            return Err(Error::backend(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "test: store switched off",
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for CountingStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        self.count(0, true)?;
        self.inner.create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        self.count(1, false)?;
        if self.time_out_loads.load(Ordering::SeqCst) {
            return Err(Error::Timeout(std::time::Duration::from_secs(1)));
        }
        if self.damaged.lock().unwrap().contains(&id.storage_key()) {
            return Err(Error::Envelope {
                reason: "test: marked damaged",
            });
        }
        self.inner.load(id).await
    }
    async fn save(&self, record: &Record) -> Result<(), Error> {
        self.count(2, true)?;
        if self.conflict_saves.load(Ordering::SeqCst) {
            return Err(Error::VersionConflict);
        }
        let delay = self.slow_saves_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        self.inner.save(record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.count(3, true)?;
        self.damaged.lock().unwrap().remove(&id.storage_key());
        self.inner.delete(id).await
    }
    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        self.count(4, true)?;
        if self.vanish_touches.load(Ordering::SeqCst) {
            return Err(Error::Vanished);
        }
        self.inner.touch(id, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        self.inner.delete_expired().await
    }
    fn indexes_users(&self) -> bool {
        self.inner.indexes_users()
    }
    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        self.count(1, false)?;
        self.inner.user_sessions(user).await
    }
    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        self.count(1, false)?;
        self.inner.count_user_sessions(user).await
    }
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        self.count(3, true)?;
        self.inner.delete_user_sessions(user, keep).await
    }
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
    fn approx_session_count(&self) -> Option<u64> {
        self.inner.approx_session_count()
    }
}
