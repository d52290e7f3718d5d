//! An in-process [`SessionStore`] for one machine and for tests.
//!
//! * Concurrent: records are spread over independently locked shards; no lock
//!   is ever held across an `.await`.
//! * TTL-aware: an expired record is never returned, and a background task
//!   sweeps expired records every second (see
//!   [`MemoryStoreBuilder::sweep_interval`]). The task ends when the last
//!   clone of the store is dropped or on [`MemoryStore::shutdown`].
//! * Bounded by default: at most [`DEFAULT_CAPACITY`] records (2,048: about
//!   130 MiB when every session is at the default 64 KiB `max_data_size`;
//!   see [`MemoryStoreBuilder::capacity`] for the measured figures). A
//!   `create` that finds its shard full first drops expired records and then
//!   evicts the record closest to expiry in that shard. Set your own bound
//!   with [`MemoryStoreBuilder::capacity`], or none with
//!   [`MemoryStoreBuilder::unbounded`].
//! * Gives memory back on request: with
//!   [`MemoryStoreBuilder::release_memory`], after a sweep that halved the
//!   store once a burst of sessions has ended (a login storm, say), the
//!   sweeper shrinks its tables and asks the allocator to return the freed
//!   memory to the system, so the process does not stay at its peak size.
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
use session_core::{Data, Error, Record, SessionId, SessionInfo, SessionStore};

/// Default interval between sweeps of expired records: one second. A sweep
/// that finds nothing expired costs one lock and one look per shard
/// (microseconds); expired records are found in order of expiry, never by
/// a scan.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_SHARDS: usize = 32;
/// Default bound on the number of records: 2,048 (64 per shard).
///
/// Sized so that a full store of sessions at the default `max_data_size`
/// (64 KiB each, the most a session may hold) stays within about 130 MiB;
/// see [`MemoryStoreBuilder::capacity`] for the measured figures. Small
/// sessions cost far less, so an application with small sessions and many
/// users raises it.
pub const DEFAULT_CAPACITY: usize = 2_048;
/// At most this many expired records are removed per shard lock (and, in
/// the background sweeper, between two yields to the runtime), so that a
/// large sweep never keeps a request waiting for long.
const SWEEP_BATCH: usize = 1024;
/// A release needs the store to have shrunk by at least this many records.
const RELEASE_MIN: usize = 4096;

mod release;

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

/// What the sweeper remembers between sweeps to decide when to give memory
/// back: the most records held since the last release, how many were left
/// after the previous sweep, and whether a release is owed a follow-up.
#[derive(Debug, Default)]
struct Tide {
    high: usize,
    after_last_sweep: usize,
    follow_up: bool,
}

impl Tide {
    /// Records one sweep that went from `before` to `after` records;
    /// `true` when memory should be released now.
    ///
    /// A release comes when the store holds at most half of its high-water
    /// mark, at least [`RELEASE_MIN`] records fewer, and is not still
    /// growing (fewer records arrived since the previous sweep than an
    /// eighth of the mark). During a steady storm each sweep halves the
    /// store too, but as many records arrive again by the next, and their
    /// memory is reused rather than given back and asked for anew.
    ///
    /// The first sweep after a release that removes anything releases once
    /// more: the last records of a burst, still live at the first release,
    /// are scattered over the burst's memory and keep many of its pages in
    /// use until they go.
    fn ebb(&mut self, before: usize, after: usize) -> bool {
        self.high = self.high.max(before);
        let arrived = before.saturating_sub(self.after_last_sweep);
        self.after_last_sweep = after;
        if self.follow_up && after < before {
            self.follow_up = false;
            self.high = after;
            return true;
        }
        let release =
            after <= self.high / 2 && self.high - after >= RELEASE_MIN && arrived <= self.high / 8;
        if release {
            self.high = after;
            self.follow_up = true;
        }
        release
    }
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
    release_memory: bool,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with default settings: at most [`DEFAULT_CAPACITY`] records
    /// (evicting the soonest to expire), swept every second when created
    /// inside a tokio runtime, leaving the allocator alone.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            capacity: Some(DEFAULT_CAPACITY),
            shards: DEFAULT_SHARDS,
            release_memory: false,
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

    /// Removes every expired record (for [`SessionStore::delete_expired`]).
    fn sweep(&self, now: SystemTime) -> u64 {
        let now_ms = unix_ms(now);
        let mut removed = 0;
        for i in 0..self.shards.len() {
            loop {
                let n = self.sweep_shard(i, now_ms);
                removed += n as u64;
                if n < SWEEP_BATCH {
                    break;
                }
            }
        }
        removed
    }

    /// Removes up to [`SWEEP_BATCH`] expired records from shard `i`, under
    /// one lock.
    fn sweep_shard(&self, i: usize, now_ms: u64) -> usize {
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove_expired(now_ms, &self.books, SWEEP_BATCH)
    }

    /// Shrinks every table that holds far fewer entries than it has room
    /// for (hash tables never shrink on their own), keeping room to grow.
    fn shrink(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if shard.records.capacity() > 4 * shard.records.len().max(16) {
                let keep = 2 * shard.records.len();
                shard.records.shrink_to(keep);
            }
        }
        let mut users = self.books.users();
        if users.capacity() > 4 * users.len().max(16) {
            let keep = 2 * users.len();
            users.shrink_to(keep);
        }
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
        let expires_at = truncate_ms(expires_at);
        if let Some(r) = self.records.get_mut(id) {
            // Most saves keep the expiry (it moves only after the renewal
            // window): then the expiry order is already right.
            if r.expires_at != expires_at {
                self.by_expiry.remove(&(r.expires_at_ms(), id.clone()));
                r.expires_at = expires_at;
                self.by_expiry.insert((r.expires_at_ms(), id.clone()));
            }
        }
    }

    /// Removes up to `limit` expired records, soonest first.
    fn remove_expired(&mut self, now_ms: u64, books: &Books, limit: usize) -> usize {
        let mut n = 0;
        while let Some((exp, id)) = self.by_expiry.first().cloned() {
            if exp > now_ms || n == limit {
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
        self.remove_expired(now_ms, books, usize::MAX);
        while self.records.len() >= capacity {
            let Some((_, id)) = self.by_expiry.first().cloned() else {
                break;
            };
            self.remove(&id, books);
        }
    }
}

/// Makes `stored` equal to `new`. When both hold the same keys (the usual
/// save: a few values changed), each value is copied into the buffer it
/// replaces, allocating only for a value that outgrew it.
fn copy_data(stored: &mut Data, new: &Data) {
    if stored.len() == new.len() && stored.keys().eq(new.keys()) {
        for (old, value) in stored.values_mut().zip(new.values()) {
            old.clone_from(value);
        }
    } else {
        stored.clone_from(new);
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
        copy_data(&mut current.data, &record.data);
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
    /// How often the background task removes expired records (default
    /// [`DEFAULT_SWEEP_INTERVAL`], one second). Memory is released (see
    /// [`release_memory`](Self::release_memory)) only after sweeps, so a
    /// longer interval also keeps a burst's memory longer.
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

    /// Bounds the number of records (default [`DEFAULT_CAPACITY`], 2,048).
    ///
    /// The bound is kept per shard (`capacity / shards` rounded up, at least
    /// 1 each, so the store never holds more than that times the shard
    /// count). A `create` into a full shard first drops the shard's expired
    /// records, then evicts its records closest to expiry (the sessions
    /// idle longest) until there is room; saves, touches and loads never
    /// evict.
    ///
    /// Measured cost of a full store (resident memory of the process, glibc,
    /// see `BENCHMARKS.md` and `examples/footprint.rs`): about 65 KiB per
    /// session at the 64 KiB `max_data_size` (the default 2,048 sessions:
    /// about 130 MiB) and about 1 KiB per typical session (the hotel
    /// example's after login: user ID, e-mail address and user agent, bound
    /// to the user; 100,000 sessions: about 104 MiB).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// No bound on the number of records: memory grows with the number of
    /// live sessions (each cookieless request to a route that writes the
    /// session adds one, until it expires).
    pub fn unbounded(mut self) -> Self {
        self.capacity = None;
        self
    }

    /// Whether the sweeper gives memory back after a burst (default `false`:
    /// a library does not manage the host's allocator unasked).
    ///
    /// After a sweep that leaves at most half of the most records held
    /// since the last release (and at least 4,096 fewer), once the store has
    /// stopped growing, the sweeper shrinks the store's hash tables and, on
    /// Linux with glibc, calls `malloc_trim(0)` on a blocking thread, and
    /// does so once more when the burst's last records go, so that the
    /// process returns to about its size before the burst. This is
    /// process-wide: it also returns memory the rest of the application
    /// freed. Other allocators return memory on their own; there only the
    /// tables are shrunk.
    ///
    /// Measured after a storm of 1,000,000 short sessions in an unbounded
    /// store (see `BENCHMARKS.md`): without it the process stays near its
    /// peak (513 of 530 MiB) once the sessions are gone, as glibc keeps the
    /// freed memory for the next burst; with it the process returns to
    /// 5 MiB (it was 3 MiB before the storm). A bounded store (the default) never
    /// grows past its capacity, so there is little to give back.
    pub fn release_memory(mut self, release: bool) -> Self {
        self.release_memory = release;
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
            let task = handle.spawn(sweep_loop(weak, every, self.release_memory));
            Some(Arc::new(Sweeper(task.abort_handle())))
        });
        MemoryStore { inner, sweeper }
    }
}

async fn sweep_loop(inner: Weak<Inner>, every: Duration, release: bool) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tide = Tide::default();
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let before = inner.books.len.load(Ordering::Relaxed);
        let now_ms = unix_ms(SystemTime::now());
        for i in 0..inner.shards.len() {
            // One batch at a time, yielding in between: the sweeper shares
            // the runtime's threads with the requests, and a burst's sweep
            // must not hold one of them for long.
            while inner.sweep_shard(i, now_ms) == SWEEP_BATCH {
                tokio::task::yield_now().await;
            }
        }
        let after = inner.books.len.load(Ordering::Relaxed);
        if release && tide.ebb(before, after) {
            inner.shrink();
            drop(inner);
            // A panic there would only mean no memory was returned.
            let _ = tokio::task::spawn_blocking(release::release_freed_memory).await;
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

    fn record(ttl: Duration) -> Record {
        Record::new(SessionId::generate(), Data::new(), SystemTime::now() + ttl)
    }

    #[test]
    fn the_allocator_is_left_alone_unless_asked() {
        assert!(!MemoryStore::builder().release_memory);
        assert!(MemoryStore::builder().release_memory(true).release_memory);
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

    #[test]
    fn memory_is_released_once_a_burst_is_over_not_during_it() {
        let mut tide = Tide::default();
        // A steady storm: 100k records arrive per interval, half expire.
        assert!(!tide.ebb(100_000, 50_000), "released on the first sweep");
        for _ in 0..10 {
            assert!(!tide.ebb(150_000, 75_000), "released during the storm");
        }
        // The storm is over: nothing arrives, most expires; then the rest.
        assert!(tide.ebb(75_000, 2_000), "kept the storm's memory");
        assert!(!tide.ebb(2_000, 2_000), "released with nothing swept");
        assert!(
            tide.ebb(2_000, 0),
            "no follow-up for the burst's last records"
        );
        assert!(!tide.ebb(0, 0), "released again with nothing to release");
        assert!(!tide.ebb(10, 0), "a trickle after the burst released again");
        // Traffic drops to a trickle rather than to nothing.
        let mut tide = Tide::default();
        assert!(!tide.ebb(100_000, 50_000));
        assert!(tide.ebb(51_000, 1_000), "a trickle kept the memory");
        // Small stores never bother.
        let mut tide = Tide::default();
        assert!(!tide.ebb(3_000, 0));
    }

    #[tokio::test]
    async fn a_sweep_shrinks_tables_left_mostly_empty() {
        let store = MemoryStore::builder()
            .unbounded()
            .shards(1)
            .no_sweeper()
            .build();
        for _ in 0..10_000 {
            store
                .create(&record(Duration::from_millis(1)))
                .await
                .unwrap();
        }
        let live = record(Duration::from_secs(60));
        store.create(&live).await.unwrap();
        let room = || store.inner.shards[0].lock().unwrap().records.capacity();
        assert!(room() >= 10_001);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.inner.sweep(SystemTime::now()), 10_000, "in batches");
        store.inner.shrink();
        assert!(room() < 100, "{} slots kept for 1 record", room());
        assert!(store.load(&live.id).await.unwrap().is_some());
    }

    #[test]
    fn copied_data_equals_the_saved_data_whatever_the_keys() {
        let data = |pairs: &[(&str, &[u8])]| -> Data {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect()
        };
        let mut stored = data(&[("a", b"1"), ("b", b"22")]);
        for new in [
            data(&[("a", b"333"), ("b", b"")]),
            data(&[("a", b"1"), ("c", b"2")]),
            data(&[("a", b"1")]),
            data(&[]),
            data(&[("x", b"1"), ("y", b"2"), ("z", b"3")]),
        ] {
            copy_data(&mut stored, &new);
            assert_eq!(stored, new);
        }
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
