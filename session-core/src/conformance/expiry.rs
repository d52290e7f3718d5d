//! Checks on expiry: nothing loads after it (down to a record written
//! 50 ms before), `touch` extends and shortens without rewriting data and
//! never revives an expired record, load and save keep the expiry, and
//! `delete_expired` keeps live and short-lived records and never removes
//! one re-created over an expired one.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::codec::encode_value;
use crate::record::truncate_ms;
use crate::{Record, SessionId, SessionStore};

use super::support::*;

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
