//! The conformance checks of the store methods operators use (`keycard
//! count`, `purge-expired`, `revoke --keep`): counting live and expired
//! sessions, the batched cleanup, revoking all of a user's sessions but one
//! named by storage key, and the backend's label. Re-exported by
//! [`conformance`](crate::conformance).

use std::sync::Arc;
use std::time::Duration;

use super::support::{live_and_expired, must_be_gone, must_load, record_with, sleep_until, LONG};
use super::users::bound;
use crate::{Error, Record, SessionId, SessionStore};

/// `count_sessions` counts exactly the live sessions (bound or not, never
/// an expired one); `count_expired` is 0 once `delete_expired` ran; the
/// backend's name is a metric label; either may answer `Unsupported`.
pub async fn counts_live_and_expired_sessions<S: SessionStore>(store: &Arc<S>) {
    let name = store.backend_name();
    assert!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "backend_name must be a short lower-case label, got {name:?}"
    );
    let user = format!("user-{}", &SessionId::generate().storage_key()[..8]);
    let live = [
        record_with(1, LONG),
        record_with(2, LONG),
        bound(3, LONG, &user),
    ];
    let dying = [
        record_with(4, Duration::from_millis(20)),
        bound(5, Duration::from_millis(20), &user),
    ];
    for r in live.iter().chain(&dying) {
        store.create(r).await.expect("create");
    }
    if let Some(n) = store.approx_session_count() {
        assert!(n >= 5, "approx_session_count says {n} after 5 creates");
    }
    sleep_until(dying.iter().map(|r| r.expires_at).max().unwrap() + Duration::from_millis(2)).await;
    match store.count_sessions().await {
        Err(Error::Unsupported(_)) => {}
        Ok(n) => assert_eq!(n, 3, "count_sessions: 3 live and 2 expired sessions held"),
        Err(e) => panic!("count_sessions: {e}"),
    }
    match store.count_expired().await {
        Err(Error::Unsupported(_)) => {}
        Ok(n) => {
            assert!(n <= 2, "count_expired says {n} of 2 expired records");
            store.delete_expired().await.expect("delete_expired");
            let left = store.count_expired().await.expect("count_expired");
            assert_eq!(left, 0, "count_expired after delete_expired");
        }
        Err(e) => panic!("count_expired: {e}"),
    }
    store.delete(&live[0].id).await.expect("delete");
    if let Ok(n) = store.count_sessions().await {
        assert_eq!(n, 2, "count_sessions after a delete");
    }
}

/// `delete_expired_batch(n)` removes at most `n` records per call, never a
/// live one, and repeated until it answers less than `n` it leaves nothing
/// expired; or it answers `Unsupported`.
pub async fn delete_expired_batch_keeps_to_its_bound<S: SessionStore>(store: &Arc<S>) {
    let (live, dying) = live_and_expired(store, 3, 5).await;
    let mut removed = 0;
    for _ in 0..10 {
        let n = match store.delete_expired_batch(2).await {
            Err(Error::Unsupported(_)) => return,
            Ok(n) => n,
            Err(e) => panic!("delete_expired_batch: {e}"),
        };
        assert!(n <= 2, "delete_expired_batch(2) removed {n} records");
        removed += n;
        if n < 2 {
            break;
        }
    }
    assert!(removed <= 5, "removed {removed} of 5 expired records");
    if let Ok(n) = store.count_expired().await {
        assert_eq!(n, 0, "expired records left after the last batch");
    }
    for r in &live {
        must_load(store, &r.id, "live after delete_expired_batch").await;
    }
    for r in &dying {
        must_be_gone(store, &r.id, "expired after delete_expired_batch").await;
    }
}

/// `delete_user_sessions_except_key` ends every live session of the user
/// but the one with the given storage key, and no other user's; or it
/// answers `Unsupported`.
pub async fn revocation_keeps_a_session_by_storage_key<S: SessionStore>(store: &Arc<S>) {
    let user = format!("user-{}", &SessionId::generate().storage_key()[..8]);
    let mine: Vec<Record> = (0..3).map(|n| bound(n, LONG, &user)).collect();
    let other = bound(9, LONG, &format!("{user}-other"));
    for r in mine.iter().chain([&other]) {
        store.create(r).await.expect("create");
    }
    let keep = mine[1].id.storage_key();
    let ended = match store.delete_user_sessions_except_key(&user, &keep).await {
        Err(Error::Unsupported(_)) => return,
        Ok(n) => n,
        Err(e) => panic!("delete_user_sessions_except_key: {e}"),
    };
    assert_eq!(
        ended, 2,
        "delete_user_sessions_except_key: 3 sessions, 1 kept"
    );
    must_load(store, &mine[1].id, "the session kept by its storage key").await;
    must_load(store, &other.id, "another user's session").await;
    must_be_gone(store, &mine[0].id, "revoked").await;
    must_be_gone(store, &mine[2].id, "revoked").await;
}
