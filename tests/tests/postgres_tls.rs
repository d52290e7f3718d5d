//! PostgreSQL over TLS: a throwaway cluster with `ssl=on` and a certificate
//! made at test time (for `localhost`, signed by a test CA), shared by the
//! tests of this file and removed when the test process ends (by its
//! watchdog). The conformance suite runs over `sslmode=verify-full` (the
//! HTTP suite too, in `postgres_tls_http.rs`); every `sslmode` is honoured; a wrong CA, a wrong
//! host name and TLS asked of a server without it are refused at connect
//! time with one line naming the URL and the fix.

use std::sync::OnceLock;

use session_cookie::sqlx::postgres::PgPool;
use session_cookie::PostgresStore;
use session_test_support::certs::CaFiles;
use session_test_support::postgres::ThrowawayPostgres;
use session_test_support::restart::Restartable;
use session_tests::servers::unique_name;
use session_tests::tls::assert_refused;

struct TlsPostgres {
    server: ThrowawayPostgres,
    cas: CaFiles,
}

/// The shared server, started on first use.
fn server() -> &'static TlsPostgres {
    static SERVER: OnceLock<TlsPostgres> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (server, cas) = ThrowawayPostgres::start_with_tls();
        TlsPostgres { server, cas }
    })
}

/// `postgres://postgres@HOST:PORT/postgres?QUERY`.
fn url(host: &str, query: &str) -> String {
    format!(
        "postgres://postgres@{host}:{}/postgres?{query}",
        server().server.port()
    )
}

/// verify-full by name. The deadline is raised from 1 s: these tests are
/// about TLS, and new connections' handshakes in a debug build, dozens of
/// tests at once on two cores, can queue for longer.
fn verify_full() -> String {
    url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&timeout=10s",
            server().cas.good.display()
        ),
    )
}

/// `true` when the pool's connection runs over TLS.
async fn encrypted(pool: &PgPool) -> bool {
    session_cookie::sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_ssl")
}

/// A fresh table on a verify-full pool.
async fn fresh() -> PostgresStore {
    let pool = PostgresStore::connect_pool(&verify_full())
        .await
        .unwrap_or_else(|e| panic!("verify-full: {e}: {:?}", std::error::Error::source(&e)));
    assert!(encrypted(&pool).await, "verify-full without TLS");
    let store = PostgresStore::builder(pool)
        .timeout(std::time::Duration::from_secs(10))
        .table(unique_name("tls"))
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    store
}

/// The conformance suite over verify-full, one check after the other,
/// each on a fresh table (its expiry checks count milliseconds: run alone,
/// they do not compete with each other for the two cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_verify_full() {
    session_core::conformance::run_all(fresh).await;
}

#[tokio::test]
async fn every_sslmode_is_honoured() {
    let ca = server().cas.good.display().to_string();
    for (mode, tls) in [
        ("disable", false),
        ("allow", false),
        ("prefer", true),
        ("require", true),
        ("verify-ca", true),
        ("verify-full", true),
    ] {
        // By name for verify-full; by address (not in the certificate)
        // for the others, which do not check the name.
        let host = if mode == "verify-full" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let url = url(host, &format!("sslmode={mode}&sslrootcert={ca}"));
        let pool = PostgresStore::connect_pool(&url)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}: {:?}", std::error::Error::source(&e)));
        assert_eq!(encrypted(&pool).await, tls, "sslmode={mode}");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_wrong_ca_is_refused_naming_the_url_and_the_fix() {
    let other = server().cas.other.display().to_string();
    let url = format!(
        "postgres://postgres:s3cret@localhost:{}/postgres?sslmode=verify-full&sslrootcert={other}",
        server().server.port()
    );
    assert_refused(
        session_cookie::connect(&url).await,
        &format!(
            "postgres://postgres:***@localhost:{}",
            server().server.port()
        ),
        "not signed by a CA this client trusts: name the CA's certificate with sslrootcert=",
    );
    // verify-ca checks the CA as well.
    let url = url.replace("verify-full", "verify-ca");
    assert_refused(
        session_cookie::connect(&url).await,
        "sslmode=verify-ca",
        "not signed by a CA this client trusts",
    );
}

#[tokio::test]
async fn a_wrong_host_name_is_refused_by_verify_full_only() {
    let ca = server().cas.good.display().to_string();
    let by_address = url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_refused(
        session_cookie::connect(&by_address).await,
        "postgres://postgres@127.0.0.1",
        "not valid for this host name: connect by a name the certificate lists, or check the \
         CA only with sslmode=verify-ca",
    );
    let ca_only = by_address.replace("verify-full", "verify-ca");
    session_tests::servers::round_trip_by_url(&ca_only).await;
}

#[tokio::test]
async fn tls_asked_of_a_server_without_it_is_refused() {
    let plain = tokio::task::spawn_blocking(ThrowawayPostgres::start)
        .await
        .expect("starting PostgreSQL panicked");
    plain.wait_ready().await;
    let url = format!("{}?sslmode=require", plain.url());
    assert_refused(
        session_cookie::connect(&url).await,
        &url,
        "the server does not offer it: turn TLS on at the server",
    );
    // prefer falls back to plaintext, as libpq does.
    let prefer = format!("{}?sslmode=prefer", plain.url());
    session_tests::servers::round_trip_by_url(&prefer).await;
}
