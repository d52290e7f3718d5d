//! Memory must not grow without bound: the default store is bounded by the
//! approximate bytes its records cost, its byte count stays exact, and
//! expired sessions are swept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_core::codec::encode_value;
use session_core::{Data, Error, Record, SessionId, SessionStore};
use session_memory::{MemoryStore, DEFAULT_MAX_BYTES};

/// The layer's default `max_data_size`: the most a session may hold.
const MAX_DATA_SIZE: usize = 64 * 1024;

fn record(ttl: Duration) -> Record {
    Record::new(SessionId::generate(), Data::new(), SystemTime::now() + ttl)
}

/// A session holding `size` bytes of data.
fn sized(ttl: Duration, size: usize) -> Record {
    let mut r = record(ttl);
    r.data
        .insert("blob".into(), vec![7; size.saturating_sub(4)]);
    r
}

/// The hotel example's session after login: a user ID, an e-mail address
/// and a user agent, bound to the user.
fn typical(ttl: Duration) -> Record {
    let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let mut r = record(ttl);
    r.data
        .insert("user_id".into(), encode_value(&42u64).unwrap());
    r.data
        .insert("email".into(), encode_value("guest@example.com").unwrap());
    r.data
        .insert("user_agent".into(), encode_value(agent).unwrap());
    r.user = Some("42".into());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_sessions_never_takes_the_default_store_past_its_byte_bound() {
    let store = MemoryStore::new();
    let flooding = Arc::new(AtomicBool::new(true));
    // Watches the tracked bytes while four tasks flood the store.
    let watcher = tokio::spawn({
        let (store, flooding) = (store.clone(), Arc::clone(&flooding));
        async move {
            let mut most = 0;
            while flooding.load(Ordering::Relaxed) {
                most = most.max(store.approx_bytes());
                tokio::task::yield_now().await;
            }
            most
        }
    });
    // 4 × 1,500 sessions of 64 KiB: about 375 MiB of data, three times the bound.
    let floods: Vec<_> = (0..4u64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut last = None;
                for i in 0..1_500u64 {
                    // Later sessions live longer: the store keeps the newest.
                    let r = sized(Duration::from_secs(3600 + n * 10_000 + i), MAX_DATA_SIZE);
                    store.create(&r).await.unwrap();
                    let bytes = store.approx_bytes();
                    assert!(bytes <= DEFAULT_MAX_BYTES, "{bytes} bytes held");
                    last = Some(r);
                }
                last.unwrap()
            })
        })
        .collect();
    let mut newest = Vec::new(); // each task's last session
    for f in floods {
        newest.push(f.await.unwrap());
    }
    flooding.store(false, Ordering::Relaxed);
    let most = watcher.await.unwrap();
    assert!(most <= DEFAULT_MAX_BYTES, "{most} bytes held at once");
    // Full: every shard is within one session of its bound.
    let bytes = store.approx_bytes();
    assert!(
        bytes > DEFAULT_MAX_BYTES - 32 * (MAX_DATA_SIZE + 1024),
        "{bytes} bytes: the flood should fill every shard"
    );
    assert!(
        (1_800..2_048).contains(&store.len()),
        "{} sessions of 64 KiB held in 128 MiB",
        store.len()
    );
    let last = newest.iter().max_by_key(|r| r.expires_at).unwrap();
    assert!(
        store.load(&last.id).await.unwrap().is_some(),
        "the flood evicted the session that expires last"
    );
}

#[tokio::test]
async fn fifty_thousand_typical_sessions_all_stay_in_the_default_store() {
    let store = MemoryStore::builder().no_sweeper().build();
    let mut ids = Vec::new();
    for _ in 0..50_000 {
        let r = typical(Duration::from_secs(3600));
        store.create(&r).await.unwrap();
        ids.push(r.id);
    }
    let mut live = 0;
    for id in &ids {
        live += usize::from(store.load(id).await.unwrap().is_some());
    }
    assert_eq!(live, 50_000, "small sessions were evicted");
    let bytes = store.approx_bytes();
    assert!(
        bytes <= DEFAULT_MAX_BYTES / 2,
        "{bytes} bytes for 50,000 small sessions"
    );
}

#[tokio::test]
async fn a_save_that_grows_past_the_bound_evicts_others_never_itself() {
    let store = MemoryStore::builder()
        .shards(1)
        .max_bytes(64 * 1024)
        .no_sweeper()
        .build();
    let soon = sized(Duration::from_secs(10), 20_000);
    let late = sized(Duration::from_secs(1000), 20_000);
    let grows = sized(Duration::from_secs(1), 100);
    for r in [&soon, &late, &grows] {
        store.create(r).await.unwrap();
    }
    // `grows` expires first, yet the others make room for it.
    let mut grown = sized(Duration::from_secs(1), 30_000);
    grown.id = grows.id.clone();
    grown.version = 2;
    store.save(&grown).await.unwrap();
    assert!(store.approx_bytes() <= 64 * 1024);
    assert!(
        store.load(&soon.id).await.unwrap().is_none(),
        "kept the soonest"
    );
    assert!(store.load(&late.id).await.unwrap().is_some());
    let stored = store.load(&grows.id).await.unwrap().unwrap();
    assert_eq!(stored.data, grown.data, "the saved session was not saved");
}

#[tokio::test]
async fn a_session_larger_than_a_shard_bound_is_refused_and_the_stored_one_kept() {
    let store = MemoryStore::builder()
        .shards(2)
        .max_bytes(64 * 1024) // 32 KiB per shard
        .no_sweeper()
        .build();
    let big = sized(Duration::from_secs(60), 40_000);
    let err = store.create(&big).await.unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit: 32_768, .. }),
        "{err:?}"
    );
    assert!(store.is_empty());
    let small = sized(Duration::from_secs(60), 100);
    store.create(&small).await.unwrap();
    let bytes = store.approx_bytes();
    let mut grown = sized(Duration::from_secs(60), 40_000);
    grown.id = small.id.clone();
    grown.version = 2;
    let err = store.save(&grown).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let stored = store.load(&small.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.data), (1, small.data));
    assert_eq!(store.approx_bytes(), bytes);
}

#[tokio::test]
async fn the_byte_count_returns_to_zero_whatever_happened_to_the_records() {
    let store = MemoryStore::builder()
        .shards(4)
        .max_bytes(400 * 1024) // evicts during the run
        .no_sweeper()
        .build();
    let mut held = Vec::new();
    for i in 0..300u64 {
        let mut r = if i % 3 == 0 {
            sized(Duration::from_secs(60 + i), 5_000)
        } else {
            typical(Duration::from_secs(60 + i))
        };
        store.create(&r).await.unwrap();
        // Grow, shrink, rebind and re-key some of them.
        r.version += 1;
        match i % 4 {
            0 => drop(r.data.insert("more".into(), vec![1; 3_000])),
            1 => r.data.clear(),
            2 => r.user = Some(format!("user{i}")),
            _ => r.user = None,
        }
        if store.save(&r).await.is_ok() {
            store
                .touch(&r.id, SystemTime::now() + Duration::from_secs(30 + i))
                .await
                .unwrap();
        }
        held.push(r.id);
    }
    assert!(store.len() < 300, "the bound never evicted");
    // Some expire and are swept, some are removed on access.
    for _ in 0..50 {
        store
            .create(&typical(Duration::from_millis(1)))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(store.delete_expired().await.unwrap() > 0);
    store.delete_user_sessions("user2", None).await.unwrap();
    for id in &held {
        store.delete(id).await.unwrap();
    }
    assert!(store.is_empty());
    assert_eq!(store.approx_bytes(), 0, "the byte count drifted");
}

#[tokio::test]
async fn an_unbounded_store_keeps_every_session() {
    let store = MemoryStore::builder()
        .max_bytes(1)
        .capacity(1)
        .unbounded()
        .no_sweeper()
        .build();
    for _ in 0..100 {
        store
            .create(&sized(Duration::from_secs(60), MAX_DATA_SIZE))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_short_sessions_are_swept_to_zero() {
    let interval = Duration::from_millis(50);
    let store = MemoryStore::builder()
        .unbounded()
        .sweep_interval(interval)
        .build();
    let ttl = Duration::from_millis(100);
    for _ in 0..200_000 {
        let r = Record::new(SessionId::generate(), Data::new(), SystemTime::now() + ttl);
        store.create(&r).await.unwrap();
    }
    assert!(!store.is_empty(), "sessions were created");
    // Readiness check, not a fixed sleep: poll until empty, bounded by a few
    // sweep intervals after the last session's expiry.
    let deadline = Instant::now() + ttl + interval * 10;
    while !store.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} sessions still held long after expiry: the sweeper is not freeing memory",
            store.len()
        );
        tokio::time::sleep(interval / 5).await;
    }
    assert_eq!(store.approx_bytes(), 0, "the byte count drifted");
}
