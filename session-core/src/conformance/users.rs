//! Checks on the per-user index: it lists, counts and revokes a user's
//! sessions (never an expired or deleted one, and a session saved again
//! without a change of user stays listed), or the store declares it has
//! none; and `Record::user` survives load and save.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::codec::encode_value;
use crate::record::truncate_ms;
use crate::{Error, Record, SessionId, SessionStore};

use super::support::*;

pub(super) fn bound(value: u64, ttl: Duration, user: &str) -> Record {
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
