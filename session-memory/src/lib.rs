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

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use session_core::record::{truncate_ms, unix_ms};
use session_core::{Error, Record, SessionId, SessionStore};

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
    len: AtomicUsize,
    shard_capacity: Option<usize>,
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
        self.inner.len.load(Ordering::Relaxed)
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
                .remove_expired(now_ms);
            self.len.fetch_sub(n, Ordering::Relaxed);
            removed += n as u64;
        }
        removed
    }
}

impl Shard {
    /// Removes the record for `id` if it is expired; returns the live one.
    fn live(&mut self, id: &SessionId, now_ms: u64, len: &AtomicUsize) -> Option<&mut Record> {
        let expired = self.records.get(id).map(|r| r.expires_at_ms() <= now_ms)?;
        if expired {
            self.remove(id, len);
            return None;
        }
        self.records.get_mut(id)
    }

    fn insert(&mut self, record: Record, len: &AtomicUsize) {
        self.by_expiry
            .insert((record.expires_at_ms(), record.id.clone()));
        if let Some(old) = self.records.insert(record.id.clone(), record) {
            self.by_expiry.remove(&(old.expires_at_ms(), old.id));
        } else {
            len.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&mut self, id: &SessionId, len: &AtomicUsize) {
        if let Some(old) = self.records.remove(id) {
            self.by_expiry.remove(&(old.expires_at_ms(), old.id));
            len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn set_expiry(&mut self, id: &SessionId, expires_at: SystemTime) {
        if let Some(r) = self.records.get_mut(id) {
            self.by_expiry.remove(&(r.expires_at_ms(), id.clone()));
            r.expires_at = truncate_ms(expires_at);
            self.by_expiry.insert((r.expires_at_ms(), id.clone()));
        }
    }

    fn remove_expired(&mut self, now_ms: u64) -> usize {
        let mut n = 0;
        while let Some((exp, id)) = self.by_expiry.first().cloned() {
            if exp > now_ms {
                break;
            }
            self.by_expiry.pop_first();
            self.records.remove(&id);
            n += 1;
        }
        n
    }

    /// Makes room for one record: expired ones first, then the soonest to expire.
    fn make_room(&mut self, capacity: usize, now_ms: u64, len: &AtomicUsize) {
        if self.records.len() < capacity {
            return;
        }
        len.fetch_sub(self.remove_expired(now_ms), Ordering::Relaxed);
        while self.records.len() >= capacity {
            let Some((_, id)) = self.by_expiry.first().cloned() else {
                break;
            };
            self.remove(&id, len);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let len = &self.inner.len;
        let mut shard = self.shard(&record.id);
        if shard.live(&record.id, now_ms, len).is_some() {
            return Err(Error::Conflict);
        }
        if let Some(capacity) = self.inner.shard_capacity {
            shard.make_room(capacity, now_ms, len);
        }
        shard.insert(record.clone(), len);
        Ok(())
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let now_ms = unix_ms(SystemTime::now());
        Ok(self
            .shard(id)
            .live(id, now_ms, &self.inner.len)
            .map(|r| r.clone()))
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let mut shard = self.shard(&record.id);
        let current = shard
            .live(&record.id, now_ms, &self.inner.len)
            .ok_or(Error::Vanished)?;
        // Compare-and-swap under the shard lock: the check and the write are one step.
        if current.version.checked_add(1) != Some(record.version) {
            return Err(Error::VersionConflict);
        }
        current.data.clone_from(&record.data);
        current.version = record.version;
        shard.set_expiry(&record.id, record.expires_at);
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.shard(id).remove(id, &self.inner.len);
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let mut shard = self.shard(id);
        shard
            .live(id, now_ms, &self.inner.len)
            .ok_or(Error::Vanished)?;
        shard.set_expiry(id, expires_at);
        Ok(())
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        Ok(self.inner.sweep(SystemTime::now()))
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
            len: AtomicUsize::new(0),
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
