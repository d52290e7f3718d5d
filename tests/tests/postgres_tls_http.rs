//! The HTTP suite on PostgreSQL over `sslmode=verify-full`: a throwaway
//! cluster with `ssl=on` and a certificate made at test time, shared by the
//! tests of this file (a process of its own, apart from the conformance
//! suite's millisecond expiry checks in `postgres_tls.rs`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use session_cookie::{PostgresStore, SessionStore};
use session_test_support::certs::CaFiles;
use session_test_support::postgres::ThrowawayPostgres;
use session_tests::servers::{must_connect, unique_name};

/// verify-full by name, the deadline raised from 1 s: new connections'
/// handshakes in a debug build, dozens of tests at once on two cores, can
/// queue for longer.
fn url() -> &'static str {
    static SERVER: OnceLock<(ThrowawayPostgres, CaFiles, String)> = OnceLock::new();
    let (_, _, url) = SERVER.get_or_init(|| {
        let (server, cas) = ThrowawayPostgres::start_with_tls();
        let url = format!(
            "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}\
             &timeout=10s",
            server.port(),
            cas.good.display()
        );
        (server, cas, url)
    });
    url
}

async fn store() -> Arc<dyn SessionStore> {
    let pool = must_connect(
        PostgresStore::connect_pool(url()).await,
        "PostgreSQL",
        url(),
    );
    let store = PostgresStore::builder(pool)
        .timeout(Duration::from_secs(10))
        .table(unique_name("tls_http"))
        .build()
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

session_tests::http_suite!(store());
