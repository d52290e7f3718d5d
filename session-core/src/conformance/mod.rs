//! # Writing a custom store
//!
//! A store is any type implementing [`SessionStore`]. Its records are
//! [`Record`]s; a real store keeps the bytes from
//! [`codec::encode`](crate::codec::encode) under [`SessionId::storage_key`]
//! (so a dump of the backend holds no usable cookie), together with the
//! expiry, and answers every method in one atomic step.
//!
//! ## Proving it keeps the contract
//!
//! The suite is behind this crate's `conformance` feature. Add it to the
//! store crate's dev-dependencies (without the feature, the macro below
//! fails with "cannot find macro `store_conformance`"):
//!
//! ```toml
//! [dev-dependencies]
//! session-core = { version = "0.1", features = ["conformance"] }
//! ```
//!
//! Then one line in the store's tests, say `tests/conformance.rs`:
//!
//! ```text
//! session_core::store_conformance!(async { MyStore::connect(&url).await.unwrap() });
//! ```
//!
//! [`store_conformance!`](crate::store_conformance) expands to one `#[test]`
//! per rule, each on a fresh store from your factory, named after the rule.
//! To check two stores (or two settings of one) in one file, give each call
//! a module of its own, or the test names clash:
//!
//! ```text
//! mod standalone { session_core::store_conformance!(async { MyStore::standalone().await }); }
//! mod clustered { session_core::store_conformance!(async { MyStore::cluster().await }); }
//! ```
//!
//! Rules checked: nested values round trip; `create` on a live ID is a
//! `Conflict` and never overwrites; 32 concurrent creates of one ID have
//! exactly one winner, also over an expired record; `delete_expired` never
//! removes a record re-created over an expired one; nothing loads after
//! expiry, down to a record written 50 ms before it expires; `save` of a
//! vanished record reports [`Error::Vanished`] and does not resurrect it;
//! versioned saves have one winner; `touch` extends and shortens without
//! rewriting data, and never revives an expired record that is not swept
//! yet; `delete` is idempotent; `delete_expired` keeps live records, also
//! those with a few seconds to live; 10,000 sessions round trip; `load`
//! returns [`Record::user`] as created and saved; and either the per-user
//! index works (list, count, revoke all or all but one, never an expired or
//! deleted session, and a session saved again without a change of user
//! stays indexed) or the store declares it has none
//! ([`SessionStore::indexes_users`] is `false` and the index methods answer
//! [`Error::Unsupported`]). The operator methods either answer
//! [`Error::Unsupported`] or are right: `count_sessions` counts exactly the
//! live sessions (bound or not, never an expired one), `count_expired`
//! reaches 0 once `delete_expired` ran, `delete_expired_batch(n)` removes
//! at most `n` records and never a live one, `delete_user_sessions_except_key`
//! ends every session of the user but the one with that storage key, and
//! `backend_name` is a short lower-case label.
//!
//! ## An example store
//!
//! A toy store with a per-user index, kept with the records under one
//! mutex: it holds [`Record`]s as they are (a real store encodes them), and
//! files each bound session's storage key under its user, so listing and
//! revoking a user's sessions never scans the store.
//!
//! ```
//! use std::collections::{HashMap, HashSet};
//! use std::sync::{Mutex, MutexGuard};
//! use std::time::SystemTime;
//!
//! use session_core::{async_trait, Error, Record, SessionId, SessionInfo, SessionStore};
//!
//! /// A toy store: records and the per-user index under one mutex.
//! #[derive(Debug, Default)]
//! pub struct ToyStore(Mutex<Toy>);
//!
//! #[derive(Debug, Default)]
//! struct Toy {
//!     /// Records by storage key.
//!     records: HashMap<String, Record>,
//!     /// user -> storage keys of the sessions bound to them.
//!     users: HashMap<String, HashSet<String>>,
//! }
//!
//! impl Toy {
//!     /// The live record under `key`; an expired one is removed on the way.
//!     fn live(&mut self, key: &str) -> Option<&mut Record> {
//!         if self.records.get(key)?.is_expired_at(SystemTime::now()) {
//!             self.remove(key);
//!             return None;
//!         }
//!         self.records.get_mut(key)
//!     }
//!     /// Stores a record and files it under its user.
//!     fn insert(&mut self, key: String, record: Record) {
//!         if let Some(user) = &record.user {
//!             self.users.entry(user.clone()).or_default().insert(key.clone());
//!         }
//!         self.records.insert(key, record);
//!     }
//!     /// Removes a record and its index entry.
//!     fn remove(&mut self, key: &str) -> Option<Record> {
//!         let old = self.records.remove(key)?;
//!         if let Some(keys) = old.user.as_ref().and_then(|u| self.users.get_mut(u)) {
//!             keys.remove(key);
//!         }
//!         Some(old)
//!     }
//!     /// Storage keys of `user`'s live sessions.
//!     fn keys_of(&mut self, user: &str) -> Vec<String> {
//!         let keys: Vec<String> = self.users.get(user).into_iter().flatten().cloned().collect();
//!         keys.into_iter().filter(|k| self.live(k).is_some()).collect()
//!     }
//! }
//!
//! impl ToyStore {
//!     fn lock(&self) -> MutexGuard<'_, Toy> {
//!         self.0.lock().unwrap()
//!     }
//! }
//!
//! #[async_trait]
//! impl SessionStore for ToyStore {
//!     async fn create(&self, record: &Record) -> Result<(), Error> {
//!         let key = record.id.storage_key();
//!         let mut toy = self.lock();
//!         if toy.live(&key).is_some() {
//!             return Err(Error::Conflict);
//!         }
//!         toy.insert(key, record.clone());
//!         Ok(())
//!     }
//!     async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
//!         Ok(self.lock().live(&id.storage_key()).cloned())
//!     }
//!     async fn save(&self, record: &Record) -> Result<(), Error> {
//!         let key = record.id.storage_key();
//!         let mut toy = self.lock();
//!         let old = toy.live(&key).ok_or(Error::Vanished)?;
//!         if old.version.checked_add(1) != Some(record.version) {
//!             return Err(Error::VersionConflict);
//!         }
//!         let created_at = old.created_at;
//!         // Out of the old user's index, into the new one's (often the same).
//!         toy.remove(&key);
//!         toy.insert(key, Record { created_at, ..record.clone() });
//!         Ok(())
//!     }
//!     async fn delete(&self, id: &SessionId) -> Result<(), Error> {
//!         self.lock().remove(&id.storage_key());
//!         Ok(())
//!     }
//!     async fn touch(&self, id: &SessionId, expires_at: SystemTime) -> Result<(), Error> {
//!         let mut toy = self.lock();
//!         let record = toy.live(&id.storage_key()).ok_or(Error::Vanished)?;
//!         record.expires_at = session_core::record::truncate_ms(expires_at);
//!         Ok(())
//!     }
//!     async fn delete_expired(&self) -> Result<u64, Error> {
//!         let now = SystemTime::now();
//!         let mut toy = self.lock();
//!         let expired: Vec<String> = toy.records.iter()
//!             .filter(|(_, r)| r.is_expired_at(now))
//!             .map(|(k, _)| k.clone())
//!             .collect();
//!         for key in &expired {
//!             toy.remove(key);
//!         }
//!         Ok(expired.len() as u64)
//!     }
//!     fn indexes_users(&self) -> bool {
//!         true
//!     }
//!     async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
//!         let mut toy = self.lock();
//!         let keys = toy.keys_of(user);
//!         Ok(keys.iter().map(|k| SessionInfo::of(toy.records[k].clone())).collect())
//!     }
//!     async fn delete_user_sessions(&self, user: &str, keep: Option<&SessionId>) -> Result<u64, Error> {
//!         let keep = keep.map(SessionId::storage_key);
//!         let mut toy = self.lock();
//!         let keys = toy.keys_of(user);
//!         let ended = keys.iter().filter(|k| Some(*k) != keep.as_ref());
//!         Ok(ended.filter_map(|k| toy.remove(k)).count() as u64)
//!     }
//! }
//!
//! // In your crate's tests: `session_core::store_conformance!(async { ToyStore::default() });`
//! // Here, the same checks run through `run_all`:
//! session_core::conformance::block_on(session_core::conformance::run_all(|| async {
//!     ToyStore::default()
//! }));
//! ```
//!
//! [`SessionStore`]: crate::SessionStore
//! [`SessionStore::indexes_users`]: crate::SessionStore::indexes_users
//! [`Record`]: crate::Record
//! [`Record::user`]: crate::Record::user
//! [`SessionId::storage_key`]: crate::SessionId::storage_key
//! [`Error::Vanished`]: crate::Error::Vanished
//! [`Error::Unsupported`]: crate::Error::Unsupported

use std::future::Future;
use std::sync::Arc;

use crate::SessionStore;

// The checks, one file per topic, all re-exported here: creating and
// loading, saving and deleting, expiry, the per-user index; `support`
// holds what they share.
mod create;
mod expiry;
mod ops;
mod save;
mod support;
mod users;

pub use create::*;
pub use expiry::*;
pub use ops::*;
pub use save::*;
pub use users::*;

#[doc(hidden)]
pub use tokio as __tokio;

/// Runs a future to completion on a fresh multi-threaded tokio runtime.
///
/// # Panics
///
/// Panics if the runtime cannot be built.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// Expands to one `#[test]` per conformance rule, each on a fresh store.
///
/// The argument is an expression that evaluates to a future yielding the
/// store; it runs inside the test's tokio runtime.
///
/// In a store crate's `tests/conformance.rs`:
/// `session_core::store_conformance!(async { MyStore::connect(&url).await.unwrap() });`
/// (the module docs run the same checks on a complete example store).
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
#[macro_export]
macro_rules! store_conformance {
    ($factory:expr) => {
        $crate::store_conformance!(@tests $factory;
            round_trip_nested_values, create_conflict_never_overwrites,
            concurrent_creates_have_one_winner, concurrent_creates_over_an_expired_record,
            delete_expired_never_removes_a_recreated_record, load_missing_is_none,
            no_load_after_expiry, expires_50ms_after_write, save_updates_record,
            save_of_vanished_record_is_reported, save_with_stale_version_conflicts,
            concurrent_saves_have_one_winner_per_round, touch_extends_and_shortens,
            touch_does_not_rewrite_data, delete_is_idempotent,
            delete_expired_keeps_live_records, ten_thousand_sessions,
            user_index_or_declared_unsupported, user_survives_load_and_save,
            touch_never_revives_an_expired_record, delete_expired_keeps_short_lived_records,
            user_index_keeps_sessions_saved_without_a_user_change,
            expiry_survives_load_and_save, counts_live_and_expired_sessions,
            delete_expired_batch_keeps_to_its_bound, revocation_keeps_a_session_by_storage_key);
    };
    (@tests $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::block_on(async {
                    let store = ::std::sync::Arc::new($factory.await);
                    $crate::conformance::$check(&store).await;
                });
            }
        )*
    };
}

/// Runs every check, each on a fresh store from `factory`.
pub async fn run_all<S, F, Fut>(factory: F)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    round_trip_nested_values(&Arc::new(factory().await)).await;
    create_conflict_never_overwrites(&Arc::new(factory().await)).await;
    concurrent_creates_have_one_winner(&Arc::new(factory().await)).await;
    concurrent_creates_over_an_expired_record(&Arc::new(factory().await)).await;
    delete_expired_never_removes_a_recreated_record(&Arc::new(factory().await)).await;
    load_missing_is_none(&Arc::new(factory().await)).await;
    no_load_after_expiry(&Arc::new(factory().await)).await;
    expires_50ms_after_write(&Arc::new(factory().await)).await;
    save_updates_record(&Arc::new(factory().await)).await;
    save_of_vanished_record_is_reported(&Arc::new(factory().await)).await;
    save_with_stale_version_conflicts(&Arc::new(factory().await)).await;
    concurrent_saves_have_one_winner_per_round(&Arc::new(factory().await)).await;
    touch_extends_and_shortens(&Arc::new(factory().await)).await;
    touch_does_not_rewrite_data(&Arc::new(factory().await)).await;
    delete_is_idempotent(&Arc::new(factory().await)).await;
    delete_expired_keeps_live_records(&Arc::new(factory().await)).await;
    ten_thousand_sessions(&Arc::new(factory().await)).await;
    user_index_or_declared_unsupported(&Arc::new(factory().await)).await;
    user_survives_load_and_save(&Arc::new(factory().await)).await;
    expiry_survives_load_and_save(&Arc::new(factory().await)).await;
    touch_never_revives_an_expired_record(&Arc::new(factory().await)).await;
    delete_expired_keeps_short_lived_records(&Arc::new(factory().await)).await;
    user_index_keeps_sessions_saved_without_a_user_change(&Arc::new(factory().await)).await;
    counts_live_and_expired_sessions(&Arc::new(factory().await)).await;
    delete_expired_batch_keeps_to_its_bound(&Arc::new(factory().await)).await;
    revocation_keeps_a_session_by_storage_key(&Arc::new(factory().await)).await;
}
