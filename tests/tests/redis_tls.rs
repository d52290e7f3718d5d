//! The HTTP suite on Redis over verified TLS: a TLS-only `redis-server`
//! with a certificate made at test time (`session_test_support`'s
//! launcher), each test under its own key prefix.

use std::sync::Arc;

use session_cookie::{RedisStore, SessionStore};
use session_tests::servers::{must_connect, unique_name};

async fn store() -> Arc<dyn SessionStore> {
    let (pki, procs) = session_test_support::redis::shared_tls_server();
    let url = procs.tls_urls().remove(0);
    let store = RedisStore::builder()
        .key_prefix(format!("{}:", unique_name("http-tls")))
        .tls_ca_pem(pki.ca.pem().to_owned())
        .connect(url.as_str())
        .await;
    Arc::new(must_connect(store, "Redis over TLS", &url))
}

session_tests::http_suite!(store());
