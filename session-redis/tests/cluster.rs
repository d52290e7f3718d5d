//! The published store conformance suite, and the key layout checks, against
//! a real 3-master Redis Cluster.
//!
//! The cluster is `REDIS_CLUSTER_URLS` (comma-separated seed URLs) when set;
//! otherwise this test binary starts three `redis-server --cluster-enabled
//! yes` processes on free loopback ports on first use, joins them, waits for
//! `cluster_state:ok`, and shares them between its tests. They are killed and
//! their temp dir removed when the binary exits, however it exits (see
//! `session_test_support::redis`).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use redis::AsyncCommands as _;
use session_core::record::unix_ms;
use session_core::{Data, Record, SessionId, SessionStore};

session_core::store_conformance!(common::cluster_store());

async fn raw_cluster() -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(session_test_support::redis::cluster_urls())
        .expect("cluster URLs parse")
        .get_async_connection()
        .await
        .expect("a plain connection to the test cluster")
}

#[tokio::test]
async fn store_reports_cluster_mode() {
    let store = common::cluster_store().await;
    assert!(store.is_cluster());
    assert!(format!("{store:?}").contains("cluster"));
}

#[tokio::test]
async fn ttl_is_the_records_expiry_on_a_cluster() {
    let store = common::cluster_store().await;
    let mut raw = raw_cluster().await;
    let record = Record::new(
        SessionId::generate(),
        Data::new(),
        SystemTime::now() + Duration::from_secs(60),
    );
    store.create(&record).await.unwrap();
    let pttl: i64 = raw.pttl(store.redis_key(&record.id)).await.unwrap();
    let expected = i64::try_from(record.expires_at_ms()).unwrap()
        - i64::try_from(unix_ms(SystemTime::now())).unwrap();
    assert!(
        (pttl - expected).abs() <= 20,
        "PTTL {pttl} ms, expected about {expected} ms"
    );
    store.delete(&record.id).await.unwrap();
}

#[tokio::test]
async fn sessions_spread_over_the_slots() {
    let store = common::cluster_store().await;
    let mut raw = raw_cluster().await;
    let mut slots = BTreeSet::new();
    for _ in 0..64 {
        let key = store.redis_key(&SessionId::generate());
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        slots.insert(slot);
    }
    assert!(
        slots.len() > 48,
        "64 sessions fell into only {} slots: the prefix pins them together",
        slots.len()
    );
    // With the default three-way split, every master gets some.
    for range in [0..5461, 5461..10923, 10923..16384] {
        assert!(
            slots.iter().any(|s| range.contains(s)),
            "no session on the master owning slots {range:?}"
        );
    }
}

/// One user's sessions live on every master and the user's index in yet
/// another slot: listing and revoking reach them all, each command on the
/// master owning its key (nothing is CROSSSLOT).
#[tokio::test]
async fn a_users_sessions_on_every_master_are_listed_and_revoked() {
    let store = common::cluster_store().await;
    let mut raw = raw_cluster().await;
    let user = "traveller@example.com";
    let mut records = Vec::new();
    let mut slots = BTreeSet::new();
    for _ in 0..24 {
        let r = Record {
            user: Some(user.to_owned()),
            ..Record::new(
                SessionId::generate(),
                Data::new(),
                SystemTime::now() + Duration::from_secs(60),
            )
        };
        store.create(&r).await.unwrap();
        store
            .touch(&r.id, SystemTime::now() + Duration::from_secs(120))
            .await
            .unwrap();
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(store.redis_key(&r.id))
            .query_async(&mut raw)
            .await
            .unwrap();
        slots.insert(slot);
        records.push(r);
    }
    for range in [0..5461, 5461..10923, 10923..16384] {
        assert!(slots.iter().any(|s| range.contains(s)), "{range:?}");
    }
    let index = store.user_index_key(user);
    let pttl: i64 = raw.pttl(&index).await.unwrap();
    assert!(pttl > 119_000, "the index lives {pttl} ms");
    assert_eq!(store.count_user_sessions(user).await.unwrap(), 24);
    let kept = &records[7].id;
    assert_eq!(
        store.delete_user_sessions(user, Some(kept)).await.unwrap(),
        23
    );
    for r in &records {
        assert_eq!(store.load(&r.id).await.unwrap().is_some(), &r.id == kept);
    }
    let left: Vec<String> = raw.zrange(&index, 0, -1).await.unwrap();
    assert_eq!(left, [kept.storage_key()]);
    store.delete(kept).await.unwrap();
    let exists: bool = raw.exists(&index).await.unwrap();
    assert!(!exists, "deleting the last session empties the index");
}
