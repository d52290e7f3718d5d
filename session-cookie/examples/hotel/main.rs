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
//! * `RUST_LOG`: what to log (default `info`: store errors, damaged records,
//!   revocations). `RUST_LOG=session_cookie=debug` adds every session
//!   created, cycled and destroyed, always by storage key, never by ID.

mod app;

use std::net::SocketAddr;

use session_cookie::core::SessionId;
use session_cookie::SessionConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = if std::env::var_os("SESSION_SECRET").is_some() {
        SessionConfig::from_env()?
    } else {
        eprintln!(
            "warning: SESSION_SECRET is not set; using a random secret, so sessions end when the \
             server restarts. Set SESSION_SECRET to at least 32 random bytes in production."
        );
        // Two 128-bit IDs from the OS CSPRNG: 44 random base64url characters.
        let secret = format!("{}{}", SessionId::generate(), SessionId::generate());
        SessionConfig::builder(secret).build()?
    };
    let store_url = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".into());
    let store = session_cookie::connect(&store_url).await?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    println!(
        "hotel listening on {url} (store: {})",
        store_kind(&store_url)
    );
    println!("open {url}/ in a browser, or try:");
    println!("  curl -i -c jar -b jar -H 'content-type: application/json' -d '{{\"email\":\"{}\",\"password\":\"{}\"}}' {url}/login", app::DEMO_EMAIL, app::DEMO_PASSWORD);
    println!("  curl -i -b jar {url}/profile");
    println!("  curl -i -c jar -b jar {url}/visits");
    println!("  curl -i -b jar {url}/sessions");
    println!("  curl -i -b jar -X POST {url}/logout-everywhere");
    println!("  curl -i -c jar -b jar -X POST {url}/logout");
    axum::serve(listener, app::router(store, config)).await?;
    Ok(())
}

/// The URL's scheme only, so credentials in it are never printed.
fn store_kind(url: &str) -> &str {
    url.split("://").next().unwrap_or("memory")
}
