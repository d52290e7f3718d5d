//! Checks on creating and loading: values round trip unchanged, `create`
//! on a live ID is a `Conflict` and never overwrites, concurrent creates of
//! one ID (also over an expired record) have one winner, a missing ID loads
//! as `None`, and 10,000 sessions round trip.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::codec::{decode_value, encode_value};
use crate::record::Data;
use crate::{Error, Record, SessionId, SessionStore};

use super::support::*;

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

/// Loading an ID that was never stored gives `None`.
pub async fn load_missing_is_none<S: SessionStore>(store: &Arc<S>) {
    must_be_gone(store, &SessionId::generate(), "never stored").await;
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
