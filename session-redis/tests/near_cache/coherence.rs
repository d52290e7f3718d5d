//! Two stores with the near cache on, sharing one Redis and one key
//! prefix, like two application processes: a write, a logout (delete) and
//! a revocation (log out everywhere) on A are seen by B, whose cache held
//! the record, within milliseconds. Prints p50/p99/max over 1,000 trials
//! of each; asserts a generous bound and that B never serves the old
//! record once it has seen the new one.

use std::time::{Duration, Instant};

use session_core::codec::decode_value;
use session_core::{Record, SessionId, SessionStore};
use session_redis::RedisStore;
use session_test_support::key_prefix;

use crate::{near_store, next, record};

const TRIALS: usize = 1_000;
/// The bound asserted per trial: far above the target (50 ms), so that a
/// busy test machine does not fail the test, and far below the staleness
/// cap (5 s), so that a feed that does not work does.
const BOUND: Duration = Duration::from_secs(1);

fn n_of(record: &Record) -> u64 {
    decode_value(record.data.get("n").expect("n")).expect("n decodes")
}

/// Loads `id` on `b` until a load is answered from its cache. (The
/// invalidation of A's create may reach B after B's first load cached the
/// record, dropping it again: that is the cache being careful, not wrong.)
async fn cached_on(b: &RedisStore, id: &SessionId) -> Record {
    let cache = b.near_cache().expect("on");
    for _ in 0..200 {
        let hits = cache.stats().hits;
        let loaded = b.load(id).await.expect("load").expect("B finds A's record");
        if cache.stats().hits > hits {
            return loaded;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("B never answered a load from its cache");
}

/// Polls `b` until `changed` holds for what it loads; the time that took.
/// Then checks a few more loads: never back to the old state.
async fn seen(
    b: &RedisStore,
    id: &SessionId,
    changed: impl Fn(&Option<Record>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let loaded = b.load(id).await.expect("load on B");
        if changed(&loaded) {
            break;
        }
        assert!(
            start.elapsed() < BOUND,
            "B still serves the old record {BOUND:?} after A's change"
        );
        tokio::task::yield_now().await;
    }
    let took = start.elapsed();
    for _ in 0..3 {
        let loaded = b.load(id).await.expect("load on B");
        assert!(
            changed(&loaded),
            "B served the old record after the new one"
        );
    }
    took
}

fn report(kind: &str, mut took: Vec<Duration>) {
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "near cache coherence, {kind}: {} trials, p50 {:?}, p99 {:?}, max {:?}",
        took.len(),
        at(0.50),
        at(0.99),
        took[took.len() - 1]
    );
}

async fn pair() -> (RedisStore, RedisStore) {
    let prefix = key_prefix();
    (near_store(&prefix).await, near_store(&prefix).await)
}

/// `trials` saves on `a` of a record `b` has cached; prints how long `b`
/// took to see each.
pub(crate) async fn writes(a: &RedisStore, b: &RedisStore, trials: usize, label: &str) {
    let mut took = Vec::with_capacity(trials);
    for i in 0..trials as u64 {
        let r = record(i, None);
        a.create(&r).await.expect("create on A");
        let cached = cached_on(b, &r.id).await;
        assert_eq!(n_of(&cached), i);
        let changed = next(&r, i + 1_000_000);
        a.save(&changed).await.expect("save on A");
        took.push(
            seen(b, &r.id, |l| {
                l.as_ref()
                    .is_some_and(|l| n_of(l) == i + 1_000_000 && l.version == changed.version)
            })
            .await,
        );
    }
    report(&format!("{label}write (save on A)"), took);
}

/// `trials` deletes on `a` of a record `b` has cached.
pub(crate) async fn logouts(a: &RedisStore, b: &RedisStore, trials: usize, label: &str) {
    let mut took = Vec::with_capacity(trials);
    for i in 0..trials as u64 {
        let r = record(i, Some("alice"));
        a.create(&r).await.expect("create on A");
        cached_on(b, &r.id).await;
        a.delete(&r.id).await.expect("delete on A");
        took.push(seen(b, &r.id, Option::is_none).await);
    }
    report(&format!("{label}logout (delete on A)"), took);
}

/// `trials` revocations on `a` of a record `b` has cached.
pub(crate) async fn revocations(a: &RedisStore, b: &RedisStore, trials: usize, label: &str) {
    let mut took = Vec::with_capacity(trials);
    for i in 0..trials as u64 {
        let user = format!("user-{i}");
        let r = record(i, Some(&user));
        a.create(&r).await.expect("create on A");
        cached_on(b, &r.id).await;
        let revoked = a
            .delete_user_sessions(&user, None)
            .await
            .expect("revoke on A");
        assert_eq!(revoked, 1);
        took.push(seen(b, &r.id, Option::is_none).await);
    }
    report(
        &format!("{label}revocation (delete_user_sessions on A)"),
        took,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_is_seen_by_b() {
    let (a, b) = pair().await;
    writes(&a, &b, TRIALS, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_a_is_seen_by_b() {
    let (a, b) = pair().await;
    logouts(&a, &b, TRIALS, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_is_seen_by_b() {
    let (a, b) = pair().await;
    revocations(&a, &b, TRIALS, "").await;
}

/// This process's own plain writes are not reported back to it
/// (`NOLOOP`): a create, then a load, is a hit. Its own scripted writes
/// (a save) may be (Redis 7.0 reports keys a script changed even to the
/// connection that ran it): the feed reads the version back and keeps the
/// entry, so the loads after a save are hits too. A revocation here drops
/// the entry here at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_update_the_cache_at_once() {
    own_writes(&near_store(&key_prefix()).await).await;
}

/// The body of [`own_writes_update_the_cache_at_once`], for any store
/// with the near cache on and coherent.
pub(crate) async fn own_writes(a: &RedisStore) {
    let cache = a.near_cache().expect("on");
    let r = record(1, None);
    a.create(&r).await.expect("create");
    // Give a (wrong) invalidation of our own write time to arrive.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hits = cache.stats().hits;
    assert_eq!(a.load(&r.id).await.expect("load"), Some(r.clone()));
    assert_eq!(
        cache.stats().hits,
        hits + 1,
        "own create evicted its own entry"
    );

    let mut bound = record(2, Some("bob"));
    bound.id = r.id.clone();
    bound.version = r.version + 1;
    let misses = cache.stats().misses;
    a.save(&bound).await.expect("save");
    assert_eq!(a.load(&r.id).await.expect("load"), Some(bound.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(a.load(&r.id).await.expect("load"), Some(bound.clone()));
    assert_eq!(a.load(&r.id).await.expect("load"), Some(bound.clone()));
    assert_eq!(
        cache.stats().misses,
        misses,
        "the echo of an own save evicted its own entry"
    );
    let hits = cache.stats().hits;
    a.delete_user_sessions("bob", None).await.expect("revoke");
    assert_eq!(a.load(&r.id).await.expect("load"), None);
    assert_eq!(
        cache.stats().hits,
        hits,
        "a revoked record was served from the cache"
    );
}
