//! Redis-specific behaviour of the standalone store: key layout, TTLs from
//! the record's expiry, `touch` in place, corrupt values, configuration
//! errors, and failing fast (never hanging) when Redis is unreachable,
//! silent or restarted.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant, SystemTime};

use redis::AsyncCommands as _;
use session_core::codec::{self, encode_value, EXPIRY_OFFSET};
use session_core::record::{truncate_ms, unix_ms};
use session_core::{Data, Error, Record, SessionId, SessionStore};
use session_redis::{ConnectError, RedisStore, DEFAULT_KEY_PREFIX};

use common::{raw_standalone, standalone_store};
use session_test_support::redis::RedisProcs;
use session_test_support::{key_prefix, redis_url};

fn record(ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("user".into(), encode_value("zoë").unwrap());
    Record::new(SessionId::generate(), data, SystemTime::now() + ttl)
}

/// How far `pttl` is from the time left until `expires_at`, in ms.
fn pttl_error(pttl: i64, expires_at: SystemTime) -> i64 {
    let left = i64::try_from(unix_ms(expires_at)).unwrap()
        - i64::try_from(unix_ms(SystemTime::now())).unwrap();
    (pttl - left).abs()
}

#[tokio::test]
async fn ttl_is_the_records_expiry() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    let key = store.redis_key(&r.id);

    store.create(&r).await.unwrap();
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        pttl_error(pttl, r.expires_at) <= 20,
        "after create: PTTL {pttl} ms for a record expiring in 60 s"
    );
    assert!(pttl <= 60_000, "PTTL {pttl} ms is longer than the lifetime");

    let mut saved = r.clone();
    saved.expires_at = truncate_ms(SystemTime::now() + Duration::from_secs(7200));
    saved.version = 2;
    store.save(&saved).await.unwrap();
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        pttl_error(pttl, saved.expires_at) <= 20,
        "after save: PTTL {pttl} ms, expected about 2 h"
    );

    let touched = truncate_ms(SystemTime::now() + Duration::from_secs(30));
    store.touch(&r.id, touched).await.unwrap();
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        pttl_error(pttl, touched) <= 20,
        "after touch: PTTL {pttl} ms, expected about 30 s"
    );
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn records_are_filed_under_prefix_and_hashed_id() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();

    let key = store.redis_key(&r.id);
    assert_eq!(key, format!("{}{}", store.key_prefix(), r.id.storage_key()));
    assert!(!key.contains(&r.id.to_string()), "the raw ID is in the key");
    let stored: Option<Vec<u8>> = raw.get(&key).await.unwrap();
    assert_eq!(
        codec::decode(r.id.clone(), &stored.expect("the record's key"))
            .unwrap()
            .data,
        r.data
    );
    let raw_id_key = format!("{}{}", store.key_prefix(), r.id);
    assert!(!raw.exists::<_, bool>(&raw_id_key).await.unwrap());

    store.delete(&r.id).await.unwrap();
    assert!(!raw.exists::<_, bool>(&key).await.unwrap());
}

#[tokio::test]
async fn default_prefix_and_debug() {
    let store = RedisStore::connect(redis_url().as_str())
        .await
        .expect("Redis at REDIS_URL");
    assert_eq!(store.key_prefix(), DEFAULT_KEY_PREFIX);
    assert_eq!(store.key_prefix(), "session:");
    assert_eq!(
        store.command_timeout(),
        session_redis::DEFAULT_COMMAND_TIMEOUT
    );
    assert!(!store.is_cluster());
    let debug = format!("{store:?}");
    assert!(
        debug.contains("standalone") && debug.contains("session:"),
        "{debug}"
    );
}

#[tokio::test]
async fn touch_rewrites_only_the_expiry_bytes() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    let key = store.redis_key(&r.id);
    store.create(&r).await.unwrap();
    let before: Vec<u8> = raw.get(&key).await.unwrap();

    let later = truncate_ms(SystemTime::now() + Duration::from_secs(3600));
    store.touch(&r.id, later).await.unwrap();
    let after: Vec<u8> = raw.get(&key).await.unwrap();

    assert_eq!(before.len(), after.len());
    assert_eq!(before[..EXPIRY_OFFSET], after[..EXPIRY_OFFSET]);
    assert_eq!(
        after[EXPIRY_OFFSET..EXPIRY_OFFSET + 8],
        unix_ms(later).to_be_bytes(),
        "the envelope does not hold the new expiry"
    );
    assert_eq!(
        before[EXPIRY_OFFSET + 8..],
        after[EXPIRY_OFFSET + 8..],
        "touch rewrote the data"
    );
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(loaded.expires_at, later);
    assert_eq!(loaded.data, r.data);
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn touch_into_the_past_ends_the_session() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();
    store
        .touch(&r.id, SystemTime::now() - Duration::from_secs(1))
        .await
        .expect("touch into the past");
    assert!(store.load(&r.id).await.unwrap().is_none());
    assert!(!raw.exists::<_, bool>(store.redis_key(&r.id)).await.unwrap());
    assert!(matches!(
        store
            .touch(&r.id, SystemTime::now() + Duration::from_secs(60))
            .await,
        Err(Error::Vanished)
    ));
}

#[tokio::test]
async fn create_of_an_already_expired_record_stores_nothing() {
    let store = standalone_store().await;
    let mut r = record(Duration::from_secs(60));
    r.expires_at = SystemTime::UNIX_EPOCH;
    store.create(&r).await.expect("create");
    assert!(store.load(&r.id).await.unwrap().is_none());
    r.expires_at = truncate_ms(SystemTime::now() - Duration::from_secs(5));
    store.create(&r).await.expect("create");
    assert!(store.load(&r.id).await.unwrap().is_none());
}

#[tokio::test]
async fn delete_expired_is_a_no_op() {
    let store = standalone_store().await;
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(store.load(&r.id).await.unwrap().is_some());
    store.delete(&r.id).await.unwrap();
}

#[tokio::test]
async fn corrupt_values_are_errors_not_panics() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let id = SessionId::generate();
    let key = store.redis_key(&id);

    let _: () = raw.set_ex(&key, b"\x01abc", 60).await.unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Envelope { .. })));
    assert!(matches!(
        store
            .touch(&id, SystemTime::now() + Duration::from_secs(60))
            .await,
        Err(Error::Envelope { .. })
    ));
    let unchanged: Vec<u8> = raw.get(&key).await.unwrap();
    assert_eq!(unchanged, b"\x01abc", "touch wrote into a corrupt value");

    let _: () = raw.set_ex(&key, b"\x09garbage-garbage", 60).await.unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Envelope { .. })));

    let _: () = raw.del(&key).await.unwrap();
    let _: () = raw.sadd(&key, "not a string").await.unwrap();
    let _: () = raw.expire(&key, 60).await.unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    assert!(std::error::Error::source(&err)
        .unwrap()
        .downcast_ref::<redis::RedisError>()
        .is_some());
    let _: () = raw.del(&key).await.unwrap();
}

#[tokio::test]
async fn configuration_errors() {
    let url = redis_url();
    let zero = RedisStore::builder()
        .command_timeout(Duration::ZERO)
        .connect(url.as_str())
        .await;
    assert!(matches!(
        zero,
        Err(Error::Config {
            field: "command_timeout",
            ..
        })
    ));
    let zero = RedisStore::builder()
        .connection_timeout(Duration::ZERO)
        .connect_lazy(url.as_str());
    assert!(matches!(
        zero,
        Err(Error::Config {
            field: "connection_timeout",
            ..
        })
    ));
    for bad in [
        "not a url",
        "http://127.0.0.1:6379",
        "redis://127.0.0.1:6379/x",
    ] {
        let err = RedisStore::connect(bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "redis_url",
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
    }
    let none: [&str; 0] = [];
    assert!(matches!(
        RedisStore::connect_cluster(none).await,
        Err(Error::Config {
            field: "redis_cluster_urls",
            ..
        })
    ));
    assert!(matches!(
        RedisStore::connect_cluster(["nope"]).await,
        Err(Error::Config {
            field: "redis_cluster_urls",
            ..
        })
    ));
}

#[test]
fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
    let result = RedisStore::builder().connect_lazy("redis://127.0.0.1:6379");
    assert!(matches!(
        result,
        Err(Error::Config {
            field: "connect_lazy",
            ..
        })
    ));
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, Error>, took: Duration) {
    match result {
        Err(e @ (Error::Backend(_) | Error::Timeout(_))) => {
            assert!(e.is_unavailable());
            assert!(took < Duration::from_secs(3), "{what} took {took:?}");
        }
        other => panic!("{what}: expected Backend or Timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_fails_fast() {
    let url = format!("redis://127.0.0.1:{}", closed_port());

    let started = Instant::now();
    let result = RedisStore::builder()
        .connection_timeout(Duration::from_secs(1))
        .connect(url.as_str())
        .await;
    assert_unavailable("connect", result, started.elapsed());

    let store = RedisStore::builder()
        .connection_timeout(Duration::from_secs(1))
        .command_timeout(Duration::from_secs(1))
        .connect_lazy(url.as_str())
        .expect("a lazy store needs no server");
    let id = SessionId::generate();
    let r = record(Duration::from_secs(60));
    for _ in 0..2 {
        let t = Instant::now();
        assert_unavailable("load", store.load(&id).await, t.elapsed());
        let t = Instant::now();
        assert_unavailable("create", store.create(&r).await, t.elapsed());
        let t = Instant::now();
        assert_unavailable("save", store.save(&r).await, t.elapsed());
        let t = Instant::now();
        let later = SystemTime::now() + Duration::from_secs(5);
        assert_unavailable("touch", store.touch(&id, later).await, t.elapsed());
        let t = Instant::now();
        assert_unavailable("delete", store.delete(&id).await, t.elapsed());
    }

    let started = Instant::now();
    let result = RedisStore::builder()
        .connection_timeout(Duration::from_secs(1))
        .connect_cluster([url.as_str()])
        .await;
    assert_unavailable("connect_cluster", result, started.elapsed());
}

#[tokio::test]
async fn connection_errors_keep_the_redis_error_as_source() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let err = RedisStore::connect(url.as_str()).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    let source = std::error::Error::source(&err).expect("a source");
    let connect = source
        .downcast_ref::<ConnectError>()
        .expect("the source is a ConnectError");
    assert_eq!(connect.url(), format!("{url}/0"));
    let redis_err = std::error::Error::source(connect)
        .and_then(|e| e.downcast_ref::<redis::RedisError>())
        .expect("whose source is the RedisError");
    assert!(redis_err.is_connection_refusal(), "{redis_err}");
}

/// Connecting to `url` fails, and the one-line message (the error and its
/// sources) says `expected`, after the store and the URL with any password
/// masked, and never the password itself.
async fn assert_connect_message(url: &str, shown: &str, expected: &str) {
    let err = RedisStore::builder()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .err()
        .unwrap_or_else(|| panic!("connecting to {url} should fail"));
    let msg = session_core::error_chain(&err);
    let want = format!(
        "the session store backend failed: could not connect to the Redis session store at \
         {shown}: {expected}"
    );
    assert!(msg.starts_with(&want), "{msg}\nshould start with\n{want}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

/// `host:port` of the test Redis.
fn test_server() -> String {
    use redis::IntoConnectionInfo as _;
    let info = redis_url()
        .as_str()
        .into_connection_info()
        .expect("REDIS_URL parses");
    info.addr().to_string()
}

#[tokio::test]
async fn refused_connection_says_to_start_redis() {
    let port = closed_port();
    assert_connect_message(
        &format!("redis://:hunter2@127.0.0.1:{port}/3"),
        &format!("redis://:***@127.0.0.1:{port}/3"),
        "nothing accepts connections there: is Redis running at this host and port?",
    )
    .await;
}

#[tokio::test]
async fn wrong_password_says_to_check_the_credentials() {
    // An ACL user that does not exist: Redis answers WRONGPASS.
    let server = test_server();
    assert_connect_message(
        &format!("redis://no-such-user:hunter2@{server}"),
        &format!("redis://no-such-user:***@{server}/0"),
        "authentication failed: check the user name and password in the URL",
    )
    .await;
}

#[tokio::test]
async fn database_index_out_of_range_says_the_limit() {
    let server = test_server();
    assert_connect_message(
        &format!("redis://{server}/100000"),
        &format!("redis://{server}/100000"),
        "the server refused the database number (the URL path, e.g. /0): it must be below the \
         server's `databases` setting",
    )
    .await;
}

#[tokio::test]
async fn unknown_host_says_to_fix_the_host() {
    assert_connect_message(
        "redis://no-such-host.invalid:6379",
        "redis://no-such-host.invalid:6379/0",
        "the host name does not resolve: fix the host in the URL",
    )
    .await;
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts TCP connections (the kernel does) but never answers.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!(
        "redis://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );

    let started = Instant::now();
    let result = RedisStore::builder()
        .connection_timeout(Duration::from_millis(300))
        .connect(url.as_str())
        .await;
    assert_unavailable("connect", result, started.elapsed());

    let store = RedisStore::builder()
        .connection_timeout(Duration::from_secs(10))
        .command_timeout(Duration::from_millis(300))
        .connect_lazy(url.as_str())
        .unwrap();
    let started = Instant::now();
    let result = store.load(&SessionId::generate()).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout(d)) if d == Duration::from_millis(300)),
        "{result:?}"
    );
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn reconnects_after_a_restart() {
    let server = RedisProcs::start_standalone(None);
    let port = server.ports[0];
    let store = RedisStore::builder()
        .key_prefix(key_prefix())
        .connection_timeout(Duration::from_secs(1))
        .command_timeout(Duration::from_secs(1))
        .connect(format!("redis://127.0.0.1:{port}").as_str())
        .await
        .unwrap();
    let r = record(Duration::from_secs(60));
    store.create(&r).await.unwrap();

    drop(server); // kills redis-server and waits for it
    for _ in 0..3 {
        let t = Instant::now();
        assert_unavailable("load while down", store.load(&r.id).await, t.elapsed());
    }

    let _server = RedisProcs::start_standalone(Some(port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.create(&r).await {
            Ok(()) => break,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not reconnect within 10 s: {e:?}"),
        }
    }
    assert!(store.load(&r.id).await.unwrap().is_some());
    store
        .touch(&r.id, SystemTime::now() + Duration::from_secs(30))
        .await
        .expect("touch after a restart (script cache empty)");
}

/// Issue 17: formats 1 and 2 (pre-release builds only) are no longer read.
/// A whole format-3 envelope relabelled with any other format number is an
/// envelope error for `load`, `save` and `touch`, and none of them writes.
#[tokio::test]
async fn values_of_another_format_are_envelope_errors_and_written_over_by_nothing() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let mut r = record(Duration::from_secs(60));
    r.user = Some("ada".into());
    let key = store.redis_key(&r.id);
    for format in [1, 2, 4, 255] {
        let mut bytes = codec::encode(&r).unwrap();
        bytes[0] = format;
        let _: () = raw.set_ex(&key, &bytes, 60).await.unwrap();
        let loaded = store.load(&r.id).await;
        assert!(
            matches!(loaded, Err(Error::Envelope { .. })),
            "format {format}: {loaded:?}"
        );
        let saved = store
            .save(&Record {
                version: r.version + 1,
                ..r.clone()
            })
            .await;
        assert!(
            matches!(saved, Err(Error::Envelope { .. })),
            "format {format}: {saved:?}"
        );
        let touched = store
            .touch(&r.id, SystemTime::now() + Duration::from_secs(600))
            .await;
        assert!(
            matches!(touched, Err(Error::Envelope { .. })),
            "format {format}: {touched:?}"
        );
        let unchanged: Vec<u8> = raw.get(&key).await.unwrap();
        assert_eq!(unchanged, bytes, "format {format}: a write went through");
    }
    let _: () = raw.del(&key).await.unwrap();
}

#[tokio::test]
async fn save_over_corrupt_values_is_an_error_and_writes_nothing() {
    let store = standalone_store().await;
    let mut raw = raw_standalone().await;
    let mut r = record(Duration::from_secs(60));
    r.version = 2;
    let key = store.redis_key(&r.id);
    for bad in [
        &b"\x01abc"[..],
        b"\x01\0\0\0\0\0\0\0\0\x93\xcf\0\0",
        b"\x02\0\0\0\0\0\0\0\0\0\0",
        b"\x09garbage-garbage-garbage",
        b"",
    ] {
        let _: () = raw.set_ex(&key, bad, 60).await.unwrap();
        let result = store.save(&r).await;
        assert!(
            matches!(result, Err(Error::Envelope { .. })),
            "{bad:?}: {result:?}"
        );
        let unchanged: Vec<u8> = raw.get(&key).await.unwrap();
        assert_eq!(unchanged, bad, "save wrote over a corrupt value");
    }
    let _: () = raw.del(&key).await.unwrap();
    let _: () = raw.sadd(&key, "not a string").await.unwrap();
    let _: () = raw.expire(&key, 60).await.unwrap();
    let err = store.save(&r).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    let _: () = raw.del(&key).await.unwrap();
}
