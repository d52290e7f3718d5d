//! What a store reports about one of a user's sessions.

use std::fmt;
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use crate::codec::decode_value;
use crate::record::Data;
use crate::{Error, Expiry, Lifetime, Record, SessionConfig, SessionId};

/// One live session of a user, as listed by
/// [`SessionStore::user_sessions`](crate::SessionStore::user_sessions).
///
/// It names the session by its [storage key](SessionId::storage_key), a
/// hash that cannot be used as a cookie, so a list of sessions can be shown
/// to the user without handing out usable cookies.
///
/// Stores fill it with [`SessionInfo::of`]; the HTTP adapters hand it to
/// apps after [`SessionInfo::seen_from`] has marked the requesting session
/// and worked out when each was last active.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's storage key (a hash of its ID).
    pub key: String,
    /// When the session was created.
    pub created_at: SystemTime,
    /// When the session expires unless it is used again.
    pub expires_at: SystemTime,
    /// The session's data, for app-supplied details such as a user agent.
    pub data: Data,
    /// The session's own expiry choice, if any (see [`Expiry`]).
    pub expiry: Option<Expiry>,
    /// `true` for the session of the request that listed it (set by
    /// [`seen_from`](Self::seen_from); `false` as a store reports it).
    pub current: bool,
    /// The last write or renewal the store saw: reads between renewals are
    /// not counted. As a store reports it, the creation time; worked out by
    /// [`seen_from`](Self::seen_from).
    pub last_active: SystemTime,
}

impl SessionInfo {
    /// The info of a record.
    pub fn of(record: Record) -> Self {
        Self {
            key: record.id.storage_key(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            data: record.data,
            expiry: record.expiry,
            current: false,
            last_active: record.created_at,
        }
    }

    /// The info as the session with `current` sees it, under `config`:
    /// marks whether it is that session, and works out its last activity.
    ///
    /// Every write and renewal sets `expires_at` to now plus the session's
    /// idle lifetime, so the last activity the store saw is that long
    /// before the expiry (never before creation).
    #[must_use]
    pub fn seen_from(mut self, current: Option<&SessionId>, config: &SessionConfig) -> Self {
        let idle = Lifetime::of(config, self.expiry).idle;
        self.last_active = self
            .expires_at
            .checked_sub(idle)
            .map_or(self.created_at, |t| t.max(self.created_at));
        self.current = current.is_some_and(|id| self.is(id));
        self
    }

    /// `true` when this is the session with `id`.
    pub fn is(&self, id: &SessionId) -> bool {
        self.key == id.storage_key()
    }

    /// Reads one value of the session's data; `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.data.get(key).map(|v| decode_value(v)).transpose()
    }
}

impl fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionInfo")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("current", &self.current)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
