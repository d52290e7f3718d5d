//! How connecting goes wrong: configuration errors at start-up, and a
//! store that fails fast (never hangs) when Redis is unreachable, silent
//! or restarted, with one-line messages that say what to fix and never
//! show the password.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant, SystemTime};

use session_core::{Error, SessionId, SessionStore};
use session_redis::{ConnectError, RedisStore};
use session_test_support::redis::RedisProcs;
use session_test_support::{free_port, key_prefix, redis_url};

use crate::record;

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
    let url = format!("redis://127.0.0.1:{}", free_port());

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
    let url = format!("redis://127.0.0.1:{}", free_port());
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
    let port = free_port();
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
