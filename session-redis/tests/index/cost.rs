//! What the per-user index costs, in Redis commands (scripts' inner calls
//! included), counted with `INFO commandstats` on a `redis-server` started
//! for the test: revoking one user of a thousand touches only that user's
//! keys, and unbound sessions cost what they always cost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::AsyncCommands as _;
use session_core::record::truncate_ms;
use session_core::{Record, SessionStore};
use session_redis::RedisStore;
use session_test_support::redis::RedisProcs;

use crate::common::TEST_COMMAND_TIMEOUT;
use crate::{bound, unbound};

/// A store and a plain connection on a `redis-server` started for one test.
async fn own_server() -> (RedisProcs, RedisStore, redis::aio::MultiplexedConnection) {
    let server = RedisProcs::start_standalone(None);
    let url = format!("redis://127.0.0.1:{}", server.ports[0]);
    let store = RedisStore::builder()
        .key_prefix("app:")
        .command_timeout(TEST_COMMAND_TIMEOUT)
        .connect(url.as_str())
        .await
        .unwrap();
    let raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    (server, store, raw)
}

/// `INFO commandstats` as command -> calls, without the two commands the
/// test itself sends to take the figures.
async fn command_calls(raw: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .filter(|(name, _)| name != "info" && !name.starts_with("config"))
        .collect()
}

async fn reset_stats(raw: &mut redis::aio::MultiplexedConnection) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec_async(raw)
        .await
        .unwrap();
}

/// Runs `op` with the stats reset before and returns the commands it sent
/// (scripts' inner calls included, as Redis counts them).
async fn counted<F: std::future::Future<Output = ()>>(
    raw: &mut redis::aio::MultiplexedConnection,
    op: F,
) -> BTreeMap<String, u64> {
    reset_stats(raw).await;
    op.await;
    command_calls(raw).await
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

#[tokio::test]
async fn revoking_one_user_of_a_thousand_touches_only_that_users_keys() {
    const USERS: usize = 1_000;
    const PER_USER: usize = 3;
    let (server, store, mut raw) = own_server().await;
    let store = Arc::new(store);
    let mut sessions: Vec<Vec<Record>> = Vec::new();
    for u in 0..USERS {
        sessions.push(
            (0..PER_USER)
                .map(|_| bound(&format!("user-{u}"), Duration::from_secs(600)))
                .collect(),
        );
    }
    // Create them 100 at a time.
    for chunk in sessions.concat().chunks(100) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|r| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.create(&r).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }
    let dbsize: u64 = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
    assert_eq!(dbsize as usize, USERS * PER_USER + USERS);

    // Warm up: the first revocation loads its scripts into Redis.
    assert_eq!(store.delete_user_sessions("user-0", None).await.unwrap(), 3);

    let target = "user-500";
    let listing = counted(&mut raw, async {
        assert_eq!(store.count_user_sessions(target).await.unwrap(), 3);
    })
    .await;
    let revoking = counted(&mut raw, async {
        assert_eq!(store.delete_user_sessions(target, None).await.unwrap(), 3);
    })
    .await;
    eprintln!(
        "{USERS} users x {PER_USER} sessions: listing one user's sessions sent {} commands {listing:?}; \
         revoking them sent {} commands {revoking:?}",
        total(&listing),
        total(&revoking)
    );
    for calls in [&listing, &revoking] {
        for forbidden in ["keys", "scan", "smembers", "sscan", "zscan", "flushdb"] {
            assert!(
                !calls.contains_key(forbidden),
                "{forbidden} was sent: {calls:?}"
            );
        }
    }
    // One read of the index, then per session: the listing one GET, the
    // revocation one EVALSHA (inside it one GETRANGE, which shows the user
    // in the header, and DEL), and one pruning EVALSHA (inside it ZSCORE
    // and ZREM per session).
    assert_eq!(listing.get("zrange"), Some(&1));
    assert_eq!(listing.get("get"), Some(&3));
    assert_eq!(total(&listing), 4, "{listing:?}");
    assert_eq!(revoking.get("zrange"), Some(&1));
    assert_eq!(revoking.get("evalsha"), Some(&4));
    assert_eq!(revoking.get("del"), Some(&3));
    assert_eq!(revoking.get("getrange"), Some(&3));
    assert_eq!(total(&revoking), 17, "{revoking:?}");

    // The same revocation with the user alone in Redis costs the same: the
    // figure depends on the user's sessions only, not on the 3,000.
    let alone = RedisStore::builder()
        .key_prefix("alone:")
        .connect(format!("redis://127.0.0.1:{}", server.ports[0]).as_str())
        .await
        .unwrap();
    for _ in 0..PER_USER {
        alone
            .create(&bound(target, Duration::from_secs(600)))
            .await
            .unwrap();
    }
    let revoking_alone = counted(&mut raw, async {
        assert_eq!(alone.delete_user_sessions(target, None).await.unwrap(), 3);
    })
    .await;
    assert_eq!(revoking_alone, revoking);

    // Everyone else is untouched.
    for (u, records) in sessions.iter().enumerate() {
        for r in records {
            let live = store.load(&r.id).await.unwrap().is_some();
            assert_eq!(live, u != 0 && u != 500, "user-{u}");
        }
    }
}

#[tokio::test]
async fn unbound_sessions_cost_what_they_always_cost() {
    let (_server, store, mut raw) = own_server().await;
    // Load the scripts first, so that the figures below hold no SCRIPT LOAD.
    let warm = unbound(Duration::from_secs(60));
    store.create(&warm).await.unwrap();
    store
        .save(&Record {
            version: 2,
            ..warm.clone()
        })
        .await
        .unwrap();
    store
        .touch(&warm.id, SystemTime::now() + Duration::from_secs(60))
        .await
        .unwrap();
    let warm = bound("warm", Duration::from_secs(60));
    store.create(&warm).await.unwrap();
    store
        .create(&bound("warm", Duration::from_secs(60)))
        .await
        .unwrap();
    // A bound touch, the first user of the index script on its own.
    store
        .touch(&warm.id, SystemTime::now() + Duration::from_secs(60))
        .await
        .unwrap();
    store.delete(&warm.id).await.unwrap();

    let r = unbound(Duration::from_secs(60));
    let create = counted(&mut raw, async { store.create(&r).await.unwrap() }).await;
    assert_eq!(create, BTreeMap::from([("set".to_owned(), 1)]));
    let save = counted(&mut raw, async {
        store
            .save(&Record {
                version: 2,
                ..r.clone()
            })
            .await
            .unwrap();
    })
    .await;
    // The script reads the header (which says "bound to nobody") and writes.
    assert_eq!(
        save,
        BTreeMap::from([
            ("evalsha".to_owned(), 1),
            ("getrange".to_owned(), 1),
            ("set".to_owned(), 1)
        ])
    );
    let touch = counted(&mut raw, async {
        store
            .touch(&r.id, SystemTime::now() + Duration::from_secs(90))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(touch.get("evalsha"), Some(&1), "{touch:?}");
    assert!(
        !touch.keys().any(|c| c.starts_with('z') || c == "get"),
        "{touch:?}"
    );
    let delete = counted(&mut raw, async { store.delete(&r.id).await.unwrap() }).await;
    assert_eq!(delete, BTreeMap::from([("getdel".to_owned(), 1)]));
    let keys: Vec<String> = raw.keys("app:user:*").await.unwrap();
    assert_eq!(keys, ["app:user:warm"], "an unbound session made an index");

    // A bound write costs one more command, on the index: for a new index
    // ZADD, PTTL (-1) and PEXPIREAT inside it.
    let b = bound("zoë", Duration::from_secs(60));
    let create = counted(&mut raw, async { store.create(&b).await.unwrap() }).await;
    assert_eq!(
        create,
        BTreeMap::from([
            ("set".to_owned(), 1),
            ("evalsha".to_owned(), 1),
            ("zadd".to_owned(), 1),
            ("pttl".to_owned(), 1),
            ("pexpireat".to_owned(), 1),
        ])
    );
    let b2 = bound("zoë", Duration::from_secs(30));
    let second = counted(&mut raw, async { store.create(&b2).await.unwrap() }).await;
    eprintln!("bound create, new index: {create:?}; existing index: {second:?}");
    assert_eq!(second.get("evalsha"), Some(&1), "{second:?}");
    assert_eq!(
        second.get("pexpireat"),
        None,
        "a shorter session moved the index's expiry"
    );
    let touch = counted(&mut raw, async {
        store
            .touch(&b.id, SystemTime::now() + Duration::from_secs(90))
            .await
            .unwrap();
    })
    .await;
    // A save that keeps the binding and the expiry: the header says the
    // session is filed already, so the index is not touched at all.
    let stored = store.load(&b.id).await.unwrap().unwrap();
    let same = counted(&mut raw, async {
        store
            .save(&Record {
                version: stored.version + 1,
                ..stored.clone()
            })
            .await
            .unwrap();
    })
    .await;
    assert_eq!(
        same,
        BTreeMap::from([
            ("evalsha".to_owned(), 1),
            ("getrange".to_owned(), 1),
            ("set".to_owned(), 1)
        ]),
        "a save that changes no binding paid for the index"
    );
    // Same binding, later expiry: only the index's expiry is looked at.
    let later = counted(&mut raw, async {
        store
            .save(&Record {
                version: stored.version + 2,
                expires_at: truncate_ms(SystemTime::now() + Duration::from_secs(600)),
                ..stored.clone()
            })
            .await
            .unwrap();
    })
    .await;
    assert_eq!(later.get("zadd"), None, "{later:?}");
    assert_eq!(later.get("pexpireat"), Some(&1), "{later:?}");
    assert_eq!(later.get("evalsha"), Some(&1), "{later:?}");
    let index_ttl: i64 = raw.pttl(store.user_index_key("zoë")).await.unwrap();
    assert!(index_ttl > 590_000, "the index ends before the session");
    // A save that binds the session to someone else: filed in one round
    // trip with the write (the ZADD inside the script), then taken out of
    // the old user's index.
    let save = counted(&mut raw, async {
        store
            .save(&Record {
                version: stored.version + 3,
                user: Some("ada".into()),
                ..stored.clone()
            })
            .await
            .unwrap();
    })
    .await;
    let delete = counted(&mut raw, async { store.delete(&b.id).await.unwrap() }).await;
    eprintln!(
        "bound touch: {touch:?}; bound save, same user: {same:?}; later: {later:?}; \
         re-bound: {save:?}; bound delete: {delete:?}"
    );
    for calls in [&touch, &delete] {
        assert_eq!(
            calls.get("evalsha").copied().unwrap_or(0) + calls.get("getdel").copied().unwrap_or(0),
            2,
            "{calls:?}"
        );
    }
    assert_eq!(save.get("evalsha"), Some(&2), "{save:?}");
    assert_eq!(save.get("zadd"), Some(&1), "{save:?}");
    assert_eq!(save.get("zrem"), Some(&1), "{save:?}");
    assert_eq!(save.get("set"), Some(&1), "{save:?}");
}
