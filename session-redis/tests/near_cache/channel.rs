//! The invalidation channel: a key changed inside a Lua script by another
//! client invalidates; killing B's connection from the server side makes B
//! bypass its cache (no stale read) until tracking is back.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use session_core::{codec, Record, SessionStore};
use session_redis::RedisStore;
use session_test_support::key_prefix;
use session_test_support::names::random_hex;
use session_test_support::redis::RedisProcs;

use crate::{near_store, near_store_at, next, record, wait_coherent};

/// A record's key rewritten by another client inside a Lua script: B's
/// cached copy is dropped (BCAST tracking reports every modification of a
/// key under the prefix, whichever command made it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_changed_inside_a_lua_script_invalidates() {
    let b = near_store(&key_prefix()).await;
    let r = record(1, None);
    b.create(&r).await.expect("create");
    assert_eq!(b.load(&r.id).await.expect("load"), Some(r.clone()));
    let changed = next(&r, 2);
    let mut raw = crate::common::raw_standalone().await;
    let _: i64 = redis::Script::new("redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') return 1")
        .key(b.redis_key(&r.id))
        .arg(codec::encode(&changed).expect("encodes"))
        .invoke_async(&mut raw)
        .await
        .expect("script runs");
    let start = std::time::Instant::now();
    loop {
        let loaded = b.load(&r.id).await.expect("load");
        if loaded.as_ref() == Some(&changed) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B still serves the record the script replaced"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// B's connection killed (`CLIENT KILL ID`), and client tracking refused
/// to B's Redis user until the test allows it again, so that B stays
/// without a channel: B's cache turns incoherent, B reads every change of
/// A from Redis, and once tracking is allowed again B is coherent and
/// correct again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_bs_connection_makes_b_read_from_redis() {
    let server = RedisProcs::start_standalone(None);
    let url = server.urls().remove(0);
    let mut admin = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");
    let (user, password) = (format!("near-b-{}", random_hex(4)), random_hex(8));
    let acl = acl_of(&user);
    let _: () = acl(&["on", &format!(">{password}"), "~*", "&*", "+@all"])
        .query_async(&mut admin)
        .await
        .expect("ACL SETUSER");
    let prefix = key_prefix();
    let a = near_store_at(&url, &prefix).await;
    let b_url = url.replace("redis://", &format!("redis://{user}:{password}@"));
    let b = near_store_at(&b_url, &prefix).await;
    let cache = b.near_cache().expect("on");

    let r = record(1, Some("carol"));
    a.create(&r).await.expect("create on A");
    b.load(&r.id).await.expect("load on B");
    assert_eq!(b.load(&r.id).await.expect("load on B"), Some(r.clone()));
    assert_eq!(cache.stats().entries, 1, "B cached the record");

    // Kill B's connection, and keep B from tracking again for now.
    let id = b.near_cache_client_id().expect("B tracks");
    let current = kill_and_bypass(&a, &b, &r, &mut admin, &acl, id).await;
    assert_ne!(b.near_cache_client_id(), Some(id));
    still_correct(&a, &b, &r, &current).await;
}

/// The admin commands of the kill tests: `ACL SETUSER <B's user> <rules>`.
pub(crate) type Acl<'a> = dyn Fn(&[&str]) -> redis::Cmd + 'a;

/// `ACL SETUSER user <rules>`, for the kill tests.
pub(crate) fn acl_of(user: &str) -> impl Fn(&[&str]) -> redis::Cmd + '_ {
    move |rules| {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg(user);
        for rule in rules {
            cmd.arg(*rule);
        }
        cmd
    }
}

/// Forbids B's user to track (`acl`), kills B's tracked connection `id`
/// through `admin` (the server holding `r`), and checks that B's cache
/// turns incoherent and flushed, that B reads each of 18 saves by A from
/// Redis, and that B turns coherent again once tracking is allowed. Returns
/// the record as A left it.
pub(crate) async fn kill_and_bypass(
    a: &RedisStore,
    b: &RedisStore,
    r: &Record,
    admin: &mut MultiplexedConnection,
    acl: &Acl<'_>,
    id: u64,
) -> Record {
    let cache = b.near_cache().expect("on");
    let _: () = acl(&["-client|tracking"])
        .query_async(admin)
        .await
        .expect("ACL SETUSER -client|tracking");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(admin)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "B's connection {id} was not found");
    wait_coherent(b, false).await;
    assert_eq!(cache.stats().entries, 0, "the cache was not flushed");

    // Every change by A is read from Redis by B now.
    let mut current = r.clone();
    for n in 2..20 {
        current = next(&current, n);
        a.save(&current).await.expect("save on A");
        let bypassed = cache.stats().bypassed;
        assert_eq!(
            b.load(&r.id).await.expect("load on B"),
            Some(current.clone()),
            "B served a stale record without its channel"
        );
        assert_eq!(cache.stats().bypassed, bypassed + 1);
    }
    assert!(
        !cache.stats().coherent,
        "B turned coherent without tracking"
    );

    // Tracking allowed again: B's feed enables it (retrying with backoff)
    // and B is coherent again.
    let _: () = acl(&["+client|tracking"])
        .query_async(admin)
        .await
        .expect("ACL SETUSER +client|tracking");
    wait_coherent(b, true).await;
    current
}

/// After the channel came back: B serves A's last record, and sees A's
/// delete.
pub(crate) async fn still_correct(a: &RedisStore, b: &RedisStore, r: &Record, current: &Record) {
    for _ in 0..2 {
        assert_eq!(
            b.load(&r.id).await.expect("load on B"),
            Some(current.clone())
        );
    }
    a.delete(&r.id).await.expect("delete on A");
    let start = std::time::Instant::now();
    while b.load(&r.id).await.expect("load on B").is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B serves a record A deleted after the channel came back"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
