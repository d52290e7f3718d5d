//! What a store reports about one of a user's sessions.

use std::fmt;
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use crate::codec::decode_value;
use crate::record::Data;
use crate::{Error, Expiry, Record, SessionId};

/// One live session of a user, as listed by
/// [`SessionStore::user_sessions`](crate::SessionStore::user_sessions).
///
/// It names the session by its [storage key](SessionId::storage_key), a
/// hash that cannot be used as a cookie, so a list of sessions can be shown
/// to the user without handing out key cards.
#[derive(Clone, PartialEq, Eq)]
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
        }
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
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
