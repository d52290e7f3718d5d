//! A near cache: recently used records kept in the application's memory,
//! in front of a networked store, and kept coherent by the backend itself.
//!
//! Off by default. A backend that can tell its clients about changes
//! (Redis client-side caching, PostgreSQL `LISTEN`/`NOTIFY`) holds a
//! [`NearCache`] and runs an *invalidation feed*: a task that turns the
//! backend's change messages into calls on [`Invalidations`]. The store
//! routes its methods through the cache ([`NearCache::load`],
//! [`NearCache::write`], [`NearCache::forget`],
//! [`NearCache::forget_user`]), so that:
//!
//! * a load of a cached, unexpired record younger than the staleness cap
//!   answers from memory, without a round trip;
//! * this process's own writes update (create, save) or drop (delete,
//!   touch, revocations) the local entry as soon as the backend confirms
//!   them;
//! * other processes' writes reach the cache through the feed, which
//!   drops the entry (or, with a [`Stamp`], keeps it when it is already as
//!   new);
//! * a versioned save over a stale entry fails with
//!   [`Error::VersionConflict`] at the backend, which drops the entry, so
//!   the layer's retry reloads the record from the backend;
//! * while the feed is down (connection lost, listener lagging) the cache
//!   is flushed and bypassed: every call goes to the backend until the
//!   feed calls [`Invalidations::channel_up`], which flushes again. A new
//!   cache starts bypassed, until its feed first reports that it is up.
//!
//! Staleness: in normal operation a change made elsewhere is visible
//! here once its invalidation has arrived (the feed's latency,
//! milliseconds); [`NearCacheConfig::max_staleness`] caps how long an entry
//! is served in any case.
//!
//! A record past its `expires_at` is never served from the cache.
//!
//! ```
//! use session_core::near_cache::{NearCache, NearCacheConfig};
//! use session_core::{Data, Record, SessionId};
//! use std::time::{Duration, SystemTime};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> session_core::Result<()> {
//! let cache = NearCache::new(NearCacheConfig::new(), "custom")?;
//! let feed = cache.invalidations();
//! feed.channel_up(); // the backend's change channel is listening
//!
//! let record = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + Duration::from_secs(60));
//! // A create through the cache (the backend write is the future passed in).
//! cache.write(&record, async { Ok(()) }).await?;
//! // Answered from memory: the backend future is never polled.
//! let loaded = cache.load(&record.id, async { unreachable!() }).await?;
//! assert_eq!(loaded.as_ref(), Some(&record));
//!
//! // Another process changed it: the feed says so, the next load asks the backend.
//! feed.invalidate(&record.id.storage_key(), None);
//! assert!(cache.load(&record.id, async { Ok(None) }).await?.is_none());
//! # Ok(()) }
//! ```

mod config;
mod feed;
mod shard;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

pub use config::{NearCacheConfig, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_STALENESS};
pub use feed::Invalidations;
pub use shard::Stamp;

use crate::telemetry;
use crate::{Error, Record, SessionId};
use shard::{Limits, Lookup, Shard};

/// Shards (locks) of a cache; keys are SHA-256 outputs, so the first byte
/// spreads them evenly.
const SHARDS: usize = 32;

/// The in-process cache a store holds when its near cache is on. Cloning
/// is cheap: clones share the entries.
#[derive(Clone)]
pub struct NearCache {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    shards: Box<[Mutex<Shard>]>,
    limits: Limits,
    config: NearCacheConfig,
    coherent: AtomicBool,
    tokens: AtomicU64,
    backend: &'static str,
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
}

/// Counters and sizes of a [`NearCache`], for tests, benchmarks and
/// operators (with the `metrics` feature the same events are counted as
/// `keycard_near_cache_*_total`; see [`telemetry`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// Loads answered from memory.
    pub hits: u64,
    /// Loads that asked the backend while the cache was coherent.
    pub misses: u64,
    /// Loads that asked the backend because the feed was down.
    pub bypassed: u64,
    /// Records dropped to stay within the size limits.
    pub evictions: u64,
    /// Records dropped by the invalidation feed.
    pub invalidations: u64,
    /// Whole-cache flushes (the feed going down or coming back).
    pub flushes: u64,
    /// Records held now.
    pub entries: u64,
    /// Bytes held now (as [`NearCacheConfig::max_bytes`] counts them).
    pub bytes: u64,
    /// `true` while the feed is up and the cache is used.
    pub coherent: bool,
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("config", &self.shared.config)
            .field("coherent", &self.is_coherent())
            .finish_non_exhaustive()
    }
}

impl NearCache {
    /// An empty cache with `config`'s limits, bypassed until its feed
    /// calls [`Invalidations::channel_up`]. `backend` labels its metrics
    /// (the store's [`backend_name`](crate::SessionStore::backend_name)).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the limits make no sense (see
    /// [`NearCacheConfig::validate`]).
    pub fn new(config: NearCacheConfig, backend: &'static str) -> Result<Self, Error> {
        config.validate()?;
        let limits = Limits {
            entries: config.max_entries.div_ceil(SHARDS),
            bytes: config.max_bytes.div_ceil(SHARDS),
            staleness: config.max_staleness,
        };
        telemetry::describe_metrics();
        Ok(Self {
            shared: Arc::new(Shared {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                limits,
                config,
                coherent: AtomicBool::new(false),
                tokens: AtomicU64::new(1),
                backend,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                bypassed: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
                invalidations: AtomicU64::new(0),
                flushes: AtomicU64::new(0),
            }),
        })
    }

    /// The handle the backend's invalidation feed drives. It does not keep
    /// the cache alive: once every clone of the cache is dropped,
    /// [`Invalidations::is_closed`] says so and the feed should stop.
    pub fn invalidations(&self) -> Invalidations {
        Invalidations::new(Arc::downgrade(&self.shared))
    }

    /// The limits this cache was built with.
    pub fn config(&self) -> &NearCacheConfig {
        &self.shared.config
    }

    /// `true` while the feed is up and loads may be answered from memory.
    pub fn is_coherent(&self) -> bool {
        self.shared.coherent.load(Ordering::Acquire)
    }

    /// Counters and current size.
    pub fn stats(&self) -> NearCacheStats {
        let s = &self.shared;
        let (mut entries, mut bytes) = (0, 0);
        for shard in &*s.shards {
            let (e, b) = lock(shard).size();
            entries += e as u64;
            bytes += b as u64;
        }
        NearCacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            bypassed: s.bypassed.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
            invalidations: s.invalidations.load(Ordering::Relaxed),
            flushes: s.flushes.load(Ordering::Relaxed),
            entries,
            bytes,
            coherent: self.is_coherent(),
        }
    }

    /// A load: the cached record for `id` if there is a fresh, unexpired
    /// one, else `fetch` (the backend's load, not polled on a hit), whose
    /// record is then cached unless an invalidation for it arrived while
    /// it ran.
    ///
    /// # Errors
    ///
    /// `fetch`'s.
    pub async fn load<F>(&self, id: &SessionId, fetch: F) -> Result<Option<Record>, Error>
    where
        F: Future<Output = Result<Option<Record>, Error>>,
    {
        let s = &self.shared;
        if !self.is_coherent() {
            s.count(&s.bypassed, telemetry::NEAR_CACHE_BYPASSED);
            return fetch.await;
        }
        let key = id.storage_key();
        let token = {
            let mut shard = s.shard(&key);
            if let Lookup::Hit(record) = shard.get(&key, SystemTime::now(), &s.limits) {
                drop(shard);
                s.count(&s.hits, telemetry::NEAR_CACHE_HITS);
                return Ok(Some(record));
            }
            let token = s.tokens.fetch_add(1, Ordering::Relaxed);
            shard.lease(&key, token, false).then_some(token)
        };
        s.count(&s.misses, telemetry::NEAR_CACHE_MISSES);
        let Some(token) = token else {
            // A write of this record is in flight here: its result will
            // be cached, not this read's.
            return fetch.await;
        };
        let lease = Lease::new(s, &key, token, false);
        let result = fetch.await;
        if let Ok(Some(record)) = &result {
            lease.fill(record);
        }
        result
    }

    /// A write that leaves `record` in the backend when it succeeds (a
    /// create or a versioned save): the entry is dropped while `write`
    /// runs, and `record` is cached once it succeeded. A failed write
    /// (a conflict, a vanished record, an unknown outcome) leaves nothing
    /// cached for the record.
    ///
    /// # Errors
    ///
    /// `write`'s.
    pub async fn write<F, T>(&self, record: &Record, write: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        let s = &self.shared;
        if !self.is_coherent() {
            return write.await;
        }
        let key = record.id.storage_key();
        let token = s.tokens.fetch_add(1, Ordering::Relaxed);
        s.shard(&key).lease(&key, token, true);
        let lease = Lease::new(s, &key, token, true);
        let result = write.await;
        if result.is_ok() {
            lease.fill(record);
        } else {
            lease.clear();
        }
        result
    }

    /// A write after which the cached record for `id` is unknown (a
    /// delete, a touch): the entry is dropped before `write` runs and
    /// again, with any fill started meanwhile, once it is done.
    ///
    /// # Errors
    ///
    /// `write`'s.
    pub async fn forget<F, T>(&self, id: &SessionId, write: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        let s = &self.shared;
        let key = id.storage_key();
        let token = s.tokens.fetch_add(1, Ordering::Relaxed);
        s.shard(&key).lease(&key, token, true);
        let lease = Lease::new(s, &key, token, true);
        let result = write.await;
        lease.clear();
        result
    }

    /// A write that deletes sessions of `user` (log out everywhere, all but
    /// `keep`): once `write` is done, every cached record bound to `user`
    /// except `keep`'s is dropped, as is every fill in flight.
    ///
    /// # Errors
    ///
    /// `write`'s.
    pub async fn forget_user<F, T>(
        &self,
        user: &str,
        keep: Option<&str>,
        write: F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        let result = write.await;
        let s = &self.shared;
        let dropped: u64 = s
            .shards
            .iter()
            .map(|shard| lock(shard).forget_user(user, keep))
            .sum();
        s.invalidations.fetch_add(dropped, Ordering::Relaxed);
        result
    }
}

impl Shared {
    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let first = key.as_bytes().first().copied().unwrap_or(0);
        lock(&self.shards[usize::from(first) % SHARDS])
    }

    fn count(&self, counter: &AtomicU64, metric: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        telemetry::event(metric, self.backend);
    }

    fn flush(&self) {
        for shard in &*self.shards {
            lock(shard).clear();
        }
        self.count(&self.flushes, telemetry::NEAR_CACHE_FLUSHES);
    }
}

/// Locks a shard; a panic elsewhere while holding it leaves a shard whose
/// worst state is a missing entry, so poisoning is ignored.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fill in flight; dropped unfilled (the request was cancelled, the
/// backend failed) it releases its slot.
struct Lease<'a> {
    shared: &'a Shared,
    key: &'a str,
    token: u64,
    writing: bool,
    done: bool,
}

impl<'a> Lease<'a> {
    fn new(shared: &'a Shared, key: &'a str, token: u64, writing: bool) -> Self {
        Self {
            shared,
            key,
            token,
            writing,
            done: false,
        }
    }

    /// Caches `record` if the lease still stands and nothing newer was
    /// announced. A write whose lease was taken over (by another write of
    /// this process) drops whatever holds the slot: which write the
    /// backend applied last is unknown here.
    fn fill(mut self, record: &Record) {
        self.done = true;
        let s = self.shared;
        let mut shard = s.shard(self.key);
        let (cached, evicted) = shard.fill(self.key, self.token, record, self.writing, &s.limits);
        if !cached && self.writing {
            shard.drop_key(self.key);
        }
        drop(shard);
        if evicted > 0 {
            s.evictions.fetch_add(evicted, Ordering::Relaxed);
            for _ in 0..evicted {
                telemetry::event(telemetry::NEAR_CACHE_EVICTIONS, s.backend);
            }
        }
    }

    /// Drops the slot whatever holds it: the record's state is unknown.
    fn clear(mut self) {
        self.done = true;
        self.shared.shard(self.key).drop_key(self.key);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.shard(self.key).release(self.key, self.token);
        }
    }
}
