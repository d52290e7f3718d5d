//! Checks on saving and deleting: `save` updates, reports a vanished
//! record without resurrecting it, refuses a stale version, has one winner
//! per round among concurrent saves; `delete` is idempotent.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::codec::encode_value;
use crate::record::truncate_ms;
use crate::{Error, Record, SessionId, SessionStore};

use super::support::*;

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
