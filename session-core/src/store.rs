//! The `SessionStore` trait: the contract every backend keeps.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::{Error, Record, SessionId, SessionInfo};

/// Where session records live: the server-side data behind the signed IDs.
///
/// Stores implement `Debug` (without printing session IDs or data) so that
/// apps holding one can derive it.
///
/// Every method is one atomic operation against the backend. The contract,
/// checked for every store by the [conformance suite](crate::conformance):
///
/// * Expiry is exclusive: a record whose `expires_at` is at or before now is
///   gone for every method, even if the backend has not evicted it yet.
/// * Nothing ever resurrects a deleted or expired record: only
///   [`create`](Self::create) brings a record into existence.
/// * Stores should file records under [`SessionId::storage_key`] so that a
///   dump of the backend holds no usable cookie.
///
/// # Writing a custom store
///
/// See the guide in [`conformance`](crate::conformance) (feature
/// `conformance`), which carries a complete example store and the one call
/// that proves it keeps this contract.
#[async_trait]
pub trait SessionStore: std::fmt::Debug + Send + Sync + 'static {
    /// Inserts `record` if no live record has its ID, atomically.
    ///
    /// An expired record under the same ID counts as absent and is replaced.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when a live record has the ID; it is left untouched.
    /// Backend failures as [`Error::Backend`] / [`Error::Timeout`].
    async fn create(&self, record: &Record) -> Result<(), Error>;

    /// Loads the record for `id`.
    ///
    /// Returns `Ok(None)` when it is missing **or expired**, even if the
    /// backend still holds it.
    ///
    /// # Errors
    ///
    /// Backend failures, or [`Error::Envelope`] / [`Error::Decode`] for stored
    /// bytes that cannot be read (a damaged record). The session layer
    /// treats a damaged record as no session: it deletes it with
    /// [`delete`](Self::delete), logs its storage key and clears the cookie.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error>;

    /// Replaces the data, expiry and version of an existing, unexpired
    /// record, if it is still at the version the caller loaded.
    ///
    /// Versioned save: `record.version` is the new version, exactly one more
    /// than the version the caller loaded. The store writes only if the
    /// stored version is `record.version - 1`, checked in the same atomic
    /// step as the write (SQL `UPDATE … WHERE version = ?`, a Redis script,
    /// compare-and-swap in memory), so concurrent requests lose no updates.
    ///
    /// `record.created_at` is the value the caller loaded, so a store may
    /// write it or keep the stored one: the two are equal.
    ///
    /// # Errors
    ///
    /// [`Error::Vanished`] when there is no live record (it expired or was
    /// deleted while the request ran); nothing is written and the record is
    /// not resurrected. [`Error::VersionConflict`] when a concurrent save
    /// came first; nothing is written. Backend failures as usual.
    async fn save(&self, record: &Record) -> Result<(), Error>;

    /// Deletes the record for `id`. Deleting a missing record succeeds.
    ///
    /// # Errors
    ///
    /// Backend failures only.
    async fn delete(&self, id: &SessionId) -> Result<(), Error>;

    /// Moves the expiry of a live record to `expires_at`, which may be later
    /// (renewal) or earlier (shortening); the data is not rewritten. An
    /// `expires_at` in the past ends the session.
    ///
    /// # Errors
    ///
    /// [`Error::Vanished`] when there is no live record. Backend failures as usual.
    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error>;

    /// Removes expired records and returns how many it removed.
    ///
    /// A no-op returning `0` for backends that expire keys themselves.
    ///
    /// # Errors
    ///
    /// Backend failures only.
    async fn delete_expired(&self) -> Result<u64, Error>;

    /// `true` when the store keeps a per-user index, so that
    /// [`user_sessions`](Self::user_sessions), [`count_user_sessions`](Self::count_user_sessions)
    /// and [`delete_user_sessions`](Self::delete_user_sessions) work without
    /// scanning. The default is `false`: a store that cannot index says so
    /// and never falls back to a scan.
    fn indexes_users(&self) -> bool {
        false
    }

    /// The live sessions bound to `user` (see [`Record::user`]), in no
    /// particular order. Expired and deleted sessions never appear, nor do
    /// damaged records (stored bytes that do not decode): they are skipped,
    /// never an error for the whole list.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the store keeps no per-user index (the
    /// default); backend failures as usual.
    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let _ = user;
        Err(Error::Unsupported("a per-user session index"))
    }

    /// How many live sessions are bound to `user`.
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions), which the default calls.
    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        Ok(self.user_sessions(user).await?.len() as u64)
    }

    /// Deletes every session bound to `user` except `keep` (when given),
    /// and returns how many it deleted. Log out everywhere: revoked cookies
    /// find nothing afterwards. Damaged records filed under the user are
    /// deleted too (whether they are counted is up to the store).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the store keeps no per-user index (the
    /// default); backend failures as usual.
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        let _ = (user, keep);
        Err(Error::Unsupported("a per-user session index"))
    }

    /// Like [`delete_user_sessions`](Self::delete_user_sessions), keeping
    /// the session whose [storage key](SessionId::storage_key) is
    /// `keep_key` (as [`user_sessions`](Self::user_sessions) lists it), for
    /// operators, who know sessions by storage key only. Returns how many
    /// it deleted.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the store cannot (the default);
    /// backend failures as usual.
    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        let _ = (user, keep_key);
        Err(Error::Unsupported("keeping a session by its storage key"))
    }

    /// A short name for the kind of backend (`memory`, `redis`, `postgres`,
    /// `sqlite`, `mysql`), used as the `backend` label of the store's
    /// metrics and spans (see [`telemetry`](crate::telemetry)). Lower-case
    /// ASCII letters, digits and `_`; the default is `custom`.
    fn backend_name(&self) -> &'static str {
        "custom"
    }

    /// How many live (unexpired) sessions the store holds, bound to a user
    /// or not: for operators (`keycard count`), not for request paths, as a
    /// store may have to scan to answer.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the store cannot count (the default);
    /// backend failures as usual.
    async fn count_sessions(&self) -> Result<u64, Error> {
        Err(Error::Unsupported("counting all sessions"))
    }

    /// How many expired records wait for
    /// [`delete_expired`](Self::delete_expired) to remove them: 0 for a
    /// backend that expires keys itself.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the store cannot count (the default);
    /// backend failures as usual.
    async fn count_expired(&self) -> Result<u64, Error> {
        Err(Error::Unsupported("counting expired sessions"))
    }

    /// Removes at most `max` expired records in one step and returns how
    /// many it removed, so that a caller can purge a large backlog in
    /// batches and report progress; a result below `max` means nothing
    /// expired was left. Like [`delete_expired`](Self::delete_expired) it
    /// never removes a live record, and it is a no-op returning `0` for
    /// backends that expire keys themselves.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the store cannot delete in batches (the
    /// default: use [`delete_expired`](Self::delete_expired));
    /// backend failures as usual.
    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        let _ = max;
        Err(Error::Unsupported("deleting expired sessions in batches"))
    }

    /// The number of sessions held, when the store knows it without a
    /// round trip (the memory store: its record count, expired records not
    /// swept yet included), for the `keycard_sessions` gauge; `None` (the
    /// default) otherwise.
    fn approx_session_count(&self) -> Option<u64> {
        None
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn create(&self, record: &Record) -> Result<(), Error> {
        (**self).create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        (**self).load(id).await
    }
    async fn save(&self, record: &Record) -> Result<(), Error> {
        (**self).save(record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        (**self).delete(id).await
    }
    async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
        (**self).touch(id, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        (**self).delete_expired().await
    }
    fn indexes_users(&self) -> bool {
        (**self).indexes_users()
    }
    async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        (**self).user_sessions(user).await
    }
    async fn count_user_sessions(&self, user: &str) -> Result<u64, Error> {
        (**self).count_user_sessions(user).await
    }
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<u64, Error> {
        (**self).delete_user_sessions(user, keep).await
    }
    async fn delete_user_sessions_except_key(
        &self,
        user: &str,
        keep_key: &str,
    ) -> Result<u64, Error> {
        (**self)
            .delete_user_sessions_except_key(user, keep_key)
            .await
    }
    fn backend_name(&self) -> &'static str {
        (**self).backend_name()
    }
    async fn count_sessions(&self) -> Result<u64, Error> {
        (**self).count_sessions().await
    }
    async fn count_expired(&self) -> Result<u64, Error> {
        (**self).count_expired().await
    }
    async fn delete_expired_batch(&self, max: u32) -> Result<u64, Error> {
        (**self).delete_expired_batch(max).await
    }
    fn approx_session_count(&self) -> Option<u64> {
        (**self).approx_session_count()
    }
}
