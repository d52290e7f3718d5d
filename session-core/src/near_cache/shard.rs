//! One lock's worth of the near cache: cached records, the leases of fills
//! in flight, least-recently-used order and the byte count.
//!
//! A fill (a backend read, or a write whose result should be cached) first
//! takes a *lease*: a `Pending` slot with a unique token. An invalidation
//! that arrives while the backend call is in flight marks or removes the
//! lease, and the fill only turns its lease into an entry if the lease is
//! still there and nothing newer was announced. So an invalidation can
//! never be overtaken by the (older) answer it invalidates, whichever of
//! the two the runtime happens to process first.

use std::time::{Instant, SystemTime};

use hashlink::LinkedHashMap;

use crate::Record;

/// What an invalidation says about the record's new state, when the
/// backend's channel tells it: its version and expiry.
///
/// A cached record with the same version and expiry, or a higher version,
/// is already at least that new (typically: this process's own write) and
/// stays. Without a stamp an invalidation always evicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The record's version after the change.
    pub version: u64,
    /// The record's expiry after the change, in milliseconds since the
    /// Unix epoch.
    pub expires_at_ms: u64,
}

impl Stamp {
    /// `true` when `record` is at least as new as this stamp says.
    fn covered_by(self, record: &Record) -> bool {
        record.version > self.version
            || (record.version == self.version && record.expires_at_ms() == self.expires_at_ms)
    }
}

/// What invalidations arrived for a key while a fill was in flight.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Nothing,
    Stamp(Stamp),
    /// An unstamped invalidation, or stamps that disagree: never fill.
    Poisoned,
}

impl Seen {
    fn add(self, stamp: Option<Stamp>) -> Self {
        match (self, stamp) {
            (Self::Poisoned, _) | (_, None) => Self::Poisoned,
            (Self::Nothing, Some(s)) => Self::Stamp(s),
            (Self::Stamp(a), Some(b)) if a.version == b.version && a != b => Self::Poisoned,
            (Self::Stamp(a), Some(b)) => Self::Stamp(if b.version > a.version { b } else { a }),
        }
    }

    fn allows(self, record: &Record) -> bool {
        match self {
            Self::Nothing => true,
            Self::Stamp(s) => s.covered_by(record),
            Self::Poisoned => false,
        }
    }
}

enum Slot {
    Pending {
        token: u64,
        seen: Seen,
        /// A write's lease: reads neither take it over nor fill.
        writing: bool,
    },
    Ready(Entry),
}

struct Entry {
    record: Record,
    cached_at: Instant,
    bytes: usize,
    /// Cached by this process's own write (see [`Shard::needs_stamp`]).
    own: bool,
}

/// Bytes counted per entry on top of its key, values and user: the record's
/// fixed fields, the slot and the map's links.
const ENTRY_OVERHEAD: usize = 160;

fn entry_bytes(key: &str, record: &Record) -> usize {
    let data: usize = record
        .data
        .iter()
        .map(|(k, v)| k.len() + v.len() + 48)
        .sum();
    ENTRY_OVERHEAD + key.len() + data + record.user.as_ref().map_or(0, String::len)
}

/// The answer of [`Shard::get`].
pub(super) enum Lookup {
    /// A fresh, unexpired cached record.
    Hit(Record),
    /// Nothing usable cached.
    Miss,
}

/// Entry and byte limits of one shard.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) entries: usize,
    pub(super) bytes: usize,
    pub(super) staleness: std::time::Duration,
}

/// How many entries a call removed to stay within the limits.
pub(super) type Evicted = u64;

#[derive(Default)]
pub(super) struct Shard {
    map: LinkedHashMap<Box<str>, Slot>,
    bytes: usize,
}

impl Shard {
    /// The cached record for `key` if it is fresh (cached less than the
    /// staleness cap ago) and unexpired at `now`; a stale or expired entry
    /// is dropped.
    pub(super) fn get(&mut self, key: &str, now: SystemTime, limits: &Limits) -> Lookup {
        let usable = match self.map.to_back(key) {
            Some(Slot::Ready(e)) => {
                if e.cached_at.elapsed() < limits.staleness && !e.record.is_expired_at(now) {
                    return Lookup::Hit(e.record.clone());
                }
                false
            }
            _ => true,
        };
        if !usable {
            self.remove(key);
        }
        Lookup::Miss
    }

    /// Takes a lease on `key` for a fill with `token` (a write's when
    /// `writing`), dropping whatever was cached there. A read gets no lease
    /// (`false`) while a write's lease is held.
    pub(super) fn lease(&mut self, key: &str, token: u64, writing: bool) -> bool {
        if !writing && matches!(self.map.get(key), Some(Slot::Pending { writing: true, .. })) {
            return false;
        }
        let pending = Slot::Pending {
            token,
            seen: Seen::Nothing,
            writing,
        };
        if let Some(Slot::Ready(old)) = self.map.insert(key.into(), pending) {
            self.bytes -= old.bytes;
        }
        true
    }

    /// Turns the lease `token` on `key` into an entry holding `record`
    /// (written by this process when `own`), unless an invalidation newer
    /// than `record` arrived meanwhile or the lease is gone. Then trims the
    /// shard to `limits`, least recently used first, and returns
    /// `(cached, evicted)`.
    pub(super) fn fill(
        &mut self,
        key: &str,
        token: u64,
        record: &Record,
        own: bool,
        limits: &Limits,
    ) -> (bool, Evicted) {
        let allowed = match self.map.get(key) {
            Some(Slot::Pending { token: t, seen, .. }) if *t == token => seen.allows(record),
            _ => return (false, 0),
        };
        if !allowed {
            self.map.remove(key);
            return (false, 0);
        }
        let bytes = entry_bytes(key, record);
        let entry = Entry {
            record: record.clone(),
            cached_at: Instant::now(),
            bytes,
            own,
        };
        self.map.replace(key.into(), Slot::Ready(entry));
        self.map.to_back(key);
        self.bytes += bytes;
        (true, self.trim(limits))
    }

    /// Drops the lease `token` on `key`, if it is still there.
    pub(super) fn release(&mut self, key: &str, token: u64) {
        if matches!(self.map.get(key), Some(Slot::Pending { token: t, .. }) if *t == token) {
            self.map.remove(key);
        }
    }

    /// Drops whatever `key` holds, lease or record.
    pub(super) fn drop_key(&mut self, key: &str) {
        self.map.remove(key).into_iter().for_each(|slot| {
            if let Slot::Ready(e) = slot {
                self.bytes -= e.bytes;
            }
        });
    }

    /// `true` when `key` holds a record this process wrote, or a write of
    /// it is in flight: an unstamped invalidation of it may be the echo of
    /// that write, worth a stamp read back from the backend.
    pub(super) fn needs_stamp(&self, key: &str) -> bool {
        matches!(
            self.map.get(key),
            Some(Slot::Pending { writing: true, .. } | Slot::Ready(Entry { own: true, .. }))
        )
    }

    /// Applies an invalidation of `key`; returns `true` when it dropped a
    /// cached record.
    pub(super) fn invalidate(&mut self, key: &str, stamp: Option<Stamp>) -> bool {
        match self.map.get_mut(key) {
            None => false,
            Some(Slot::Pending { seen, .. }) => {
                *seen = seen.add(stamp);
                false
            }
            Some(Slot::Ready(e)) => {
                if stamp.is_some_and(|s| s.covered_by(&e.record)) {
                    return false;
                }
                self.remove(key);
                true
            }
        }
    }

    /// Drops every lease and every record bound to `user` except the one
    /// under `keep`; returns how many records it dropped.
    pub(super) fn forget_user(&mut self, user: &str, keep: Option<&str>) -> u64 {
        let mut dropped = 0;
        let mut freed = 0;
        self.map.retain(|key, slot| match slot {
            Slot::Pending { .. } => false,
            Slot::Ready(e) => {
                let gone = e.record.user.as_deref() == Some(user) && keep != Some(&**key);
                if gone {
                    dropped += 1;
                    freed += e.bytes;
                }
                !gone
            }
        });
        self.bytes -= freed;
        dropped
    }

    /// Drops everything, leases included.
    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// `(records, bytes)` held.
    pub(super) fn size(&self) -> (usize, usize) {
        let ready = self
            .map
            .values()
            .filter(|s| matches!(s, Slot::Ready(_)))
            .count();
        (ready, self.bytes)
    }

    fn remove(&mut self, key: &str) {
        if let Some(Slot::Ready(e)) = self.map.remove(key) {
            self.bytes -= e.bytes;
        }
    }

    /// Removes least recently used records until the shard is within
    /// `limits` (leases count as entries, not bytes, and are skipped).
    fn trim(&mut self, limits: &Limits) -> Evicted {
        let mut evicted = 0;
        while self.map.len() > limits.entries || self.bytes > limits.bytes {
            // The just-filled entry is at the back; never evict the only one.
            if self.map.len() <= 1 {
                break;
            }
            let Some((_, slot)) = self.map.pop_front() else {
                break;
            };
            if let Slot::Ready(e) = slot {
                self.bytes -= e.bytes;
                evicted += 1;
            }
        }
        evicted
    }
}
