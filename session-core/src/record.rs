//! The unit a store keeps: one session's data plus its timestamps and version.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Expiry, SessionId};

/// A session's key/value data. Each value is held as its MessagePack encoding,
/// so equal values compare equal byte for byte and unchanged keys never need
/// decoding.
pub type Data = BTreeMap<String, Vec<u8>>;

/// One stored session.
///
/// Times have millisecond precision: [`Record::new`] and the
/// [codec](crate::codec) truncate to whole milliseconds, so a record survives
/// a trip through any backend unchanged.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The session ID (what the cookie carries, signed).
    pub id: SessionId,
    /// The session's values, each MessagePack-encoded.
    pub data: Data,
    /// When the session was first stored.
    pub created_at: SystemTime,
    /// When the session stops being loadable.
    pub expires_at: SystemTime,
    /// Incremented by every save; 1 for a freshly created record.
    pub version: u64,
    /// The user identity the session is bound to (for example at login), if
    /// any. Stores that keep a per-user index file the session under it; see
    /// [`SessionStore::user_sessions`](crate::SessionStore::user_sessions).
    pub user: Option<String>,
    /// The session's own expiry choice ("remember me"), if any; `None`
    /// follows the configuration. Stored so that every renewal keeps it.
    pub expiry: Option<Expiry>,
}

impl Record {
    /// A version-1 record created now, expiring at `expires_at`.
    pub fn new(id: SessionId, data: Data, expires_at: SystemTime) -> Self {
        Self {
            id,
            data,
            created_at: truncate_ms(SystemTime::now()),
            expires_at: truncate_ms(expires_at),
            version: 1,
            user: None,
            expiry: None,
        }
    }

    /// `true` when the record is expired at `now` (expiry is exclusive: a
    /// record whose `expires_at` equals `now` is expired).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// `expires_at` as milliseconds since the Unix epoch.
    pub fn expires_at_ms(&self) -> u64 {
        unix_ms(self.expires_at)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .field("user_bound", &self.user.is_some())
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// Milliseconds since the Unix epoch (0 for instants before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The instant `ms` milliseconds after the Unix epoch.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Truncates an instant to whole milliseconds.
pub fn truncate_ms(t: SystemTime) -> SystemTime {
    from_unix_ms(unix_ms(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_record_is_version_one_with_ms_precision() {
        let r = Record::new(
            SessionId::generate(),
            Data::new(),
            UNIX_EPOCH + Duration::from_nanos(1_234_567_891),
        );
        assert_eq!(r.version, 1);
        assert_eq!(r.expires_at_ms(), 1_234);
        assert!(r.is_expired_at(SystemTime::now()));
        assert!(!format!("{r:?}").contains(&r.id.to_string()));
    }
}
