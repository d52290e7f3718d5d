//! What the layer remembers, in process, about when sessions expire, so that
//! [`Renewal::EveryRequest`](crate::Renewal::EveryRequest) renews a
//! session its handler never loaded without a store call per request.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::{Lifetime, SessionId};

/// Most sessions remembered per layer. Past it, entries of expired records
/// are dropped, and if that frees nothing, all are: a forgotten session
/// costs one load on its next request, never a wrong renewal.
pub(crate) const CAPACITY: usize = 65_536;

/// When one session's record expires and how it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    /// The record's expiry as last written or loaded by this process.
    pub(crate) expires_at: SystemTime,
    /// When the record was created (or last cycled): the absolute cap's start.
    pub(crate) created_at: SystemTime,
    /// The session's idle lifetime and cookie kind.
    pub(crate) lifetime: Lifetime,
}

/// A bounded map from session to [`Known`], shared by one layer's requests.
#[derive(Debug, Default)]
pub(crate) struct Renewals {
    known: Mutex<HashMap<SessionId, Known>>,
}

impl Renewals {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Known>> {
        // Never held across an await or user code.
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What is known about `id`, if anything.
    pub(crate) fn get(&self, id: &SessionId) -> Option<Known> {
        self.map().get(id).copied()
    }

    /// Remembers `known` for `id`, within [`CAPACITY`].
    pub(crate) fn put(&self, id: &SessionId, known: Known, now: SystemTime) {
        let mut map = self.map();
        if map.len() >= CAPACITY && !map.contains_key(id) {
            map.retain(|_, k| k.expires_at > now);
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(id.clone(), known);
    }

    /// Forgets `id` (ended, cycled or gone).
    pub(crate) fn forget(&self, id: &SessionId) {
        self.map().remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn known(expires_at: SystemTime) -> Known {
        Known {
            expires_at,
            created_at: SystemTime::UNIX_EPOCH,
            lifetime: Lifetime {
                idle: Duration::from_secs(60),
                persistent: true,
            },
        }
    }

    #[test]
    fn stays_within_capacity_dropping_expired_entries_first() {
        let renewals = Renewals::default();
        let now = SystemTime::now();
        let live = SessionId::generate();
        renewals.put(&live, known(now + Duration::from_secs(60)), now);
        for _ in 1..CAPACITY {
            renewals.put(&SessionId::generate(), known(now), now);
        }
        assert_eq!(renewals.len(), CAPACITY);
        let newcomer = SessionId::generate();
        renewals.put(&newcomer, known(now + Duration::from_secs(60)), now);
        assert_eq!(renewals.len(), 2, "expired entries were not dropped");
        assert!(renewals.get(&live).is_some() && renewals.get(&newcomer).is_some());
        renewals.forget(&live);
        assert_eq!(renewals.get(&live), None);
    }
}
