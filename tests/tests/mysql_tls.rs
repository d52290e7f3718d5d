//! MariaDB over TLS: a throwaway server with `--ssl-cert`/`--ssl-key` and a
//! certificate made at test time (for `localhost`, signed by a test CA).
//! The conformance suite runs over `ssl-mode=VERIFY_IDENTITY`; every
//! `ssl-mode` is honoured; a wrong CA, a wrong host name and TLS asked of a
//! server without it are refused at connect time with one line naming the
//! URL and the fix.

use session_cookie::sqlx::mysql::MySqlPool;
use session_cookie::{MySqlStore, SessionStore as _};
use session_test_support::certs::CaFiles;
use session_test_support::mariadb::ThrowawayMariaDb;
use session_test_support::restart::Restartable;
use session_tests::servers::unique_name;
use session_tests::tls::assert_refused;

struct TlsMariaDb {
    server: ThrowawayMariaDb,
    cas: CaFiles,
}

async fn start() -> TlsMariaDb {
    let (server, cas) = ThrowawayMariaDb::start_with_tls().await;
    TlsMariaDb { server, cas }
}

impl TlsMariaDb {
    /// `mysql://root@HOST:PORT/sessions?QUERY`.
    fn url(&self, host: &str, query: &str) -> String {
        self.server
            .url()
            .replace("127.0.0.1", host)
            .replace("/sessions", &format!("/sessions?{query}"))
    }
}

/// `true` when the pool's connection runs over TLS.
async fn encrypted(pool: &MySqlPool) -> bool {
    let (_, cipher): (String, String) =
        session_cookie::sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .fetch_one(pool)
            .await
            .expect("Ssl_cipher");
    !cipher.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_mariadb() {
    let tls = start().await;
    let ca = tls.cas.good.display().to_string();

    // The conformance suite over VERIFY_IDENTITY, each check on a table of
    // its own.
    // The deadline is raised from 1 s: this is about TLS, and handshakes in
    // a debug build on two cores can queue for longer.
    let verify = tls.url(
        "localhost",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}&timeout=10s"),
    );
    let pool = MySqlStore::connect_pool(&verify)
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}", std::error::Error::source(&e)));
    assert!(encrypted(&pool).await, "VERIFY_IDENTITY without TLS");
    session_core::conformance::run_all(|| async {
        let store = MySqlStore::builder(pool.clone())
            .timeout(std::time::Duration::from_secs(10))
            .table(unique_name("tls"))
            .build()
            .expect("a valid table name");
        store.migrate().await.expect("migrate");
        store
    })
    .await;
    assert!(pool.acquire().await.is_ok());

    // Every ssl-mode.
    for (mode, want) in [
        ("DISABLED", false),
        ("PREFERRED", true),
        ("REQUIRED", true),
        ("VERIFY_CA", true),
        ("VERIFY_IDENTITY", true),
    ] {
        let host = if mode == "VERIFY_IDENTITY" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let url = tls.url(host, &format!("ssl-mode={mode}&ssl-ca={ca}"));
        let pool = MySqlStore::connect_pool(&url)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}: {:?}", std::error::Error::source(&e)));
        assert_eq!(encrypted(&pool).await, want, "ssl-mode={mode}");
        pool.close().await;
    }

    // A wrong CA, with a password to mask.
    let other = tls.cas.other.display().to_string();
    let wrong_ca = tls
        .url(
            "localhost",
            &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={other}"),
        )
        .replace("root@", "root:s3cret@");
    assert_refused(
        session_cookie::connect(&wrong_ca).await,
        "mysql://root:***@localhost",
        "not signed by a CA this client trusts: name the CA's certificate with ssl-ca=",
    );

    // A wrong host name: refused by VERIFY_IDENTITY, accepted by VERIFY_CA.
    let by_address = tls.url(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    );
    assert_refused(
        session_cookie::connect(&by_address).await,
        "mysql://root@127.0.0.1",
        "not valid for this host name: connect by a name the certificate lists, or check the \
         CA only with ssl-mode=VERIFY_CA",
    );
    let store = session_cookie::connect(&by_address.replace("VERIFY_IDENTITY", "VERIFY_CA"))
        .await
        .expect("VERIFY_CA by address");
    assert!(store
        .load(&session_cookie::core::SessionId::generate())
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_asked_of_a_mariadb_without_it_is_refused() {
    let plain = ThrowawayMariaDb::start().await;
    let url = format!("{}?ssl-mode=REQUIRED", plain.url());
    assert_refused(
        session_cookie::connect(&url).await,
        &url,
        "the server does not offer it: turn TLS on at the server",
    );
    // PREFERRED falls back to plaintext.
    session_tests::servers::round_trip_by_url(&format!("{}?ssl-mode=PREFERRED", plain.url())).await;
}
