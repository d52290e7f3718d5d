//! What the checks share: records with a value, nested data, and asserts
//! on loading.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::codec::{decode_value, encode_value};
use crate::record::Data;
use crate::{Error, Record, SessionId, SessionStore};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Nested {
    name: String,
    tags: Vec<String>,
    scores: std::collections::BTreeMap<String, f64>,
    inner: Option<Box<Nested>>,
    bytes: Vec<u8>,
}

pub(super) fn nested() -> Nested {
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

pub(super) fn record_with(value: u64, ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("n".into(), encode_value(&value).expect("encode"));
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}

pub(super) fn value_of(record: &Record) -> u64 {
    decode_value(&record.data["n"]).expect("the value written by the suite")
}

pub(super) const LONG: Duration = Duration::from_secs(600);

/// The lifetime of a record a check expects to find live after a few round
/// trips and then to see expire: a loaded machine with a remote backend can
/// take tens of milliseconds per round trip, so a check that asserted a
/// 60 ms record live after five creates failed once. One second leaves a
/// wide margin, and the checks run in parallel, so the wait costs little.
pub(super) const SHORT_BUT_LIVE: Duration = Duration::from_secs(1);

pub(super) async fn must_load<S: SessionStore>(store: &S, id: &SessionId, what: &str) -> Record {
    match store.load(id).await {
        Ok(Some(r)) => r,
        Ok(None) => panic!("{what}: load returned None for a live record"),
        Err(e) => panic!(
            "{what}: load failed: {e} ({:?})",
            std::error::Error::source(&e)
        ),
    }
}

pub(super) async fn must_be_gone<S: SessionStore>(store: &S, id: &SessionId, what: &str) {
    let loaded = store.load(id).await.expect("load");
    assert!(
        loaded.is_none(),
        "{what}: load returned a record that must be gone"
    );
}

pub(super) async fn sleep_until(t: SystemTime) {
    if let Ok(d) = t.duration_since(SystemTime::now()) {
        tokio::time::sleep(d).await;
    }
}

pub(super) fn assert_vanished(result: Result<(), Error>, what: &str) {
    assert!(
        matches!(result, Err(Error::Vanished)),
        "{what} must be Err(Vanished), got {result:?}"
    );
}

/// Creates `live` records with ten minutes to live and `expired` with
/// 20 ms, and waits until the latter have expired.
pub(super) async fn live_and_expired<S: SessionStore>(
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
