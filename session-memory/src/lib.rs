//! An in-process [`SessionStore`] for one machine and for tests.
//!
//! * Concurrent: records are spread over independently locked shards; no lock
//!   is ever held across an `.await`.
//! * TTL-aware: an expired record is never returned, and a background task
//!   sweeps expired records (see [`MemoryStoreBuilder::sweep_interval`]). The
//!   task ends when the last clone of the store is dropped or on
//!   [`MemoryStore::shutdown`].
//! * Bounded on request: with [`MemoryStoreBuilder::capacity`], a `create`
//!   that finds its shard full first drops expired records and then evicts the
//!   record closest to expiry in that shard.
//! * Indexed by user: sessions bound to a user ([`Record::user`]) are kept
//!   in a user -> IDs map maintained with the records, so listing, counting
//!   and revoking a user's sessions never scans the store.
//!
//! Sessions in this store live and die with the process: use Redis or SQL
//! when several app servers share sessions or sessions must survive restarts.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use session_core::{Data, Record, SessionId, SessionStore};
//! use session_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::Error> {
//! let store = MemoryStore::new();
//! let record = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + Duration::from_secs(60));
//! store.create(&record).await?;
//! assert!(store.load(&record.id).await?.is_some());
//! # Ok(()) }
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use session_core::record::{truncate_ms, unix_ms};
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};

/// Default interval between sweeps of expired records.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_SHARDS: usize = 32;

/// The in-memory store. Cloning is cheap and shares the records.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    sweeper: Option<Arc<Sweeper>>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    books: Books,
    shard_capacity: Option<usize>,
}

/// Bookkeeping shared by the shards. Lock order: a shard, then `users`.
#[derive(Default)]
struct Books {
    len: AtomicUsize,
    /// user -> IDs of the sessions bound to them (live or not yet swept).
    users: Mutex<HashMap<String, HashSet<SessionId>>>,
}

impl Books {
    fn users(&self) -> MutexGuard<'_, HashMap<String, HashSet<SessionId>>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn index(&self, user: Option<&str>, id: &SessionId) {
        if let Some(user) = user {
            self.users()
                .entry(user.to_owned())
                .or_default()
                .insert(id.clone());
        }
    }

    fn unindex(&self, user: Option<&str>, id: &SessionId) {
        if let Some(user) = user {
            let mut users = self.users();
            if let Some(ids) = users.get_mut(user) {
                ids.remove(id);
                if ids.is_empty() {
                    users.remove(user);
                }
            }
        }
    }

    /// Bookkeeping for a record leaving the store.
    fn forget(&self, record: &Record) {
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.unindex(record.user.as_deref(), &record.id);
    }
}

#[derive(Default)]
struct Shard {
    records: HashMap<SessionId, Record>,
    /// (expires_at in ms, ID) of every record, soonest first.
    by_expiry: BTreeSet<(u64, SessionId)>,
}

/// Aborts the sweeping task when the last store clone goes away.
struct Sweeper(tokio::task::AbortHandle);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builder for [`MemoryStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStoreBuilder {
    sweep_interval: Option<Duration>,
    capacity: Option<usize>,
    shards: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with default settings: unbounded, swept every minute when
    /// created inside a tokio runtime.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            capacity: None,
            shards: DEFAULT_SHARDS,
        }
    }

    /// Number of records held, including expired ones not swept yet.
    pub fn len(&self) -> usize {
        self.inner.books.len.load(Ordering::Relaxed)
    }

    /// `true` when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the background sweeper (also stopped when the last clone drops).
    /// Expired records stay invisible; [`SessionStore::delete_expired`] still
    /// removes them.
    pub fn shutdown(&self) {
        if let Some(s) = &self.sweeper {
            s.0.abort();
        }
    }

    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        self.inner.shard(id)
    }
}

impl Inner {
    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        let b = id.as_bytes();
        let h = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        // The modulo keeps the index below the shard count, which fits in usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (h % self.shards.len() as u64) as usize;
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn sweep(&self, now: SystemTime) -> u64 {
        let now_ms = unix_ms(now);
        let mut removed = 0;
        for shard in self.shards.iter() {
            let n = shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove_expired(now_ms, &self.books);
            removed += n as u64;
        }
        removed
    }
}

impl Shard {
    /// Removes the record for `id` if it is expired; returns the live one.
    fn live(&mut self, id: &SessionId, now_ms: u64, books: &Books) -> Option<&mut Record> {
        let expired = self.records.get(id).map(|r| r.expires_at_ms() <= now_ms)?;
        if expired {
            self.remove(id, books);
            return None;
        }
        self.records.get_mut(id)
    }

    /// Inserts a record under an ID that holds none.
    fn insert(&mut self, record: Record, books: &Books) {
        self.by_expiry
            .insert((record.expires_at_ms(), record.id.clone()));
        books.len.fetch_add(1, Ordering::Relaxed);
        books.index(record.user.as_deref(), &record.id);
        self.records.insert(record.id.clone(), record);
    }

    fn remove(&mut self, id: &SessionId, books: &Books) {
        if let Some(old) = self.records.remove(id) {
            books.forget(&old);
            self.by_expiry.remove(&(old.expires_at_ms(), old.id));
        }
    }

    fn set_expiry(&mut self, id: &SessionId, expires_at: SystemTime) {
        if let Some(r) = self.records.get_mut(id) {
            self.by_expiry.remove(&(r.expires_at_ms(), id.clone()));
            r.expires_at = truncate_ms(expires_at);
            self.by_expiry.insert((r.expires_at_ms(), id.clone()));
        }
    }

    fn remove_expired(&mut self, now_ms: u64, books: &Books) -> usize {
        let mut n = 0;
        while let Some((exp, id)) = self.by_expiry.first().cloned() {
            if exp > now_ms {
                break;
            }
            self.by_expiry.pop_first();
            if let Some(old) = self.records.remove(&id) {
                books.forget(&old);
            }
            n += 1;
        }
        n
    }

    /// Makes room for one record: expired ones first, then the soonest to expire.
    fn make_room(&mut self, capacity: usize, now_ms: u64, books: &Books) {
        if self.records.len() < capacity {
            return;
        }
        self.remove_expired(now_ms, books);
        while self.records.len() >= capacity {
            let Some((_, id)) = self.by_expiry.first().cloned() else {
                break;
            };
            self.remove(&id, books);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let books = &self.inner.books;
        let mut shard = self.shard(&record.id);
        if shard.live(&record.id, now_ms, books).is_some() {
            return Err(Error::Conflict);
        }
        if let Some(capacity) = self.inner.shard_capacity {
            shard.make_room(capacity, now_ms, books);
        }
        shard.insert(record.clone(), books);
        Ok(())
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let now_ms = unix_ms(SystemTime::now());
        Ok(self
            .shard(id)
            .live(id, now_ms, &self.inner.books)
            .map(|r| r.clone()))
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let mut shard = self.shard(&record.id);
        let current = shard
            .live(&record.id, now_ms, &self.inner.books)
            .ok_or(Error::Vanished)?;
        // Compare-and-swap under the shard lock: the check and the write are one step.
        if current.version.checked_add(1) != Some(record.version) {
            return Err(Error::VersionConflict);
        }
        current.data.clone_from(&record.data);
        current.version = record.version;
        if current.user != record.user {
            let books = &self.inner.books;
            books.unindex(current.user.as_deref(), &record.id);
            books.index(record.user.as_deref(), &record.id);
            current.user.clone_from(&record.user);
        }
        shard.set_expiry(&record.id, record.expires_at);
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.shard(id).remove(id, &self.inner.books);
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let mut shard = self.shard(id);
        shard
            .live(id, now_ms, &self.inner.books)
            .ok_or(Error::Vanished)?;
        shard.set_expiry(id, expires_at);
        Ok(())
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        Ok(self.inner.sweep(SystemTime::now()))
    }

    fn indexes_users(&self) -> bool {
        true
    }

    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let now_ms = unix_ms(SystemTime::now());
        let books = &self.inner.books;
        Ok(self
            .user_ids(user)
            .iter()
            .filter_map(|id| {
                let mut shard = self.shard(id);
                let record = shard.live(id, now_ms, books)?;
                // Re-check under the shard lock: it may have been re-bound meanwhile.
                (record.user.as_deref() == Some(user)).then(|| SessionInfo::of(record.clone()))
            })
            .collect())
    }

    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        let now_ms = unix_ms(SystemTime::now());
        let books = &self.inner.books;
        let ids = self.user_ids(user);
        let live = ids.iter().filter(|id| {
            let mut shard = self.shard(id);
            shard
                .live(id, now_ms, books)
                .is_some_and(|r| r.user.as_deref() == Some(user))
        });
        Ok(live.count() as u64)
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        let now_ms = unix_ms(SystemTime::now());
        let books = &self.inner.books;
        let mut deleted = 0;
        for id in self.user_ids(user).iter().filter(|id| Some(*id) != keep) {
            let mut shard = self.shard(id);
            if shard
                .live(id, now_ms, books)
                .is_some_and(|r| r.user.as_deref() == Some(user))
            {
                shard.remove(id, books);
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

impl MemoryStore {
    /// The IDs indexed under `user` (a copy, so no lock is held while shards are visited).
    fn user_ids(&self, user: &str) -> Vec<SessionId> {
        self.inner
            .books
            .users()
            .get(user)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl MemoryStoreBuilder {
    /// How often the background task removes expired records (default 60 s).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// No background sweeping: expired records stay invisible and are removed
    /// on access or by [`SessionStore::delete_expired`].
    pub fn no_sweeper(mut self) -> Self {
        self.sweep_interval = None;
        self
    }

    /// Bounds the number of records. The bound is kept per shard
    /// (`capacity / shards`, at least 1 each); a full shard drops its expired
    /// records, then evicts the record closest to expiry.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Number of independently locked shards (default 32).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// Builds the store. The sweeper starts only inside a tokio runtime.
    pub fn build(self) -> MemoryStore {
        let inner = Arc::new(Inner {
            shards: (0..self.shards).map(|_| Mutex::default()).collect(),
            books: Books::default(),
            shard_capacity: self.capacity.map(|c| c.div_ceil(self.shards).max(1)),
        });
        let sweeper = self.sweep_interval.and_then(|every| {
            let handle = tokio::runtime::Handle::try_current().ok()?;
            let weak = Arc::downgrade(&inner);
            let task = handle.spawn(sweep_loop(weak, every));
            Some(Arc::new(Sweeper(task.abort_handle())))
        });
        MemoryStore { inner, sweeper }
    }
}

async fn sweep_loop(inner: Weak<Inner>, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match inner.upgrade() {
            Some(inner) => {
                inner.sweep(SystemTime::now());
            }
            None => return,
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("shards", &self.inner.shards.len())
            .field("sweeping", &self.sweeper.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::Data;

    fn record(ttl: Duration) -> Record {
        Record::new(SessionId::generate(), Data::new(), SystemTime::now() + ttl)
    }

    #[tokio::test]
    async fn capacity_evicts_the_soonest_to_expire() {
        let store = MemoryStore::builder()
            .shards(1)
            .capacity(2)
            .no_sweeper()
            .build();
        let soon = record(Duration::from_secs(10));
        let late = record(Duration::from_secs(100));
        let newest = record(Duration::from_secs(50));
        for r in [&soon, &late, &newest] {
            store.create(r).await.unwrap();
        }
        assert_eq!(store.len(), 2);
        assert!(store.load(&soon.id).await.unwrap().is_none());
        assert!(store.load(&late.id).await.unwrap().is_some());
        assert!(store.load(&newest.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn user_index_forgets_unbound_deleted_and_swept_sessions() {
        let store = MemoryStore::builder().no_sweeper().build();
        let mut a = record(Duration::from_secs(100));
        a.user = Some("u".into());
        let mut b = record(Duration::from_millis(5));
        b.user = Some("u".into());
        store.create(&a).await.unwrap();
        store.create(&b).await.unwrap();
        assert_eq!(store.user_ids("u").len(), 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        store.delete_expired().await.unwrap();
        assert_eq!(
            store.user_ids("u"),
            vec![a.id.clone()],
            "a swept session stayed indexed"
        );
        let unbound = Record {
            user: None,
            version: 2,
            ..a.clone()
        };
        store.save(&unbound).await.unwrap();
        assert!(
            store.inner.books.users().is_empty(),
            "an unbound session stayed indexed"
        );
        store.delete(&a.id).await.unwrap();
        assert!(store.inner.books.users().is_empty());
    }

    #[tokio::test]
    async fn sweeper_stops_when_the_store_is_dropped() {
        let store = MemoryStore::builder()
            .sweep_interval(Duration::from_millis(5))
            .build();
        let weak = Arc::downgrade(&store.inner);
        drop(store);
        assert!(
            weak.upgrade().is_none(),
            "the sweeper must not keep the records alive"
        );
    }
}
