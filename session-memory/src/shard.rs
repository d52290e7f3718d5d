//! One independently locked part of the store: its records, their expiry
//! order, their byte footprint, and eviction within its bounds.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use session_core::codec::{self, EXPIRY_OFFSET};
use session_core::record::unix_ms;
use session_core::{Error, Record, SessionId};

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

/// A record as the store keeps it: its envelope bytes
/// ([`codec::encode`]), one allocation sized to fit. The expiry, version
/// and user are read from the envelope's fixed header; the data is decoded
/// only when a session is loaded or listed.
pub(crate) struct Stored(Box<[u8]>);

impl Stored {
    /// Encodes `record`.
    fn of(record: &Record) -> Result<Self, Error> {
        Ok(Self(codec::encode(record)?.into_boxed_slice()))
    }

    /// The record, with its ID.
    ///
    /// # Errors
    /// Only if the store's own encoding did not round-trip (then the layer
    /// treats it as a damaged record).
    pub(crate) fn decode(&self, id: &SessionId) -> Result<Record, Error> {
        codec::decode(id.clone(), &self.0)
    }

    /// Its expiry, in ms since the Unix epoch.
    pub(crate) fn expires_ms(&self) -> u64 {
        codec::read_expiry(&self.0).unwrap_or(0)
    }

    fn version(&self) -> Option<u64> {
        codec::read_version(&self.0)
    }

    /// The user it is bound to.
    pub(crate) fn user(&self) -> Option<&str> {
        codec::read_user(&self.0)
            .flatten()
            .and_then(|u| std::str::from_utf8(u).ok())
    }

    /// Its footprint (see [`footprint`]).
    fn footprint(&self) -> usize {
        footprint(self.0.len())
    }

    /// Moves its expiry in place.
    fn set_expires_ms(&mut self, ms: u64) {
        if let Some(at) = self.0.get_mut(EXPIRY_OFFSET..EXPIRY_OFFSET + 8) {
            at.copy_from_slice(&ms.to_be_bytes());
        }
    }

    /// Replaces it with `new`, reusing the allocation when the size is
    /// unchanged (the usual save: a counter, a timestamp).
    fn replace(&mut self, new: Vec<u8>) {
        if self.0.len() == new.len() {
            self.0.copy_from_slice(&new);
        } else {
            self.0 = new.into_boxed_slice();
        }
    }
}

#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) records: HashMap<SessionId, Stored>,
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
    pub(crate) fn live(&mut self, id: &SessionId, now_ms: u64, shared: &Shared) -> Option<&Stored> {
        let expired = self.records.get(id).map(|r| r.expires_ms() <= now_ms)?;
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
    /// [`Error::TooLarge`] when the record alone exceeds the byte bound;
    /// [`Error::Encode`] when its data cannot be encoded.
    pub(crate) fn create(&mut self, record: &Record, w: Write<'_>) -> Result<(), Error> {
        if self.live(&record.id, w.now_ms, w.shared).is_some() {
            return Err(Error::Conflict);
        }
        let stored = Stored::of(record)?;
        let size = stored.footprint();
        fits_alone(size, w.limits)?;
        self.make_room(w, 1, size, &record.id);
        self.by_expiry
            .insert((stored.expires_ms(), record.id.clone()));
        w.shared.remember(stored.user(), &record.id);
        self.bytes += size;
        self.records.insert(record.id.clone(), stored);
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
        if current.version().and_then(|v| v.checked_add(1)) != Some(record.version) {
            return Err(Error::VersionConflict);
        }
        let bytes = codec::encode(record)?;
        let (old, new) = (current.footprint(), footprint(bytes.len()));
        fits_alone(new, w.limits)?;
        self.make_room(w, 0, new.saturating_sub(old), &record.id);
        // make_room never evicts the record it makes room for.
        let current = self.records.get_mut(&record.id).ok_or(Error::Vanished)?;
        let old_expiry = current.expires_ms();
        if current.user() != record.user.as_deref() {
            w.shared.unindex(current.user(), &record.id);
            w.shared.index(record.user.as_deref(), &record.id);
        }
        current.replace(bytes);
        let new_expiry = current.expires_ms();
        self.bytes = self.bytes - old + new;
        self.move_in_order(&record.id, old_expiry, new_expiry);
        Ok(())
    }

    /// Removes the record under `id`, if any.
    pub(crate) fn remove(&mut self, id: &SessionId, shared: &Shared) {
        if let Some(old) = self.records.remove(id) {
            self.forget(id, &old, shared);
            self.by_expiry.remove(&(old.expires_ms(), id.clone()));
        }
    }

    /// Bookkeeping for a record taken out of `records`.
    fn forget(&mut self, id: &SessionId, old: &Stored, shared: &Shared) {
        self.bytes -= old.footprint();
        shared.forget(old.user(), id);
    }

    /// Moves the expiry of the record under `id`, if any.
    pub(crate) fn set_expiry(&mut self, id: &SessionId, expires_at: SystemTime) {
        let new = unix_ms(expires_at);
        if let Some(r) = self.records.get_mut(id) {
            let old = r.expires_ms();
            r.set_expires_ms(new);
            self.move_in_order(id, old, new);
        }
    }

    /// Keeps the expiry order right when a record's expiry moved from `old`
    /// to `new` (most saves keep it: it moves only after the renewal window).
    fn move_in_order(&mut self, id: &SessionId, old: u64, new: u64) {
        if old != new {
            self.by_expiry.remove(&(old, id.clone()));
            self.by_expiry.insert((new, id.clone()));
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
                self.forget(&id, &old, shared);
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
