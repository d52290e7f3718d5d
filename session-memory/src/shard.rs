//! One independently locked part of the store: its records, their expiry
//! order, their byte footprint, and eviction within its bounds.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use session_core::record::truncate_ms;
use session_core::{Data, Error, Record, SessionId};

use crate::footprint::footprint;
use crate::shared::Shared;

/// What one shard may hold; `None` is no bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most records.
    pub(crate) records: Option<usize>,
    /// Most approximate bytes (see [`footprint`]).
    pub(crate) bytes: Option<usize>,
}

/// What a write into a shard works with: the shard's bounds, the time and
/// the shared bookkeeping.
#[derive(Clone, Copy)]
pub(crate) struct Write<'a> {
    pub(crate) limits: Limits,
    /// Now, in ms since the epoch: records expiring at or before are gone.
    pub(crate) now_ms: u64,
    pub(crate) shared: &'a Shared,
}

#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) records: HashMap<SessionId, Record>,
    /// (expires_at in ms, ID) of every record, soonest first.
    by_expiry: BTreeSet<(u64, SessionId)>,
    /// Sum of the [`footprint`]s of `records`.
    bytes: usize,
}

impl Shard {
    /// The approximate bytes the shard's records cost.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Removes the record for `id` if it is expired; returns the live one.
    pub(crate) fn live(&mut self, id: &SessionId, now_ms: u64, shared: &Shared) -> Option<&Record> {
        let expired = self.records.get(id).map(|r| r.expires_at_ms() <= now_ms)?;
        if expired {
            self.remove(id, shared);
            return None;
        }
        self.records.get(id)
    }

    /// Stores a new record under an ID that holds no live one, evicting
    /// others to keep within `limits`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when a live record holds the ID;
    /// [`Error::TooLarge`] when the record alone exceeds the byte bound.
    pub(crate) fn create(&mut self, record: &Record, w: Write<'_>) -> Result<(), Error> {
        if self.live(&record.id, w.now_ms, w.shared).is_some() {
            return Err(Error::Conflict);
        }
        let size = footprint(record);
        fits_alone(size, w.limits)?;
        self.make_room(w, 1, size, &record.id);
        self.by_expiry
            .insert((record.expires_at_ms(), record.id.clone()));
        w.shared.remember(record);
        self.bytes += size;
        self.records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    /// Replaces the live record under `record.id` at the previous version,
    /// evicting others (never this one) when it grew past the byte bound.
    ///
    /// # Errors
    /// [`Error::Vanished`], [`Error::VersionConflict`], or
    /// [`Error::TooLarge`] when the record alone exceeds the byte bound;
    /// nothing is changed then.
    pub(crate) fn save(&mut self, record: &Record, w: Write<'_>) -> Result<(), Error> {
        let current = self
            .live(&record.id, w.now_ms, w.shared)
            .ok_or(Error::Vanished)?;
        // Compare-and-swap under the shard lock: the check and the write are one step.
        if current.version.checked_add(1) != Some(record.version) {
            return Err(Error::VersionConflict);
        }
        let (old, new) = (footprint(current), footprint(record));
        fits_alone(new, w.limits)?;
        self.make_room(w, 0, new.saturating_sub(old), &record.id);
        // make_room never evicts the record it makes room for.
        let current = self.records.get_mut(&record.id).ok_or(Error::Vanished)?;
        copy_data(&mut current.data, &record.data);
        current.expiry = record.expiry;
        current.version = record.version;
        if current.user != record.user {
            w.shared.unindex(current.user.as_deref(), &record.id);
            w.shared.index(record.user.as_deref(), &record.id);
            current.user.clone_from(&record.user);
        }
        self.bytes = self.bytes - old + new;
        self.set_expiry(&record.id, record.expires_at);
        Ok(())
    }

    /// Removes the record under `id`, if any.
    pub(crate) fn remove(&mut self, id: &SessionId, shared: &Shared) {
        if let Some(old) = self.records.remove(id) {
            self.forget(&old, shared);
            self.by_expiry.remove(&(old.expires_at_ms(), old.id));
        }
    }

    /// Bookkeeping for a record taken out of `records`.
    fn forget(&mut self, old: &Record, shared: &Shared) {
        self.bytes -= footprint(old);
        shared.forget(old);
    }

    /// Moves the expiry of the record under `id`, if any.
    pub(crate) fn set_expiry(&mut self, id: &SessionId, expires_at: SystemTime) {
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
    pub(crate) fn remove_expired(&mut self, now_ms: u64, shared: &Shared, limit: usize) -> usize {
        let mut n = 0;
        while let Some((exp, id)) = self.by_expiry.first().cloned() {
            if exp > now_ms || n == limit {
                break;
            }
            self.by_expiry.pop_first();
            if let Some(old) = self.records.remove(&id) {
                self.forget(&old, shared);
            }
            n += 1;
        }
        n
    }

    /// `(live, expired)` records at `now_ms`: the expired come first in
    /// the expiry order, so only they are walked.
    pub(crate) fn counts(&self, now_ms: u64) -> (usize, usize) {
        let expired = self
            .by_expiry
            .iter()
            .take_while(|(exp, _)| *exp <= now_ms)
            .count();
        (self.records.len() - expired, expired)
    }

    /// Whether `records` more records and `bytes` more bytes fit in `limits`.
    fn fits(&self, limits: Limits, records: usize, bytes: usize) -> bool {
        limits
            .records
            .is_none_or(|most| self.records.len() + records <= most)
            && limits.bytes.is_none_or(|most| self.bytes + bytes <= most)
    }

    /// Makes room for `records` more records and `bytes` more bytes:
    /// expired records first, then the soonest to expire, never `keep`.
    fn make_room(&mut self, w: Write<'_>, records: usize, bytes: usize, keep: &SessionId) {
        if self.fits(w.limits, records, bytes) {
            return;
        }
        self.remove_expired(w.now_ms, w.shared, usize::MAX);
        while !self.fits(w.limits, records, bytes) {
            let soonest = self.by_expiry.iter().find(|(_, id)| id != keep).cloned();
            let Some((_, id)) = soonest else {
                break;
            };
            self.remove(&id, w.shared);
        }
    }
}

/// Refuses a record that alone exceeds the byte bound.
fn fits_alone(size: usize, limits: Limits) -> Result<(), Error> {
    match limits.bytes {
        Some(limit) if size > limit => Err(Error::TooLarge { size, limit }),
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
