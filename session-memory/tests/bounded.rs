//! Memory must not grow without bound: the default store is bounded, and
//! expired sessions are swept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_core::{Data, Record, SessionId, SessionStore};
use session_memory::{MemoryStore, DEFAULT_CAPACITY};

fn record(ttl: Duration) -> Record {
    Record::new(SessionId::generate(), Data::new(), SystemTime::now() + ttl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_never_takes_the_default_store_past_its_capacity() {
    let store = MemoryStore::new();
    let flooding = Arc::new(AtomicBool::new(true));
    // Watches the live count while four tasks flood the store.
    let watcher = tokio::spawn({
        let (store, flooding) = (store.clone(), Arc::clone(&flooding));
        async move {
            let mut most = 0;
            while flooding.load(Ordering::Relaxed) {
                most = most.max(store.len());
                tokio::task::yield_now().await;
            }
            most
        }
    });
    let floods: Vec<_> = (0..4u64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut last = None;
                for i in 0..10_000u64 {
                    // Later sessions live longer: the store keeps the newest.
                    let r = record(Duration::from_secs(3600 + n * 10_000 + i));
                    store.create(&r).await.unwrap();
                    assert!(
                        store.len() <= DEFAULT_CAPACITY,
                        "{} records held",
                        store.len()
                    );
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
    assert!(most <= DEFAULT_CAPACITY, "{most} records held at once");
    assert_eq!(
        store.len(),
        DEFAULT_CAPACITY,
        "40,000 sessions fill every shard"
    );
    let last = newest.iter().max_by_key(|r| r.expires_at).unwrap();
    assert!(
        store.load(&last.id).await.unwrap().is_some(),
        "the flood evicted the session that expires last"
    );
}

#[tokio::test]
async fn an_unbounded_store_keeps_every_session() {
    let store = MemoryStore::builder().unbounded().no_sweeper().build();
    for _ in 0..2 * DEFAULT_CAPACITY {
        store
            .create(&record(Duration::from_secs(60)))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 2 * DEFAULT_CAPACITY);
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
}
