//! How the standalone store files records in Redis: key layout, TTLs from
//! the record's expiry, `touch` rewriting the expiry bytes in place, and
//! corrupt or foreign values as errors that write nothing.

use std::time::{Duration, SystemTime};

use redis::AsyncCommands as _;
use session_core::codec::{self, EXPIRY_OFFSET};
use session_core::record::{truncate_ms, unix_ms};
use session_core::{Error, Record, SessionId, SessionStore};
use session_redis::{RedisStore, DEFAULT_KEY_PREFIX};
use session_test_support::redis_url;

use crate::common::{raw_standalone, standalone_store};
use crate::record;

/// How far `pttl` is from the time left until `expires_at`, in ms.
fn pttl_error(pttl: i64, expires_at: SystemTime) -> i64 {
    let left = i64::try_from(unix_ms(expires_at)).unwrap()
        - i64::try_from(unix_ms(SystemTime::now())).unwrap();
    (pttl - left).abs()
}

#[tokio::test]
async fn ttl_is_the_records_expiry() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    let key = store.redis_key(&r.id);

    store.create(&r).await.unwrap();
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        pttl_error(pttl, r.expires_at) <= 20,
        "after create: PTTL {pttl} ms for a record expiring in 60 s"
    );
    assert!(pttl <= 60_000, "PTTL {pttl} ms is longer than the lifetime");

    let mut saved = r.clone();
    saved.expires_at = truncate_ms(SystemTime::now() + Duration::from_secs(7200));
    saved.version = 2;
    store.save(&saved).await.unwrap();
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        pttl_error(pttl, saved.expires_at) <= 20,
        "after save: PTTL {pttl} ms, expected about 2 h"
    );

    let touched = truncate_ms(SystemTime::now() + Duration::from_secs(30));
    store.touch(&r.id, touched).await.unwrap();
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        pttl_error(pttl, touched) <= 20,
        "after touch: PTTL {pttl} ms, expected about 30 s"
    );
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn records_are_filed_under_prefix_and_hashed_id() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();

    let key = store.redis_key(&r.id);
    assert_eq!(key, format!("{}{}", store.key_prefix(), r.id.storage_key()));
    assert!(!key.contains(&r.id.to_string()), "the raw ID is in the key");
    let stored: Option<Vec<u8>> = raw.get(&key).await.unwrap();
    assert_eq!(
        codec::decode(r.id.clone(), &stored.expect("the record's key"))
            .unwrap()
            .data,
        r.data
    );
    let raw_id_key = format!("{}{}", store.key_prefix(), r.id);
    assert!(!raw.exists::<_, bool>(&raw_id_key).await.unwrap());

    store.delete(&r.id).await.unwrap();
    assert!(!raw.exists::<_, bool>(&key).await.unwrap());
}

#[tokio::test]
async fn default_prefix_and_debug() {
    let store = RedisStore::connect(redis_url().as_str())
        .await
        .expect("Redis at REDIS_URL");
    assert_eq!(store.key_prefix(), DEFAULT_KEY_PREFIX);
    assert_eq!(store.key_prefix(), "session:");
    assert_eq!(
        store.command_timeout(),
        session_redis::DEFAULT_COMMAND_TIMEOUT
    );
    assert!(!store.is_cluster());
    let debug = format!("{store:?}");
    assert!(
        debug.contains("standalone") && debug.contains("session:"),
        "{debug}"
    );
}

#[tokio::test]
async fn touch_rewrites_only_the_expiry_bytes() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    let key = store.redis_key(&r.id);
    store.create(&r).await.unwrap();
    let before: Vec<u8> = raw.get(&key).await.unwrap();

    let later = truncate_ms(SystemTime::now() + Duration::from_secs(3600));
    store.touch(&r.id, later).await.unwrap();
    let after: Vec<u8> = raw.get(&key).await.unwrap();

    assert_eq!(before.len(), after.len());
    assert_eq!(before[..EXPIRY_OFFSET], after[..EXPIRY_OFFSET]);
    assert_eq!(
        after[EXPIRY_OFFSET..EXPIRY_OFFSET + 8],
        unix_ms(later).to_be_bytes(),
        "the envelope does not hold the new expiry"
    );
    assert_eq!(
        before[EXPIRY_OFFSET + 8..],
        after[EXPIRY_OFFSET + 8..],
        "touch rewrote the data"
    );
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(loaded.expires_at, later);
    assert_eq!(loaded.data, r.data);
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn touch_into_the_past_ends_the_session() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();
    store
        .touch(&r.id, SystemTime::now() - Duration::from_secs(1))
        .await
        .expect("touch into the past");
    assert!(store.load(&r.id).await.unwrap().is_none());
    assert!(!raw.exists::<_, bool>(store.redis_key(&r.id)).await.unwrap());
    assert!(matches!(
        store
            .touch(&r.id, SystemTime::now() + Duration::from_secs(60))
            .await,
        Err(Error::Vanished)
    ));
}

#[tokio::test]
async fn create_of_an_already_expired_record_stores_nothing() {
    let store = standalone_store().await;
    let mut r = record(Duration::from_secs(60));
    r.expires_at = SystemTime::UNIX_EPOCH;
    store.create(&r).await.expect("create");
    assert!(store.load(&r.id).await.unwrap().is_none());
    r.expires_at = truncate_ms(SystemTime::now() - Duration::from_secs(5));
    store.create(&r).await.expect("create");
    assert!(store.load(&r.id).await.unwrap().is_none());
}

#[tokio::test]
async fn delete_expired_is_a_no_op() {
    let store = standalone_store().await;
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(store.load(&r.id).await.unwrap().is_some());
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn corrupt_values_are_errors_not_panics() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let id = SessionId::generate();
    let key = store.redis_key(&id);

    let _: () = raw.set_ex(&key, b"\x01abc", 60).await.unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Envelope { .. })));
    assert!(matches!(
        store
            .touch(&id, SystemTime::now() + Duration::from_secs(60))
            .await,
        Err(Error::Envelope { .. })
    ));
    let unchanged: Vec<u8> = raw.get(&key).await.unwrap();
    assert_eq!(unchanged, b"\x01abc", "touch wrote into a corrupt value");

    let _: () = raw.set_ex(&key, b"\x09garbage-garbage", 60).await.unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Envelope { .. })));

    let _: () = raw.del(&key).await.unwrap();
    let _: () = raw.sadd(&key, "not a string").await.unwrap();
    let _: () = raw.expire(&key, 60).await.unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    assert!(std::error::Error::source(&err)
        .unwrap()
        .downcast_ref::<redis::RedisError>()
        .is_some());
    let _: () = raw.del(&key).await.unwrap();
}

/// Issue 17: formats 1 and 2 (pre-release builds only) are no longer read.
/// A whole format-3 envelope relabelled with any other format number is an
/// envelope error for `load`, `save` and `touch`, and none of them writes.
#[tokio::test]
async fn values_of_another_format_are_envelope_errors_and_written_over_by_nothing() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let mut r = record(Duration::from_secs(60));
    r.user = Some("ada".into());
    let key = store.redis_key(&r.id);
    for format in [1, 2, 4, 255] {
        let mut bytes = codec::encode(&r).unwrap();
        bytes[0] = format;
        let _: () = raw.set_ex(&key, &bytes, 60).await.unwrap();
        let loaded = store.load(&r.id).await;
        assert!(
            matches!(loaded, Err(Error::Envelope { .. })),
            "format {format}: {loaded:?}"
        );
        let saved = store
            .save(&Record {
                version: r.version + 1,
                ..r.clone()
            })
            .await;
        assert!(
            matches!(saved, Err(Error::Envelope { .. })),
            "format {format}: {saved:?}"
        );
        let touched = store
            .touch(&r.id, SystemTime::now() + Duration::from_secs(600))
            .await;
        assert!(
            matches!(touched, Err(Error::Envelope { .. })),
            "format {format}: {touched:?}"
        );
        let unchanged: Vec<u8> = raw.get(&key).await.unwrap();
        assert_eq!(unchanged, bytes, "format {format}: a write went through");
    }
    let _: () = raw.del(&key).await.unwrap();
}

#[tokio::test]
async fn save_over_corrupt_values_is_an_error_and_writes_nothing() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let mut r = record(Duration::from_secs(60));
    r.version = 2;
    let key = store.redis_key(&r.id);
    for bad in [
        &b"\x01abc"[..],
        b"\x01\0\0\0\0\0\0\0\0\x93\xcf\0\0",
        b"\x02\0\0\0\0\0\0\0\0\0\0",
        b"\x09garbage-garbage-garbage",
        b"",
    ] {
        let _: () = raw.set_ex(&key, bad, 60).await.unwrap();
        let result = store.save(&r).await;
        assert!(
            matches!(result, Err(Error::Envelope { .. })),
            "{bad:?}: {result:?}"
        );
        let unchanged: Vec<u8> = raw.get(&key).await.unwrap();
        assert_eq!(unchanged, bad, "save wrote over a corrupt value");
    }
    let _: () = raw.del(&key).await.unwrap();
    let _: () = raw.sadd(&key, "not a string").await.unwrap();
    let _: () = raw.expire(&key, 60).await.unwrap();
    let err = store.save(&r).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    let _: () = raw.del(&key).await.unwrap();
}
