//! [`Invalidations`]: the handle a backend's change feed drives.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::{Shared, Stamp};
use crate::telemetry;

/// What a backend's invalidation feed calls to keep a
/// [`NearCache`](super::NearCache) coherent: one call per change message,
/// and one each time its channel goes down or comes back.
///
/// Holds the cache weakly: when every clone of the cache is gone,
/// [`is_closed`](Self::is_closed) turns `true` and calls do nothing, so
/// the feed's task can end.
#[derive(Clone)]
pub struct Invalidations {
    shared: Weak<Shared>,
}

impl std::fmt::Debug for Invalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidations")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Invalidations {
    pub(super) fn new(shared: Weak<Shared>) -> Self {
        Self { shared }
    }

    fn shared(&self) -> Option<Arc<Shared>> {
        self.shared.upgrade()
    }

    /// The record under `storage_key` ([`SessionId::storage_key`](crate::SessionId::storage_key))
    /// changed or is gone. With a `stamp` (its new version and expiry), a
    /// cached record that is already as new stays; without one the entry
    /// is dropped. A fill in flight for the key will not cache its answer.
    /// Returns `true` when a cached record was dropped.
    pub fn invalidate(&self, storage_key: &str, stamp: Option<Stamp>) -> bool {
        let Some(s) = self.shared() else {
            return false;
        };
        let dropped = s.shard(storage_key).invalidate(storage_key, stamp);
        if dropped {
            s.count(&s.invalidations, telemetry::NEAR_CACHE_INVALIDATIONS);
        }
        dropped
    }

    /// `true` when an invalidation of `storage_key` should be answered with
    /// the record's current [`Stamp`] rather than a plain eviction: the
    /// cache holds a record this process wrote itself, or a write of it is
    /// in flight. For a feed whose channel also reports this process's own
    /// writes (Redis 7.0 reports keys changed by the connection's own Lua
    /// scripts despite `NOLOOP`): it reads the record's version and expiry
    /// back from the backend and calls [`invalidate`](Self::invalidate)
    /// with them, which keeps the entry if it is that new. Until then the
    /// entry may still be served: a change made elsewhere shows one round
    /// trip later for such records.
    pub fn needs_stamp(&self, storage_key: &str) -> bool {
        self.shared()
            .is_some_and(|s| s.shard(storage_key).needs_stamp(storage_key))
    }

    /// Drops every cached record (the backend was flushed, or the feed
    /// cannot tell which keys changed).
    pub fn flush(&self) {
        if let Some(s) = self.shared() {
            s.flush();
        }
    }

    /// The change channel is lost or lagging: flush, and send every call
    /// to the backend until [`channel_up`](Self::channel_up).
    pub fn channel_down(&self) {
        if let Some(s) = self.shared() {
            let was = s.coherent.swap(false, Ordering::AcqRel);
            s.flush();
            if was {
                tracing::warn!(
                    backend = s.backend,
                    "session near cache bypassed: its invalidation channel is down"
                );
            }
        }
    }

    /// The change channel is listening (again): flush what may have
    /// changed unheard, then answer loads from memory again.
    pub fn channel_up(&self) {
        if let Some(s) = self.shared() {
            s.flush();
            let was = s.coherent.swap(true, Ordering::AcqRel);
            if !was {
                tracing::info!(
                    backend = s.backend,
                    "session near cache in use: its invalidation channel is up"
                );
            }
        }
    }

    /// `true` once every clone of the cache is dropped: the feed can stop.
    pub fn is_closed(&self) -> bool {
        self.shared.strong_count() == 0
    }
}
