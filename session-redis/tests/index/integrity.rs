//! That the per-user index never loses a session: revocation finds
//! sessions kept alive by touches alone, the index outlives its latest
//! session, the scripts read every shape of stored value right, concurrent
//! re-binding and pruning lose nothing, and a failed filing writes nothing.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::AsyncCommands as _;
use session_core::codec::encode_value;
use session_core::record::truncate_ms;
use session_core::{Data, Error, Record, SessionId, SessionStore};

use crate::common::{raw_standalone, standalone_store};
use crate::{bound, unbound};

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
