//! Memory must not grow without bound: expired sessions are swept.

use std::time::{Duration, Instant, SystemTime};

use session_core::{Data, Record, SessionId, SessionStore};
use session_memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_short_sessions_are_swept_to_zero() {
    let interval = Duration::from_millis(50);
    let store = MemoryStore::builder().sweep_interval(interval).build();
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
