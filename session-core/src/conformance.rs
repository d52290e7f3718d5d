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

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::codec::{decode_value, encode_value};
use crate::record::{truncate_ms, Data};
use crate::{Error, Record, SessionId, SessionStore};

#[doc(hidden)]
pub use tokio as __tokio;

// The checks of the operator methods (counting, batched cleanup, revoking
// by storage key), in a file of their own.
#[path = "conformance_ops.rs"]
mod ops;
pub use ops::{
    counts_live_and_expired_sessions, delete_expired_batch_keeps_to_its_bound,
    revocation_keeps_a_session_by_storage_key,
};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Nested {
    name: String,
    tags: Vec<String>,
    scores: std::collections::BTreeMap<String, f64>,
    inner: Option<Box<Nested>>,
    bytes: Vec<u8>,
}

fn nested() -> Nested {
    Nested {
        name: "Zoë ☕".into(),
        tags: vec!["a".into(), String::new()],
        scores: [("x".to_string(), 1.5), ("y".to_string(), -0.0)].into(),
        inner: Some(Box::new(Nested {
            name: "inner".into(),
            tags: vec![],
            scores: Default::default(),
            inner: None,
            bytes: vec![0, 255],
        })),
        bytes: (0..=255).collect(),
    }
}

fn record_with(value: u64, ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("n".into(), encode_value(&value).expect("encode"));
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}

fn value_of(record: &Record) -> u64 {
    decode_value(&record.data["n"]).expect("the value written by the suite")
}

const LONG: Duration = Duration::from_secs(600);

/// The lifetime of a record a check expects to find live after a few round
/// trips and then to see expire: a loaded machine with a remote backend can
/// take tens of milliseconds per round trip, so a check that asserted a
/// 60 ms record live after five creates failed once. One second leaves a
/// wide margin, and the checks run in parallel, so the wait costs little.
const SHORT_BUT_LIVE: Duration = Duration::from_secs(1);

async fn must_load<S: SessionStore>(store: &S, id: &SessionId, what: &str) -> Record {
    match store.load(id).await {
        Ok(Some(r)) => r,
        Ok(None) => panic!("{what}: load returned None for a live record"),
        Err(e) => panic!(
            "{what}: load failed: {e} ({:?})",
            std::error::Error::source(&e)
        ),
    }
}

async fn must_be_gone<S: SessionStore>(store: &S, id: &SessionId, what: &str) {
    let loaded = store.load(id).await.expect("load");
    assert!(
        loaded.is_none(),
        "{what}: load returned a record that must be gone"
    );
}

async fn sleep_until(t: SystemTime) {
    if let Ok(d) = t.duration_since(SystemTime::now()) {
        tokio::time::sleep(d).await;
    }
}

/// Nested values, timestamps and version survive create + load unchanged.
pub async fn round_trip_nested_values<S: SessionStore>(store: &Arc<S>) {
    let mut data = Data::new();
    data.insert("nested".into(), encode_value(&nested()).unwrap());
    data.insert("unit".into(), encode_value(&()).unwrap());
    data.insert("".into(), encode_value("empty key").unwrap());
    let record = Record::new(SessionId::generate(), data, SystemTime::now() + LONG);
    store.create(&record).await.expect("create");
    let loaded = must_load(store, &record.id, "round trip").await;
    assert_eq!(
        loaded.data, record.data,
        "data changed on the way through the store"
    );
    assert_eq!(
        decode_value::<Nested>(&loaded.data["nested"]).unwrap(),
        nested()
    );
    assert_eq!(loaded.created_at, record.created_at, "created_at changed");
    assert_eq!(loaded.expires_at, record.expires_at, "expires_at changed");
    assert_eq!(loaded.version, record.version, "version changed");
}

/// `create` on a live ID fails with `Conflict` and keeps the first record.
pub async fn create_conflict_never_overwrites<S: SessionStore>(store: &Arc<S>) {
    let first = record_with(1, LONG);
    store.create(&first).await.expect("first create");
    let mut second = record_with(2, LONG);
    second.id = first.id.clone();
    match store.create(&second).await {
        Err(Error::Conflict) => {}
        other => panic!("second create of one ID must be Err(Conflict), got {other:?}"),
    }
    assert_eq!(
        value_of(&must_load(store, &first.id, "after conflict").await),
        1,
        "create overwrote a live record"
    );
}

/// 32 concurrent creates of one ID: exactly one wins, the rest get `Conflict`.
pub async fn concurrent_creates_have_one_winner<S: SessionStore>(store: &Arc<S>) {
    let id = SessionId::generate();
    let mut tasks = Vec::new();
    for n in 0..32u64 {
        let mut record = record_with(n, LONG);
        record.id = id.clone();
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(
            async move { (n, store.create(&record).await) },
        ));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("create task panicked"));
    }
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create must win, {} did",
        winners.len()
    );
    for (_, r) in &results {
        assert!(
            matches!(r, Ok(()) | Err(Error::Conflict)),
            "loser must get Conflict, got {r:?}"
        );
    }
    assert_eq!(
        value_of(&must_load(store, &id, "after race").await),
        winners[0],
        "the stored record is not the winner's"
    );
}

/// 32 concurrent creates over an expired record of the same ID: exactly one wins.
pub async fn concurrent_creates_over_an_expired_record<S: SessionStore>(store: &Arc<S>) {
    let expired = record_with(99, Duration::from_millis(20));
    store.create(&expired).await.expect("create");
    sleep_until(expired.expires_at + Duration::from_millis(2)).await;
    let mut tasks = Vec::new();
    for n in 0..32u64 {
        let mut record = record_with(n, LONG);
        record.id = expired.id.clone();
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(
            async move { (n, store.create(&record).await) },
        ));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("create task panicked") {
            (n, Ok(())) => winners.push(n),
            (_, Err(Error::Conflict)) => {}
            (_, other) => panic!("a losing create must get Conflict, got {other:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one create over an expired record must win, {} did",
        winners.len()
    );
    assert_eq!(
        value_of(&must_load(store, &expired.id, "after the race").await),
        winners[0]
    );
}

/// `delete_expired` racing a create that replaces an expired record never
/// deletes the new, live record.
pub async fn delete_expired_never_removes_a_recreated_record<S: SessionStore>(store: &Arc<S>) {
    for round in 0..10 {
        let old = record_with(1, Duration::from_millis(5));
        store.create(&old).await.expect("create");
        sleep_until(old.expires_at + Duration::from_millis(1)).await;
        let new = Record {
            expires_at: truncate_ms(SystemTime::now() + LONG),
            ..record_with(2, LONG)
        };
        let new = Record {
            id: old.id.clone(),
            ..new
        };
        let (sweeper, creator) = (Arc::clone(store), Arc::clone(store));
        let sweep = tokio::spawn(async move { sweeper.delete_expired().await });
        let create = tokio::spawn(async move { creator.create(&new).await });
        sweep.await.expect("sweep task").expect("delete_expired");
        create
            .await
            .expect("create task")
            .expect("create over an expired record");
        let loaded = must_load(store, &old.id, "re-created while delete_expired ran").await;
        assert_eq!(
            value_of(&loaded),
            2,
            "round {round}: the live record was replaced or removed"
        );
    }
}

/// Loading an ID that was never stored gives `None`.
pub async fn load_missing_is_none<S: SessionStore>(store: &Arc<S>) {
    must_be_gone(store, &SessionId::generate(), "never stored").await;
}

/// An expired record is never returned, created already expired or not.
pub async fn no_load_after_expiry<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(1, Duration::from_millis(1));
    store.create(&record).await.expect("create");
    sleep_until(record.expires_at).await;
    must_be_gone(store, &record.id, "expired at its expires_at instant").await;
    // An expired record does not block a new create under its ID.
    let again = Record {
        expires_at: truncate_ms(SystemTime::now() + LONG),
        ..record.clone()
    };
    store
        .create(&again)
        .await
        .expect("create over an expired record must succeed");
    must_load(store, &record.id, "re-created").await;
}

/// A record written 50 ms before it expires loads at once and not after.
pub async fn expires_50ms_after_write<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(1, Duration::from_millis(50));
    store.create(&record).await.expect("create");
    if SystemTime::now() + Duration::from_millis(5) < record.expires_at {
        must_load(store, &record.id, "before expiry").await;
    }
    sleep_until(record.expires_at + Duration::from_millis(2)).await;
    must_be_gone(store, &record.id, "2 ms after expiry").await;
}

/// `save` replaces data, expiry and version and keeps `created_at`.
pub async fn save_updates_record<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(1, LONG);
    store.create(&record).await.expect("create");
    let mut changed = record_with(2, LONG * 2);
    changed.id = record.id.clone();
    changed.version = 2;
    changed.created_at = record.created_at;
    store.save(&changed).await.expect("save");
    let loaded = must_load(store, &record.id, "after save").await;
    assert_eq!(value_of(&loaded), 2, "save did not replace the data");
    assert_eq!(loaded.version, 2, "save did not store the version");
    assert_eq!(
        loaded.expires_at, changed.expires_at,
        "save did not move the expiry"
    );
    assert_eq!(
        loaded.created_at, record.created_at,
        "save changed created_at"
    );
}

/// `save` of a never-stored, deleted or expired record is `Vanished` and writes nothing.
pub async fn save_of_vanished_record_is_reported<S: SessionStore>(store: &Arc<S>) {
    let never = record_with(1, LONG);
    assert_vanished(store.save(&never).await, "save of a never-stored record");
    must_be_gone(
        store,
        &never.id,
        "save of a never-stored record resurrected it",
    )
    .await;

    let deleted = record_with(1, LONG);
    store.create(&deleted).await.expect("create");
    store.delete(&deleted.id).await.expect("delete");
    assert_vanished(store.save(&deleted).await, "save of a deleted record");
    must_be_gone(store, &deleted.id, "save resurrected a deleted record").await;

    let expiring = record_with(1, Duration::from_millis(20));
    store.create(&expiring).await.expect("create");
    sleep_until(expiring.expires_at + Duration::from_millis(2)).await;
    let late = Record {
        expires_at: truncate_ms(SystemTime::now() + LONG),
        ..expiring.clone()
    };
    assert_vanished(store.save(&late).await, "save of an expired record");
    must_be_gone(store, &expiring.id, "save resurrected an expired record").await;
}

fn assert_vanished(result: Result<(), Error>, what: &str) {
    assert!(
        matches!(result, Err(Error::Vanished)),
        "{what} must be Err(Vanished), got {result:?}"
    );
}

/// A save stating a stale version is a `VersionConflict` and writes nothing;
/// a vanished record is still reported as `Vanished`, not as a conflict.
pub async fn save_with_stale_version_conflicts<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(1, LONG);
    store.create(&record).await.expect("create");
    let mut first = record.clone();
    first.data.insert("n".into(), encode_value(&2u64).unwrap());
    first.version = 2;
    store
        .save(&first)
        .await
        .expect("save at the loaded version");
    let mut stale = record.clone();
    stale.data.insert("n".into(), encode_value(&3u64).unwrap());
    stale.version = 2; // also loaded at version 1, but version 2 is stored now
    match store.save(&stale).await {
        Err(Error::VersionConflict) => {}
        other => panic!("a save at a stale version must be Err(VersionConflict), got {other:?}"),
    }
    let loaded = must_load(store, &record.id, "after a conflicting save").await;
    assert_eq!(
        (value_of(&loaded), loaded.version),
        (2, 2),
        "a conflicting save wrote"
    );
    let mut ahead = first.clone();
    ahead.version = 9;
    assert!(
        matches!(store.save(&ahead).await, Err(Error::VersionConflict)),
        "a save that jumps versions must conflict"
    );
    store.delete(&record.id).await.expect("delete");
    assert_vanished(
        store.save(&stale).await,
        "save of a deleted record at a stale version",
    );
}

/// 32 concurrent saves from the same loaded version: exactly one wins per
/// round, the rest get `VersionConflict`, over 5 rounds.
pub async fn concurrent_saves_have_one_winner_per_round<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(0, LONG);
    store.create(&record).await.expect("create");
    for round in 0..5u64 {
        let version = round + 2;
        let mut tasks = Vec::new();
        for n in 0..32u64 {
            let mut r = record_with(n, LONG);
            r.id = record.id.clone();
            r.created_at = record.created_at;
            r.version = version;
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move { (n, store.save(&r).await) }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.expect("save task panicked") {
                (n, Ok(())) => winners.push(n),
                (_, Err(Error::VersionConflict)) => {}
                (_, other) => panic!("a losing save must get VersionConflict, got {other:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one conditional save must win, {} did",
            winners.len()
        );
        let loaded = must_load(store, &record.id, "after a round of saves").await;
        assert_eq!(
            (value_of(&loaded), loaded.version),
            (winners[0], version),
            "round {round}: the stored record is not the winner's"
        );
    }
}

/// `touch` extends a short-lived record, shortens a long-lived one, and
/// reports a missing one.
pub async fn touch_extends_and_shortens<S: SessionStore>(store: &Arc<S>) {
    // Must still be live when the touch arrives, after a create.
    let short = record_with(1, SHORT_BUT_LIVE);
    store.create(&short).await.expect("create");
    let later = truncate_ms(SystemTime::now() + LONG);
    store
        .touch(&short.id, later)
        .await
        .expect("touch to extend");
    sleep_until(short.expires_at + Duration::from_millis(5)).await;
    let loaded = must_load(store, &short.id, "extended by touch").await;
    assert_eq!(
        loaded.expires_at, later,
        "touch did not store the new expiry"
    );

    let long = record_with(1, LONG);
    store.create(&long).await.expect("create");
    let soon = truncate_ms(SystemTime::now() + Duration::from_millis(40));
    store.touch(&long.id, soon).await.expect("touch to shorten");
    sleep_until(soon + Duration::from_millis(2)).await;
    must_be_gone(store, &long.id, "shortened by touch").await;

    assert_vanished(
        store.touch(&SessionId::generate(), later).await,
        "touch of a missing record",
    );
}

/// `touch` moves the expiry only: a save made before it is kept.
pub async fn touch_does_not_rewrite_data<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(1, LONG);
    store.create(&record).await.expect("create");
    let mut saved = record.clone();
    saved.data.insert("n".into(), encode_value(&2u64).unwrap());
    saved.version = 2;
    store.save(&saved).await.expect("save");
    store
        .touch(&record.id, truncate_ms(SystemTime::now() + LONG * 3))
        .await
        .expect("touch");
    let loaded = must_load(store, &record.id, "after touch").await;
    assert_eq!(value_of(&loaded), 2, "touch rewrote the data");
    assert_eq!(loaded.version, 2, "touch changed the version");
}

/// `delete` of a missing record succeeds; a deleted record is gone.
pub async fn delete_is_idempotent<S: SessionStore>(store: &Arc<S>) {
    store
        .delete(&SessionId::generate())
        .await
        .expect("delete of a missing record");
    let record = record_with(1, LONG);
    store.create(&record).await.expect("create");
    store.delete(&record.id).await.expect("delete");
    must_be_gone(store, &record.id, "after delete").await;
    store.delete(&record.id).await.expect("second delete");
}

/// Creates `live` records with ten minutes to live and `expired` with
/// 20 ms, and waits until the latter have expired.
async fn live_and_expired<S: SessionStore>(
    store: &S,
    live: u64,
    expired: u64,
) -> (Vec<Record>, Vec<Record>) {
    let live: Vec<Record> = (0..live).map(|n| record_with(n, LONG)).collect();
    let dying: Vec<Record> = (0..expired)
        .map(|n| record_with(n, Duration::from_millis(20)))
        .collect();
    for r in live.iter().chain(&dying) {
        store.create(r).await.expect("create");
    }
    sleep_until(dying.iter().map(|r| r.expires_at).max().unwrap() + Duration::from_millis(2)).await;
    (live, dying)
}

/// `delete_expired` never removes a live record, and expired ones stay unloadable.
pub async fn delete_expired_keeps_live_records<S: SessionStore>(store: &Arc<S>) {
    let (live, dying) = live_and_expired(store, 5, 5).await;
    store.delete_expired().await.expect("delete_expired");
    for r in &live {
        assert_eq!(
            value_of(&must_load(store, &r.id, "live after delete_expired").await),
            value_of(r)
        );
    }
    for r in &dying {
        must_be_gone(store, &r.id, "expired after delete_expired").await;
    }
}

/// 10,000 sessions, created 64 at a time, all load back.
pub async fn ten_thousand_sessions<S: SessionStore>(store: &Arc<S>) {
    let records: Arc<Vec<Record>> = Arc::new((0..10_000).map(|n| record_with(n, LONG)).collect());
    let workers = (0..64).map(|w| {
        let (store, records) = (Arc::clone(store), Arc::clone(&records));
        tokio::spawn(async move {
            for r in records.iter().skip(w).step_by(64) {
                store.create(r).await.expect("create");
            }
            for r in records.iter().skip(w).step_by(64) {
                let l = store
                    .load(&r.id)
                    .await
                    .expect("load")
                    .expect("one of 10,000 sessions is missing");
                assert_eq!(
                    value_of(&l),
                    value_of(r),
                    "one of 10,000 sessions holds another's data"
                );
            }
        })
    });
    for w in workers.collect::<Vec<_>>() {
        w.await.expect("a worker failed");
    }
}

fn bound(value: u64, ttl: Duration, user: &str) -> Record {
    Record {
        user: Some(user.to_owned()),
        ..record_with(value, ttl)
    }
}

async fn listed<S: SessionStore>(store: &S, user: &str) -> Vec<String> {
    let mut keys: Vec<String> = store
        .user_sessions(user)
        .await
        .expect("user_sessions")
        .into_iter()
        .map(|info| info.key)
        .collect();
    keys.sort();
    let count = store
        .count_user_sessions(user)
        .await
        .expect("count_user_sessions");
    assert_eq!(
        count,
        keys.len() as u64,
        "count_user_sessions disagrees with user_sessions"
    );
    keys
}

fn keys_of(records: &[&Record]) -> Vec<String> {
    let mut keys: Vec<String> = records.iter().map(|r| r.id.storage_key()).collect();
    keys.sort();
    keys
}

/// A store either keeps a per-user index (list, count, revoke all or all
/// but one; never an expired or deleted session; re-binding moves the
/// session) or declares that it does not and answers `Unsupported`.
pub async fn user_index_or_declared_unsupported<S: SessionStore>(store: &Arc<S>) {
    let user = format!("user-{}", &SessionId::generate().storage_key()[..8]);
    let other = format!("{user}-other");
    if !store.indexes_users() {
        let list = store.user_sessions(&user).await;
        assert!(
            matches!(list, Err(Error::Unsupported(_))),
            "a store without an index must answer Unsupported, got {list:?}"
        );
        let revoke = store.delete_user_sessions(&user, None).await;
        assert!(
            matches!(revoke, Err(Error::Unsupported(_))),
            "a store without an index must answer Unsupported, got {revoke:?}"
        );
        return;
    }
    let a = bound(1, LONG, &user);
    let b = bound(2, LONG, &user);
    // Lives 1 s: long enough to be listed after the five creates below even
    // on a loaded machine and a remote backend (60 ms once was not), short
    // enough for the check to wait for its expiry.
    let dying = bound(3, SHORT_BUT_LIVE, &user);
    let theirs = bound(4, LONG, &other);
    let unbound = record_with(5, LONG);
    for r in [&a, &b, &dying, &theirs, &unbound] {
        store.create(r).await.expect("create");
    }
    assert_eq!(
        listed(&**store, &user).await,
        keys_of(&[&a, &b, &dying]),
        "a user's sessions"
    );
    let infos = store.user_sessions(&user).await.expect("user_sessions");
    let info_a = infos.iter().find(|i| i.is(&a.id)).expect("a listed");
    assert_eq!(info_a.get::<u64>("n").unwrap(), Some(1), "listed data");
    assert_eq!(
        (info_a.created_at, info_a.expires_at),
        (a.created_at, a.expires_at),
        "listed times"
    );

    sleep_until(dying.expires_at + Duration::from_millis(2)).await;
    assert_eq!(
        listed(&**store, &user).await,
        keys_of(&[&a, &b]),
        "an expired session was listed"
    );
    store.delete(&b.id).await.expect("delete");
    assert_eq!(
        listed(&**store, &user).await,
        keys_of(&[&a]),
        "a deleted session was listed"
    );

    // Unbinding and re-binding through save move the session in the index.
    let f = bound(6, LONG, &user);
    store.create(&f).await.expect("create");
    let unbind = Record {
        user: None,
        version: 2,
        ..a.clone()
    };
    store.save(&unbind).await.expect("save unbinding");
    assert_eq!(
        listed(&**store, &user).await,
        keys_of(&[&f]),
        "an unbound session was listed"
    );
    let rebind = Record {
        version: 3,
        ..a.clone()
    };
    store.save(&rebind).await.expect("save re-binding");
    assert_eq!(
        listed(&**store, &user).await,
        keys_of(&[&a, &f]),
        "a re-bound session is missing"
    );

    // Log out everywhere else: all but the kept session end.
    let ended = store
        .delete_user_sessions(&user, Some(&a.id))
        .await
        .expect("delete_user_sessions");
    assert_eq!(ended, 1, "delete_user_sessions must count what it deleted");
    must_be_gone(store, &f.id, "revoked session").await;
    must_load(store, &a.id, "the kept session").await;
    assert_eq!(listed(&**store, &user).await, keys_of(&[&a]));
    assert_eq!(
        listed(&**store, &other).await,
        keys_of(&[&theirs]),
        "another user's sessions changed"
    );
    must_load(store, &unbound.id, "an unbound session").await;

    assert_eq!(
        store
            .delete_user_sessions(&user, None)
            .await
            .expect("delete all"),
        1
    );
    must_be_gone(store, &a.id, "revoked session").await;
    assert!(listed(&**store, &user).await.is_empty());
}

/// `load` returns the user a session is bound to, after `create` and after
/// a `save` that changes, keeps or removes the binding.
pub async fn user_survives_load_and_save<S: SessionStore>(store: &Arc<S>) {
    let user = format!("user-{}", &SessionId::generate().storage_key()[..8]);
    let record = bound(1, LONG, &user);
    store.create(&record).await.expect("create");
    let user_of = |r: Record| r.user;
    assert_eq!(
        user_of(must_load(store, &record.id, "bound").await).as_deref(),
        Some(user.as_str()),
        "load dropped or changed Record::user after create"
    );
    let mut next = record.clone();
    for (version, bound_to) in [(2, Some(&user)), (3, Some(&format!("{user}-2"))), (4, None)] {
        next.version = version;
        next.user = bound_to.cloned();
        next.data
            .insert("n".into(), encode_value(&version).unwrap());
        store.save(&next).await.expect("save");
        let loaded = must_load(store, &record.id, "after save").await;
        assert_eq!(
            (loaded.user.as_deref(), value_of(&loaded)),
            (bound_to.map(String::as_str), version),
            "load dropped or changed Record::user after a save (version {version})"
        );
    }
}

/// `load` returns a session's own [`Expiry`](crate::Expiry) (issue 16),
/// after `create`, after a `save` that changes or removes it, and after a
/// `touch`.
pub async fn expiry_survives_load_and_save<S: SessionStore>(store: &Arc<S>) {
    use crate::Expiry;
    let remembered = Expiry::Persistent(Duration::from_secs(30 * 86_400));
    let record = Record {
        expiry: Some(remembered),
        ..record_with(1, LONG)
    };
    store.create(&record).await.expect("create");
    assert_eq!(
        must_load(store, &record.id, "created").await.expiry,
        Some(remembered),
        "load dropped or changed Record::expiry after create"
    );
    let mut next = record.clone();
    for (version, expiry) in [
        (2, Some(Expiry::BrowserSession)),
        (3, Some(remembered)),
        (4, None),
        (5, Some(Expiry::BrowserSession)),
    ] {
        next.version = version;
        next.expiry = expiry;
        store.save(&next).await.expect("save");
        let loaded = must_load(store, &record.id, "after save").await;
        assert_eq!(
            loaded.expiry, expiry,
            "load dropped or changed Record::expiry after a save (version {version})"
        );
    }
    store
        .touch(&record.id, truncate_ms(SystemTime::now() + LONG * 2))
        .await
        .expect("touch");
    assert_eq!(
        must_load(store, &record.id, "after touch").await.expiry,
        Some(Expiry::BrowserSession),
        "touch changed Record::expiry"
    );
}

/// `touch` of a record that expired but may not be swept yet reports
/// `Vanished` and does not bring it back.
pub async fn touch_never_revives_an_expired_record<S: SessionStore>(store: &Arc<S>) {
    let record = record_with(1, Duration::from_millis(20));
    store.create(&record).await.expect("create");
    sleep_until(record.expires_at + Duration::from_millis(2)).await;
    assert_vanished(
        store
            .touch(&record.id, truncate_ms(SystemTime::now() + LONG))
            .await,
        "touch of an expired record",
    );
    must_be_gone(store, &record.id, "touch revived an expired record").await;
}

/// `delete_expired` keeps records that expire in a few seconds (not only
/// long-lived ones), and removes the expired ones next to them.
pub async fn delete_expired_keeps_short_lived_records<S: SessionStore>(store: &Arc<S>) {
    // At least 2 s to live: still live after the creates, the wait and the
    // sweep below on a loaded machine, and all under 10 s.
    let short: Vec<Record> = [2_000, 3_000, 5_000, 8_000]
        .into_iter()
        .map(|ms| record_with(ms, Duration::from_millis(ms)))
        .collect();
    let dying = record_with(0, Duration::from_millis(20));
    for r in short.iter().chain([&dying]) {
        store.create(r).await.expect("create");
    }
    sleep_until(dying.expires_at + Duration::from_millis(2)).await;
    store.delete_expired().await.expect("delete_expired");
    for r in &short {
        let what = format!(
            "a record with {} ms to live, after delete_expired",
            value_of(r)
        );
        must_load(store, &r.id, &what).await;
    }
    must_be_gone(store, &dying.id, "expired after delete_expired").await;
}

/// A bound session saved without a change of user (the usual save after
/// login) stays in its user's index: it is listed, counted and revoked.
pub async fn user_index_keeps_sessions_saved_without_a_user_change<S: SessionStore>(
    store: &Arc<S>,
) {
    if !store.indexes_users() {
        return;
    }
    let user = format!("user-{}", &SessionId::generate().storage_key()[..8]);
    let record = bound(1, LONG, &user);
    store.create(&record).await.expect("create");
    let mut saved = record.clone();
    for version in 2..=3 {
        saved.version = version;
        saved
            .data
            .insert("n".into(), encode_value(&version).unwrap());
        store.save(&saved).await.expect("save");
        assert_eq!(
            listed(&**store, &user).await,
            keys_of(&[&record]),
            "a session saved without a user change left its user's index"
        );
    }
    store
        .touch(&record.id, truncate_ms(SystemTime::now() + LONG * 2))
        .await
        .expect("touch");
    assert_eq!(
        listed(&**store, &user).await,
        keys_of(&[&record]),
        "a touched session left its user's index"
    );
    assert_eq!(
        store
            .delete_user_sessions(&user, None)
            .await
            .expect("delete_user_sessions"),
        1,
        "log out everywhere missed a session saved after login"
    );
    must_be_gone(store, &record.id, "revoked after a save").await;
}
