//! [`MemoryStore`]: the shards behind one handle, and the
//! [`SessionStore`] operations on them.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use session_core::record::unix_ms;
use session_core::{Error, Record, SessionId, SessionInfo, SessionStore};

use crate::builder::MemoryStoreBuilder;
use crate::shard::{Limits, Shard, Write};
use crate::shared::Shared;
use crate::sweeper::Sweeper;
use crate::SWEEP_BATCH;

/// The in-memory store. Cloning is cheap and shares the records.
#[derive(Clone)]
pub struct MemoryStore {
    pub(crate) inner: Arc<Inner>,
    pub(crate) sweeper: Option<Arc<Sweeper>>,
}

pub(crate) struct Inner {
    pub(crate) shards: Box<[Mutex<Shard>]>,
    pub(crate) shared: Shared,
    /// The bounds of each shard.
    pub(crate) limits: Limits,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with default settings: at most about
    /// [`DEFAULT_MAX_BYTES`](crate::DEFAULT_MAX_BYTES) of sessions (evicting
    /// the soonest to expire), swept every second when created inside a
    /// tokio runtime, leaving the allocator alone.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// Number of records held, including expired ones not swept yet.
    pub fn len(&self) -> usize {
        self.inner.shared.len.load(Ordering::Relaxed)
    }

    /// `true` when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The approximate memory the records held cost, in bytes: what the
    /// byte bound ([`MemoryStoreBuilder::max_bytes`]) limits, kept as
    /// records are created, saved, evicted, deleted and swept (expired
    /// records not swept yet included). 0 for an empty store.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use session_core::{Data, Record, SessionId, SessionStore};
    /// use session_memory::MemoryStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::Error> {
    /// let store = MemoryStore::new();
    /// let record = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + Duration::from_secs(60));
    /// store.create(&record).await?;
    /// assert!(store.approx_bytes() > 0);
    /// store.delete(&record.id).await?;
    /// assert_eq!(store.approx_bytes(), 0);
    /// # Ok(()) }
    /// ```
    pub fn approx_bytes(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).bytes()).sum()
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

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    /// What a write at `now_ms` works with.
    fn write(&self, now_ms: u64) -> Write<'_> {
        Write {
            limits: self.limits,
            now_ms,
            shared: &self.shared,
        }
    }

    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        let b = id.as_bytes();
        let h = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        // The modulo keeps the index below the shard count, which fits in usize.
        let i = (h % self.shards.len() as u64) as usize;
        lock(&self.shards[i])
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

    /// Removes up to `max` expired records, shard after shard, each shard
    /// in locks of at most [`SWEEP_BATCH`] removals.
    fn sweep_at_most(&self, now: SystemTime, max: u64) -> u64 {
        let now_ms = unix_ms(now);
        let mut removed = 0;
        for shard in self.shards.iter() {
            while removed < max {
                let limit =
                    usize::try_from(max - removed).map_or(SWEEP_BATCH, |n| n.min(SWEEP_BATCH));
                let n = lock(shard).remove_expired(now_ms, &self.shared, limit);
                removed += n as u64;
                if n < limit {
                    break;
                }
            }
        }
        removed
    }

    /// `(live, expired)` records held at `now`.
    fn counts(&self, now: SystemTime) -> (u64, u64) {
        let now_ms = unix_ms(now);
        self.shards.iter().fold((0, 0), |(live, expired), shard| {
            let (l, e) = lock(shard).counts(now_ms);
            (live + l as u64, expired + e as u64)
        })
    }

    /// Removes up to [`SWEEP_BATCH`] expired records from shard `i`, under
    /// one lock.
    pub(crate) fn sweep_shard(&self, i: usize, now_ms: u64) -> usize {
        lock(&self.shards[i]).remove_expired(now_ms, &self.shared, SWEEP_BATCH)
    }

    /// Shrinks every table that holds far fewer entries than it has room
    /// for (hash tables never shrink on their own), keeping room to grow.
    pub(crate) fn shrink(&self) {
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            if shard.records.capacity() > 4 * shard.records.len().max(16) {
                let keep = 2 * shard.records.len();
                shard.records.shrink_to(keep);
            }
        }
        let mut users = self.shared.users();
        if users.capacity() > 4 * users.len().max(16) {
            let keep = 2 * users.len();
            users.shrink_to(keep);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        self.shard(&record.id)
            .create(record, self.inner.write(now_ms))
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let now_ms = unix_ms(SystemTime::now());
        self.shard(id)
            .live(id, now_ms, &self.inner.shared)
            .map(|stored| stored.decode(id))
            .transpose()
    }

    async fn save(&self, record: &Record) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        self.shard(&record.id)
            .save(record, self.inner.write(now_ms))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.shard(id).remove(id, &self.inner.shared);
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        let now_ms = unix_ms(SystemTime::now());
        let mut shard = self.shard(id);
        shard
            .live(id, now_ms, &self.inner.shared)
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

    fn backend_name(&self) -> &'static str {
        "memory"
    }

    /// Walks each shard's expired records under its lock.
    async fn count_sessions(&self) -> Result<u64, Error> {
        Ok(self.inner.counts(SystemTime::now()).0)
    }

    async fn count_expired(&self) -> Result<u64, Error> {
        Ok(self.inner.counts(SystemTime::now()).1)
    }

    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        Ok(self.inner.sweep_at_most(SystemTime::now(), u64::from(max)))
    }

    /// [`len`](MemoryStore::len): expired records not swept yet included.
    fn approx_session_count(&self) -> Option<u64> {
        Some(self.len() as u64)
    }

    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let now_ms = unix_ms(SystemTime::now());
        let shared = &self.inner.shared;
        Ok(shared
            .user_ids(user)
            .iter()
            .filter_map(|id| {
                let mut shard = self.shard(id);
                let stored = shard.live(id, now_ms, shared)?;
                // Re-check under the shard lock: it may have been re-bound meanwhile.
                if stored.user() != Some(user) {
                    return None;
                }
                // Only the store's own encoding is here: it always decodes.
                stored.decode(id).ok().map(SessionInfo::of)
            })
            .collect())
    }

    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        let now_ms = unix_ms(SystemTime::now());
        let shared = &self.inner.shared;
        let ids = shared.user_ids(user);
        let live = ids.iter().filter(|id| {
            let mut shard = self.shard(id);
            shard
                .live(id, now_ms, shared)
                .is_some_and(|r| r.user() == Some(user))
        });
        Ok(live.count() as u64)
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        Ok(self.revoke(user, |id| Some(id) == keep))
    }

    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        Ok(self.revoke(user, |id| id.storage_key() == keep_key))
    }
}

impl MemoryStore {
    /// Deletes `user`'s live sessions but those `keep` picks; how many.
    fn revoke(&self, user: &str, keep: impl Fn(&SessionId) -> bool) -> u64 {
        let now_ms = unix_ms(SystemTime::now());
        let shared = &self.inner.shared;
        let mut deleted = 0;
        for id in shared.user_ids(user).iter().filter(|id| !keep(id)) {
            let mut shard = self.shard(id);
            if shard
                .live(id, now_ms, shared)
                .is_some_and(|r| r.user() == Some(user))
            {
                shard.remove(id, shared);
                deleted += 1;
            }
        }
        deleted
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
    use std::time::Duration;

    use session_core::Data;

    use super::*;

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
        assert_eq!(store.inner.shared.user_ids("u").len(), 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        store.delete_expired().await.unwrap();
        assert_eq!(
            store.inner.shared.user_ids("u"),
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
            store.inner.shared.users().is_empty(),
            "an unbound session stayed indexed"
        );
        store.delete(&a.id).await.unwrap();
        assert!(store.inner.shared.users().is_empty());
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
        let room = || lock(&store.inner.shards[0]).records.capacity();
        assert!(room() >= 10_001);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.inner.sweep(SystemTime::now()), 10_000, "in batches");
        store.inner.shrink();
        assert!(room() < 100, "{} slots kept for 1 record", room());
        assert!(store.load(&live.id).await.unwrap().is_some());
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
