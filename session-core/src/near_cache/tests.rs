//! The near cache's rules, against futures standing in for the backend.

use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use super::*;
use crate::Data;

fn record(version: u64) -> Record {
    let mut r = Record::new(
        SessionId::generate(),
        Data::new(),
        SystemTime::now() + Duration::from_secs(60),
    );
    r.version = version;
    r
}

fn next(r: &Record) -> Record {
    let mut n = r.clone();
    n.version += 1;
    n.data.insert("k".into(), vec![n.version as u8]);
    n
}

fn up(config: NearCacheConfig) -> NearCache {
    let cache = NearCache::new(config, "test").unwrap();
    cache.invalidations().channel_up();
    cache
}

/// A load of `answer`'s ID in flight: its backend answers `answer` once
/// the returned sender fires.
async fn load_answering_later(
    cache: &NearCache,
    answer: &Record,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<Option<Record>, Error>>,
) {
    let (tx, rx) = oneshot::channel::<()>();
    let (cache, answer) = (cache.clone(), answer.clone());
    let load = tokio::spawn(async move {
        let id = answer.id.clone();
        cache
            .load(&id, async move {
                rx.await.map_err(Error::backend)?;
                Ok(Some(answer))
            })
            .await
    });
    tokio::task::yield_now().await;
    (tx, load)
}

/// A backend load that must not happen.
async fn no_backend() -> Result<Option<Record>, Error> {
    panic!("the backend was asked although the record is cached")
}

#[tokio::test]
async fn a_written_record_is_answered_from_memory() {
    let cache = up(NearCacheConfig::new());
    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    assert_eq!(
        cache.load(&r.id, no_backend()).await.unwrap(),
        Some(r.clone())
    );
    let loaded = record(3);
    assert_eq!(
        cache
            .load(&loaded.id, async { Ok(Some(loaded.clone())) })
            .await
            .unwrap(),
        Some(loaded.clone())
    );
    assert_eq!(
        cache.load(&loaded.id, no_backend()).await.unwrap(),
        Some(loaded)
    );
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 1, 2));
    assert!(stats.bytes > 0 && stats.coherent);
}

#[tokio::test]
async fn a_new_cache_is_bypassed_until_its_feed_is_up() {
    let cache = NearCache::new(NearCacheConfig::new(), "test").unwrap();
    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    let fresh = next(&r);
    assert_eq!(
        cache
            .load(&r.id, async { Ok(Some(fresh.clone())) })
            .await
            .unwrap(),
        Some(fresh)
    );
    assert_eq!(cache.stats().bypassed, 1);
    assert_eq!(cache.stats().entries, 0);
}

#[tokio::test]
async fn an_invalidation_sends_the_next_load_to_the_backend() {
    let cache = up(NearCacheConfig::new());
    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    assert!(cache.invalidations().invalidate(&r.id.storage_key(), None));
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
    assert_eq!(cache.stats().invalidations, 1);
}

#[tokio::test]
async fn an_invalidation_during_a_load_keeps_its_older_answer_out() {
    let cache = up(NearCacheConfig::new());
    let old = record(4);
    let (tx, load) = load_answering_later(&cache, &old).await;
    // The backend changed after it answered, and the invalidation is
    // processed before the answer is.
    cache
        .invalidations()
        .invalidate(&old.id.storage_key(), None);
    tx.send(()).unwrap();
    assert_eq!(load.await.unwrap().unwrap(), Some(old.clone()));
    let newer = next(&old);
    assert_eq!(
        cache
            .load(&old.id, async { Ok(Some(newer.clone())) })
            .await
            .unwrap(),
        Some(newer),
        "the older answer was cached over the invalidation"
    );
}

#[tokio::test]
async fn a_stamp_keeps_records_that_are_as_new_and_drops_older_ones() {
    let cache = up(NearCacheConfig::new());
    let feed = cache.invalidations();
    let r = record(5);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    let key = r.id.storage_key();
    let own = Stamp {
        version: 5,
        expires_at_ms: r.expires_at_ms(),
    };
    assert!(
        !feed.invalidate(&key, Some(own)),
        "this process's own write was dropped"
    );
    let older = Stamp { version: 4, ..own };
    assert!(!feed.invalidate(&key, Some(older)));
    assert_eq!(
        cache.load(&r.id, no_backend()).await.unwrap(),
        Some(r.clone())
    );
    let touched = Stamp {
        expires_at_ms: own.expires_at_ms + 1,
        ..own
    };
    assert!(
        feed.invalidate(&key, Some(touched)),
        "a touch elsewhere was missed"
    );
    cache.write(&r, async { Ok(()) }).await.unwrap();
    assert!(feed.invalidate(&key, Some(Stamp { version: 6, ..own })));
}

#[tokio::test]
async fn own_writes_ask_for_a_stamp_and_reads_do_not() {
    let cache = up(NearCacheConfig::new());
    let feed = cache.invalidations();
    let written = record(2);
    cache.write(&written, async { Ok(()) }).await.unwrap();
    let key = written.id.storage_key();
    assert!(feed.needs_stamp(&key));
    // The echo of this process's own write, stamped by the backend: kept.
    let echo = Stamp {
        version: 2,
        expires_at_ms: written.expires_at_ms(),
    };
    assert!(!feed.invalidate(&key, Some(echo)));
    assert_eq!(
        cache.load(&written.id, no_backend()).await.unwrap(),
        Some(written.clone())
    );

    let read = record(7);
    let answer = read.clone();
    cache
        .load(&read.id, async { Ok(Some(answer)) })
        .await
        .unwrap();
    assert!(!feed.needs_stamp(&read.id.storage_key()));
    assert!(!feed.needs_stamp(&record(1).id.storage_key()));
}

#[tokio::test]
async fn a_feed_going_down_flushes_and_bypasses_until_it_is_back() {
    let cache = up(NearCacheConfig::new());
    let feed = cache.invalidations();
    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    feed.channel_down();
    assert!(!cache.is_coherent());
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    feed.channel_up();
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
    let stats = cache.stats();
    // Flushes: the first `channel_up`, the drop, the return.
    assert_eq!((stats.bypassed, stats.flushes, stats.misses), (1, 3, 1));
}

#[tokio::test]
async fn expired_or_stale_records_are_never_served() {
    let cache = up(NearCacheConfig::new().max_staleness(Duration::from_millis(20)));
    let mut expired = record(1);
    expired.expires_at = SystemTime::now() - Duration::from_millis(1);
    cache.write(&expired, async { Ok(()) }).await.unwrap();
    assert_eq!(
        cache.load(&expired.id, async { Ok(None) }).await.unwrap(),
        None
    );

    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(25)).await;
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_write_leaves_nothing_cached() {
    let cache = up(NearCacheConfig::new());
    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    let newer = next(&r);
    let lost = cache.write(&newer, async { Err::<(), _>(Error::VersionConflict) });
    assert!(matches!(lost.await, Err(Error::VersionConflict)));
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
}

#[tokio::test]
async fn a_read_during_a_write_does_not_cache_the_older_record() {
    let cache = up(NearCacheConfig::new());
    let old = record(2);
    let new = next(&old);
    let (tx, rx) = oneshot::channel::<()>();
    let write = tokio::spawn({
        let (cache, new) = (cache.clone(), new.clone());
        async move {
            cache
                .write(&new, async move { rx.await.map_err(Error::backend) })
                .await
        }
    });
    tokio::task::yield_now().await;
    let answer = old.clone();
    assert_eq!(
        cache
            .load(&old.id, async { Ok(Some(answer)) })
            .await
            .unwrap(),
        Some(old.clone())
    );
    tx.send(()).unwrap();
    write.await.unwrap().unwrap();
    assert_eq!(cache.load(&old.id, no_backend()).await.unwrap(), Some(new));
}

#[tokio::test]
async fn delete_and_touch_drop_the_entry_and_fills_in_flight() {
    let cache = up(NearCacheConfig::new());
    let r = record(1);
    cache.write(&r, async { Ok(()) }).await.unwrap();
    cache.forget(&r.id, async { Ok(()) }).await.unwrap();
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);

    // A load that read the record before the delete answered.
    let (tx, load) = load_answering_later(&cache, &r).await;
    cache.forget(&r.id, async { Ok(()) }).await.unwrap();
    tx.send(()).unwrap();
    load.await.unwrap().unwrap();
    assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
}

#[tokio::test]
async fn revoking_a_user_drops_their_records_but_the_kept_one() {
    let cache = up(NearCacheConfig::new());
    let mut mine = [record(1), record(1), record(1)];
    for r in &mut mine {
        r.user = Some("ada".into());
        cache.write(r, async { Ok(()) }).await.unwrap();
    }
    let other = record(1);
    cache.write(&other, async { Ok(()) }).await.unwrap();
    let keep = mine[0].id.storage_key();
    cache
        .forget_user("ada", Some(&keep), async { Ok(2) })
        .await
        .unwrap();
    assert!(cache
        .load(&mine[0].id, no_backend())
        .await
        .unwrap()
        .is_some());
    assert!(cache.load(&other.id, no_backend()).await.unwrap().is_some());
    for r in &mine[1..] {
        assert_eq!(cache.load(&r.id, async { Ok(None) }).await.unwrap(), None);
    }
}

#[tokio::test]
async fn the_cache_stays_within_its_entry_and_byte_limits() {
    let cache = up(NearCacheConfig::new().max_entries(64));
    for _ in 0..1_000 {
        cache.write(&record(1), async { Ok(()) }).await.unwrap();
    }
    let stats = cache.stats();
    assert!(stats.entries <= 64, "{stats:?}");
    assert_eq!(stats.evictions, 1_000 - stats.entries);

    let cache = up(NearCacheConfig::new().max_bytes(32 * 1_024));
    for _ in 0..1_000 {
        let mut r = record(1);
        r.data.insert("blob".into(), vec![0; 500]);
        cache.write(&r, async { Ok(()) }).await.unwrap();
    }
    let stats = cache.stats();
    assert!(stats.bytes <= 32 * 1_024 + 2_000, "{stats:?}");
    assert!(stats.entries >= 20, "{stats:?}");
}

#[tokio::test]
async fn a_cancelled_load_releases_its_lease() {
    let cache = up(NearCacheConfig::new());
    let r = record(1);
    let pending = cache.load(&r.id, std::future::pending());
    assert!(tokio::time::timeout(Duration::from_millis(1), pending)
        .await
        .is_err());
    let answer = r.clone();
    cache.load(&r.id, async { Ok(Some(answer)) }).await.unwrap();
    assert_eq!(cache.load(&r.id, no_backend()).await.unwrap(), Some(r));
}

#[test]
fn limits_that_make_no_sense_are_refused() {
    for bad in [
        NearCacheConfig::new().max_entries(0),
        NearCacheConfig::new().max_bytes(0),
        NearCacheConfig::new().max_staleness(Duration::ZERO),
        NearCacheConfig::new().max_staleness(Duration::from_secs(7_200)),
    ] {
        assert!(matches!(
            NearCache::new(bad, "test"),
            Err(Error::Config { .. })
        ));
    }
}
