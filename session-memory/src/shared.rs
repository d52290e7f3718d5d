//! State shared by the shards: the record count and the user index.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use session_core::SessionId;

/// State shared by the shards. Lock order: a shard, then `users`.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) len: AtomicUsize,
    /// user -> IDs of the sessions bound to them (live or not yet swept).
    users: Mutex<HashMap<String, HashSet<SessionId>>>,
}

impl Shared {
    pub(crate) fn users(&self) -> MutexGuard<'_, HashMap<String, HashSet<SessionId>>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn index(&self, user: Option<&str>, id: &SessionId) {
        if let Some(user) = user {
            self.users()
                .entry(user.to_owned())
                .or_default()
                .insert(id.clone());
        }
    }

    pub(crate) fn unindex(&self, user: Option<&str>, id: &SessionId) {
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

    /// Bookkeeping for a record entering the store.
    pub(crate) fn remember(&self, user: Option<&str>, id: &SessionId) {
        self.len.fetch_add(1, Ordering::Relaxed);
        self.index(user, id);
    }

    /// Bookkeeping for a record leaving the store.
    pub(crate) fn forget(&self, user: Option<&str>, id: &SessionId) {
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.unindex(user, id);
    }

    /// The IDs indexed under `user` (a copy, so no lock is held while
    /// shards are visited).
    pub(crate) fn user_ids(&self, user: &str) -> Vec<SessionId> {
        self.users()
            .get(user)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }
}
