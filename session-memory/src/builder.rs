//! [`MemoryStoreBuilder`]: the store's settings.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::shard::Limits;
use crate::shared::Shared;
use crate::store::{Inner, MemoryStore};
use crate::sweeper::{sweep_loop, Sweeper};
use crate::{DEFAULT_MAX_BYTES, DEFAULT_SHARDS, DEFAULT_SWEEP_INTERVAL};

/// Builder for [`MemoryStore`], from [`MemoryStore::builder`].
///
/// ```
/// use session_memory::MemoryStore;
///
/// // At most 64 MiB of sessions and at most 100,000 of them.
/// let store = MemoryStore::builder()
///     .max_bytes(64 << 20)
///     .capacity(100_000)
///     .build();
/// assert_eq!(store.approx_bytes(), 0);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStoreBuilder {
    sweep_interval: Option<Duration>,
    capacity: Option<usize>,
    max_bytes: Option<usize>,
    shards: usize,
    release_memory: bool,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            capacity: None,
            max_bytes: Some(DEFAULT_MAX_BYTES),
            shards: DEFAULT_SHARDS,
            release_memory: false,
        }
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
    /// on access or by [`SessionStore::delete_expired`](session_core::SessionStore::delete_expired).
    pub fn no_sweeper(mut self) -> Self {
        self.sweep_interval = None;
        self
    }

    /// Bounds the approximate memory the records cost, in bytes (default
    /// [`DEFAULT_MAX_BYTES`], 128 MiB).
    ///
    /// Each record counts a fixed overhead (800 bytes: its table slots,
    /// expiry index entry and allocations), 64 bytes per data entry,
    /// and the bytes of its keys, values and user name; the overheads were
    /// measured so that the total, [`MemoryStore::approx_bytes`], is close
    /// to the resident memory a full store adds to the process, whatever
    /// the sessions' sizes.
    ///
    /// The bound is kept per shard (`max_bytes / shards` rounded up each).
    /// A `create` or a `save` that would take its shard past it first
    /// drops the shard's expired records, then evicts its records closest
    /// to expiry (the sessions idle longest) until the record fits; the
    /// record being written is never evicted. A record that alone costs
    /// more than a shard's bound is refused with
    /// [`Error::TooLarge`](session_core::Error::TooLarge) (a `save` then
    /// leaves the stored version as it was): keep the bound per shard well
    /// above the layer's `max_data_size` (64 KiB by default: the default
    /// bound is 4 MiB per shard), with fewer [`shards`](Self::shards) if
    /// need be.
    ///
    /// Measured (resident memory of the process, glibc, see
    /// `BENCHMARKS.md` and `examples/footprint.rs`): a default store
    /// flooded with sessions at the 64 KiB `max_data_size` holds 2,016 of
    /// them and the process grows by 127 MiB; flooded with typical sessions
    /// (a typical app's after login: user ID, e-mail address and user
    /// agent, bound to the user) it holds 424,736 of them and the process
    /// grows by 147 MiB. An unbounded store costs 0.28 KiB per typical
    /// session at 100,000 sessions, 0.32 KiB at 1,000,000.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = Some(max_bytes.max(1));
        self
    }

    /// Also bounds the number of records (default: no count bound, only
    /// the byte bound of [`max_bytes`](Self::max_bytes)).
    ///
    /// Kept per shard like the byte bound (`capacity / shards` rounded up,
    /// at least 1 each), evicting the same way: a `create` into a full
    /// shard drops its expired records, then its records closest to
    /// expiry. Saves, touches and loads never change the count.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// No bound at all, neither on bytes nor on the number of records:
    /// memory grows with the number of live sessions (each cookieless
    /// request to a route that writes the session adds one, until it
    /// expires).
    pub fn unbounded(mut self) -> Self {
        self.capacity = None;
        self.max_bytes = None;
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
    /// 5 MiB (it was 3 MiB before the storm). A bounded store (the default)
    /// never grows past its byte bound, so there is less to give back.
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
        let per_shard = |total: usize| total.div_ceil(self.shards).max(1);
        let inner = Arc::new(Inner {
            shards: (0..self.shards).map(|_| Mutex::default()).collect(),
            shared: Shared::default(),
            limits: Limits {
                records: self.capacity.map(per_shard),
                bytes: self.max_bytes.map(per_shard),
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_is_left_alone_unless_asked() {
        assert!(!MemoryStoreBuilder::default().release_memory);
        assert!(
            MemoryStoreBuilder::default()
                .release_memory(true)
                .release_memory
        );
    }

    #[test]
    fn unbounded_lifts_both_bounds() {
        let builder = MemoryStoreBuilder::default().capacity(10).unbounded();
        assert_eq!((builder.capacity, builder.max_bytes), (None, None));
        let builder = MemoryStoreBuilder::default();
        assert_eq!(
            (builder.capacity, builder.max_bytes),
            (None, Some(DEFAULT_MAX_BYTES))
        );
    }
}
