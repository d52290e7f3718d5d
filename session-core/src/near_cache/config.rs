//! [`NearCacheConfig`]: how big a near cache may grow and how stale it may be.

use std::time::Duration;

use crate::Error;

/// Default [`NearCacheConfig::max_entries`].
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Default [`NearCacheConfig::max_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
/// Default [`NearCacheConfig::max_staleness`].
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(5);

/// The limits of a [`NearCache`](super::NearCache).
///
/// ```
/// use std::time::Duration;
/// use session_core::near_cache::NearCacheConfig;
///
/// let config = NearCacheConfig::new()
///     .max_entries(10_000)
///     .max_bytes(16 << 20)
///     .max_staleness(Duration::from_secs(2));
/// assert_eq!(config.staleness(), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NearCacheConfig {
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_staleness: Duration,
}

impl Default for NearCacheConfig {
    fn default() -> Self {
        Self {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            max_staleness: DEFAULT_MAX_STALENESS,
        }
    }
}

impl NearCacheConfig {
    /// The defaults: [`DEFAULT_MAX_ENTRIES`], [`DEFAULT_MAX_BYTES`],
    /// [`DEFAULT_MAX_STALENESS`].
    pub fn new() -> Self {
        Self::default()
    }

    /// At most this many records are cached; the least recently used go
    /// first.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// At most about this many bytes of records (keys, values, user and a
    /// fixed overhead per entry) are cached.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// The hard cap on how long a cached record is served without asking
    /// the backend again, whatever the invalidation channel says: the
    /// bound on staleness should the channel fail without the cache
    /// noticing.
    pub fn max_staleness(mut self, d: Duration) -> Self {
        self.max_staleness = d;
        self
    }

    /// The configured [`max_staleness`](Self::max_staleness).
    pub fn staleness(&self) -> Duration {
        self.max_staleness
    }

    /// Checks that the limits make sense.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a zero entry or byte limit, or a staleness cap
    /// of zero or over an hour.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_entries == 0 || self.max_bytes == 0 {
            return Err(Error::config(
                "near_cache",
                "max_entries and max_bytes must be above 0 (leave the cache off instead)",
            ));
        }
        if self.max_staleness.is_zero() || self.max_staleness > Duration::from_secs(3600) {
            return Err(Error::config(
                "near_cache",
                "max_staleness must be between 1 ms and 1 hour",
            ));
        }
        Ok(())
    }
}
