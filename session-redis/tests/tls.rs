//! `rediss://` against real `redis-server`s serving only TLS, with
//! certificates made by rcgen when the test runs: the conformance suite over
//! verified TLS, the refusals (wrong CA, wrong host name, TLS asked of a
//! plaintext server, missing client certificate) with their one-line
//! messages, mutual TLS, and the platform trust roots (`SSL_CERT_FILE`).
//!
//! Needs `redis-server` built with TLS on PATH (a missing one fails the
//! tests, naming it) and the plaintext Redis of `REDIS_URL` for the
//! "plaintext server" case. Only built with the `tls` feature
//! (`scripts/test.sh` turns every feature on).

mod common;

use session_core::{error_chain, Data, Record, SessionId, SessionStore};
use session_redis::{RedisStore, RedisStoreBuilder};

use common::TEST_COMMAND_TIMEOUT;
use session_test_support::certs::{ServerPki, TestCa};
use session_test_support::key_prefix;
use session_test_support::redis::RedisProcs;

use session_test_support::redis::shared_tls_server as server;

fn builder() -> RedisStoreBuilder {
    RedisStore::builder()
        .key_prefix(key_prefix())
        .command_timeout(TEST_COMMAND_TIMEOUT)
}

fn tls_url(procs: &RedisProcs) -> String {
    procs.tls_urls().remove(0)
}

/// A store on the shared TLS server, verifying its certificate against the
/// test CA.
async fn tls_store() -> RedisStore {
    let (pki, procs) = server();
    let url = tls_url(procs);
    builder()
        .tls_ca_pem(pki.ca.pem().to_owned())
        .connect(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("TLS connect to {url}: {}", error_chain(&e)))
}

session_core::store_conformance!(tls_store());

/// One create + load + delete through `store`.
async fn round_trip(store: &RedisStore) {
    let record = Record::new(
        SessionId::generate(),
        Data::new(),
        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
    );
    store.create(&record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_some());
    store.delete(&record.id).await.unwrap();
}

/// Connecting with `builder` to `url` fails, and the one-line message names
/// the store, the URL as `shown` and `hint`.
async fn assert_refused(builder: RedisStoreBuilder, url: &str, shown: &str, hint: &str) {
    let Err(err) = builder.connect(url).await else {
        panic!("connecting to {url} should fail");
    };
    let msg = error_chain(&err);
    let want = format!("could not connect to the Redis session store at {shown}: {hint}");
    assert!(msg.contains(&want), "{msg}\nshould contain\n{want}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

const UNTRUSTED: &str = "the server's TLS certificate is not signed by a trusted CA: give its CA \
                         bundle (builder `tls_ca_pem`, or the SSL_CERT_FILE environment variable)";

#[tokio::test]
async fn a_round_trip_over_verified_tls() {
    let store = tls_store().await;
    round_trip(&store).await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let (_, procs) = server();
    let port = procs.ports[0];
    let other = TestCa::new("some other CA");
    assert_refused(
        builder().tls_ca_pem(other.pem().to_owned()),
        &format!("rediss://:hunter2@127.0.0.1:{port}"),
        &format!("rediss://:***@127.0.0.1:{port}/0"),
        UNTRUSTED,
    )
    .await;
}

/// Without `tls_ca_pem` the platform's roots decide: the test CA is not among
/// them, until `SSL_CERT_FILE` names it. (The only test in this binary that
/// relies on the platform roots, so setting the variable affects no other.)
#[tokio::test]
async fn platform_roots_by_default_and_ssl_cert_file_adds_a_ca() {
    let (_, procs) = server();
    let url = tls_url(procs);
    let shown = format!("{url}/0");
    assert_refused(builder(), &url, &shown, UNTRUSTED).await;

    let bundle = procs.dir().join("ca.pem");
    std::env::set_var("SSL_CERT_FILE", &bundle);
    let store = builder().connect(url.as_str()).await;
    std::env::remove_var("SSL_CERT_FILE");
    let store = store.unwrap_or_else(|e| {
        panic!(
            "SSL_CERT_FILE={} should make {url} trusted: {}",
            bundle.display(),
            error_chain(&e)
        )
    });
    round_trip(&store).await;
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let pki = ServerPki::new(&["redis.example.com"]);
    let procs = RedisProcs::start_tls(&pki, false);
    let url = tls_url(&procs);
    assert_refused(
        builder().tls_ca_pem(pki.ca.pem().to_owned()),
        &url,
        &format!("{url}/0"),
        "the server's TLS certificate does not name this host",
    )
    .await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `#insecure` skips verification, and the store warns about it: the
/// wrong-host server is then accepted. Without it, nothing is logged.
#[tokio::test(flavor = "current_thread")]
async fn insecure_in_the_url_skips_verification_and_warns() {
    let pki = ServerPki::new(&["redis.example.com"]);
    let procs = RedisProcs::start_tls(&pki, false);
    let url = format!("{}/#insecure", tls_url(&procs));
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = builder()
        .connect(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("{url}: {}", error_chain(&e)));
    round_trip(&store).await;
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("WARN") && text.contains("TLS certificate verification is OFF"),
        "{text:?}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", procs.ports[0])),
        "{text}"
    );

    log.0.lock().unwrap().clear();
    let _ = builder()
        .tls_ca_pem(pki.ca.pem().to_owned())
        .connect(tls_url(&procs).as_str())
        .await;
    assert!(
        log.0.lock().unwrap().is_empty(),
        "verified TLS warns nothing"
    );
}

#[tokio::test]
async fn tls_asked_of_a_plaintext_server_says_to_use_redis_scheme() {
    use redis::IntoConnectionInfo as _;
    let plain = session_test_support::redis_url()
        .as_str()
        .into_connection_info()
        .expect("REDIS_URL parses");
    let addr = plain.addr().to_string();
    let (pki, _) = server();
    assert_refused(
        builder()
            .tls_ca_pem(pki.ca.pem().to_owned())
            .connection_timeout(std::time::Duration::from_secs(1)),
        &format!("rediss://{addr}"),
        &format!("rediss://{addr}/0"),
        "the server did not answer in TLS: is this its TLS port? For a plaintext port use \
         redis:// instead of rediss://",
    )
    .await;
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = ServerPki::new(&["127.0.0.1"]);
    let procs = RedisProcs::start_tls(&pki, true);
    let url = tls_url(&procs);

    let client = pki.ca.issue(&["keycard-app"]);
    let store = builder()
        .tls_ca_pem(pki.ca.pem().to_owned())
        .tls_client_cert(client.cert, client.key)
        .connect(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("mutual TLS to {url}: {}", error_chain(&e)));
    round_trip(&store).await;

    assert_refused(
        builder().tls_ca_pem(pki.ca.pem().to_owned()),
        &url,
        &format!("{url}/0"),
        "the server requires a client certificate (tls-auth-clients): give one with the \
         builder's `tls_client_cert`",
    )
    .await;
}

#[tokio::test]
async fn bad_pem_and_certificates_without_tls_are_config_errors() {
    let (_, procs) = server();
    let err = builder()
        .tls_ca_pem("not a certificate")
        .connect(tls_url(procs).as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(err, session_core::Error::Config { field, .. } if field.contains("tls_ca_pem")),
        "{err}"
    );
    let err = builder()
        .tls_ca_pem(server().0.ca.pem().to_owned())
        .connect(session_test_support::redis_url().as_str())
        .await
        .unwrap_err();
    assert!(
        error_chain(&err).contains("use rediss://host:port"),
        "{}",
        error_chain(&err)
    );
}

/// A 3-master Redis Cluster speaking only TLS (clients and bus), shared by
/// the cluster tests of this binary.
fn tls_cluster() -> &'static (ServerPki, RedisProcs) {
    static CLUSTER: std::sync::OnceLock<(ServerPki, RedisProcs)> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        let pki = ServerPki::new(&["127.0.0.1"]);
        let procs = RedisProcs::start_tls_cluster(&pki, 3);
        (pki, procs)
    })
}

async fn tls_cluster_store() -> RedisStore {
    let (pki, procs) = tls_cluster();
    let urls = procs.tls_urls();
    builder()
        .tls_ca_pem(pki.ca.pem().to_owned())
        .connect_cluster(urls.iter().map(String::as_str))
        .await
        .unwrap_or_else(|e| panic!("TLS cluster {urls:?}: {}", error_chain(&e)))
}

/// The conformance suite on a Redis Cluster over verified TLS.
mod cluster {
    session_core::store_conformance!(super::tls_cluster_store());
}

#[tokio::test]
async fn a_cluster_with_a_certificate_from_another_ca_is_refused() {
    let (_, procs) = tls_cluster();
    let urls = procs.tls_urls();
    let Err(err) = builder()
        .tls_ca_pem(TestCa::new("some other CA").pem().to_owned())
        .connect_cluster(urls.iter().map(String::as_str))
        .await
    else {
        panic!("an untrusted cluster must be refused");
    };
    let msg = error_chain(&err);
    assert!(
        msg.contains("could not connect to the Redis session store at rediss://127.0.0.1:"),
        "{msg}"
    );
}

/// The near cache over TLS: two stores with it on, on one `rediss://`
/// server; B sees A's delete (client tracking runs on the TLS connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_cache_works_over_tls() {
    let (pki, procs) = server();
    let url = tls_url(procs);
    let prefix = key_prefix();
    let near = || {
        builder()
            .key_prefix(prefix.clone())
            .tls_ca_pem(pki.ca.pem().to_owned())
            .near_cache(session_core::near_cache::NearCacheConfig::new())
            .connect(url.as_str())
    };
    let (a, b) = (near().await.unwrap(), near().await.unwrap());
    let start = std::time::Instant::now();
    while !b.near_cache().unwrap().is_coherent() || !a.near_cache().unwrap().is_coherent() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "never coherent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let record = Record::new(
        SessionId::generate(),
        Data::new(),
        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
    );
    a.create(&record).await.unwrap();
    for _ in 0..3 {
        assert!(b.load(&record.id).await.unwrap().is_some());
    }
    a.delete(&record.id).await.unwrap();
    let start = std::time::Instant::now();
    while b.load(&record.id).await.unwrap().is_some() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "B served a deleted record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
