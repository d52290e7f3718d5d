//! Run with: cargo run --example hotel
//!
//! The hotel key-card demo: a page at `GET /` to try it in a browser, and
//! the JSON routes it calls: `POST /login`, `GET /profile`, `POST /logout`,
//! `GET /visits`, `GET /sessions` (where you are logged in) and
//! `POST /logout-everywhere` (end every other session). Settings come from the environment:
//!
//! * `PORT` (default 3000), always on 127.0.0.1;
//! * `SESSION_SECRET` (and the other `SESSION_*` variables of
//!   `SessionConfig::from_env`); without it a random secret is generated and
//!   sessions do not survive a restart;
//! * `SESSION_STORE`: `memory` (default), or a `redis://`, `postgres://`,
//!   `sqlite://`, `mysql://` URL when that feature is compiled in;
//! * `SESSION_NEAR_CACHE=1`: the near cache in front of a `redis://` or
//!   `postgres://` store (loads answered from memory, kept coherent by the
//!   backend; see the README's "Near cache");
//! * `RUST_LOG`: what to log (default `info`: store errors, damaged records,
//!   revocations). `RUST_LOG=session_core=debug` adds every session
//!   created, cycled and destroyed, always by storage key, never by ID.
//!
//! Built with `--features metrics` (`cargo run --example hotel --features
//! metrics`), it also serves `GET /metrics`: the store's counters and
//! latency histograms in the Prometheus text format.
//!
//! The actix-web hotel (`cargo run -p session-actix --example hotel`)
//! answers alike: both share `answers.rs` and `start.rs`.

mod app;
#[cfg(feature = "metrics")]
mod metrics;
mod start;

use std::net::SocketAddr;
use std::process::ExitCode;

use start::BoxError;

#[tokio::main]
async fn main() -> ExitCode {
    start::init_logs();
    start::exit(serve(|name| std::env::var(name).ok()).await)
}

/// The settings and store from the environment (read through `env`).
async fn setup(env: impl Fn(&str) -> Option<String>) -> Result<start::Setup, BoxError> {
    let (config, url, port) = start::settings(&env)?;
    let store = session_cookie::connect(&url).await?;
    Ok((config, store, url, port))
}

async fn serve(env: impl Fn(&str) -> Option<String>) -> Result<(), BoxError> {
    let (config, store, store_url, port) = setup(env).await?;
    // The recorder first: the session layer describes its metrics to it.
    #[cfg(feature = "metrics")]
    let scrape = metrics::routes(metrics::install()?);
    let router = app::router(store, config);
    #[cfg(feature = "metrics")]
    let router = router.merge(scrape);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    start::banner(&url, &store_url);
    #[cfg(feature = "metrics")]
    println!("  curl {url}/metrics");
    axum::serve(listener, router).await?;
    Ok(())
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use session_cookie::SessionConfig;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// After login, three visits and logout, `/metrics` shows each store
    /// call once: 1 create, 4 loads, 3 saves, 1 delete, all `ok`. (The one
    /// test in this binary that records metrics: the recorder is global.)
    #[cfg(feature = "metrics")]
    #[tokio::test]
    async fn metrics_count_a_login_visits_logout_run() {
        let scrape = metrics::routes(metrics::install().unwrap());
        let config = SessionConfig::builder(SECRET).build().unwrap();
        let store = session_cookie::connect("memory").await.unwrap();
        let router = app::router(store, config).merge(scrape);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let login = serde_json::json!({ "email": app::DEMO_EMAIL, "password": app::DEMO_PASSWORD });
        let ok = |r: reqwest::Response| assert!(r.status().is_success(), "{}", r.status());
        ok(client
            .post(format!("{url}/login"))
            .json(&login)
            .send()
            .await
            .unwrap());
        for _ in 0..3 {
            ok(client.get(format!("{url}/visits")).send().await.unwrap());
        }
        ok(client.post(format!("{url}/logout")).send().await.unwrap());
        let text = client
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |metric: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(metric));
            line.map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
        };
        let ops = |op: &str, outcome: &str| {
            value(&format!(
                "keycard_store_operations_total{{operation=\"{op}\",backend=\"memory\",outcome=\"{outcome}\"}}"
            ))
        };
        assert_eq!(ops("create", "ok"), 1, "{text}");
        assert_eq!(ops("load", "ok"), 4, "{text}");
        assert_eq!(ops("save", "ok"), 3, "{text}");
        assert_eq!(ops("delete", "ok"), 1, "{text}");
        assert_eq!(ops("load", "not_found") + ops("touch", "ok"), 0, "{text}");
        assert!(!text.contains("keycard_store_errors_total{"), "{text}");
        let latency = "keycard_store_duration_seconds_count{operation=\"load\",backend=\"memory\"}";
        assert_eq!(value(latency), 4, "{text}");
        assert!(
            text.contains("keycard_store_duration_seconds_bucket{"),
            "{text}"
        );
        assert_eq!(value("keycard_sessions{backend=\"memory\"}"), 0, "{text}");
        assert!(
            text.contains("# HELP keycard_store_operations_total"),
            "{text}"
        );
    }
}
