//! The per-user index on a standalone Redis: what it costs (counted with
//! `INFO commandstats` on a `redis-server` of its own), that unbound
//! sessions never pay for it, that revocation finds sessions kept alive by
//! touches alone, that every shape of stored value is read right by the
//! scripts, and that concurrent re-binding and pruning never lose a
//! session from its user's index.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::AsyncCommands as _;
use session_core::codec::encode_value;
use session_core::record::truncate_ms;
use session_core::{Data, Error, Record, SessionId, SessionStore};
use session_redis::RedisStore;

use common::{raw_standalone, standalone_store, TEST_COMMAND_TIMEOUT};
use session_test_support::redis::RedisProcs;

fn bound(user: &str, ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("agent".into(), encode_value("browser").unwrap());
    Record {
        user: Some(user.to_owned()),
        ..Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
    }
}

fn unbound(ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("cart".into(), encode_value(&[1, 2, 3]).unwrap());
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}

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

#[tokio::test]
async fn a_session_kept_alive_by_touches_alone_stays_revocable() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let user = "touch-only";
    let r = bound(user, Duration::from_millis(800));
    store.create(&r).await.unwrap();
    let index = store.user_index_key(user);
    let first_pttl: i64 = raw.pttl(&index).await.unwrap();
    assert!(
        first_pttl > 0 && first_pttl <= 800 + 1_000,
        "the index lives {first_pttl} ms for a session of 800 ms"
    );
    // Touches only, well past the index's first expiry.
    let until = SystemTime::now() + Duration::from_millis(first_pttl as u64 + 1_000);
    while SystemTime::now() < until {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let expires_at = truncate_ms(SystemTime::now() + Duration::from_millis(800));
        store.touch(&r.id, expires_at).await.unwrap();
        let pttl: i64 = raw.pttl(&index).await.unwrap();
        let session_pttl: i64 = raw.pttl(store.redis_key(&r.id)).await.unwrap();
        assert!(
            pttl > session_pttl,
            "the index ({pttl} ms) ends before the session ({session_pttl} ms)"
        );
    }
    assert!(store.load(&r.id).await.unwrap().is_some());
    assert_eq!(store.count_user_sessions(user).await.unwrap(), 1);
    assert_eq!(store.delete_user_sessions(user, None).await.unwrap(), 1);
    assert!(store.load(&r.id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_index_never_ends_before_its_latest_session() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let user = "many";
    let long = bound(user, Duration::from_secs(3_600));
    let short = bound(user, Duration::from_secs(60));
    store.create(&long).await.unwrap();
    store.create(&short).await.unwrap();
    let index = store.user_index_key(user);
    let pttl: i64 = raw.pttl(&index).await.unwrap();
    assert!(
        (3_600_000..=3_601_000).contains(&pttl),
        "a later, shorter session cut the index to {pttl} ms"
    );
    // A save extending the short one past the long one extends the index.
    let saved = Record {
        expires_at: truncate_ms(SystemTime::now() + Duration::from_secs(7_200)),
        version: 2,
        ..short.clone()
    };
    store.save(&saved).await.unwrap();
    let pttl: i64 = raw.pttl(&index).await.unwrap();
    assert!((7_199_000..=7_201_000).contains(&pttl), "{pttl} ms");
    // Shortening a session never shortens the index.
    store
        .touch(&saved.id, SystemTime::now() + Duration::from_secs(5))
        .await
        .unwrap();
    let pttl: i64 = raw.pttl(&index).await.unwrap();
    assert!(pttl >= 7_199_000, "{pttl} ms");
    assert_eq!(store.delete_user_sessions(user, None).await.unwrap(), 2);
    let exists: bool = raw.exists(&index).await.unwrap();
    assert!(!exists, "an emptied index is removed");
}

/// Values of every shape the envelope can take (fixmap, map 16; str 8/16
/// keys; bin 8/16/32 values; users of every length class, empty, longer
/// than the scripts' first read, non-ASCII, with hash-tag braces) are read
/// right by the scripts:
/// the save script must see whether the binding changes, the revocation
/// script each one's user to delete it.
#[tokio::test]
async fn every_shape_of_value_is_read_by_the_scripts() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let users = [
        "42".to_owned(),
        String::new(),
        "zoë@example.com".to_owned(),
        "{tag} with spaces: and %41".to_owned(),
        "u".repeat(40),
        "v".repeat(300),
        "w".repeat(70_000),
    ];
    let mut shapes: Vec<Data> = vec![Data::new()];
    let mut one = Data::new();
    one.insert("k".into(), encode_value(&1u8).unwrap());
    shapes.push(one);
    let mut many = Data::new();
    for i in 0..40 {
        many.insert(
            format!("key-{i}-{}", "x".repeat(i)),
            encode_value(&i).unwrap(),
        );
    }
    shapes.push(many);
    let mut big = Data::new();
    big.insert("k".repeat(300), encode_value(&"y".repeat(300)).unwrap());
    big.insert("huge".into(), encode_value(&vec![7u8; 70_000]).unwrap());
    big.insert("nil".into(), vec![0xc0]);
    shapes.push(big);

    for user in &users {
        let mut ids = Vec::new();
        for data in &shapes {
            let r = Record {
                user: Some(user.clone()),
                ..Record::new(
                    SessionId::generate(),
                    data.clone(),
                    SystemTime::now() + Duration::from_secs(60),
                )
            };
            store.create(&r).await.unwrap();
            // A save keeping the binding: the script must see it is kept.
            let saved = Record {
                version: 2,
                ..r.clone()
            };
            store.save(&saved).await.unwrap();
            // touch learns the user in Redis and files the session again
            store
                .touch(&r.id, SystemTime::now() + Duration::from_secs(120))
                .await
                .unwrap();
            ids.push(r.id);
        }
        let label = &user[..user.len().min(20)];
        let listed = store.user_sessions(user).await.unwrap();
        assert_eq!(listed.len(), shapes.len(), "user {label:?}");
        assert_eq!(
            store
                .delete_user_sessions(user, Some(&ids[0]))
                .await
                .unwrap(),
            shapes.len() as u64 - 1,
            "user {label:?}: the revocation script misread a value"
        );
        // Unbinding through save takes it out of the index at once.
        let kept = store.load(&ids[0]).await.unwrap().unwrap();
        store
            .save(&Record {
                user: None,
                version: kept.version + 1,
                ..kept
            })
            .await
            .unwrap();
        let left: u64 = raw.zcard(store.user_index_key(user)).await.unwrap();
        assert_eq!(
            left, 0,
            "user {label:?}: unbinding left the session indexed"
        );
    }
}

/// Sessions re-bound back and forth between two users by concurrent
/// requests, while the two indexes are read (and so pruned) and touched
/// all along: afterwards every session is in its user's index. A prune
/// that removed a member filed again meanwhile would lose one.
#[tokio::test]
async fn concurrent_rebinding_and_pruning_lose_no_session() {
    let store = Arc::new(standalone_store().await);
    let users = ["ada", "bob"];
    let mut ids = Vec::new();
    for i in 0..8 {
        let r = bound(users[i % 2], Duration::from_secs(60));
        store.create(&r).await.unwrap();
        ids.push(r.id);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1_500);
    let mut tasks = Vec::new();
    for (w, id) in ids.iter().cycle().take(16).enumerate() {
        let (store, id) = (Arc::clone(&store), id.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let Some(r) = store.load(&id).await.unwrap() else {
                    panic!("a session vanished");
                };
                let next = Record {
                    user: Some(users[n % 2].to_owned()),
                    version: r.version + 1,
                    ..r
                };
                match store.save(&next).await {
                    Ok(()) | Err(Error::VersionConflict) => {}
                    Err(e) => panic!("save: {e:?}"),
                }
                if n % 3 == 0 {
                    store
                        .touch(&id, SystemTime::now() + Duration::from_secs(60))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for user in users {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                store.user_sessions(user).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut found = 0;
    for user in users {
        found += store.user_sessions(user).await.unwrap().len();
    }
    assert_eq!(
        found,
        ids.len(),
        "a bound session is missing from its index"
    );
    for id in &ids {
        let r = store.load(id).await.unwrap().unwrap();
        let user = r.user.unwrap();
        let listed = store.user_sessions(&user).await.unwrap();
        assert!(listed.iter().any(|i| i.is(id)));
    }
    for user in users {
        store.delete_user_sessions(user, None).await.unwrap();
    }
}

#[tokio::test]
async fn a_save_whose_filing_fails_writes_nothing() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let user = format!("wrongtype-{}", SessionId::generate().storage_key());
    let r = unbound(Duration::from_secs(60));
    store.create(&r).await.unwrap();
    // The user's index is not a sorted set: filing fails with WRONGTYPE.
    let index = store.user_index_key(&user);
    let _: () = raw.set(&index, "not a sorted set").await.unwrap();
    let rebound = Record {
        version: r.version + 1,
        user: Some(user.clone()),
        ..r.clone()
    };
    let result = store.save(&rebound).await;
    assert!(matches!(result, Err(Error::Backend(_))), "{result:?}");
    let stored = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(
        stored.version, r.version,
        "the save wrote despite the error"
    );
    assert_eq!(stored.user, None);
    let _: () = raw.del(&index).await.unwrap();
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn a_create_whose_filing_fails_leaves_nothing() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let user = format!("wrongtype-{}", SessionId::generate().storage_key());
    let index = store.user_index_key(&user);
    let _: () = raw.set(&index, "not a sorted set").await.unwrap();
    let r = bound(&user, Duration::from_secs(60));
    let result = store.create(&r).await;
    assert!(matches!(result, Err(Error::Backend(_))), "{result:?}");
    assert!(store.load(&r.id).await.unwrap().is_none());
    let _: () = raw.del(&index).await.unwrap();
}
